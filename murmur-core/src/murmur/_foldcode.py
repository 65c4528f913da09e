"""The code a field plan runs per block: a msgspec struct of just the fields a pipeline reads,
and a fold loop generated for the pipeline.

Kept apart from ``_decode`` (which holds the plan itself) because it imports nothing but msgspec:
the fold helper process (``_foldchild``) builds the same decoder and loop from a plan's
``spec`` without loading the rest of murmur.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

__all__ = ["FOLDS", "KEY_TYPE", "NUMBER", "KeySpec", "Path", "compile_fold", "fold_loop", "row_struct"]

#: Monoid kinds with a generated fold; ``add`` for groups, ``lt``/``gt`` for the extremes.
FOLDS = {"sum": "add", "count": "count", "min": "lt", "max": "gt"}
Path = tuple[str, ...]
#: A key as parts: ``(literal text, None)`` or ``("", field path)``.
KeySpec = list[tuple[str, Path | None]]
KEY_TYPE = str | int | float
NUMBER = int | float


def compile_fold(
    keys: list[KeySpec], value: Path | None, kind: str
) -> tuple[msgspec.json.Decoder[Any], Callable[[list[Any], dict[str, Any]], None]]:
    """The typed decoder and the fold loop for key specs ``keys``, value path ``value`` and
    monoid kind ``kind`` (a key of ``FOLDS``)."""
    fields: dict[Path, Any] = {path: KEY_TYPE for spec in keys for part, path in spec if path}
    if value is not None:
        fields[value] = NUMBER
    row, getters = row_struct(fields)
    return msgspec.json.Decoder(row), fold_loop(FOLDS[kind], keys, getters, getters.get(value) if value else None)


def row_struct(fields: dict[Path, Any]) -> tuple[type, dict[Path, str]]:
    """A msgspec struct type holding ``fields`` (paths ⇒ types), and each path's attribute chain.

    Attributes are ``f0, f1…`` renamed to the JSON names, so any field name works.
    """
    tree: dict[str, Any] = {}
    for path, typ in fields.items():
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = typ
    getters: dict[tuple[str, ...], str] = {}

    def build(node: dict[str, Any], prefix: tuple[str, ...], chain: str) -> type:
        attrs: list[tuple[str, Any]] = []
        rename: dict[str, str] = {}
        for i, (name, sub) in enumerate(node.items()):
            attr = f"f{i}"
            rename[attr] = name
            path = (*prefix, name)
            if isinstance(sub, dict):
                attrs.append((attr, build(sub, path, f"{chain}.{attr}")))
            else:
                attrs.append((attr, sub))
                getters[path] = f"{chain}.{attr}"
        return msgspec.defstruct("Row", attrs, rename=rename, gc=False)

    return build(tree, (), "r"), getters


def fold_loop(
    how: str, keys: list[KeySpec], getters: dict[Path, str], value: str | None
) -> Callable[[list[Any], dict[str, Any]], None]:
    """A loop specialised to one pipeline: no per-row calls but the dict's own.

    Keys render as the general path renders them (a string as is, ``str()`` of a number; a
    template's fields in place); several keys of one record count once each.
    """
    lines: list[str] = []
    names: dict[Path, str] = {}
    for spec in keys:  # each field read once per row, rendered as text
        for _, path in spec:
            if path is not None and path not in names:
                name = names[path] = f"x{len(names)}"
                lines += [f"{name} = {getters[path]}", f"if type({name}) is not str:", f"    {name} = str({name})"]
    exprs = [" + ".join(repr(text) if path is None else names[path] for text, path in spec) for spec in keys]
    step = {
        "count": ["writes[k] = get(k, 0) + 1"],
        "add": [f"writes[k] = get(k, 0) + {value}"],
        "lt": [f"v = {value}", "c = get(k)", "if c is None or v < c:", "    writes[k] = v"],
        "gt": [f"v = {value}", "c = get(k)", "if c is None or v > c:", "    writes[k] = v"],
    }[how]
    if len(exprs) == 1:
        lines += [f"k = {exprs[0]}", *step]
    else:
        lines += [f"for k in dict.fromkeys(({', '.join(exprs)},)):", *("    " + line for line in step)]
    body = "".join(f"        {line}\n" for line in lines)
    source = f"def fold(rows, writes):\n    get = writes.get\n    for r in rows:\n{body}"
    scope: dict[str, Any] = {}
    exec(compile(source, "<murmur field plan>", "exec"), scope)
    fold: Callable[[list[Any], dict[str, Any]], None] = scope["fold"]
    return fold
