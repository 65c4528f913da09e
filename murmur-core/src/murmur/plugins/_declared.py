"""What installed plugins declare, read without importing them: entry points and ``murmur-plugin.json``.

``murmur plugins list`` and ``murmur --help`` must not import a single adapter, so each plugin
package ships its adapters as data beside its plugin module::

    my_package/
        _plugin.py            # [project.entry-points.murmur] myadapter = "my_package._plugin"
        murmur-plugin.json    # what _plugin.py registers, as data

    {"module": "my_package._plugin",
     "adapters": [{"name": "mine", "kind": "source", "description": "...",
                   "guarantees": ["resumable"], "options": ["path", "batch_size"]}],
     "commands": {"mytool": "help line of `murmur mytool`"}}

The plugin module is imported only when one of its adapters or commands is used (or shown), and
its registrations are checked against this file then. A plugin without the file is imported when
the plugins are loaded, as before. Only the standard library is used here (no pluggy, no typer):
this module is on the start-up path of every ``murmur`` command.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "DECLARATION",
    "GROUP",
    "KINDS",
    "KIND_NAMES",
    "Declaration",
    "Declared",
    "FoundEntryPoint",
    "find_entry_points",
    "kind_name",
    "read_declaration",
]

GROUP = "murmur"
DECLARATION = "murmur-plugin.json"
#: Adapter kinds (``_spec.Kind``): ``source`` a snapshot source (bootstrap), ``live`` a live source,
#: ``store``, ``dedup``, ``decoder``, ``sink`` where records that cannot be applied go (dead letters).
KINDS: tuple[str, ...] = ("source", "live", "store", "dedup", "decoder", "sink")
#: How messages name each kind.
KIND_NAMES = {
    "source": "snapshot source",
    "live": "live source",
    "store": "store",
    "dedup": "deduper",
    "decoder": "decoder",
    "sink": "dead-letter sink",
}


def kind_name(kind: str) -> str:
    """``"live"`` ⇒ ``"live source"``: the kind as messages and listings name it."""
    return KIND_NAMES.get(kind, kind)


class Declared:
    """One adapter as a plugin declares (or registers) it: enough to list it, not to build it."""

    __slots__ = ("description", "distribution", "guarantees", "kind", "name", "options", "plugin", "version")

    def __init__(
        self,
        name: str,
        kind: str,
        description: str = "",
        guarantees: Iterable[str] = (),
        options: Iterable[str] = (),
        *,
        plugin: str = "",
        distribution: str = "",
        version: str = "",
    ) -> None:
        self.name = name
        self.kind = kind
        self.description = description
        self.guarantees = tuple(guarantees)
        self.options = tuple(options)
        self.plugin = plugin
        self.distribution = distribution
        self.version = version

    def __repr__(self) -> str:
        return f"Declared({self.kind} {self.name!r} from {self.plugin!r})"


class Declaration:
    """A parsed ``murmur-plugin.json``: the adapters and the sub-commands a plugin module adds."""

    __slots__ = ("adapters", "commands", "module", "path")

    def __init__(self, path: str, module: str, adapters: list[Declared], commands: dict[str, str]) -> None:
        self.path = path
        self.module = module
        self.adapters = adapters
        self.commands = commands


class FoundEntryPoint:
    """An entry point of the ``murmur`` group and the distribution that declares it."""

    __slots__ = ("distribution", "name", "value", "version")

    def __init__(self, name: str, value: str, distribution: str, version: str) -> None:
        self.name = name
        self.value = value
        self.distribution = distribution
        self.version = version


def find_entry_points(group: str = GROUP, path: Iterable[str] | None = None) -> list[FoundEntryPoint]:
    """Entry points of ``group`` in the distributions on ``path`` (default ``sys.path``).

    The same answer as ``importlib.metadata.entry_points(group=...)`` for installed wheels and
    editable installs (the first distribution of a name on the path wins), in a few milliseconds:
    it reads ``entry_points.txt`` and the ``Name``/``Version`` headers, nothing else.
    """
    found: list[FoundEntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path if path is None else path:
        base = entry or "."
        try:
            names = os.listdir(base)
        except OSError:  # not a directory (a zip), or gone
            continue
        for dirname in sorted(names):
            if not dirname.endswith((".dist-info", ".egg-info")):
                continue
            key = _normalize(dirname.rsplit(".", 1)[0].split("-", 1)[0])
            if key in seen:
                continue
            seen.add(key)
            meta = os.path.join(base, dirname)
            points = _section(os.path.join(meta, "entry_points.txt"), group)
            if not points:
                continue
            name, version = _name_version(meta, dirname)
            found.extend(FoundEntryPoint(n, v, name, version) for n, v in points)
    return found


def _normalize(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _section(path: str, group: str) -> list[tuple[str, str]]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return []
    out: list[tuple[str, str]] = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
        elif current == group and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.split("[", 1)[0].strip()))  # drop [extras]
    return out


def _name_version(meta: str, dirname: str) -> tuple[str, str]:
    name = version = ""
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta, filename), encoding="utf-8") as fh:
                for line in fh:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    if line.startswith("Name:"):
                        name = line[5:].strip()
                    elif line.startswith("Version:"):
                        version = line[8:].strip()
        except OSError:
            continue
        break
    if not name:  # name-version.dist-info
        stem = dirname.rsplit(".", 1)[0]
        name, _, version = stem.partition("-")
    return name, version


def read_declaration(module: str) -> Declaration | None:
    """The declaration shipped beside plugin module ``module`` (``pkg._plugin``), or None.

    Found through the import system without importing anything: the top-level package is located
    with ``find_spec`` (which never runs a top-level package), the rest of the path is directories.
    A top-level plugin module (no package) cannot ship one. A file that is not a valid declaration
    raises ``ValueError`` naming it.
    """
    module = module.split(":", 1)[0].strip()
    parts = module.split(".")
    if len(parts) < 2:
        return None
    import importlib.util

    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = os.path.join(base, *parts[1:-1], DECLARATION)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError:
            continue
        return _parse(path, module, text)
    return None


def _parse(path: str, module: str, text: str) -> Declaration:
    try:
        doc = json.loads(text)
        if doc.get("module", module) != module:
            raise ValueError(f"it declares module {doc['module']!r}, not {module!r}")
        adapters = [
            Declared(
                str(a["name"]),
                str(a["kind"]),
                str(a.get("description", "")),
                [str(g) for g in a.get("guarantees", ())],
                [str(o) for o in a.get("options", ())],
            )
            for a in doc.get("adapters", ())
        ]
        commands = {str(k): str(v) for k, v in dict(doc.get("commands", {})).items()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"{path}: not a valid plugin declaration ({type(exc).__name__}: {exc})") from None
    return Declaration(path, module, adapters, commands)
