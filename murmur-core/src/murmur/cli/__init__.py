"""The ``murmur`` command line: ``run``, ``get``, ``plugins``, and plugins' own sub-commands."""

from __future__ import annotations

from murmur.cli._app import main, make_app
from murmur.cli._progress import ProgressDisplay

__all__ = ["ProgressDisplay", "main", "make_app"]
