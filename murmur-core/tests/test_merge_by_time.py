"""Merges by time, not by record count: records fold into deltas as they come (issue 12).

Only a run with a deduper or in changelog mode keeps its records until the merge (its unit
resolves claims and contributions record by record); any other pipeline — callables, windows,
a per-record source — folds per key as batches arrive, and merges once per ``flush_interval``
or when the fold holds too many keys. A one-hour interval makes "once" exact here.
"""

from __future__ import annotations

from collections import Counter as Tally

from murmur import Count, Pipeline, Sum, bootstrap, live
from murmur.testing import MemoryDeduper, MemoryLiveSource, MemoryLog, MemorySnapshotSource, MemoryStore

HOUR = 3600.0
N = 50_000  # more than the record bound a held-records unit has (20 000)
ORDERS = [{"customer": f"c{i % 97}", "amount": i % 13} for i in range(N)]


def by_callable() -> Pipeline:
    return Pipeline("orders", Sum(), key=lambda d: d["customer"], value=lambda d: d["amount"])


def truth() -> dict[str, int]:
    out: Tally[str] = Tally()
    for o in ORDERS:
        out[o["customer"]] += o["amount"]
    return {k: v for k, v in out.items() if v}


def test_a_callable_pipeline_bootstrap_merges_once_per_interval_not_per_records() -> None:
    store = MemoryStore()
    bootstrap.run(by_callable(), MemorySnapshotSource(ORDERS, batch_size=1000), store, flush_interval=HOUR)
    assert store.merges == 1  # one unit for 50 000 records: the last, with the finished checkpoint
    assert store.totals("orders") == truth()


def test_a_deduper_keeps_records_until_the_merge_so_its_units_are_bounded() -> None:
    store = MemoryStore()
    bootstrap.run(
        by_callable(), MemorySnapshotSource(ORDERS, batch_size=1000), store, dedup=MemoryDeduper(), flush_interval=HOUR
    )
    assert store.merges == 3  # 20 000 + 20 000 + 10 000 held records
    assert store.totals("orders") == truth()


def test_a_windowed_pipeline_folds_per_bucket_and_merges_once() -> None:
    from murmur import Window

    events = [{"user": f"u{i % 5}", "ts": 1_700_000_000 + 3600 * (i % 3)} for i in range(30_000)]
    import datetime as dt

    pipe = Pipeline(
        "clicks", Count(), key="user", event_time="ts", window=Window("hour", retention=dt.timedelta(days=1))
    )
    store = MemoryStore()
    bootstrap.run(pipe, MemorySnapshotSource(events, batch_size=500), store, flush_interval=HOUR)
    assert store.merges == 1
    per_bucket = Tally((e["user"], e["ts"] // 3600) for e in events)
    assert {(k.entity, k.bucket): v for (p, k), v in store.state.items() if p == "clicks"} == {
        (u, b): n for (u, b), n in per_bucket.items()
    }
    assert {k for (p, k) in store.expiry if p == "clicks"} == {
        k for (p, k) in store.state if p == "clicks"
    }  # retention kept


def test_a_per_record_live_source_folds_and_is_acked_once_its_batches_are_durable() -> None:
    log = MemoryLog(partitions=3)
    for i, o in enumerate(ORDERS[:12_000]):
        log.append(o, partition=i % 3)
    store = MemoryStore()
    live.run(by_callable(), MemoryLiveSource(log), store, until_idle=0.2, flush_interval=HOUR, lanes=1)
    assert store.merges == 1  # caught up once: one merge for 12 000 records (not one per 5 000)
    assert log.committed == {0: 4000, 1: 4000, 2: 4000}  # every record acked after its unit
    expected: Tally[str] = Tally()
    for o in ORDERS[:12_000]:
        expected[o["customer"]] += o["amount"]
    assert store.totals("orders") == {k: v for k, v in expected.items() if v}


def test_multi_key_records_across_lanes_are_acked_only_when_every_lane_merged() -> None:
    log = MemoryLog(partitions=2)
    for i in range(3000):
        log.append({"a": f"x{i % 11}", "b": f"y{i % 7}"}, partition=i % 2)
    pipe = Pipeline("pairs", Count(), keys=[lambda d: d["a"], lambda d: d["b"]])
    store = MemoryStore()
    live.run(pipe, MemoryLiveSource(log), store, until_idle=0.2, flush_interval=0.01, lanes=4)
    totals = store.totals("pairs")
    assert sum(v for k, v in totals.items() if k.startswith("x")) == 3000
    assert sum(v for k, v in totals.items() if k.startswith("y")) == 3000
    assert log.committed == {0: 1500, 1: 1500}
