"""Recorders (SPEC §9): a no-op one, an in-memory one with counters and latency percentiles, and
the fan-out that makes a user's recorder and the run status one observer of a run."""

from __future__ import annotations

import math
import threading
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

from murmur._protocols import RunObserver

if TYPE_CHECKING:
    from murmur._records import HandoffToken


class NoopRecorder:
    """Discards everything: metrics and progress (a :class:`~murmur.RunObserver`). Subclass it to
    override only what you need."""

    def event(self, name: str, n: int = 1) -> None:
        pass

    def error(self, name: str, exc: BaseException) -> None:
        pass

    def latency(self, op: str, seconds: float) -> None:
        pass

    def batch(self, mode: str, records: int, seconds: float) -> None:
        pass

    def run_started(self, handoff: HandoffToken | None, *, resumed: bool = False) -> None:
        pass

    def segment_started(self, name: str, total: int | None, done: int = 0, *, finished: bool = False) -> None:
        pass

    def segment_advanced(self, name: str, records: int) -> None:
        pass

    def segment_finished(self, name: str) -> None:
        pass

    def keys_written(self, n: int) -> None:
        pass

    def dead_lettered(self, sample: str) -> None:
        pass

    def source_stats_updated(self, stats: dict[str, Any]) -> None:
        pass

    def run_ended(self, *, already_finished: bool = False) -> None:
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
    """Sends every call to several recorders (a user's, the run status, an exporter's): one observer.

    Metrics go to all of them; the progress methods of :class:`~murmur.RunObserver` only to those
    that implement that protocol (decided once, here: a plain Recorder never sees them). ``None``
    entries are dropped, so ``Fanout(metrics, status)`` takes optional ones as they come.
    """

    def __init__(self, *recorders: Any) -> None:
        self.recorders = [r for r in recorders if r is not None]
        self.observers: list[RunObserver] = [r for r in self.recorders if isinstance(r, RunObserver)]

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

    # ------------------------------------------------------------------ progress (RunObserver)

    def run_started(self, handoff: HandoffToken | None, *, resumed: bool = False) -> None:
        for o in self.observers:
            o.run_started(handoff, resumed=resumed)

    def segment_started(self, name: str, total: int | None, done: int = 0, *, finished: bool = False) -> None:
        for o in self.observers:
            o.segment_started(name, total, done, finished=finished)

    def segment_advanced(self, name: str, records: int) -> None:
        for o in self.observers:
            o.segment_advanced(name, records)

    def segment_finished(self, name: str) -> None:
        for o in self.observers:
            o.segment_finished(name)

    def keys_written(self, n: int) -> None:
        for o in self.observers:
            o.keys_written(n)

    def dead_lettered(self, sample: str) -> None:
        for o in self.observers:
            o.dead_lettered(sample)

    def source_stats_updated(self, stats: dict[str, Any]) -> None:
        for o in self.observers:
            o.source_stats_updated(stats)

    def run_ended(self, *, already_finished: bool = False) -> None:
        for o in self.observers:
            o.run_ended(already_finished=already_finished)


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
