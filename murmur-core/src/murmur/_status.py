"""What a run is doing now: the progress display and the end-of-run summary read it.

A :class:`RunStatus` is an in-memory recorder (so it receives the runtime's metrics) and a
:class:`~murmur.RunObserver` (so it receives the run's progress: per-segment progress, keys
written, dead-letter samples, the handoff token, and the live source's stats).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from murmur._records import HandoffToken
from murmur.metrics import InMemoryRecorder


@dataclass
class SegmentProgress:
    name: str
    total: int | None = None
    done: int = 0
    finished: bool = False


class RunStatus(InMemoryRecorder):
    """Live view of one run; thread-safe. ``clock`` is injectable for deterministic tests.

    A :class:`~murmur.RunObserver`: pass it as a runtime's ``status=`` (or among its ``metrics=``)
    and it follows the run. One status can observe several runs in turn (the total of
    ``snapshot_then_stream``): with ``phases`` set it keeps the first handoff, stays ``resumed``
    once resumed, and ends only when its owner calls :meth:`end`.
    """

    def __init__(self, pipeline: str, mode: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.mode = mode
        self.clock = clock
        self.started = clock()
        self.ended: float | None = None
        #: When the last record was counted: a live run's rate is over the time records flowed,
        #: not the idle wait (``--until-idle``) or the quiet stretch before a stop.
        self.last_record: float | None = None
        self.segments: dict[str, SegmentProgress] = {}
        self.handoff: HandoffToken | None = None
        self.already_finished = False
        self.resumed = False
        self.written_keys = 0
        self.source_stats: dict[str, Any] = {}
        self.dead_letter_samples: list[str] = []
        #: A run of several phases (``snapshot_then_stream``): each phase's own status, by mode.
        self.phases: dict[str, RunStatus] = {}
        self._seg_lock = threading.Lock()

    # --------------------------------------------------------------- written by the runtime

    def segment(self, name: str, total: int | None = None, done: int = 0) -> SegmentProgress:
        with self._seg_lock:
            seg = self.segments.get(name)
            if seg is None:
                seg = self.segments[name] = SegmentProgress(name, total, done)
            return seg

    def advance(self, segment: str, records: int) -> None:
        with self._seg_lock:
            self.segments[segment].done += records

    def finish_segment(self, segment: str) -> None:
        with self._seg_lock:
            self.segments[segment].finished = True

    def keys_written(self, n: int) -> None:
        with self._seg_lock:
            self.written_keys += n

    def dead_letter_sample(self, text: str, keep: int = 5) -> None:
        with self._seg_lock:
            if len(self.dead_letter_samples) < keep:
                self.dead_letter_samples.append(text)

    def end(self) -> None:
        self.ended = self.clock()

    def event(self, name: str, n: int = 1) -> None:
        super().event(name, n)
        if name in (self.pipeline, f"{self.pipeline}:dead_letter", f"{self.pipeline}:dedup_skip"):
            self.last_record = self.clock()

    @property
    def active(self) -> float:
        """Seconds the rate is over: the whole run, or for live mode until the last record."""
        if self.mode == "live" and self.last_record is not None:
            return self.last_record - self.started
        return self.elapsed

    # ------------------------------------------------------------- RunObserver (the runtime calls)

    def run_started(self, handoff: HandoffToken | None, *, resumed: bool = False) -> None:
        if self.handoff is None or not self.phases:  # several phases: the bootstrap's token is the run's
            self.handoff = handoff
        self.resumed = self.resumed or resumed

    def segment_started(self, name: str, total: int | None, done: int = 0, *, finished: bool = False) -> None:
        seg = self.segment(name, total, done)
        if finished:
            seg.finished = True

    def segment_advanced(self, name: str, records: int) -> None:
        self.advance(name, records)

    def segment_finished(self, name: str) -> None:
        self.finish_segment(name)

    def dead_lettered(self, sample: str) -> None:
        self.dead_letter_sample(sample)

    def source_stats_updated(self, stats: dict[str, Any]) -> None:
        self.source_stats = stats

    def run_ended(self, *, already_finished: bool = False) -> None:
        self.already_finished = self.already_finished or already_finished
        if not self.phases:  # a run of several phases ends when its owner says so (end())
            self.end()

    # ------------------------------------------------------------------------- reading

    @property
    def records(self) -> int:
        """Records taken from the source, whatever became of them."""
        return self.count(self.pipeline) + self.dead_letters + self.dedup_skips

    @property
    def applied(self) -> int:
        return self.count(self.pipeline)

    @property
    def dead_letters(self) -> int:
        return self.count(f"{self.pipeline}:dead_letter")

    @property
    def dedup_skips(self) -> int:
        return self.count(f"{self.pipeline}:dedup_skip")

    @property
    def retries(self) -> int:
        return self.count(f"{self.pipeline}:retry")

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else self.clock()) - self.started

    @property
    def total(self) -> int | None:
        with self._seg_lock:
            totals = [s.total for s in self.segments.values()]
        return None if not totals or any(t is None for t in totals) else sum(t for t in totals if t is not None)

    @property
    def done(self) -> int:
        with self._seg_lock:
            return sum(s.done for s in self.segments.values())

    def summary(self) -> dict[str, Any]:
        """The end-of-run summary, JSON-ready (``--json`` prints it)."""
        elapsed = self.elapsed
        active = self.active
        out: dict[str, Any] = {
            "pipeline": self.pipeline,
            "mode": self.mode,
            "records": self.records,
            "applied": self.applied,
            "written_keys": self.written_keys,
            "dead_letters": self.dead_letters,
            "dedup_skips": self.dedup_skips,
            "retries": self.retries,
            "elapsed_seconds": round(elapsed, 3),
            "records_per_second": round(self.records / active, 1) if active > 0 else None,
            "already_finished": self.already_finished,
            "resumed": self.resumed,
            "handoff": self.handoff.to_json() if self.handoff is not None else None,
        }
        if self.phases:
            out["phases"] = {mode: phase.summary() for mode, phase in self.phases.items()}
        return out
