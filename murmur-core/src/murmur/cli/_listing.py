"""``murmur plugins list``: what is installed, from declarations alone (no plugin, typer or rich import).

On a terminal, a table that fits its width (long cells wrap at word boundaries, never inside a
name); in a pipe or a file, one tab-separated line per row for ``cut``/``awk``; ``--json`` for
programs.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from murmur.plugins._loader import Registry

__all__ = ["COLUMNS", "listing", "render_table", "render_tsv", "write_listing"]

COLUMNS = ("NAME", "KIND", "DISTRIBUTION", "VERSION", "GUARANTEES", "STATUS")


def listing(registry: Registry) -> dict[str, Any]:
    """``{"adapters": [...], "plugins": [...]}`` as ``plugins list --json`` prints it."""
    status = {p.name: p for p in registry.plugins}
    adapters = []
    for a in registry.adapters():
        info = status.get(a.plugin)
        adapters.append(
            {
                "name": a.name,
                "kind": a.kind,
                "description": a.description,
                "distribution": a.distribution,
                "version": a.version,
                "guarantees": list(a.guarantees),
                "options": list(a.options),
                "plugin": a.plugin,
                "status": "ok" if info is None or info.status in ("ok", "conflict", "stale") else info.status,
            }
        )
    plugins = [
        {
            "name": p.name,
            "module": p.module,
            "distribution": p.distribution,
            "version": p.version,
            "status": p.status,
            "error": p.error,
            "loaded": p.loaded,
            "adapters": [f"{k}:{n}" for k, n in p.adapters],
            "commands": sorted(p.commands),
        }
        for p in registry.plugins
    ]
    return {"adapters": adapters, "plugins": plugins}


def _rows(doc: dict[str, Any]) -> list[list[str]]:
    rows = [
        [a["name"], a["kind"], a["distribution"], a["version"], ", ".join(a["guarantees"]), a["status"]]
        for a in doc["adapters"]
    ]
    for p in doc["plugins"]:
        if p["status"] != "ok":
            rows.append([p["name"], "-", p["distribution"], p["version"], "", f"{p['status']}: {p['error'] or ''}"])
    return rows


def render_tsv(doc: dict[str, Any]) -> str:
    """A header and one line per row, cells separated by tabs (tabs and newlines in cells become spaces)."""
    lines = ["\t".join(COLUMNS)]
    for row in _rows(doc):
        lines.append("\t".join(" ".join(cell.split()) for cell in row))
    return "\n".join(lines) + "\n"


def render_table(doc: dict[str, Any], width: int) -> str:
    """Aligned columns within ``width``: the short columns keep their width, the last two wrap."""
    rows = [list(COLUMNS), *_rows(doc)]
    gap = 2
    fixed = [max(len(r[i]) for r in rows) for i in range(4)]
    room = width - sum(fixed) - gap * 5
    longest = [max(max((len(w) for w in r[i].split()), default=0) for r in rows) for i in (4, 5)]
    full = [max(len(r[i]) for r in rows) for i in (4, 5)]
    if room >= sum(full):
        flex = full
    else:  # share the room, each wrapping column at least as wide as its longest word
        status = max(longest[1], min(full[1], room // 3))
        flex = [max(longest[0], room - status), status]
    widths = [*fixed, *flex]
    out = []
    for row in rows:
        cells = [[c] for c in row[:4]] + [_wrap(row[4], widths[4]), _wrap(row[5], widths[5])]
        for line in range(max(len(c) for c in cells)):
            parts = [(c[line] if line < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)]
            out.append((" " * gap).join(parts).rstrip())
    return "\n".join(out) + "\n"


def _wrap(text: str, width: int) -> list[str]:
    """Words of ``text`` in lines of at most ``width`` (a longer word gets a line of its own, whole)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*lines, current] if current or not lines else lines


def terminal_width(stream: TextIO) -> int | None:
    """The width of the terminal ``stream`` writes to, None when it is not a terminal."""
    try:
        if not stream.isatty():
            return None
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        columns = os.environ.get("COLUMNS", "")
        return int(columns) if columns.isdigit() else None


def write_listing(registry: Registry, *, json_out: bool = False, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    doc = listing(registry)
    if json_out:
        out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        return
    width = terminal_width(out)
    out.write(render_tsv(doc) if width is None else render_table(doc, width))
