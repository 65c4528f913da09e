"""One observer of a run: a Recorder, and a RunObserver (a Recorder with progress methods).

A plain third-party Recorder keeps working and never sees the progress calls; an observer sees
exactly what the RunStatus summary shows, in both runtimes and across ``snapshot_then_stream``.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

from murmur import (
    Count,
    HandoffToken,
    Pipeline,
    Poison,
    Record,
    Recorder,
    RunObserver,
    RunStatus,
    Sum,
    bootstrap,
    live,
    snapshot_then_stream,
)
from murmur._records import utcnow
from murmur.metrics import Fanout, InMemoryRecorder, NoopRecorder
from murmur.testing import MemoryLiveSource, MemoryLog, MemorySnapshotSource, MemoryStore

ORDERS: list[Any] = [{"customer": f"c{i % 7}", "amount": i} for i in range(400)]
ORDERS[13] = Record(Poison("line 14: not JSON", raw="{oops"), event_id="f:14")
ORDERS[250] = {"amount": 5}  # no key: a dead letter
ORDERS[377] = {"customer": "c1", "amount": "lots"}  # not a number: a dead letter
PIPE = Pipeline("orders", Sum(), key="customer", value="amount")


class PlainRecorder:
    """A third-party Recorder of before the progress methods: the four metric methods only."""

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latencies: Counter[str] = Counter()
        self.batched = 0
        self._lock = threading.Lock()

    def event(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.events[name] += n

    def error(self, name: str, exc: BaseException) -> None:
        with self._lock:
            self.errors[name] += 1

    def latency(self, op: str, seconds: float) -> None:
        with self._lock:
            self.latencies[op] += 1

    def batch(self, mode: str, records: int, seconds: float) -> None:
        with self._lock:
            self.batched += records


class Progress:
    """A third-party RunObserver written from the protocol alone (no base class)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.started: list[tuple[HandoffToken | None, bool]] = []
        self.segments: dict[str, list[Any]] = {}
        self.done: Counter[str] = Counter()
        self.finished: list[str] = []
        self.keys = 0
        self.samples: list[str] = []
        self.stats: list[dict[str, Any]] = []
        self.ended: list[bool] = []
        self.applied: Counter[str] = Counter()
        self._lock = threading.Lock()

    def event(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.applied[name] += n

    def error(self, name: str, exc: BaseException) -> None:
        pass

    def latency(self, op: str, seconds: float) -> None:
        pass

    def batch(self, mode: str, records: int, seconds: float) -> None:
        pass

    def run_started(self, handoff: HandoffToken | None, *, resumed: bool = False) -> None:
        self.calls.append("run_started")
        self.started.append((handoff, resumed))

    def segment_started(self, name: str, total: int | None, done: int = 0, *, finished: bool = False) -> None:
        self.calls.append("segment_started")
        self.segments[name] = [total, done, finished]

    def segment_advanced(self, name: str, records: int) -> None:
        with self._lock:
            self.done[name] += records

    def segment_finished(self, name: str) -> None:
        with self._lock:
            self.finished.append(name)

    def keys_written(self, n: int) -> None:
        with self._lock:
            self.keys += n

    def dead_lettered(self, sample: str) -> None:
        with self._lock:
            self.samples.append(sample)

    def source_stats_updated(self, stats: dict[str, Any]) -> None:
        self.stats.append(stats)

    def run_ended(self, *, already_finished: bool = False) -> None:
        self.calls.append("run_ended")
        self.ended.append(already_finished)


def truth(items: list[Any]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for item in items:
        if isinstance(item, dict) and "customer" in item and isinstance(item["amount"], int):
            out[item["customer"]] += item["amount"]
    return dict(out)


class ListSink:
    def __init__(self) -> None:
        self.letters: list[Any] = []

    def write(self, letter: Any) -> None:
        self.letters.append(letter)


def test_the_protocols_tell_a_plain_recorder_from_an_observer() -> None:
    assert isinstance(PlainRecorder(), Recorder) and not isinstance(PlainRecorder(), RunObserver)
    assert not isinstance(InMemoryRecorder(), RunObserver)
    for observer in (Progress(), RunStatus("p", "live"), NoopRecorder(), Fanout()):
        assert isinstance(observer, RunObserver)


def test_a_fanout_sends_progress_only_to_the_observers_and_metrics_to_all() -> None:
    plain, progress = PlainRecorder(), Progress()
    fan = Fanout(plain, None, Fanout(progress))  # nested: the inner fanout is an observer too
    fan.event("p", 3)
    fan.keys_written(5)
    fan.dead_lettered("e1: bad")
    assert plain.events == {"p": 3} and progress.applied == {"p": 3}
    assert progress.keys == 5 and progress.samples == ["e1: bad"]
    assert fan.observers == [fan.recorders[1]]


def test_a_plain_recorder_still_gets_the_metrics_of_a_bootstrap() -> None:
    plain, store, sink = PlainRecorder(), MemoryStore(), ListSink()
    source = MemorySnapshotSource(ORDERS, batch_size=32)
    bootstrap.run(PIPE, source, store, segments=2, dead_letters=sink, metrics=plain, batch_tick=0)
    assert store.totals("orders") == truth(ORDERS)
    assert plain.events["orders"] == 397 and plain.events["orders:dead_letter"] == 3
    assert plain.errors["orders:dead_letter"] == 3 and plain.batched == 400
    assert plain.latencies["store_merge"] >= 1 and len(sink.letters) == 3


def test_an_observer_sees_the_counts_of_the_status_summary_in_a_bootstrap_of_two_segments() -> None:
    progress, status, store, sink = Progress(), RunStatus("orders", "bootstrap"), MemoryStore(), ListSink()
    source = MemorySnapshotSource(ORDERS, batch_size=32, token={"resume": 7})
    token = bootstrap.run(
        PIPE, source, store, segments=2, fold_records=64, dead_letters=sink, metrics=progress, status=status
    )
    summary = status.summary()
    assert summary["records"] == 400 and summary["dead_letters"] == 3 and summary["applied"] == 397

    assert progress.calls[:3] == ["run_started", "segment_started", "segment_started"]
    assert progress.calls[-1] == "run_ended" and progress.ended == [False]
    assert progress.started == [(token, False)] and status.handoff == token
    assert progress.segments == {"segment 1/2": [200, 0, False], "segment 2/2": [200, 0, False]}
    assert (
        dict(progress.done)
        == {name: seg.done for name, seg in status.segments.items()}
        == {
            "segment 1/2": 200,
            "segment 2/2": 200,
        }
    )
    assert sorted(progress.finished) == ["segment 1/2", "segment 2/2"]
    assert all(seg.finished for seg in status.segments.values())
    assert progress.keys == summary["written_keys"] > 0
    assert len(progress.samples) == summary["dead_letters"] and sorted(progress.samples) == sorted(
        status.dead_letter_samples
    )
    assert any(s.startswith("f:14: ") and "not JSON" in s for s in progress.samples)
    assert progress.applied["orders"] == summary["applied"]
    assert progress.applied["orders:dead_letter"] == summary["dead_letters"]

    again = Progress()
    bootstrap.run(PIPE, source, store, segments=2, checkpoints="resume", metrics=again)
    assert again.started == [(token, True)] and again.ended == [True]
    assert again.segments == {"segment 1/2": [200, 200, True], "segment 2/2": [200, 200, True]}
    assert not again.done and not again.keys


class StatsSource(MemoryLiveSource):
    def stats(self) -> dict[str, Any]:
        return {"lag": {"0": 0}}


def test_an_observer_sees_the_counts_of_the_status_summary_in_a_live_run() -> None:
    log = MemoryLog()
    log.extend({"k": f"k{i % 5}"} for i in range(300))
    log.append(Record(Poison("not JSON", raw=b"{")))
    log.append({"nope": 1})
    plain, progress, status, store, sink = (
        PlainRecorder(),
        Progress(),
        RunStatus("hot", "live"),
        MemoryStore(),
        ListSink(),
    )
    handoff = HandoffToken("memory", None, utcnow())
    returned = live.run(
        Pipeline("hot", Count(), key="k"),
        StatsSource(log),
        store,
        handoff=handoff,
        until_idle=0.3,
        lanes=2,
        dead_letters=sink,
        metrics=Fanout(plain, progress),
        status=status,
    )
    assert returned is status
    summary = status.summary()
    assert summary["applied"] == 300 and summary["dead_letters"] == 2 and summary["records"] == 302
    assert progress.started == [(handoff, False)] and status.handoff == handoff
    assert progress.keys == summary["written_keys"] > 0
    assert sorted(progress.samples) == sorted(status.dead_letter_samples) and len(progress.samples) == 2
    assert progress.stats and progress.stats[-1] == status.source_stats == {"lag": {"0": 0}}
    assert progress.calls[-1] == "run_ended" and progress.ended == [False]
    assert not progress.segments and not progress.done
    assert progress.applied["hot"] == plain.events["hot"] == 300
    assert plain.events["hot:dead_letter"] == 2 and plain.batched == 302
    assert store.totals("hot") == {f"k{i}": 60 for i in range(5)}


def test_the_total_of_snapshot_then_stream_is_one_more_observer_of_both_phases() -> None:
    log = MemoryLog()
    source = MemorySnapshotSource(ORDERS, batch_size=50)
    progress = Progress()
    phases: list[RunStatus] = []

    def on_phase(status: RunStatus) -> Recorder | None:
        phases.append(status)
        if status.mode == "live":
            log.append({"customer": "late", "amount": 1})  # after the handoff: the live phase's
        return None

    total = snapshot_then_stream(
        PIPE,
        source,
        MemoryLiveSource(log),
        MemoryStore(),
        until_idle=0.3,
        segments=2,
        dead_letters=ListSink(),
        metrics=progress,
        on_phase=on_phase,
    )
    first, second = total.phases["bootstrap"], total.phases["live"]
    assert phases == [first, second]
    assert first.applied == 397 and second.applied == 1 and total.applied == 398
    assert total.written_keys == first.written_keys + second.written_keys == progress.keys > 0
    assert sorted(total.dead_letter_samples) == sorted(first.dead_letter_samples) == sorted(progress.samples)
    assert len(progress.samples) == total.dead_letters == 3
    assert total.handoff == first.handoff is not None and not total.resumed and not total.already_finished
    assert (
        {n: s.done for n, s in total.segments.items()}
        == {n: s.done for n, s in first.segments.items()}
        == dict(progress.done)
    )
    assert total.segments is not first.segments  # observed, not shared
    assert progress.ended == [False, False] and total.ended is not None and total.ended >= (second.ended or 0)
