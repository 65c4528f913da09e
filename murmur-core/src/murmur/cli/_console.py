"""Where ``murmur run`` writes its progress and summary: Rich on a terminal, plain lines elsewhere.

Off a terminal (a pipe, a log file, a container's stderr) every line is printed whole, without
markup, highlighting or wrapping, so Rich has nothing to do there: :class:`PlainConsole` writes
the same lines without importing it (~20 ms of every short run), and without Rich's emoji codes
(a path such as ``logs/:fire:.jsonl`` stays as it is).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Protocol

__all__ = ["LineConsole", "PlainConsole", "stderr_console"]


class LineConsole(Protocol):
    """What the run needs of a console (``rich.console.Console`` has it)."""

    @property
    def is_terminal(self) -> bool: ...

    def print(self, *objects: Any, markup: bool | None = None, highlight: bool | None = None,
              soft_wrap: bool | None = None) -> None: ...  # fmt: skip


class PlainConsole:
    """Lines to standard error (looked up when printing, so a redirected ``sys.stderr`` is used)."""

    is_terminal = False

    def print(self, *objects: Any, markup: bool | None = None, highlight: bool | None = None,
              soft_wrap: bool | None = None) -> None:  # fmt: skip
        stream = sys.stderr
        stream.write(" ".join(str(o) for o in objects) + "\n")
        stream.flush()


def stderr_console() -> LineConsole:
    """Rich's console where it draws (a terminal, or ``FORCE_COLOR``/``TTY_COMPATIBLE`` as Rich reads
    them), else a :class:`PlainConsole`."""
    forced = bool(os.environ.get("FORCE_COLOR")) or os.environ.get("TTY_COMPATIBLE") == "1"
    if forced or sys.stderr.isatty():
        from rich.console import Console

        return Console(stderr=True)
    return PlainConsole()
