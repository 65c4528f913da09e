"""``--log-format json``: what ``murmur run`` writes on stderr, as one JSON object per line.

Each line is ``{"level", "time", "pipeline", "event", "message", "fields"}``: ``level`` is
``debug``/``info``/``warning``/``error``, ``time`` ISO-8601 UTC, ``event`` a stable name
(``run_started``, ``metrics_listening``, ``progress``, ``log``, ``message``, ``summary``,
``error``), ``fields`` the event's data. No Rich markup, no progress bars; secrets masked.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import typer

from murmur._status import RunStatus
from murmur.cli._output import debug, dumps, exit_code, jsonable, mask, message

__all__ = ["FORMATS", "JsonLog", "json_reporting"]

FORMATS = ("human", "json")
_PREFIX = re.compile(r"^murmur: (debug|info|warning|error): ")


class JsonLog:
    """Writes JSON log lines for one run to ``stream`` (stderr by default); thread-safe."""

    def __init__(
        self,
        pipeline: str | None,
        stream: TextIO | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.pipeline = pipeline
        self.stream = stream
        self.now = now
        self._lock = threading.Lock()

    def emit(self, level: str, event: str, message: str | None = None, **fields: Any) -> None:
        doc = {
            "level": level,
            "time": self.now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "pipeline": self.pipeline,
            "event": event,
            "message": message,
            "fields": jsonable(fields),
        }
        line = mask(json.dumps(doc, ensure_ascii=False))
        with self._lock:
            stream = self.stream or sys.stderr
            stream.write(line + "\n")
            stream.flush()

    def write(self, text: str) -> None:
        """A line meant for humans (``murmur: warning: ...``): its level read from its prefix."""
        found = _PREFIX.match(text)
        level = found.group(1) if found else "info"
        self.emit(level, "message", text[found.end() :] if found else text)

    @contextmanager
    def routed(self, *, quiet: bool) -> Iterator[None]:
        """While the block runs, ``murmur`` log records become ``log`` events (none with ``--quiet``)."""
        logger = logging.getLogger("murmur")
        handler: logging.Handler = logging.NullHandler() if quiet else _Handler(self)
        old = (logger.propagate, logger.level)
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.DEBUG if debug() else logging.WARNING)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.propagate, logger.level = old

    @contextmanager
    def progress(self, status: Callable[[], RunStatus], *, interval: float = 10.0) -> Iterator[None]:
        """A ``progress`` event every ``interval`` seconds while the block runs (the plain display's cadence)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                self.emit("info", "progress", None, **_progress(status()))

        thread = threading.Thread(target=loop, name="murmur-json-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)


def _progress(status: RunStatus) -> dict[str, Any]:
    lag = status.source_stats.get("lag") if isinstance(status.source_stats, dict) else None
    return {
        "mode": status.mode,
        "records": status.records,
        "applied": status.applied,
        "dead_letters": status.dead_letters,
        "dedup_skips": status.dedup_skips,
        "retries": status.retries,
        "done": status.done,
        "total": status.total,
        "lag": lag if isinstance(lag, dict) else None,
        "elapsed_seconds": round(status.elapsed, 3),
    }


class _Handler(logging.Handler):
    def __init__(self, log: JsonLog) -> None:
        super().__init__(logging.DEBUG)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log.emit(record.levelname.lower(), "log", record.getMessage(), logger=record.name)
        except Exception:  # logging must never break the run
            self.handleError(record)


@contextmanager
def json_reporting(*, json_mode: bool = False, pipeline: str | None = None) -> Iterator[None]:
    """Like ``reporting``: an error becomes one ``error`` event on stderr and the exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except (Exception, KeyboardInterrupt) as exc:
        code = exit_code(exc)
        text = mask(message(exc))
        fields: dict[str, Any] = {"exit_code": code, "type": type(exc).__name__}
        if debug():
            import traceback

            fields["traceback"] = mask("".join(traceback.format_exception(exc)))
        JsonLog(pipeline).emit("error", "error", text, **fields)
        if json_mode:
            typer.echo(dumps({"ok": False, "error": text, "exit_code": code}))
        raise typer.Exit(code) from None
