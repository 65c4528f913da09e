"""One lane (a single-writer store, as SQLite): the pump folds each batch into the lane's unit.

``murmur._fold_lane``: with one lane and a pipeline that folds, there is no queue between the
pump and the lane; the lane takes the whole pending unit when it is time to merge. What must
hold is what held with a queue: exact totals, positions committed once per unit and
contiguously, the checkpoint inside the unit, a merge at most once per interval (a one-hour
interval makes "once" exact, with no clock race), back-pressure from a slow store with
keep-alive polls, and no part of a batch merged when its fold failed halfway.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import pytest
from live_helpers import run_in_thread

from murmur import Batch, DeadLetter, HandoffToken, Min, Pipeline, Record, RunStatus, Sum, live
from murmur.testing import MemoryLiveSource, MemoryLog, MemoryStore

HOUR = 3600.0
SUM = Pipeline("sum", Sum(), key="k", value="v")


def doc(key: str, value: Any) -> bytes:
    return json.dumps({"k": key, "v": value}).encode()


class Log:
    """A Kafka-like ``BatchLiveSource`` over one partition: poll ``i`` hands over ``batches[i]``
    with end position ``{0: i + 1}``, mirrored as the batch's checkpoint. ``visible()`` (if set)
    says how many batches exist so far; ``on_empty`` runs on each poll that finds nothing new."""

    name = "log"
    default_mode = "append"

    def __init__(self, batches: list[list[bytes]]) -> None:
        self.batches = batches
        self.visible: Callable[[], int] | None = None
        self.on_empty: Callable[[], None] | None = None
        self.next = 0
        self.committed = 0
        self.commits: list[int] = []
        self.data_polls = 0
        self.keepalives = 0

    def capture_position(self) -> Any:
        return None

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None:
        self.next = int((checkpoint or {}).get("0", self.committed))

    def poll_batch(self, max_records: int, timeout: float) -> Batch | None:
        if max_records == 0:  # keep-alive only (the runtime is held up by the store)
            self.keepalives += 1
            return None
        limit = len(self.batches) if self.visible is None else self.visible()
        if self.next >= limit:
            if self.on_empty is not None:
                self.on_empty()
            time.sleep(min(timeout, 0.005))
            return None
        take = self.batches[self.next]
        self.next += 1
        self.data_polls += 1

        def records(take: list[bytes] = take) -> list[Record]:
            return [Record(json.loads(raw)) for raw in take]

        return Batch(len(take), {0: self.next}, make=records, payloads=take, checkpoint={"0": self.next})

    def commit(self, positions: Mapping[Hashable, Any]) -> None:
        (offset,) = positions.values()
        assert offset > self.committed, "positions only move forward"
        self.committed = offset
        self.commits.append(offset)

    def close(self) -> None:
        pass


class OneWriter(MemoryStore):
    """A store with one writer (one lane), keeping the checkpoint each unit carried and counting
    checkpoint writes outside units (there must be none with one lane)."""

    max_concurrency = 1

    def __init__(self) -> None:
        super().__init__()
        self.unit_checkpoints: list[Any] = []
        self.outside = 0

    def merge(self, unit: Any) -> None:
        super().merge(unit)
        self.unit_checkpoints.append(unit.meta.get("live/log", {}).get("position"))

    def write_meta(self, pipeline: str, name: str, doc: dict[str, Any], *, only_if_absent: bool = False) -> Any:
        self.outside += name == "live/log"
        return super().write_meta(pipeline, name, doc, only_if_absent=only_if_absent)


class Letters:
    """A dead-letter sink keeping each letter's reason."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def write(self, letter: DeadLetter) -> None:
        self.errors.append(letter.error)


def numbered(n: int, per_batch: int) -> tuple[list[list[bytes]], dict[str, int]]:
    """``n`` documents over 11 keys in batches of ``per_batch``, with their exact sums."""
    docs: list[bytes] = []
    totals: dict[str, int] = {}
    for i in range(n):
        key, value = f"k{i % 11}", i * 10**20  # beyond 64 bits once summed: exact all the same
        docs.append(doc(key, value))
        totals[key] = totals.get(key, 0) + value
    return [docs[i : i + per_batch] for i in range(0, n, per_batch)], totals


def wait_for(predicate: Callable[[], bool], message: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, message
        time.sleep(0.01)


def test_every_batch_folds_into_one_unit_that_carries_the_checkpoint_and_commits_once() -> None:
    batches, totals = numbered(3000, 7)  # 429 polls
    source, store = Log(batches), OneWriter()
    status = live.run(SUM, source, store, until_idle=0.2, flush_interval=HOUR)
    assert store.totals("sum") == totals
    assert status.applied == 3000 and status.dead_letters == 0
    assert store.merges == 1  # the caught-up nudge, once: not one unit per batch
    assert source.commits == [len(batches)]  # once, after the unit, through the last batch
    assert store.unit_checkpoints == [{"0": len(batches)}] and store.outside == 0  # inside the unit only


def test_a_merge_happens_at_most_once_per_interval_and_stop_merges_the_rest() -> None:
    batches, totals = numbered(1000, 10)
    source, store = Log(batches), OneWriter()
    stop = threading.Event()
    empty_after_all = [0]

    def on_empty() -> None:  # every empty poll nudges the lane; none may merge within the hour
        if source.next == len(batches):
            empty_after_all[0] += 1
            if empty_after_all[0] == 20:
                stop.set()

    source.visible = lambda: 40 if store.merges == 0 else len(batches)  # the rest once the first unit merged
    source.on_empty = on_empty
    status = live.run(SUM, source, store, stop=stop, flush_interval=HOUR)
    assert store.totals("sum") == totals and status.applied == 1000
    assert store.merges == 2  # the first nudge's, then only the one at stop
    assert source.commits == [40, 100]  # contiguous: each through the newest batch of its unit
    assert store.unit_checkpoints == [{"0": 40}, {"0": 100}] and store.outside == 0


def test_a_unit_holding_too_many_keys_merges_before_its_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "MAX_FOLD_KEYS", 50)
    batches = [[doc("k0", 1)]] + [[doc(f"k{i}", i) for i in range(j, j + 10)] for j in range(1, 61, 10)]
    source, store = Log(batches), OneWriter()
    source.visible = lambda: 1 if store.merges == 0 else len(batches)  # 60 new keys once a merge was made
    thread, stop, result = run_in_thread(pipeline=SUM, source=source, store=store, flush_interval=HOUR)
    # Within the hour after the first merge, only the bound on keys can make a second one.
    wait_for(lambda: store.merges >= 2, "no early merge at the bound on keys")
    stop.set()
    thread.join(120)
    assert "error" not in result and store.totals("sum") == {f"k{i}": i for i in range(1, 61)} | {"k0": 1}
    assert source.commits[-1] == len(batches) and source.commits == sorted(source.commits)


def test_a_slow_store_holds_back_the_pump_which_keeps_the_source_alive_meanwhile() -> None:
    batches, totals = numbered(1000, 5)  # 200 polls
    source = Log(batches)
    release = threading.Event()
    polled_at_merge: list[int] = []

    class Slow(OneWriter):
        def merge(self, unit: Any) -> None:
            if not polled_at_merge:
                polled_at_merge.append(source.data_polls)
                release.wait(120)  # set by the test; a deadline only if the test failed
            super().merge(unit)

    store = Slow()
    source.visible = lambda: 1 if not polled_at_merge else len(batches)  # the rest once the merge hangs
    # flush_records=1000: while the lane merges, the pump folds at most max(4, 2 * 1000 // 500) = 4
    # batches ahead, then waits for it, polling only to keep the session alive (about once a second).
    thread, stop, result = run_in_thread(
        pipeline=SUM, source=source, store=store, flush_interval=0.0, flush_records=1000
    )
    try:
        wait_for(lambda: source.keepalives >= 1, "the pump never waited for the store")
        assert polled_at_merge == [1]
        assert source.data_polls == 1 + 4 + 1  # the merging unit's, 4 pending, 1 held by the pump
        assert source.committed == 0  # nothing is durable while the first unit is merging
    finally:
        release.set()
    wait_for(lambda: source.committed == len(batches), "never committed everything")
    stop.set()
    thread.join(120)
    assert "error" not in result and store.totals("sum") == totals


def test_a_fold_that_fails_halfway_merges_no_part_of_its_unit_and_a_restart_is_exact() -> None:
    class Fragile(Sum):
        """A sum whose combine fails on 13.0, as a value the fold cannot add would."""

        def combine(self, a: Any, b: Any) -> Any:
            if b == 13.0:
                raise RuntimeError("cannot add 13.0")
            return super().combine(a, b)

    batches = [[doc("a", 1.0)], [doc("c", 2.0)], [doc("b", 1.0), doc("b", 13.0)]]
    store = OneWriter()
    source = Log(batches)
    source.visible = lambda: 1 if store.merges == 0 else 3

    def pipeline(monoid: Any) -> Pipeline:  # callables: records folded one by one (fold_items)
        return Pipeline("p", monoid, key=lambda d: d["k"], value=lambda d: d["v"])

    with pytest.raises(RuntimeError, match="cannot add"):
        live.run(pipeline(Fragile()), source, store, until_idle=120, flush_interval=HOUR)
    # "b" was folded before the fold failed: the unit holding it (and "c") is dropped, not merged.
    assert store.totals("p") == {"a": 1.0}
    assert source.commits == [1] and store.read_meta("p", "live/log")["position"] == {"0": 1}
    restart = Log(batches)
    live.run(pipeline(Sum()), restart, store, until_idle=0.2, flush_interval=HOUR)
    assert store.totals("p") == {"a": 1.0, "c": 2.0, "b": 14.0}  # nothing twice, nothing lost
    assert restart.commits == [3]


def test_a_value_clashing_with_an_earlier_batch_is_a_dead_letter_as_within_one_batch() -> None:
    # The string kept by the general path for min meets numbers in a later batch: the field
    # plan's redo line by line runs on the shared unit (idempotent for min), and the clashing
    # line is a dead letter naming why, as it would be within one batch.
    source = Log([[doc("a", "x")], [doc("a", 1), doc("b", 5)], [doc("b", 7)]])
    store, sink = OneWriter(), Letters()
    pipe = Pipeline("m", Min(), key="k", value="v")
    status = live.run(pipe, source, store, until_idle=0.2, flush_interval=HOUR, dead_letters=sink)
    assert store.totals("m") == {"a": "x", "b": 5}
    assert status.applied == 3 and status.dead_letters == 1
    assert len(sink.errors) == 1 and "cannot compare" in sink.errors[0]
    assert source.commits == [3]


def test_sums_with_bad_documents_in_many_batches_stay_exact() -> None:
    batches, totals = numbered(700, 9)
    bad = [b'{"k":"k1","v":true}', b'{"k":["x"],"v":1}', b"{not json", b'{"k":"k2","v":NaN}', b'{"k":"k3"}']
    for i, raw in enumerate(bad * 4):
        batches[i * 3].append(raw)  # spread over batches, after good documents of the same keys
    source, store = Log(batches), OneWriter()
    sink = Letters()
    status = live.run(SUM, source, store, until_idle=0.2, flush_interval=HOUR, dead_letters=sink)
    assert store.totals("sum") == totals  # never a good document twice, a bad one never
    assert status.applied == 700 and status.dead_letters == 20 and len(sink.errors) == 20
    assert source.commits == [len(batches)]


def test_shutdown_during_an_outage_acks_nothing_in_flight() -> None:
    log = MemoryLog()
    log.extend({"k": "a"} for _ in range(10))
    store = OneWriter()
    store.fail_next(10_000)
    status = RunStatus("hot", "live")
    thread, stop, result = run_in_thread(
        pipeline=Pipeline("hot", Sum(), key="k", value=lambda d: 1),
        source=MemoryLiveSource(log),
        store=store,
        status=status,
        flush_interval=0.01,
        retry_backoff=(0.01, 0.02),
    )
    wait_for(lambda: status.retries >= 3, "never retried")
    stop.set()
    thread.join(120)
    assert not thread.is_alive() and "error" not in result
    assert log.committed.get(0, 0) == 0 and status.dead_letters == 0 and store.totals("hot") == {}
