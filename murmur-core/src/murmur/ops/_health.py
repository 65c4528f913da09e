"""Health of a run, from what its runtime reports: ``/healthz`` and ``/readyz`` answer from it.

A :class:`Health` is a Recorder (SPEC §9) the runtimes report to, next to the run's status. It
never asks the source or the store anything itself: the runtime's own reports say whether its
loop turns (any report at all, retries included), whether the source and the store were reached
(the live loop's ``<p>:poll`` after start-up; a bootstrap's first applied batch), whether the
store fails now (a retried error not yet followed by a successful merge) and whether the run
makes progress (polls, applied batches).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_STALL_SECONDS", "Health", "Verdict"]

#: Without a report for this long, the loop is considered stuck (healthz) or stalled (readyz).
DEFAULT_STALL_SECONDS = 300.0


@dataclass(frozen=True)
class Verdict:
    """An answer to a probe: ``ok`` and a one-line reason (``ok`` when all is well)."""

    ok: bool
    reason: str


class Health:
    """Liveness and readiness of one process's run; thread-safe; ``clock`` is injectable for tests."""

    def __init__(self, *, stall_after: float = DEFAULT_STALL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.stall_after = stall_after
        self.clock = clock
        self._lock = threading.Lock()
        self.started = clock()
        self.last_beat = self.started  # any report from the runtime
        self.last_progress: float | None = None  # a poll or an applied batch
        self.store_error: str | None = None  # retried failure not yet followed by a good merge
        self.source_error: str | None = None  # failed poll not yet followed by a good one
        self.finished = False

    # ------------------------------------------------------------------ Recorder

    def event(self, name: str, n: int = 1) -> None:
        with self._lock:
            now = self.last_beat = self.clock()
            if name.endswith(":poll"):  # live: the source answered (and the store was read at start-up)
                self.last_progress = now
                self.source_error = None

    def error(self, name: str, exc: BaseException) -> None:
        with self._lock:
            self.last_beat = self.clock()
            text = f"{type(exc).__name__}: {exc}"
            if name.endswith(":source"):
                self.source_error = text
            elif name.endswith(":retry") or name.endswith(":dedup"):
                self.store_error = text

    def latency(self, op: str, seconds: float) -> None:
        with self._lock:
            now = self.last_beat = self.clock()
            if op == "store_merge":
                self.store_error = None
                self.last_progress = now
            elif op.startswith("batch_"):  # a batch applied: the source was read, the store written
                self.last_progress = now

    def batch(self, mode: str, records: int, seconds: float) -> None:
        with self._lock:
            self.last_beat = self.clock()

    # ------------------------------------------------------------------ probes

    def finish(self) -> None:
        with self._lock:
            self.finished = True

    def healthz(self) -> Verdict:
        """Alive while the runtime keeps reporting (a run retrying an outage still reports)."""
        with self._lock:
            if self.finished:
                return Verdict(True, "ok (run finished)")
            quiet = self.clock() - self.last_beat
            if quiet > self.stall_after:
                return Verdict(False, f"no report from the run loop for {quiet:.0f}s (limit {self.stall_after:g}s)")
            return Verdict(True, "ok")

    def readyz(self) -> Verdict:
        """Ready once source and store were reached, while neither fails and the run is not stalled."""
        with self._lock:
            if self.finished:
                return Verdict(False, "run finished")
            if self.store_error is not None:
                return Verdict(False, f"store unreachable (retrying): {self.store_error}")
            if self.source_error is not None:
                return Verdict(False, f"source unreachable (retrying): {self.source_error}")
            if self.last_progress is None:
                return Verdict(False, "starting: source and store not reached yet")
            quiet = self.clock() - self.last_progress
            if quiet > self.stall_after:
                return Verdict(False, f"stalled: no progress for {quiet:.0f}s (limit {self.stall_after:g}s)")
            return Verdict(True, "ok")
