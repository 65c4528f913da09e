"""The Prometheus metrics of a run (names are public interface; README "Operating it" lists them).

Counters are read at scrape time from each phase's :class:`~murmur.RunStatus`, the same object
the ``--json`` summary is made from, so a scrape after the last record equals the summary. What
the status does not keep (every store-merge latency, when the last checkpoint became durable) is
observed by a :class:`PhaseRecorder`, a Recorder the runtime reports to next to the status.
Needs ``prometheus-client`` (``pip install 'murmur-core[metrics]'``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from murmur._status import RunStatus

__all__ = ["MERGE_BUCKETS", "PhaseRecorder", "RunCollector", "new_registry"]

#: Store-merge latency buckets, seconds: a local SQLite commit to a throttled DynamoDB transaction.
MERGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def new_registry() -> CollectorRegistry:
    """A registry of our own (not the process-global one), with the process and platform collectors."""
    from prometheus_client.gc_collector import GCCollector
    from prometheus_client.platform_collector import PlatformCollector
    from prometheus_client.process_collector import ProcessCollector

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class _Merges:
    """The store-merge counter and histogram of one registry (labels: pipeline, mode)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.count = Counter(
            "murmur_store_merges", "Units of work merged into the store.", ["pipeline", "mode"], registry=registry
        )
        self.seconds = Histogram(
            "murmur_store_merge_seconds",
            "Latency of one store merge (a unit of work), retries excluded.",
            ["pipeline", "mode"],
            registry=registry,
            buckets=MERGE_BUCKETS,
        )


class PhaseRecorder:
    """A Recorder for one phase (bootstrap or live): merge latencies, and when a checkpoint was last durable.

    A batch the runtime applied is durable with its checkpoint (a bootstrap's segment position
    rides in the same unit of work; a live lane acks the records only after the write), so the
    ``batch_<mode>`` latency report marks a durable checkpoint.
    """

    def __init__(self, merges: _Merges, status: RunStatus, clock: Callable[[], float]) -> None:
        self.status = status
        self.clock = clock
        self.started = clock()
        self.checkpointed: float | None = None
        self._merges = merges.count.labels(status.pipeline, status.mode)
        self._merge_seconds = merges.seconds.labels(status.pipeline, status.mode)
        self._lock = threading.Lock()

    def event(self, name: str, n: int = 1) -> None:
        pass

    def error(self, name: str, exc: BaseException) -> None:
        pass

    def latency(self, op: str, seconds: float) -> None:
        if op == "store_merge":
            self._merges.inc()
            self._merge_seconds.observe(seconds)
        elif op.startswith("batch_"):
            with self._lock:
                self.checkpointed = self.clock()

    def batch(self, mode: str, records: int, seconds: float) -> None:
        pass

    def checkpoint_age(self) -> float:
        """Seconds since the last durable checkpoint (since the phase began, before the first)."""
        with self._lock:
            since = self.checkpointed if self.checkpointed is not None else self.started
        end = self.status.ended if self.status.ended is not None else self.clock()
        return max(0.0, end - since)


class RunCollector:
    """Reads the phases' statuses at scrape time (a custom collector of ``prometheus_client``)."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._merges = _Merges(registry)
        self._phases: list[PhaseRecorder] = []
        self._lock = threading.Lock()
        registry.register(self)  # type: ignore[arg-type]

    def observe(self, status: RunStatus) -> PhaseRecorder:
        """Export ``status`` (one phase of the run) from now on; returns the recorder for its runtime."""
        phase = PhaseRecorder(self._merges, status, self.clock)
        with self._lock:
            self._phases.append(phase)
        return phase

    def describe(self) -> list[Metric]:
        return []  # names depend on what runs: skip the registry's duplicate check by describing nothing

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            phases = list(self._phases)
        records = CounterMetricFamily(
            "murmur_records",
            "Records taken from the source, by outcome: applied, dead_lettered, dedup_skipped.",
            labels=["pipeline", "mode", "outcome"],
        )
        retries = CounterMetricFamily(
            "murmur_retries",
            "Retried attempts (store, deduper, source, dead-letter sink).",
            labels=["pipeline", "mode"],
        )
        keys = CounterMetricFamily(
            "murmur_keys_written", "State keys written (one per key per unit of work).", labels=["pipeline", "mode"]
        )
        age = GaugeMetricFamily(
            "murmur_checkpoint_age_seconds",
            "Seconds since the last durable checkpoint (since the phase began, before the first).",
            labels=["pipeline", "mode"],
        )
        done = GaugeMetricFamily(
            "murmur_bootstrap_records_done", "Records of the segment read and applied.", labels=["pipeline", "segment"]
        )
        estimated = GaugeMetricFamily(
            "murmur_bootstrap_records_estimated",
            "The source's estimate of the segment's records (absent when unknown).",
            labels=["pipeline", "segment"],
        )
        finished = GaugeMetricFamily(
            "murmur_bootstrap_segment_finished",
            "1 once the segment is scanned to its end.",
            labels=["pipeline", "segment"],
        )
        lag = GaugeMetricFamily(
            "murmur_live_lag",
            "Records in the live source not applied yet, per partition (Kafka: end offset - committed).",
            labels=["pipeline", "partition"],
        )
        for phase in phases:
            s = phase.status
            labels = [s.pipeline, s.mode]
            records.add_metric([*labels, "applied"], s.applied)
            records.add_metric([*labels, "dead_lettered"], s.dead_letters)
            records.add_metric([*labels, "dedup_skipped"], s.dedup_skips)
            retries.add_metric(labels, s.retries)
            keys.add_metric(labels, s.written_keys)
            age.add_metric(labels, phase.checkpoint_age())
            for seg in list(s.segments.values()):
                done.add_metric([s.pipeline, seg.name], seg.done)
                if seg.total is not None:
                    estimated.add_metric([s.pipeline, seg.name], seg.total)
                finished.add_metric([s.pipeline, seg.name], 1 if seg.finished else 0)
            for partition, value in _lag(s.source_stats).items():
                lag.add_metric([s.pipeline, partition], value)
        yield from (records, retries, keys, age, done, estimated, finished, lag)


def _lag(stats: Any) -> dict[str, float]:
    """``stats()["lag"]`` of a live source: a number per partition; anything else is left out."""
    lag = stats.get("lag") if isinstance(stats, dict) else None
    if not isinstance(lag, dict):
        return {}
    return {str(p): float(v) for p, v in lag.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
