"""Write a plugin's ``murmur-plugin.json`` from what its module registers.

    python -m murmur.plugins.declare my_package._plugin > src/my_package/murmur-plugin.json

Run it again whenever the plugin's adapters, descriptions, guarantees, option names or commands
change; ``check(module)`` (use it in a test) says whether the shipped file still matches.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from murmur.plugins._declared import read_declaration
from murmur.plugins._loader import PluginInfo, Registry

__all__ = ["check", "declaration", "main"]


def declaration(module: str) -> dict[str, Any]:
    """The declaration of plugin module ``module``, made by importing it and running its hooks."""
    import typer

    registry = Registry()
    info = PluginInfo(module, module, "", "")
    registry.add(importlib.import_module(module), info)
    if info.status != "ok":
        raise RuntimeError(f"{module}: {info.error}")
    app = typer.Typer()
    registry.add_cli(app)
    if info.status != "ok":
        raise RuntimeError(f"{module}: {info.error}")
    commands = {}
    for group in app.registered_groups:
        sub = group.typer_instance
        help_text = group.help or (sub.info.help if sub is not None else None) or ""
        commands[str(group.name)] = str(help_text).strip().splitlines()[0] if help_text else ""
    for command in app.registered_commands:
        doc = command.help or (command.callback.__doc__ if command.callback else "") or ""
        commands[str(command.name)] = str(doc).strip().splitlines()[0] if doc else ""
    return {
        "module": module,
        "adapters": [
            {
                "name": a.name,
                "kind": a.kind,
                "description": a.description,
                "guarantees": list(a.guarantees),
                "options": list(a.options),
            }
            for a in (next(d for d in registry.adapters() if (d.kind, d.name) == key) for key in info.adapters)
        ],
        "commands": commands,
    }


def check(module: str) -> list[str]:
    """Differences between the shipped declaration of ``module`` and what it registers (empty: none)."""
    shipped = read_declaration(module)
    if shipped is None:
        return [f"{module}: no murmur-plugin.json beside it"]
    want = declaration(module)
    have = {
        "module": shipped.module,
        "adapters": [
            {
                "name": a.name,
                "kind": a.kind,
                "description": a.description,
                "guarantees": list(a.guarantees),
                "options": list(a.options),
            }
            for a in shipped.adapters
        ],
        "commands": shipped.commands,
    }
    problems = []
    for key in ("module", "adapters", "commands"):
        if have[key] != want[key]:
            problems.append(f"{shipped.path}: {key} differ: declared {have[key]!r}, registered {want[key]!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m murmur.plugins.declare PACKAGE.PLUGIN_MODULE\n")
        return 2
    sys.stdout.write(json.dumps(declaration(args[0]), indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
