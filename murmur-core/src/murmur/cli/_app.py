"""The typer application: ``murmur run``, ``murmur get``, ``murmur plugins``, and plugins' own commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from murmur._errors import ConfigError, MurmurError
from murmur.cli._config import PipelineArgs, load_config
from murmur.cli._output import dumps, mask, plain, report, reporting
from murmur.cli._reading import open_for_reading
from murmur.plugins import AdapterSpec, Registry, kind_name, load

HELP = """Streaming aggregation, snapshot then stream: fold a source of truth into a state store,
then keep it current from a live source, counting every change once.

\b
  murmur run --source jsonl -S path=orders.jsonl --key customer --value amount --monoid sum --name orders

  murmur get --name orders alice bob
"""

RUN_EPILOG = """\b
Adapter options: -S for the source, -T the store, -D the deduper, -H the handoff live
source, -L the dead-letter sink, each OPTION=VALUE (see `murmur plugins show NAME`).
A snapshot source runs a bootstrap and prints a handoff token; a live source runs until
Ctrl-C/SIGTERM or --until-idle.
--then LIVE does both in one process: bootstrap, then live mode from the captured handoff.

\b
Config file (--config murmur.toml); flags override it:
  [pipeline]        name, key | keys, value, monoid, window, event_time, mode,
                    from = "pkg.module:pipeline"
  [source]          adapter = "jsonl", then its options: path = "orders.jsonl"
  [store] [dedup] [handoff_to] [dead_letters]   adapter = "...", then options
  [run]             max_attempts, fail_on_error, dead_letters, segments,
                    fold_helper, until_idle, handoff_out, retry_for,
                    max_dead_letters, metrics_port, metrics_host, log_format

\b
Exit codes: 0 done, 1 the run failed (also: no record applied, or more dead letters than
--max-dead-letters), 2 usage or configuration error, 130 interrupted
(progress is checkpointed: continue with --resume). MURMUR_DEBUG=1 shows tracebacks.
"""

GET_EPILOG = """\b
Example:
  murmur get --name orders alice bob
  murmur get --name orders --json --window 7d alice
  murmur get --name orders --top 10
"""

Opt = typer.Option
#: Seconds ``murmur get`` rides out a store outage before it gives up.
GET_RETRY_FOR = 30.0


def _registry(ctx: typer.Context) -> Registry:
    return ctx.obj  # type: ignore[no-any-return]


def run_cmd(
    ctx: typer.Context,
    source: Annotated[
        str | None,
        Opt(
            "--source",
            help="Source adapter: a snapshot source (bootstrap) or a live source.",
            rich_help_panel="Adapters",
        ),
    ] = None,
    store: Annotated[
        str | None, Opt("--store", help="State store adapter [default: sqlite].", rich_help_panel="Adapters")
    ] = None,
    dedup: Annotated[
        str | None,
        Opt(
            "--dedup",
            help="Deduper adapter. One of the store's kind uses the store's file unless -D path= says otherwise"
            " (sqlite on sqlite: claim+apply in one transaction, exactly-once).",
            rich_help_panel="Adapters",
        ),
    ] = None,
    source_opts: Annotated[
        list[str] | None,
        Opt("-S", "--source-option", metavar="OPT=VAL", help="Source option (repeatable).", rich_help_panel="Adapters"),
    ] = None,
    store_opts: Annotated[
        list[str] | None,
        Opt("-T", "--store-option", metavar="OPT=VAL", help="Store option (repeatable).", rich_help_panel="Adapters"),
    ] = None,
    dedup_opts: Annotated[
        list[str] | None,
        Opt("-D", "--dedup-option", metavar="OPT=VAL", help="Deduper option (repeatable).", rich_help_panel="Adapters"),
    ] = None,
    key: Annotated[
        str | None,
        Opt(
            "--key",
            help="Field path (customer.id), template (post:{id}) or =constant to key by.",
            rich_help_panel="Pipeline",
        ),
    ] = None,
    keys: Annotated[
        str | None, Opt("--keys", help="Several keys per record, comma-separated.", rich_help_panel="Pipeline")
    ] = None,
    value: Annotated[
        str | None,
        Opt("--value", help="Field path of the value (not needed for --monoid count).", rich_help_panel="Pipeline"),
    ] = None,
    monoid: Annotated[
        str | None,
        Opt(
            "--monoid",
            help="sum, count, min, max, first, last, set, hll, topk:K, bloom, decayed:1h, map:sum, tuple:sum,count.",
            rich_help_panel="Pipeline",
        ),
    ] = None,
    window: Annotated[
        str | None,
        Opt("--window", help="Time buckets and retention, e.g. day:90d, hour:48h.", rich_help_panel="Pipeline"),
    ] = None,
    event_time: Annotated[
        str | None,
        Opt(
            "--event-time",
            help="Field with the event time (ISO-8601 or epoch s/ms); default: processing time.",
            rich_help_panel="Pipeline",
        ),
    ] = None,
    name: Annotated[
        str | None,
        Opt("--name", help="Pipeline name (its state and checkpoints live under it).", rich_help_panel="Pipeline"),
    ] = None,
    pipeline: Annotated[
        str | None,
        Opt(
            "--pipeline",
            metavar="MODULE:ATTR",
            help="A murmur.Pipeline object (module:attr or file.py:attr); flags override its fields.",
            rich_help_panel="Pipeline",
        ),
    ] = None,
    mode: Annotated[
        str | None, Opt("--mode", help="append or changelog [default: the source's].", rich_help_panel="Pipeline")
    ] = None,
    config: Annotated[
        Path | None,
        Opt(
            "--config",
            metavar="FILE",
            help="murmur.toml with [pipeline], [source], [store], [dedup], [handoff_to], [run].",
        ),
    ] = None,
    resume: Annotated[
        bool,
        Opt(
            "--resume",
            help="Continue an unfinished bootstrap (a finished one does nothing).",
            rich_help_panel="Checkpoints and handoff",
        ),
    ] = False,
    restart: Annotated[
        bool,
        Opt(
            "--restart",
            help="Start over: clear the pipeline's state, contributions, claims and checkpoints, then bootstrap.",
            rich_help_panel="Checkpoints and handoff",
        ),
    ] = False,
    force: Annotated[
        bool,
        Opt(
            "--force",
            help="With --restart: clear the pipeline even though a live run saved its position recently.",
            rich_help_panel="Checkpoints and handoff",
        ),
    ] = False,
    handoff_out: Annotated[
        Path | None,
        Opt(
            "--handoff-out",
            metavar="FILE",
            help="Write the handoff token here.",
            rich_help_panel="Checkpoints and handoff",
        ),
    ] = None,
    from_handoff: Annotated[
        Path | None,
        Opt(
            "--from-handoff",
            metavar="FILE",
            help="Live mode: start after this handoff token [default: the handoff the pipeline's bootstrap"
            " kept in the store].",
            rich_help_panel="Checkpoints and handoff",
        ),
    ] = None,
    handoff_to: Annotated[
        str | None,
        Opt(
            "--handoff-to",
            metavar="LIVE",
            help="Record this live source's position in the handoff token (before the snapshot).",
            rich_help_panel="Checkpoints and handoff",
        ),
    ] = None,
    handoff_opts: Annotated[
        list[str] | None,
        Opt(
            "-H",
            "--handoff-option",
            metavar="OPT=VAL",
            help="Option of the --handoff-to source (repeatable).",
            rich_help_panel="Checkpoints and handoff",
        ),
    ] = None,
    no_handoff: Annotated[
        bool,
        Opt(
            "--no-handoff",
            help="A one-off snapshot: capture no handoff token.",
            rich_help_panel="Checkpoints and handoff",
        ),
    ] = False,
    then: Annotated[
        str | None,
        Opt(
            "--then",
            metavar="LIVE",
            help="After the bootstrap, run this live source in the same process from the handoff"
            " (its options: -H; --until-idle applies to it).",
            rich_help_panel="Checkpoints and handoff",
        ),
    ] = None,
    segments: Annotated[
        int | None, Opt("--segments", help="Split the scan into N parts run concurrently.", rich_help_panel="Run")
    ] = None,
    segment: Annotated[
        int | None,
        Opt(
            "--segment", help="Run only part I (0-based) of --segments N, e.g. one per process.", rich_help_panel="Run"
        ),
    ] = None,
    fold_helper: Annotated[
        bool | None,
        Opt(
            "--fold-helper/--no-fold-helper",
            help="Bootstrap: a second process folds every other block of a JSON-Lines input (sum and count"
            " of fields). Default: when the input is big and two CPUs are usable.",
            rich_help_panel="Run",
        ),
    ] = None,
    until_idle: Annotated[
        float | None,
        Opt(
            "--until-idle",
            metavar="SECONDS",
            help="Live mode: stop after this long without a record.",
            rich_help_panel="Run",
        ),
    ] = None,
    live_mode: Annotated[
        bool,
        Opt(
            "--live", help="Use the live source of this name when it is also a snapshot source.", rich_help_panel="Run"
        ),
    ] = False,
    dead_letters: Annotated[
        Path | None,
        Opt(
            "--dead-letters",
            metavar="FILE",
            help="JSON Lines file for records that could not be applied (created on the first one)"
            " [default: murmur-dead-letters.jsonl].",
            rich_help_panel="Run",
        ),
    ] = None,
    sink: Annotated[
        str | None,
        Opt(
            "--dead-letter-sink",
            metavar="SINK",
            help="Dead-letter sink adapter [default: jsonl, the --dead-letters file].",
            rich_help_panel="Run",
        ),
    ] = None,
    sink_opts: Annotated[
        list[str] | None,
        Opt(
            "-L",
            "--dead-letter-option",
            metavar="OPT=VAL",
            help="Dead-letter sink option (repeatable).",
            rich_help_panel="Run",
        ),
    ] = None,
    fail_on_error: Annotated[
        bool, Opt("--fail-on-error", help="Stop at the first dead letter (exit 1).", rich_help_panel="Run")
    ] = False,
    max_attempts: Annotated[
        int | None,
        Opt(
            "--max-attempts",
            help="Attempts per batch when documents change concurrently [default: 3]; transient store errors"
            " are ridden out for --retry-for instead.",
            rich_help_panel="Run",
        ),
    ] = None,
    retry_for: Annotated[
        str | None,
        Opt(
            "--retry-for",
            metavar="DURATION",
            help="Ride out a store or deduper outage (throttling, 5xx, lost connections) this long, e.g. 10m, 90s,"
            " then stop with the checkpoint kept [default: 10m for a bootstrap; live mode waits until stopped].",
            rich_help_panel="Run",
        ),
    ] = None,
    max_dead_letters: Annotated[
        str | None,
        Opt(
            "--max-dead-letters",
            metavar="N|N%",
            help="Fail the run (exit 1) when more than N records, or N% of them, are dead-lettered.",
            rich_help_panel="Run",
        ),
    ] = None,
    json_out: Annotated[
        bool,
        Opt("--json", help="Print the summary (or the error) as one JSON object on stdout.", rich_help_panel="Output"),
    ] = False,
    quiet: Annotated[
        bool,
        Opt("--quiet", "-q", help="No progress or summary on stderr (errors still are).", rich_help_panel="Output"),
    ] = False,
    metrics_port: Annotated[
        int | None,
        Opt(
            "--metrics-port",
            metavar="PORT",
            help="Serve Prometheus /metrics, /healthz and /readyz on this port (0: any free port)."
            " Needs murmur-core[metrics].",
            rich_help_panel="Output",
        ),
    ] = None,
    metrics_host: Annotated[
        str | None,
        Opt(
            "--metrics-host",
            metavar="HOST",
            help="The address --metrics-port listens on: 127.0.0.1 keeps it on this machine"
            " [default: 0.0.0.0, every interface].",
            rich_help_panel="Output",
        ),
    ] = None,
    log_format: Annotated[
        str | None,
        Opt(
            "--log-format",
            metavar="FORMAT",
            help="human, or json: one JSON object per line on stderr [default: human].",
            rich_help_panel="Output",
        ),
    ] = None,
) -> None:
    """Bootstrap a pipeline from a snapshot source, or run it live from a live source."""
    from murmur.cli._run import RunArgs, execute  # the runtimes load only when something runs

    args = RunArgs(
        source=source,
        store=store,
        dedup=dedup,
        pipeline=PipelineArgs(name, key, keys, value, monoid, window, event_time, mode, pipeline),
        source_opts=source_opts or [],
        store_opts=store_opts or [],
        dedup_opts=dedup_opts or [],
        handoff_opts=handoff_opts or [],
        config=config,
        resume=resume,
        restart=restart,
        handoff_out=handoff_out,
        from_handoff=from_handoff,
        handoff_to=handoff_to,
        then=then,
        segment=segment,
        segments=segments,
        fold_helper=fold_helper,
        no_handoff=no_handoff,
        until_idle=until_idle,
        dead_letters=dead_letters,
        sink=sink,
        sink_opts=sink_opts or [],
        fail_on_error=fail_on_error,
        max_attempts=max_attempts,
        retry_for=retry_for,
        max_dead_letters=max_dead_letters,
        force=force,
        live=live_mode,
        json=json_out,
        quiet=quiet,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        log_format=log_format,
    )
    if log_format == "json":
        from murmur.cli._jsonlog import json_reporting

        handling = json_reporting(json_mode=json_out, pipeline=name)
    else:
        handling = reporting(json_mode=json_out)
    with handling:
        _no_empty_values(
            ("--source", source),
            ("--store", store),
            ("--dedup", dedup),
            ("--handoff-to", handoff_to),
            ("--then", then),
            ("--dead-letter-sink", sink),
            ("--name", name),
            ("--key", key),
            ("--keys", keys),
            ("--value", value),
            ("--monoid", monoid),
            ("--window", window),
            ("--event-time", event_time),
            ("--mode", mode),
            ("--pipeline", pipeline),
        )
        code = execute(_registry(ctx), args)
    raise typer.Exit(code)


def _no_empty_values(*flags: tuple[str, str | None]) -> None:
    """``--store ''`` is a mistake (an unset variable in a script), not a request for the default."""
    for flag, value in flags:
        if value is not None and not value.strip():
            raise ConfigError(
                f"{flag}: expected a value, got an empty one (leave the flag out for the default)", option=flag
            )


def get_cmd(
    ctx: typer.Context,
    key: Annotated[
        list[str] | None,
        typer.Argument(metavar="KEY", help="Keys to read, one or more.", show_default=False),
    ] = None,
    name: Annotated[str | None, Opt("--name", help="Pipeline name.")] = None,
    store: Annotated[str | None, Opt("--store", help="State store adapter [default: sqlite].")] = None,
    store_opts: Annotated[
        list[str] | None, Opt("-T", "--store-option", metavar="OPT=VAL", help="Store option (repeatable).")
    ] = None,
    window: Annotated[
        str | None, Opt("--window", help="Fold the most recent span of a windowed pipeline, e.g. 7d, 24h.")
    ] = None,
    contains: Annotated[
        str | None, Opt("--contains", metavar="ITEM", help="Bloom pipelines: whether ITEM may have been added.")
    ] = None,
    config: Annotated[
        Path | None, Opt("--config", metavar="FILE", help="murmur.toml ([pipeline] name, [store]).")
    ] = None,
    json_out: Annotated[
        bool, Opt("--json", help="Print one JSON object mapping each key to its value (null: none).")
    ] = False,
    all_keys: Annotated[bool, Opt("--all", help="List every key of the pipeline (the default without KEYs).")] = False,
    prefix: Annotated[str | None, Opt("--prefix", metavar="P", help="List the keys that start with P.")] = None,
    top: Annotated[int | None, Opt("--top", metavar="K", help="List the K keys with the largest values.")] = None,
    limit: Annotated[int | None, Opt("--limit", metavar="N", help="List at most N keys.")] = None,
    fmt: Annotated[
        str | None, Opt("--format", metavar="FORMAT", help="tsv (default), csv or json for scripts.")
    ] = None,
) -> None:
    """Print the current value of one or more keys: murmur get --name NAME KEY...

    One KEY<TAB>VALUE line per key (null when the key has no value), or one JSON object (--json).
    Without KEYs (or with --all, --prefix, --top), list the pipeline's keys and values, page by
    page; a windowed pipeline lists one KEY<TAB>BUCKET<TAB>VALUE line per key and time bucket.
    """
    from murmur._read import Reader
    from murmur._retrying import RetryingStore, RetryPolicy
    from murmur.cli._get import FORMATS, list_rows, print_rows, select

    with reporting(json_mode=json_out):
        registry = _registry(ctx)
        _no_empty_values(("--name", name), ("--store", store), ("--window", window))
        cfg = load_config(config)
        pipeline = name or cfg.section("pipeline").get("name")
        if not pipeline:
            raise ConfigError("--name: which pipeline to read (e.g. --name orders)", option="name")
        keys = key or []
        listing = not keys or all_keys or prefix is not None or top is not None or limit is not None
        if fmt is not None and fmt not in FORMATS:
            raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, not {fmt!r}", option="format")
        if listing and keys:
            raise ConfigError(
                "KEY: give keys to read, or list with --all/--prefix/--top/--limit, not both", option="key"
            )
        if listing and contains is not None:
            raise ConfigError("--contains: needs the KEYs of bloom pipelines to test", option="contains")
        _, _, backend = open_for_reading(registry, cfg, store, store_opts, str(pipeline))
        try:
            # Reads ride out throttling and lost connections like a run's calls do (saying so on stderr),
            # for less long: someone is waiting for the answer.
            policy = RetryPolicy(GET_RETRY_FOR, on_wait=lambda text: typer.echo(mask(text), err=True))
            reader = Reader.open(RetryingStore(backend, policy), str(pipeline))
            if listing:
                rows = select(list_rows(reader, prefix=prefix, last=window), top=top, limit=limit)
                print_rows(rows, fmt="json" if json_out else fmt or "tsv", windowed=reader.window is not None)
                return
            assert keys is not None
            states = reader.get_many(keys, last=window)
            if contains is not None:
                test = getattr(reader.monoid, "contains", None)
                if not callable(test):
                    raise ConfigError(
                        f"--contains: works with bloom pipelines; {pipeline!r} uses {reader.monoid.spec}",
                        option="contains",
                    )
                values: list[Any] = [None if s is None else bool(test(s, contains)) for s in states]
            else:
                values = [reader.result(s) for s in states]
        finally:
            backend.close()
        if json_out or fmt == "json":
            typer.echo(dumps(dict(zip(keys, values, strict=True))))
        elif fmt == "csv":
            print_rows(iter([(k, None, v) for k, v in zip(keys, values, strict=True)]), fmt="csv", windowed=False)
        else:
            for k, v in zip(keys, values, strict=True):
                typer.echo(f"{k}\t{plain(v)}")


def plugins_list(
    ctx: typer.Context,
    json_out: Annotated[bool, Opt("--json", help="Print {adapters: [...], plugins: [...]} as JSON.")] = False,
) -> None:
    """Adapters by name and kind, with their distribution, version, guarantees and status.

    A table on a terminal, tab-separated lines in a pipe. Reads what plugins declare: a broken
    plugin shows its error once something has imported it (`plugins show`, a run).
    """
    from murmur.cli._listing import write_listing

    write_listing(_registry(ctx), json_out=json_out)


def plugins_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Adapter name (all kinds of that name are shown).")],
    json_out: Annotated[bool, Opt("--json", help="Print the adapters and their options as JSON.")] = False,
) -> None:
    """An adapter's description, guarantees and options (type, default, env var, help)."""
    with reporting(json_mode=json_out):
        registry = _registry(ctx)
        specs = [s for a in registry.named(name) if (s := registry.find(a.kind, a.name)) is not None]
        if not specs:
            from murmur.plugins._hints import suggest

            names = sorted({a.name for a in registry.adapters()})
            hint = suggest(name, names)
            raise ConfigError(
                f"no adapter named {name!r}{'; ' + hint if hint else ''} (available: {', '.join(names) or 'none'})"
                + registry.failed_hint(),
                option="name",
            )
        docs = [_describe(s) for s in specs]
        if json_out:
            typer.echo(dumps(docs))
            return
        from rich.table import Table

        console = _console()
        for doc in docs:
            console.print(
                f"{doc['name']} ({kind_name(doc['kind'])}) — {doc['description']}\n"
                f"  from {doc['distribution']} {doc['version']}; guarantees: {', '.join(doc['guarantees']) or '-'}",
                markup=False,
                highlight=False,
            )
            table = Table(box=None, pad_edge=False, header_style="bold")
            for column in ("OPTION", "TYPE", "DEFAULT", "ENV", "HELP"):
                table.add_column(column, overflow="fold")
            for o in doc["options"]:
                notes = [n for n in ("required" if o["required"] else "", "secret" if o["secret"] else "") if n]
                if o["choices"]:
                    notes.append("one of " + ", ".join(o["choices"]))
                help_text = o["help"] + (f" ({'; '.join(notes)})" if notes else "")
                default = "" if o["default"] is None else str(o["default"])
                table.add_row(o["name"], o["type"], default, o["env"] or "", help_text)
            if doc["options"]:
                console.print(table, markup=False, highlight=False)
            else:
                console.print("  (no options)", markup=False, highlight=False)
            console.print()


def _console() -> Any:
    """Stdout; not wrapped at 80 columns when it is a pipe or a file."""
    from rich.console import Console

    probe = Console()
    return probe if probe.is_terminal else Console(width=240)


def _describe(spec: AdapterSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "kind": spec.kind,
        "description": spec.description,
        "distribution": spec.distribution,
        "version": spec.version,
        "guarantees": list(spec.guarantees),
        "options": [
            {
                "name": o.name,
                "type": o.type,
                "default": "****" if o.secret and o.default is not None else o.default,
                "env": o.env,
                "help": o.help,
                "required": o.required,
                "secret": o.secret,
                "choices": list(o.choices) if o.choices else None,
            }
            for o in spec.options
        ],
    }


def _version(value: bool) -> None:
    if value:
        from murmur import __version__

        typer.echo(f"murmur {__version__}")
        raise typer.Exit()


def make_app(registry: Registry | None = None, *, only_run: bool = False) -> typer.Typer:
    """The ``murmur`` app over ``registry`` (default: load the plugins), with plugins' sub-commands
    (``only_run``: just ``murmur run``, for a command line that runs it)."""
    reg = registry if registry is not None else load()
    from murmur.cli._group import RootGroup

    app = typer.Typer(
        cls=RootGroup,
        name="murmur",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"obj": reg, "help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        version: Annotated[
            bool, Opt("--version", is_eager=True, callback=_version, help="Show the version and exit.")
        ] = False,
    ) -> None:
        """Streaming aggregation, snapshot then stream."""

    app.command("run", epilog=RUN_EPILOG)(run_cmd)
    if only_run:
        return app
    app.command("get", epilog=GET_EPILOG)(get_cmd)
    from murmur.cli._status import status_cmd

    app.command("status")(status_cmd)
    plugins = typer.Typer(help="Installed adapters and plugins.", no_args_is_help=True, rich_markup_mode=None)
    plugins.command("list")(plugins_list)
    plugins.command("show")(plugins_show)
    app.add_typer(plugins, name="plugins")
    reg.add_cli(app)  # plugins imported already (no declaration); declared commands load on use
    return app


def main(argv: list[str] | None = None) -> None:
    """The ``murmur`` app (``murmur.cli.main`` answers ``plugins list`` without it)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        # `murmur run …` builds only the command it runs: typer turns every command's signature
        # into click options up front, and the others cost a run ~5 ms for nothing.
        app = make_app(only_run=args[:1] == ["run"])
    except MurmurError as exc:
        sys.exit(report(exc))
    app(args=argv, prog_name="murmur")  # RootGroup.main prints errors as one line and exits
