"""``murmur status``: what a store holds about each pipeline (definition, bootstrap, handoff, live positions).

Reads only the checkpoint documents the store keeps; starts nothing, writes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from murmur._errors import ConfigError
from murmur.cli._config import load_config
from murmur.cli._output import dumps, reporting
from murmur.cli._reading import open_for_reading
from murmur.ops._stored import DEFAULT_STALE_AFTER, pipeline_status
from murmur.plugins import Registry, shown_options

__all__ = ["status_cmd"]

Opt = typer.Option


def status_cmd(
    ctx: typer.Context,
    name: Annotated[
        str | None, Opt("--name", help="Only this pipeline [default: every pipeline in the store].")
    ] = None,
    store: Annotated[str | None, Opt("--store", help="State store adapter [default: sqlite].")] = None,
    store_opts: Annotated[
        list[str] | None, Opt("-T", "--store-option", metavar="OPT=VAL", help="Store option (repeatable).")
    ] = None,
    config: Annotated[
        Path | None, Opt("--config", metavar="FILE", help="murmur.toml ([pipeline] name, [store]).")
    ] = None,
    stale_after: Annotated[
        float,
        Opt(
            "--stale-after",
            metavar="SECONDS",
            help="An unfinished segment whose checkpoint is older than this is shown interrupted, else running.",
        ),
    ] = DEFAULT_STALE_AFTER,
    json_out: Annotated[bool, Opt("--json", help="Print {store, pipelines: [...]} as one JSON object.")] = False,
) -> None:
    """Each pipeline a store holds: definition hash, bootstrap segments, handoff, live positions and their age."""
    with reporting(json_mode=json_out):
        registry: Registry = ctx.obj
        cfg = load_config(config)
        if stale_after < 0:
            raise ConfigError(f"--stale-after: expected seconds, 0 or more, got {stale_after:g}", option="stale-after")
        wanted = name or cfg.section("pipeline").get("name")
        spec, options, backend = open_for_reading(registry, cfg, store, store_opts, str(wanted or "murmur-status"))
        try:
            names = _names(backend, spec.name, wanted)
            now = dt.datetime.now(dt.UTC)
            docs = [pipeline_status(n, backend.list_meta(n), now=now, stale_after=stale_after) for n in names]
        finally:
            backend.close()
        empty = ("definition", "bootstrap", "handoff", "live")
        if wanted is not None and docs and not any(docs[0][part] for part in empty):
            raise ConfigError(f"--name {wanted}: the store holds no pipeline of that name", option="name")
        if json_out:
            typer.echo(
                dumps({"store": {"adapter": spec.name, "options": shown_options(spec, options)}, "pipelines": docs})
            )
            return
        if not docs:
            typer.echo("no pipelines in this store")
        for doc in docs:
            for line in _lines(doc):
                typer.echo(line)


def _names(backend: Any, store: str, wanted: str | None) -> list[str]:
    if wanted is not None:
        return [wanted]
    lister = getattr(backend, "pipelines", None)
    if not callable(lister):
        raise ConfigError(
            f"--name: the {store} store cannot list its pipelines; name one (e.g. --name orders)", option="name"
        )
    return list(lister())


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h ago"
    return f"{seconds / 86400:.0f}d ago"


def _lines(doc: dict[str, Any]) -> list[str]:
    """The human view of one pipeline's status."""
    d = doc["definition"] or {}
    what = f"{d.get('monoid')} of {d.get('value') or '-'} by {d.get('keys') or d.get('key')}" if d else "no definition"
    lines = [f"{doc['pipeline']}  definition {doc['definition_hash'] or '-'}  ({what})"]
    boot = doc["bootstrap"]
    if boot is None:
        lines.append("  bootstrap   none")
    else:
        lines.append(
            f"  bootstrap   {boot['state']}: {boot['records']} records, {boot['dead_lettered']} dead-lettered,"
            f" {len(boot['segments'])} segment(s)"
        )
        for s in boot["segments"]:
            when = f"  updated {s['updated']} ({_ago(s['age_seconds'])})" if s.get("updated") else ""
            lines.append(
                f"    segment {s['segment']}/{s['of']}  {s['state']:<11} {s['records']} records,"
                f" {s['dead_lettered']} dead-lettered{when}"
            )
    hand = doc["handoff"]
    if hand is not None:
        live = hand.get("live") or {}
        extra = f"; live position for {live.get('source')}: {dumps(live.get('position'))}" if live else ""
        lines.append(f"  handoff     {hand['source']} token captured {hand['captured_at']}{extra}")
    for pos in doc["live"]:
        lines.append(
            f"  live        {pos['source']} at {dumps(pos['position'])},"
            f" saved {pos['updated']} ({_ago(pos['age_seconds'])})"
        )
    return lines
