"""The ``murmur`` console script: ``plugins list`` answered without typer, everything else by the app.

``murmur plugins list`` is what a user types to see what is installed; it reads plugin
declarations and prints, in a few tens of milliseconds. Any other command line (including
``plugins list --help``) goes to the typer application in ``_app``.
"""

from __future__ import annotations

import gc
import sys

__all__ = ["main"]

_FAST_FLAGS = frozenset({"--json"})


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:2] == ["plugins", "list"] and set(args[2:]) <= _FAST_FLAGS and len(args) <= 3:
        sys.exit(_plugins_list(json_out="--json" in args))
    from murmur.cli._app import main as app_main

    try:
        app_main(args)
    finally:
        # The process ends now, and everything was closed explicitly: spare the interpreter's
        # last collections a walk over every object of typer, the runtimes and the plugins
        # (~4% of a one-second run). atexit handlers still run.
        gc.freeze()


def _plugins_list(*, json_out: bool) -> int:
    from murmur._errors import MurmurError

    try:
        from murmur.cli._listing import write_listing
        from murmur.plugins._loader import load

        write_listing(load(), json_out=json_out)
    except MurmurError as exc:  # MURMUR_STRICT_PLUGINS and a broken plugin
        from murmur.cli._output import report

        return report(exc, json_mode=json_out)
    except BrokenPipeError:  # `murmur plugins list | head`
        sys.stderr.close()
        return 0
    return 0
