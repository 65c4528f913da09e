"""Errors and machine output: exit codes, one-line messages, secrets masked, JSON on stdout.

Exit codes: 0 success; 1 the run failed (source, store, abort at a dead letter); 2 usage or
configuration (bad option, unknown adapter, checkpoint exists, bad handoff file); 130 stopped
by Ctrl-C before finishing. ``MURMUR_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from murmur._errors import Aborted, Cancelled, ConfigError, HandoffError, MurmurError
from murmur.plugins import AdapterSpec, is_secret, mask_secrets

USAGE, FAILURE, INTERRUPTED = 2, 1, 130

#: Secret option values seen in this process: never printed, wherever they turn up.
_SECRETS: dict[str, None] = {}


def remember_secrets(spec: AdapterSpec, options: Mapping[str, Any]) -> None:
    for name, value in options.items():
        if isinstance(value, Mapping):
            prefix = name[:-1]
            for sub, v in value.items():
                if is_secret(spec, prefix + sub) and str(v):
                    _SECRETS[str(v)] = None
        elif value is not None and is_secret(spec, name) and str(value):
            _SECRETS[str(value)] = None


def mask(text: str) -> str:
    return mask_secrets(text, _SECRETS)


def debug() -> bool:
    return os.environ.get("MURMUR_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, (ConfigError, HandoffError)):
        return USAGE
    if isinstance(exc, (Cancelled, KeyboardInterrupt)):
        return INTERRUPTED
    return FAILURE


def message(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "aborted"
    if isinstance(exc, Cancelled):
        return "interrupted; the progress so far is checkpointed: run again with --resume to continue"
    if isinstance(exc, Aborted):
        return f"{exc} (run without --fail-on-error to dead-letter such records and go on)"
    if isinstance(exc, MurmurError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return f"internal error: {type(exc).__name__}: {exc} (set MURMUR_DEBUG=1 for the traceback)"


def report(exc: BaseException, *, json_mode: bool = False) -> int:
    """Print ``exc`` as one line on stderr (and a JSON object on stdout in ``--json`` mode)."""
    code = exit_code(exc)
    text = mask(message(exc))
    if debug():
        sys.stderr.write(mask("".join(traceback.format_exception(exc))))
    typer.echo(f"murmur: error: {text}", err=True)
    if json_mode:
        typer.echo(dumps({"ok": False, "error": text, "exit_code": code}))
    return code


@contextmanager
def reporting(*, json_mode: bool = False) -> Iterator[None]:
    """Turn our errors into a message and an exit code; let click's own exits through."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own exits and usage errors
        raise
    except (Exception, KeyboardInterrupt) as exc:
        raise typer.Exit(report(exc, json_mode=json_mode)) from None


def jsonable(value: Any) -> Any:
    """A value as JSON can carry it: sets sorted, Decimals as numbers, bytes as base64."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Path):
        return str(value)
    return str(value)


def dumps(doc: Any) -> str:
    return mask(json.dumps(jsonable(doc), ensure_ascii=False))


def plain(value: Any) -> str:
    """A value for ``KEY<TAB>VALUE`` output: scalars as they are, containers as JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str, Decimal)):
        return str(value)
    return json.dumps(jsonable(value), ensure_ascii=False)


class ConsoleLogHandler(logging.Handler):
    """Routes the ``murmur`` logger to a writer (above the progress display), at most ``limit`` lines."""

    def __init__(self, write: Any, limit: int | None = 20) -> None:
        super().__init__(logging.WARNING if not debug() else logging.DEBUG)
        self.write = write
        self.limit = limit
        self.seen = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.seen += 1
        if self.limit is not None and self.seen > self.limit:
            if self.seen == self.limit + 1:
                self.write("murmur: further warnings not shown (the summary counts them)")
            return
        try:
            self.write(mask(f"murmur: {record.levelname.lower()}: {record.getMessage()}"))
        except Exception:  # logging must never break the run
            self.handleError(record)


@contextmanager
def routed_logging(write: Any, *, quiet: bool) -> Iterator[None]:
    """While the block runs, ``murmur`` log records go to ``write`` (nowhere with ``--quiet``)."""
    logger = logging.getLogger("murmur")
    handler: logging.Handler = logging.NullHandler() if quiet else ConsoleLogHandler(write, None if debug() else 20)
    old = (logger.propagate, logger.level)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG if debug() else logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = old[0], old[1]
