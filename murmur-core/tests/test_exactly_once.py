"""Property tests: whatever crashes, retries and re-deliveries happen, totals equal the ground truth."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from murmur import Change, Pipeline, Record, Sum, TransientError, bootstrap, live
from murmur.testing import Crash, MemoryLiveSource, MemoryLog, MemorySnapshotSource, MemoryStore

PIPE = Pipeline("p", Sum(), key="k", value="v")
KEYS = st.sampled_from(["a", "b", "c", "d"])
EVENTS = st.lists(st.tuples(KEYS, st.integers(-50, 50)), min_size=1, max_size=80)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def nonzero(totals: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in totals.items() if v != 0}


def truth(events: list[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for k, v in events:
        out[k] += v
    return nonzero(out)


class FaultyStore(MemoryStore):
    """Crashes (like a killed process) at chosen merge numbers, and fails transiently at others."""

    def __init__(self, crash_at: set[int], transient_at: set[int], **kw: Any) -> None:
        super().__init__(**kw)
        self.crash_at, self.transient_at, self.calls = crash_at, transient_at, 0

    def merge(self, unit: Any) -> None:
        self.calls += 1
        if self.calls in self.crash_at:
            raise Crash(f"crash at merge {self.calls}")
        if self.calls in self.transient_at:
            raise TransientError("throttled")
        super().merge(unit)


@PROPERTY
@given(
    events=EVENTS,
    batch=st.integers(1, 16),
    segments=st.integers(1, 3),
    crash_at=st.sets(st.integers(1, 25), max_size=4),
    transient_at=st.sets(st.integers(1, 25), max_size=4),
    dedup=st.booleans(),
    rerun=st.booleans(),
)
def test_bootstrap_totals_after_any_crashes_equal_the_ground_truth(
    events: list[tuple[str, int]],
    batch: int,
    segments: int,
    crash_at: set[int],
    transient_at: set[int],
    dedup: bool,
    rerun: bool,
) -> None:
    store = FaultyStore(crash_at, transient_at)
    deduper = store.deduper() if dedup else None
    source = MemorySnapshotSource([{"k": k, "v": v} for k, v in events], batch_size=batch)
    policy = "refuse"
    for _ in range(len(crash_at) + 1):
        try:
            bootstrap.run(
                PIPE,
                source,
                store,
                dedup=deduper,
                checkpoints=policy,
                segments=segments,
                max_attempts=10,
                retry_backoff=(0, 0),
            )
            break
        except Crash:
            policy = "resume"
    assert nonzero(store.totals("p")) == truth(events)
    store.crash_at = set()
    if rerun and dedup:  # an operator re-runs the whole bootstrap: the deduper makes it a no-op
        bootstrap.run(PIPE, source, store, dedup=deduper, checkpoints="restart", segments=segments)
    assert nonzero(store.totals("p")) == truth(events)


@PROPERTY
@given(
    events=EVENTS,
    partitions=st.integers(1, 3),
    redelivered=st.lists(st.integers(0, 79), max_size=10),
    crash_at=st.sets(st.integers(1, 12), max_size=3),
    transient_at=st.sets(st.integers(1, 12), max_size=3),
    flush=st.integers(1, 30),
)
def test_live_totals_after_crashes_and_redeliveries_equal_the_ground_truth(
    events: list[tuple[str, int]],
    partitions: int,
    redelivered: list[int],
    crash_at: set[int],
    transient_at: set[int],
    flush: int,
) -> None:
    log = MemoryLog(partitions)
    records = [Record({"k": k, "v": v}, event_id=f"e{i}") for i, (k, v) in enumerate(events)]
    for i, r in enumerate(records):
        log.append(r, partition=i % partitions)
    for i in redelivered:  # an upstream producer retried: the same event again, later
        if i < len(records):
            log.append(records[i], partition=(i + 1) % partitions)
    store = FaultyStore(crash_at, transient_at)
    deduper = store.deduper()
    for _ in range(len(crash_at) + 1):
        try:
            live.run(
                PIPE,
                MemoryLiveSource(log),
                store,
                dedup=deduper,
                until_idle=0.05,
                flush_interval=0.01,
                flush_records=flush,
                retry_backoff=(0, 0),
            )
            break
        except Crash:
            continue
    assert nonzero(store.totals("p")) == truth(events)


OPS = st.lists(
    st.tuples(st.integers(0, 5), st.one_of(st.none(), st.tuples(KEYS, st.integers(1, 100)))),
    min_size=1,
    max_size=40,
)


@PROPERTY
@given(ops=OPS, data=st.data())
def test_changelog_snapshot_then_replay_converges_to_a_recount(
    ops: list[tuple[int, tuple[str, int] | None]], data: st.DataObject
) -> None:
    """Documents change while the snapshot is read; live replays from any point at or before it."""
    snapshot_at = data.draw(st.integers(0, len(ops)), label="snapshot_at")
    start = data.draw(st.integers(0, snapshot_at), label="live_start")
    replayed = data.draw(st.integers(0, len(ops)), label="replayed_from")
    changes = [
        Record(
            None if state is None else {"k": state[0], "v": state[1]},
            change=Change(f"db.orders/{doc}", (n + 1, 0), deleted=state is None),
        )
        for n, (doc, state) in enumerate(ops)
    ]

    def documents(upto: int) -> dict[int, tuple[str, int]]:
        docs: dict[int, tuple[str, int]] = {}
        for doc, state in ops[:upto]:
            if state is None:
                docs.pop(doc, None)
            else:
                docs[doc] = state
        return docs

    snapshot = [
        Record({"k": k, "v": v}, change=Change(f"db.orders/{doc}")) for doc, (k, v) in documents(snapshot_at).items()
    ]
    store = MemoryStore()
    bootstrap.run(PIPE, MemorySnapshotSource(snapshot, default_mode="changelog"), store)
    log = MemoryLog()
    log.extend(changes[start:])
    log.extend(changes[replayed:])  # a consumer reset replays from some point to the end once more
    live.run(PIPE, MemoryLiveSource(log, default_mode="changelog"), store, until_idle=0.05, flush_interval=0.01)
    assert nonzero(store.totals("p")) == truth(list(documents(len(ops)).values()))
