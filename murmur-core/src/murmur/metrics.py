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
        self.latency(f"batch_{mode}", seconds)

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
