"""The apply path (SPEC §4, §5b): dedup, retries, cancellation, changelog deltas, unit sizing."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from murmur import (
    Cancelled,
    Change,
    ClaimStatus,
    Count,
    Max,
    Pipeline,
    Record,
    Sum,
    TransientError,
)
from murmur._apply import Applier, ApplyConfig
from murmur.metrics import InMemoryRecorder
from murmur.testing import MemoryDeduper, MemoryStore

SUM = Pipeline("p", Sum(), key="k", value="v")


def applier(pipeline: Pipeline = SUM, store: Any = None, **kw: Any) -> tuple[Applier, Any, InMemoryRecorder]:
    store = store if store is not None else MemoryStore()
    rec = InMemoryRecorder()
    config = kw.pop("config", ApplyConfig(backoff=(0.001, 0.01)))
    mode = kw.pop("mode", "append")
    return Applier(pipeline, store, rec, mode=mode, config=config, **kw), store, rec


def recs(*pairs: tuple[str, int], ids: bool = True) -> list[Record]:
    return [Record({"k": k, "v": v}, event_id=f"e{i}" if ids else None) for i, (k, v) in enumerate(pairs)]


def test_records_are_acked_only_after_the_write() -> None:
    store = MemoryStore()
    seen: list[bool] = []
    batch = recs(("a", 1), ("b", 2))
    real = store.merge

    def merge(unit: Any) -> None:
        seen.extend(r.acked for r in batch)
        real(unit)

    store.merge = merge  # type: ignore[method-assign]
    app, _, _ = applier(store=store)
    app.apply(batch)
    assert seen == [False, False] and all(r.acked for r in batch)
    assert store.totals("p") == {"a": 1, "b": 2}


def test_multi_key_records_add_to_every_key() -> None:
    pipe = Pipeline("p", Count(), keys=["=global", "country", "post:{post.id}"])
    app, store, _ = applier(pipe)
    app.apply([Record({"country": "fr", "post": {"id": 7}}), Record({"country": "de", "post": {"id": 7}})])
    assert store.totals("p") == {"global": 2, "fr": 1, "de": 1, "post:7": 2}


def test_a_failed_apply_releases_the_claim_so_a_redelivery_is_applied_once() -> None:
    store, dedup = MemoryStore(transactional=False), MemoryDeduper()
    app, _, rec = applier(store=store, dedup=dedup, config=ApplyConfig(max_attempts=2, backoff=(0.001, 0.01)))
    store.fail_next(2)
    first = recs(("a", 5))
    out = app.apply(first)
    assert out.dead == 1 and first[0].acked and not dedup.pending and not dedup.committed
    again = recs(("a", 5))
    assert app.apply(again).applied == 1
    assert app.apply(recs(("a", 5))).skipped == 1  # a third delivery is a duplicate
    assert store.totals("p") == {"a": 5}
    assert rec.count("p:retry") == 1 and rec.count("p:dead_letter") == 1 and rec.count("p:dedup_skip") == 1


def test_cancellation_mid_retry_acks_nothing_and_dead_letters_nothing() -> None:
    stop = threading.Event()
    store, dedup = MemoryStore(transactional=False), MemoryDeduper()
    letters: list[Any] = []

    class Sink:
        def write(self, letter: Any) -> None:
            letters.append(letter)

    app, _, rec = applier(
        store=store, dedup=dedup, sink=Sink(), config=ApplyConfig(max_attempts=None, backoff=(0.05, 0.05), stop=stop)
    )
    store.fail_next(1000)
    batch = recs(("a", 1), ("b", 2))
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(Cancelled):
        app.apply(batch)
    assert not any(r.acked for r in batch)
    assert letters == [] and rec.count("p:dead_letter") == 0
    assert not dedup.pending  # claims released: a redelivery will be applied
    assert store.totals("p") == {}


def test_duplicates_within_one_batch_count_once() -> None:
    app, store, rec = applier(dedup=MemoryDeduper())
    batch = [Record({"k": "a", "v": 1}, event_id="same"), Record({"k": "a", "v": 1}, event_id="same")]
    out = app.apply(batch)
    assert (out.applied, out.skipped) == (1, 1) and store.totals("p") == {"a": 1}
    assert all(r.acked for r in batch) and rec.count("p:dedup_skip") == 1


def test_absorbed_claims_commit_with_the_state_and_conflicts_are_skipped() -> None:
    store = MemoryStore()
    dedup = store.deduper()
    app, _, _ = applier(store=store, dedup=dedup)
    app.apply(recs(("a", 1), ("b", 2)))
    assert dedup.committed == {"p|e0", "p|e1"} and not dedup.pending
    contains = dedup.contains
    dedup.contains = lambda ids: set()  # type: ignore[method-assign]  # a stale read: the merge must catch it
    out = app.apply(recs(("a", 1), ("b", 2), ("c", 3)))
    dedup.contains = contains  # type: ignore[method-assign]
    assert (out.applied, out.skipped) == (1, 2)
    assert store.totals("p") == {"a": 1, "b": 2, "c": 3}


def test_a_failing_deduper_fails_open_and_counts_the_error() -> None:
    dedup = MemoryDeduper()
    dedup.fail_next(5, RuntimeError("dedup table gone"))
    app, store, rec = applier(store=MemoryStore(transactional=False), dedup=dedup)
    assert app.apply(recs(("a", 1))).applied == 1
    assert store.totals("p") == {"a": 1}
    assert rec.count("p:dedup_error") >= 1 and "dedup table gone" in (rec.last_error("p:dedup") or "")


def test_fail_closed_retries_the_deduper_instead() -> None:
    dedup = MemoryDeduper()
    dedup.fail_next(2, TransientError("throttled"))
    app, _, rec = applier(
        store=MemoryStore(transactional=False), dedup=dedup, config=ApplyConfig(backoff=(0.001, 0.01), fail_closed=True)
    )
    assert app.apply(recs(("a", 1))).applied == 1
    assert rec.count("p:dedup_error") == 0 and rec.count("p:retry") == 2


def test_a_claim_held_by_a_dead_worker_is_taken_over_after_its_lease() -> None:
    dedup = MemoryDeduper()
    assert dedup.claim(["p|e0"], 0.3) == {"p|e0": ClaimStatus.GRANTED}  # a worker that then died
    app, store, _ = applier(store=MemoryStore(transactional=False), dedup=dedup)
    started = time.monotonic()
    assert app.apply(recs(("a", 1))).applied == 1
    assert time.monotonic() - started >= 0.25
    assert store.totals("p") == {"a": 1} and dedup.committed == {"p|e0"}


def test_one_bad_record_is_isolated_from_a_failing_batch() -> None:
    class Picky(MemoryStore):
        def merge(self, unit: Any) -> None:
            if any(k.entity == "bad" for k in unit.writes):
                raise ValueError("item too large")
            super().merge(unit)

    letters: list[Any] = []

    class Sink:
        def write(self, letter: Any) -> None:
            letters.append(letter)

    app, store, _ = applier(store=Picky(), sink=Sink())
    out = app.apply(recs(*[(f"k{i}", i + 1) for i in range(7)], ("bad", 1), ("k9", 9)))
    assert (out.applied, out.dead) == (8, 1)
    assert [letter.record.value["k"] for letter in letters] == ["bad"]
    assert "item too large" in letters[0].error and letters[0].kind == "apply"
    assert len(store.totals("p")) == 8


def test_units_are_split_to_fit_the_store_transaction_limit() -> None:
    class Small(MemoryStore):
        max_unit_items = 10
        sizes: list[int] = []

        def merge(self, unit: Any) -> None:
            size = len(unit.writes) + len(unit.claims) + len(unit.meta)
            assert size <= 10
            self.sizes.append(size)
            super().merge(unit)

    store = Small()
    app, _, _ = applier(store=store, dedup=store.deduper())
    app.apply(recs(*[(f"k{i}", 1) for i in range(20)]), meta={"segment/0/1": {"position": 19}})
    assert store.totals("p") == {f"k{i}": 1 for i in range(20)}
    assert len(store.sizes) > 1 and store.read_meta("p", "segment/0/1") == {"position": 19}


# ------------------------------------------------------------------------ changelog mode

ORDERS = Pipeline("orders", Sum(), key="customer", value="amount")


def doc(doc_id: str, customer: str | None, amount: int = 0, version: tuple[int, ...] | None = None) -> Record:
    if customer is None:
        return Record(None, change=Change(doc_id, version, deleted=True))
    return Record({"customer": customer, "amount": amount}, change=Change(doc_id, version))


def test_changelog_moves_values_between_keys_and_retracts_deletes() -> None:
    app, store, _ = applier(ORDERS, mode="changelog")
    app.apply([doc("o1", "alice", 10), doc("o2", "alice", 5), doc("o3", "bob", 7)])
    app.apply([doc("o1", "alice", 12, (1, 0))])  # amount update
    app.apply([doc("o2", "bob", 5, (2, 0))])  # re-assigned to another customer
    app.apply([doc("o3", None, version=(3, 0))])  # deleted
    assert store.totals("orders") == {"alice": 12, "bob": 5}


def test_changelog_replays_and_reruns_change_nothing() -> None:
    app, store, _ = applier(ORDERS, mode="changelog")
    history = [doc("o1", "alice", 10, (1, 0)), doc("o1", "bob", 11, (2, 0)), doc("o1", None, version=(3, 0))]
    app.apply(history)
    app.apply(history)  # a whole replay
    app.apply([doc("o1", "carol", 99, (2, 5))])  # an old change arriving late is ignored
    assert store.totals("orders") == {}  # each history nets to zero, so nothing was even written
    app.apply([doc("o2", "alice", 4), doc("o2", "alice", 4)])  # a snapshot read twice
    assert store.totals("orders")["alice"] == 4


def test_changelog_with_a_non_group_monoid_accepts_inserts_only() -> None:
    letters: list[Any] = []

    class Sink:
        def write(self, letter: Any) -> None:
            letters.append(letter)

    app, store, _ = applier(Pipeline("m", Max(), key="customer", value="amount"), mode="changelog", sink=Sink())
    app.apply([doc("o1", "alice", 10), doc("o2", "alice", 3)])
    app.apply([doc("o1", "alice", 10)])  # the same state again is fine
    out = app.apply([doc("o1", "alice", 1, (5, 0))])
    assert out.dead == 1 and "cannot take back" in letters[0].error
    assert store.totals("m") == {"alice": 10}


def test_append_mode_retracts_the_before_image() -> None:
    app, store, _ = applier(ORDERS)
    app.apply([Record({"customer": "alice", "amount": 10})])
    update = Record({"customer": "bob", "amount": 12}, change=Change("o1", before={"customer": "alice", "amount": 10}))
    delete = Record(None, change=Change("o1", deleted=True, before={"customer": "bob", "amount": 12}))
    app.apply([update])
    assert store.totals("orders") == {"alice": 0, "bob": 12}
    app.apply([delete])
    assert store.totals("orders") == {"alice": 0, "bob": 0}


def test_changelog_records_without_a_document_are_dead_letters() -> None:
    app, store, rec = applier(ORDERS, mode="changelog")
    out = app.apply([Record({"customer": "a", "amount": 1})])
    assert out.dead == 1 and rec.count("orders:dead_letter") == 1 and store.totals("orders") == {}


def test_pipelines_sharing_a_deduper_do_not_skip_each_others_events() -> None:
    dedup = MemoryDeduper()
    store = MemoryStore(transactional=False)
    revenue, _, _ = applier(SUM, store=store, dedup=dedup)
    orders, _, _ = applier(Pipeline("n", Count(), key="k"), store=store, dedup=dedup)
    revenue.apply(recs(("a", 5), ("b", 7)))
    out = orders.apply(recs(("a", 5), ("b", 7)))
    assert (out.applied, out.skipped) == (2, 0)
    assert store.totals("p") == {"a": 5, "b": 7} and store.totals("n") == {"a": 1, "b": 1}
    assert orders.apply(recs(("a", 5))).skipped == 1  # its own duplicates are still caught


def test_append_mode_refuses_updates_it_cannot_retract() -> None:
    letters: list[Any] = []

    class Sink:
        def write(self, letter: Any) -> None:
            letters.append(letter)

    app, store, _ = applier(ORDERS, sink=Sink())
    insert = Record({"customer": "alice", "amount": 10}, change=Change("o1", op="insert"))
    update = Record({"customer": "alice", "amount": 12}, change=Change("o1", op="update"))  # no before-image
    out = app.apply([insert, update])
    assert (out.applied, out.dead) == (1, 1)
    assert "no before-image" in letters[0].error and "changelog mode" in letters[0].error
    assert store.totals("orders") == {"alice": 10}
