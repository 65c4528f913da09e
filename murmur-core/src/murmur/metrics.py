"""Recorders (SPEC §9): a no-op one, and an in-memory one with counters and latency percentiles."""

from __future__ import annotations

import math
import threading
from collections import defaultdict, deque
from typing import Any


class NoopRecorder:
    """Discards everything."""

    def event(self, name: str, n: int = 1) -> None:
        pass

    def error(self, name: str, exc: BaseException) -> None:
        pass

    def latency(self, op: str, seconds: float) -> None:
        pass

    def batch(self, mode: str, records: int, seconds: float) -> None:
        pass


class InMemoryRecorder:
    """Counts events and errors, keeps the last ``window`` latencies per op for p50/p95/p99.

    The progress display reads it; tests assert on :meth:`count`.
    """

    def __init__(self, window: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = defaultdict(int)
        self._errors: dict[str, int] = defaultdict(int)
        self._last_error: dict[str, str] = {}
        self._latency: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))
        self._batches: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def event(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def error(self, name: str, exc: BaseException) -> None:
        with self._lock:
            self._errors[name] += 1
            self._last_error[name] = f"{type(exc).__name__}: {exc}"

    def latency(self, op: str, seconds: float) -> None:
        with self._lock:
            self._latency[op].append(seconds)

    def batch(self, mode: str, records: int, seconds: float) -> None:
        with self._lock:
            entry = self._batches[mode]
            entry[0] += 1
            entry[1] += records

    # ------------------------------------------------------------------ reading

    def count(self, name: str) -> int:
        with self._lock:
            return self._counts.get(name, 0)

    def errors(self, name: str) -> int:
        with self._lock:
            return self._errors.get(name, 0)

    def last_error(self, name: str) -> str | None:
        with self._lock:
            return self._last_error.get(name)

    def percentiles(self, op: str) -> dict[str, float]:
        """``{"p50": ..., "p95": ..., "p99": ..., "n": ...}`` in seconds; empty if none recorded."""
        with self._lock:
            samples = sorted(self._latency.get(op, ()))
        if not samples:
            return {}

        def at(q: float) -> float:  # nearest rank
            return samples[max(0, math.ceil(q * len(samples)) - 1)]

        return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "n": float(len(samples))}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "counts": dict(self._counts),
                "errors": dict(self._errors),
                "batches": {m: {"batches": b[0], "records": b[1]} for m, b in self._batches.items()},
            }


class Fanout:
    """Sends every call to several recorders (a user's and the progress display's)."""

    def __init__(self, *recorders: Any) -> None:
        self.recorders = [r for r in recorders if r is not None]

    def event(self, name: str, n: int = 1) -> None:
        for r in self.recorders:
            r.event(name, n)

    def error(self, name: str, exc: BaseException) -> None:
        for r in self.recorders:
            r.error(name, exc)

    def latency(self, op: str, seconds: float) -> None:
        for r in self.recorders:
            r.latency(op, seconds)

    def batch(self, mode: str, records: int, seconds: float) -> None:
        for r in self.recorders:
            r.batch(mode, records, seconds)


class BatchTicker:
    """Reports ``recorder.batch(mode, records, seconds)`` at most every ``tick`` seconds.

    The runtimes add records as they finish; a long bootstrap then shows up on dashboards as a
    steady series instead of one point at the end. ``tick <= 0`` reports only at :meth:`flush`.
    """

    def __init__(self, recorder: Any, mode: str, tick: float, clock: Any = None) -> None:
        import time

        self.recorder = recorder
        self.mode = mode
        self.tick = tick
        self.clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._count = 0
        self._since = self.clock()

    def add(self, records: int) -> None:
        with self._lock:
            self._count += records
            now = self.clock()
            if self.tick <= 0 or now - self._since < self.tick:
                return
            count, since, self._count, self._since = self._count, self._since, 0, now
        self.recorder.batch(self.mode, count, now - since)

    def flush(self) -> None:
        with self._lock:
            now = self.clock()
            count, since, self._count, self._since = self._count, self._since, 0, now
        if count:
            self.recorder.batch(self.mode, count, now - since)
