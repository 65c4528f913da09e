"""The bootstrap runtime (SPEC §5) on the in-memory doubles, with exact expected values."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from murmur import (
    Aborted,
    CheckpointExists,
    ConfigError,
    HandoffError,
    Pipeline,
    Poison,
    Record,
    RunStatus,
    SourceError,
    Sum,
    TransientError,
    bootstrap,
)
from murmur.testing import MemoryDeduper, MemoryLiveSource, MemorySnapshotSource, MemoryStore

ORDERS = [{"customer": f"c{i % 7}", "amount": i} for i in range(500)]
PIPE = Pipeline("orders", Sum(), key="customer", value="amount")


def truth(items: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for item in items:
        out[item["customer"]] += item["amount"]
    return dict(out)


class ListSink:
    def __init__(self) -> None:
        self.letters: list[Any] = []

    def write(self, letter: Any) -> None:
        self.letters.append(letter)


def test_happy_path_captures_the_token_before_the_scan_and_returns_it() -> None:
    store, source = MemoryStore(), MemorySnapshotSource(ORDERS, batch_size=64, token={"resume": 42})
    status = RunStatus("orders", "bootstrap")
    token = bootstrap.run(PIPE, source, store, status=status)
    assert token.token == {"resume": 42} and token.source == "memory"
    assert source.log[0] == "capture" and source.log[1].startswith("scan")
    assert store.totals("orders") == truth(ORDERS)
    assert status.applied == 500 and status.dead_letters == 0 and status.records == 500


def test_the_live_position_is_captured_before_the_snapshot_token() -> None:
    order: list[str] = []
    live = MemoryLiveSource()
    live.log.append({"x": 1})
    live.capture_position = lambda: order.append("live") or {"0": 1}  # type: ignore[method-assign]
    source = MemorySnapshotSource(ORDERS)
    original = source.capture_handoff
    source.capture_handoff = lambda: order.append("snapshot") or original()  # type: ignore[method-assign]
    token = bootstrap.run(PIPE, source, MemoryStore(), handoff_to=live)
    assert order == ["live", "snapshot"]
    assert token.live == {"source": "memory-live", "position": {"0": 1}}


def test_capture_failure_scans_nothing_and_writes_nothing() -> None:
    store = MemoryStore()
    source = MemorySnapshotSource(ORDERS, fail_capture=HandoffError("no change streams"))
    with pytest.raises(HandoffError):
        bootstrap.run(PIPE, source, store)
    assert source.log == ["capture"]
    assert store.totals("orders") == {}


def test_no_handoff_skips_the_capture() -> None:
    source = MemorySnapshotSource(ORDERS, fail_capture=HandoffError("never called"))
    token = bootstrap.run(PIPE, source, MemoryStore(), handoff=False)
    assert token.token is None and "capture" not in source.log


def test_transient_failures_are_retried_and_counted_exactly() -> None:
    store = MemoryStore()
    store.fail_next(2)
    status = RunStatus("orders", "bootstrap")
    bootstrap.run(
        PIPE, MemorySnapshotSource(ORDERS, batch_size=1000), store, retry_backoff=(0.001, 0.01), status=status
    )
    assert status.retries == 2 and status.dead_letters == 0
    assert store.totals("orders") == truth(ORDERS)


def test_exhausted_retries_dead_letter_the_batch_and_the_run_continues() -> None:
    # With a deduper each record is kept until its unit commits, so SPEC §4.4 holds record by
    # record: the claims are released and the batch is dead-lettered.
    store, sink = MemoryStore(), ListSink()
    store.fail_next(3)  # exactly max_attempts for the first batch of 100
    status = RunStatus("orders", "bootstrap")
    items = [Record(o, event_id=f"o{i}") for i, o in enumerate(ORDERS)]
    bootstrap.run(
        PIPE,
        MemorySnapshotSource(items, batch_size=100),
        store,
        dedup=MemoryDeduper(),
        fold_records=1,
        retry_backoff=(0.001, 0.01),
        dead_letters=sink,
        status=status,
    )
    assert status.dead_letters == 100 and status.retries == 2 and status.applied == 400
    assert [letter.record.event_id for letter in sink.letters] == [f"o{i}" for i in range(100)]
    assert all("TransientError" in letter.error and letter.kind == "apply" for letter in sink.letters)
    assert store.totals("orders") == truth(ORDERS[100:])


def test_exhausted_retries_of_a_folded_unit_stop_the_run_with_the_checkpoint_kept() -> None:
    # Without a deduper records fold into deltas as they come: a unit the store keeps refusing
    # stops the run (an outage dead-letters nothing), and a resume counts everything once.
    store, sink = MemoryStore(), ListSink()
    store.fail_next(3)  # exactly max_attempts for the first unit
    with pytest.raises(TransientError, match="injected"):
        bootstrap.run(
            PIPE, MemorySnapshotSource(ORDERS, batch_size=100), store, fold_records=1, retry_backoff=(0.001, 0.01)
        )
    assert store.totals("orders") == {}
    status = RunStatus("orders", "bootstrap")
    bootstrap.run(
        PIPE,
        MemorySnapshotSource(ORDERS, batch_size=100),
        store,
        checkpoints="resume",
        dead_letters=sink,
        status=status,
    )
    assert sink.letters == [] and status.dead_letters == 0
    assert store.totals("orders") == truth(ORDERS)


def poisoned() -> list[Any]:
    items: list[Any] = list(ORDERS[:50])
    items[10] = Record(Poison("line 11: not JSON", raw="{oops"), event_id="f:11")
    items[20] = {"customer": "c1", "amount": "lots"}  # wrong type
    items[30] = {"amount": 5}  # missing key
    return items


def test_permanent_failures_are_dead_lettered_and_the_run_continues() -> None:
    store, sink = MemoryStore(), ListSink()
    items = poisoned()
    status = RunStatus("orders", "bootstrap")
    bootstrap.run(PIPE, MemorySnapshotSource(items), store, dead_letters=sink, status=status)
    assert status.dead_letters == 3 and status.applied == 47
    errors = sorted(letter.error for letter in sink.letters)
    assert errors == ["line 11: not JSON", "missing field 'customer'", "sum: expected a number, got str 'lots'"]
    good = [i for n, i in enumerate(items) if n not in (10, 20, 30)]
    assert store.totals("orders") == truth(good)


def test_fail_on_error_aborts_with_no_token_and_keeps_the_checkpoint() -> None:
    store = MemoryStore()
    source = MemorySnapshotSource(poisoned(), batch_size=5)
    with pytest.raises(Aborted, match="not JSON"):
        bootstrap.run(PIPE, source, store, fail_on_error=True, dead_letters=ListSink(), fold_records=1)
    assert store.totals("orders") == truth(ORDERS[:10])  # the two batches before the poison one
    assert store.read_meta("orders", "segment/0/1")["position"] == 9


def test_scan_error_keeps_the_checkpoint_and_a_resumed_run_is_exact() -> None:
    store = MemoryStore()
    source = MemorySnapshotSource(ORDERS, batch_size=50, fail_after=230)
    with pytest.raises(SourceError, match="injected read failure"):
        bootstrap.run(PIPE, source, store)
    checkpoint = store.read_meta("orders", "segment/0/1")
    assert checkpoint["position"] == 229 and not checkpoint["finished"]
    with pytest.raises(CheckpointExists, match="--resume"):
        bootstrap.run(PIPE, source, store)
    status = RunStatus("orders", "bootstrap")
    bootstrap.run(PIPE, source, store, checkpoints="resume", status=status)
    assert status.resumed and status.applied == 270
    assert store.totals("orders") == truth(ORDERS)


def test_resume_keeps_the_original_handoff_token() -> None:
    store = MemoryStore()
    source = MemorySnapshotSource(ORDERS, fail_after=100, token="first")
    with pytest.raises(SourceError):
        bootstrap.run(PIPE, source, store)
    source.token = "second"
    token = bootstrap.run(PIPE, source, store, checkpoints="resume")
    assert token.token == "first"


def test_resuming_a_finished_run_does_nothing() -> None:
    store, source = MemoryStore(), MemorySnapshotSource(ORDERS)
    first = bootstrap.run(PIPE, source, store)
    status = RunStatus("orders", "bootstrap")
    again = bootstrap.run(PIPE, source, store, checkpoints="resume", status=status)
    assert status.already_finished and status.applied == 0 and again == first
    assert store.totals("orders") == truth(ORDERS)


def test_rerun_with_the_same_deduper_changes_nothing() -> None:
    store = MemoryStore()
    dedup = store.deduper()
    source = MemorySnapshotSource(ORDERS)
    bootstrap.run(PIPE, source, store, dedup=dedup)
    status = RunStatus("orders", "bootstrap")
    bootstrap.run(PIPE, source, store, dedup=dedup, checkpoints="restart", status=status)
    assert status.dedup_skips == 500 and status.applied == 0
    assert store.totals("orders") == truth(ORDERS)


def test_rerun_with_a_separate_deduper_changes_nothing() -> None:
    from murmur.testing import MemoryDeduper

    store, dedup = MemoryStore(transactional=False), MemoryDeduper()
    source = MemorySnapshotSource(ORDERS)
    bootstrap.run(PIPE, source, store, dedup=dedup)
    bootstrap.run(PIPE, source, store, dedup=dedup, checkpoints="restart")
    assert store.totals("orders") == truth(ORDERS)
    assert not dedup.pending and len(dedup.committed) == 500


def test_segments_run_concurrently_and_cover_everything_once() -> None:
    store = MemoryStore()
    status = RunStatus("orders", "bootstrap")
    bootstrap.run(PIPE, MemorySnapshotSource(ORDERS, batch_size=16), store, segments=4, status=status)
    assert store.totals("orders") == truth(ORDERS)
    assert sorted(status.segments) == ["segment 1/4", "segment 2/4", "segment 3/4", "segment 4/4"]
    assert all(s.done == 125 and s.finished and s.total == 125 for s in status.segments.values())


def test_separate_processes_share_one_plan_and_one_handoff() -> None:
    store = MemoryStore()
    tokens = [
        bootstrap.run(PIPE, MemorySnapshotSource(ORDERS, token=f"t{i}"), store, segments=3, segment=i)
        for i in (2, 0, 1)
    ]
    assert {t.token for t in tokens} == {"t2"}  # the first to capture wins; the rest reuse it
    assert store.totals("orders") == truth(ORDERS)
    with pytest.raises(ConfigError, match="3 segment"):
        bootstrap.run(PIPE, MemorySnapshotSource(ORDERS), store, segments=2, checkpoints="resume")


def test_a_different_monoid_under_the_same_name_is_refused() -> None:
    from murmur import Max

    store = MemoryStore()
    bootstrap.run(PIPE, MemorySnapshotSource(ORDERS), store)
    other = Pipeline("orders", Max(), key="customer", value="amount")
    with pytest.raises(ConfigError, match="monoid 'sum'"):
        bootstrap.run(other, MemorySnapshotSource(ORDERS), store, checkpoints="restart")


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="segment: expected 0 to 1"):
        bootstrap.run(PIPE, MemorySnapshotSource(ORDERS), MemoryStore(), segments=2, segment=2)
    with pytest.raises(ConfigError, match="max_attempts"):
        bootstrap.run(PIPE, MemorySnapshotSource(ORDERS), MemoryStore(), max_attempts=0)


def test_a_transactional_store_resumes_exactly_without_a_deduper() -> None:
    from murmur.testing import Crash

    store = MemoryStore()
    store.fail_next(0)
    source = MemorySnapshotSource(ORDERS, batch_size=40)
    merges = 0
    real_merge = store.merge

    def crash_on_fifth(unit: Any) -> None:
        nonlocal merges
        merges += 1
        if merges == 5:
            raise Crash("power cut")
        real_merge(unit)

    store.merge = crash_on_fifth  # type: ignore[method-assign]
    with pytest.raises(Crash):
        bootstrap.run(PIPE, source, store, fold_records=1)
    store.merge = real_merge  # type: ignore[method-assign]
    bootstrap.run(PIPE, source, store, checkpoints="resume")
    assert store.totals("orders") == truth(ORDERS)


def test_transient_capture_errors_surface_unchanged() -> None:
    source = MemorySnapshotSource(ORDERS, fail_capture=TransientError("mongo down"))
    with pytest.raises(TransientError):
        bootstrap.run(PIPE, source, MemoryStore())


def test_batches_fold_into_few_large_writes() -> None:
    store = MemoryStore()
    items = [{"customer": f"c{i % 50}", "amount": 1} for i in range(5000)]
    bootstrap.run(PIPE, MemorySnapshotSource(items, batch_size=100), store, fold_records=2500)
    assert store.merges == 2 and store.key_writes == 100  # 50 batches, 2 units, 50 keys each
    assert store.totals("orders") == {f"c{i}": 100 for i in range(50)}
    assert store.read_meta("orders", "segment/0/1")["done"] == 5000


def test_a_scan_error_applies_what_was_read_before_failing() -> None:
    store = MemoryStore()
    with pytest.raises(SourceError):
        bootstrap.run(PIPE, MemorySnapshotSource(ORDERS, batch_size=50, fail_after=230), store, fold_records=10_000)
    assert store.read_meta("orders", "segment/0/1")["position"] == 229
    assert store.totals("orders") == truth(ORDERS[:230])
