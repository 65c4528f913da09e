"""The ``murmur`` command line: ``run``, ``get``, ``plugins``, and plugins' own sub-commands."""

from __future__ import annotations

from murmur.cli._main import main

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from murmur.cli._app import make_app
    from murmur.cli._progress import ProgressDisplay

__all__ = ["ProgressDisplay", "main", "make_app"]


def __getattr__(name: str) -> Any:
    # typer and rich load with the app, not with the console script (see _main).
    if name == "make_app":
        from murmur.cli._app import make_app

        return make_app
    if name == "ProgressDisplay":
        from murmur.cli._progress import ProgressDisplay

        return ProgressDisplay
    raise AttributeError(f"module 'murmur.cli' has no attribute {name!r}")
