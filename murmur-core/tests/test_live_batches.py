"""The live runtime over a batch source (``murmur._batch``): ack per batch, checkpoints in the unit.

``PayloadLog`` is an in-memory partitioned log speaking ``BatchLiveSource``: each poll is one
batch of raw JSON payloads with an end offset per partition, like a Kafka poll. It either
commits on its own (``commit(positions)``, Kafka-like) or reports a checkpoint per batch for
the runtime to keep (change-stream-like).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Hashable, Mapping
from typing import Any

import pytest

from murmur import Batch, BatchLiveSource, Count, DeadLetter, HandoffToken, Pipeline, Record, Sum, live
from murmur._batch import LiveBatches, live_batches, snapshot_batches
from murmur.testing import Crash, MemoryDeduper, MemoryLiveSource, MemoryLog, MemoryStore

SUM = Pipeline("sum", Sum(), key="k", value="v")


class PayloadLog:
    """A BatchLiveSource over ``partitions`` lists of JSON payloads (bytes)."""

    name = "payload-log"
    default_mode = "append"

    def __init__(self, partitions: list[list[bytes]], *, per_poll: int = 7, checkpoints: bool = False) -> None:
        self.partitions = partitions
        self.per_poll = per_poll
        self.checkpoints = checkpoints  # True: report batch.checkpoint, commit nothing on its own
        self.committed: dict[Hashable, int] = {}
        self.commits: list[dict[Hashable, int]] = []
        self.next: dict[int, int] = {}
        self.lock = threading.Lock()

    def capture_position(self) -> Any:
        return None

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None:
        start = {int(p): int(o) for p, o in (checkpoint or {}).items()}
        for p in range(len(self.partitions)):
            self.next[p] = start.get(p, self.committed.get(p, 0))

    def poll_batch(self, max_records: int, timeout: float) -> Batch | None:
        payloads: list[bytes | None] = []
        ids: list[str] = []  # event ids, for a deduper: partition:offset
        end: dict[Hashable, int] = {}
        for p, log in enumerate(self.partitions):
            take = log[self.next[p] : self.next[p] + min(self.per_poll, max_records)]
            if take:
                payloads.extend(take)
                ids.extend(f"{p}:{o}" for o in range(self.next[p], self.next[p] + len(take)))
                self.next[p] += len(take)
                end[p] = self.next[p]
        if not payloads:
            time.sleep(min(timeout, 0.01))
            return None
        checkpoint = {str(p): o for p, o in self.next.items()} if self.checkpoints else None

        def records() -> list[Record]:
            return [Record(json.loads(raw), i) for raw, i in zip(payloads, ids, strict=True) if raw is not None]

        batch = Batch(len(payloads), end if not self.checkpoints else {}, make=records, payloads=payloads)
        batch.checkpoint = checkpoint
        return batch

    def commit(self, positions: Mapping[Hashable, Any]) -> None:
        with self.lock:
            for p, offset in positions.items():
                assert offset >= self.committed.get(p, 0), "positions only move forward"
                self.committed[p] = offset
            self.commits.append(dict(positions))

    def close(self) -> None:
        pass


def payloads(n: int, partitions: int) -> tuple[list[list[bytes]], dict[str, int]]:
    parts: list[list[bytes]] = [[] for _ in range(partitions)]
    totals: dict[str, int] = {}
    for i in range(n):
        key = f"k{i % 11}"
        value = i * 10**20  # beyond 64 bits once summed: exact all the same
        parts[i % partitions].append(json.dumps({"k": key, "v": value}).encode())
        totals[key] = totals.get(key, 0) + value
    return parts, totals


def test_the_batch_protocol_is_what_the_runtime_detects() -> None:
    source = PayloadLog([[]])
    assert isinstance(source, BatchLiveSource)
    assert live_batches(source) is source
    wrapped = live_batches(MemoryLiveSource(MemoryLog()))
    assert isinstance(wrapped, LiveBatches)

    class PerRecord:
        def scan(self, segment: Any, after: Any) -> Any:
            return iter([[Record(1, position=4), Record(2, position=5)], []])

    (batch,) = snapshot_batches(PerRecord(), None, None)  # type: ignore[arg-type]
    assert batch.end == 5 and [r.value for r in batch.records()] == [1, 2]


def test_positions_are_committed_once_per_unit_only_after_the_merge_and_contiguously() -> None:
    parts, totals = payloads(3000, 3)
    source = PayloadLog(parts)
    committed_before_merge: list[dict[Hashable, int]] = []

    class Watch(MemoryStore):
        def merge(self, unit: Any) -> None:
            committed_before_merge.append(dict(source.committed))
            super().merge(unit)

    store = Watch()
    status = live.run(SUM, source, store, until_idle=0.3, flush_interval=0.05)
    assert store.totals("sum") == totals
    assert source.committed == {0: 1000, 1: 1000, 2: 1000}
    assert committed_before_merge[0] == {}  # nothing committed before the first write
    assert len(source.commits) <= store.merges  # one commit per merged unit at most, never per record
    assert status.applied == 3000 and status.dead_letters == 0


def test_a_slow_lane_holds_back_the_commit_of_every_later_batch() -> None:
    parts = [
        [json.dumps({"k": "slow", "v": 1}).encode()] + [json.dumps({"k": f"f{i}", "v": 1}).encode() for i in range(60)]
    ]
    source = PayloadLog(parts, per_poll=5)
    release = threading.Event()

    class SlowStore(MemoryStore):
        def merge(self, unit: Any) -> None:
            if any(k.entity == "slow" for k in unit.writes):
                release.wait(120)  # set by the test; a deadline only if the test failed
            super().merge(unit)

    store = SlowStore()
    stop = threading.Event()
    result: dict[str, Any] = {}
    # With a deduper the records go to lanes by key (a run that folds merges from one lane).
    thread = threading.Thread(
        target=lambda: result.update(
            status=live.run(SUM, source, store, stop=stop, dedup=MemoryDeduper(), lanes=4, flush_interval=0.02)
        )
    )
    thread.start()
    deadline = time.monotonic() + 120
    while len(store.totals("sum")) < 20:
        assert time.monotonic() < deadline, "other lanes made no progress"
        time.sleep(0.01)
    assert source.committed.get(0, 0) == 0  # the first batch ("slow") is not merged: nothing commits
    release.set()
    while source.committed.get(0, 0) < 61:
        assert time.monotonic() < deadline + 120, "never committed"
        time.sleep(0.01)
    stop.set()
    thread.join(120)
    assert len(store.totals("sum")) == 61


def test_bad_payloads_are_counted_dead_letters_and_good_ones_count() -> None:
    good = [json.dumps({"k": "a", "v": 2**70}).encode(), json.dumps({"k": "a", "v": 1}).encode()]
    bad = [b'{"k":"a","v":true}', b'{"k":["x"],"v":1}', b"{not json", b'{"k":"a","v":NaN}']
    source = PayloadLog([good[:1] + bad + good[1:]])
    letters: list[DeadLetter] = []

    class Sink:
        def write(self, letter: DeadLetter) -> None:
            letters.append(letter)

    store = MemoryStore()
    status = live.run(SUM, source, store, until_idle=0.2, flush_interval=0.02, dead_letters=Sink())
    assert store.totals("sum") == {"a": 2**70 + 1}
    assert status.dead_letters == 4 and status.applied == 2
    reasons = sorted(letter.error for letter in letters)
    assert any("expected a number, got bool" in r for r in reasons)
    assert any("key 'k' is a list" in r for r in reasons)
    assert sum("invalid JSON" in r for r in reasons) == 2
    assert source.committed == {0: 6}


def test_checkpoints_ride_inside_the_unit_and_a_crash_resumes_exactly_without_a_deduper() -> None:
    parts, totals = payloads(900, 2)

    class Crashing(MemoryStore):
        max_concurrency = 1  # one lane: checkpoints ride in its units

        def __init__(self) -> None:
            super().__init__()
            self.survive = 3
            self.meta_in_units: list[bool] = []

        def merge(self, unit: Any) -> None:
            if unit.writes:
                self.meta_in_units.append("live/payload-log" in unit.meta)
                if self.survive == 0:
                    raise Crash("killed")
                self.survive -= 1
            super().merge(unit)

    class Paced(PayloadLog):
        """Hands over its next batch only once the one before is merged: one unit per batch,
        however the threads are scheduled (one lane merges all that is pending at once)."""

        handed = 0

        def poll_batch(self, max_records: int, timeout: float) -> Batch | None:
            if max_records == 0 or self.handed > len(store.meta_in_units):
                time.sleep(min(timeout, 0.01))
                return None
            got = super().poll_batch(max_records, timeout)
            self.handed += got is not None
            return got

    store = Crashing()
    with pytest.raises(Crash):  # (until_idle: only if the crash never came)
        live.run(SUM, Paced(parts, per_poll=13, checkpoints=True), store, until_idle=120, flush_interval=0.0)
    assert store.meta_in_units and all(store.meta_in_units)
    partial = dict(store.totals("sum"))
    assert partial and partial != totals
    store.survive = 10**9
    live.run(SUM, PayloadLog(parts, per_poll=13, checkpoints=True), store, until_idle=0.3, flush_interval=0.01)
    assert store.totals("sum") == totals  # the checkpoint committed with the state: nothing twice, nothing lost


class Watching(MemoryStore):
    """Counts merges, and the units that carry the source's checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.units = self.units_with_checkpoint = 0

    def merge(self, unit: Any) -> None:
        self.units += 1
        self.units_with_checkpoint += "live/payload-log" in unit.meta
        super().merge(unit)


def run_watching(**kw: Any) -> tuple[Watching, dict[str, int]]:
    """600 documents over two partitions (checkpoints in the batches), lanes=4; the store, the totals."""
    parts, totals = payloads(600, 2)
    store = Watching()
    live.run(
        Pipeline("sum", Sum(), key="k", value="v"),
        PayloadLog(parts, per_poll=13, checkpoints=True),
        store,
        until_idle=0.3,
        flush_interval=0.01,
        lanes=4,
        **kw,
    )
    return store, totals


def test_a_run_that_folds_merges_from_one_lane_with_the_checkpoint_in_every_unit() -> None:
    # As a bootstrap's: the unit vouches for every batch it completes (lanes=4 is for records).
    store, totals = run_watching()
    assert store.totals("sum") == totals
    assert store.units >= 1 and store.units_with_checkpoint == store.units
    assert store.read_meta("sum", "live/payload-log")["position"] == {"0": 300, "1": 300}


def test_with_several_lanes_the_checkpoint_is_written_once_durable_and_rides_in_no_unit() -> None:
    # One checkpoint item in every lane's transaction would make the lanes conflict with each other;
    # a deduper's records go to lanes by key, and its claims make a replay count once.
    store, totals = run_watching(dedup=MemoryDeduper())
    assert store.totals("sum") == totals
    assert store.units >= 2 and store.units_with_checkpoint == 0
    assert store.read_meta("sum", "live/payload-log")["position"] == {"0": 300, "1": 300}


def test_a_per_record_source_keeps_working_through_the_adapter() -> None:
    log = MemoryLog(partitions=2)
    for i in range(500):
        log.append({"k": f"c{i % 3}"}, partition=i % 2)
    source = MemoryLiveSource(log)
    store = MemoryStore()
    live.run(Pipeline("n", Count(), key="k"), source, store, until_idle=0.3, flush_interval=0.02)
    assert sum(store.totals("n").values()) == 500
    assert log.committed == {0: 250, 1: 250}


def test_a_batch_with_no_records_still_moves_the_position_and_the_checkpoint() -> None:
    class Quiet(PayloadLog):
        """One batch of data, then a poll that only moves on (tombstones, a newer resume token)."""

        def poll_batch(self, max_records: int, timeout: float) -> Batch | None:
            if not self.partitions[0] or self.next[0] >= 3:
                return None
            if self.next[0] == 2:
                self.next[0] = 3
                return Batch(1, {0: 3}, records=[], payloads=[None], checkpoint={"token": "t3"})
            return super().poll_batch(2, timeout)

    source = Quiet([[b'{"k":"a","v":1}', b'{"k":"a","v":2}']], checkpoints=False)
    store = MemoryStore()
    live.run(SUM, source, store, until_idle=0.2, flush_interval=0.01)
    assert store.totals("sum") == {"a": 3}
    assert source.committed == {0: 3}
    assert store.read_meta("sum", "live/payload-log")["position"] == {"token": "t3"}
