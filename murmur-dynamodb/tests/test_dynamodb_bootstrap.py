"""The runtime (murmur.bootstrap.run) over the DynamoDB source, store and deduper."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dynamodb_helpers import create_plain_table, put_items
from murmur import Change, Pipeline, Record, RunStatus, SourceError, StateKey, Sum, Unit, bootstrap
from murmur.testing import Crash, MemorySnapshotSource

from murmur_dynamodb import DynamoDBDeduper, DynamoDBSnapshotSource, DynamoDBStore

N = 200


@pytest.fixture
def orders(endpoint: dict[str, Any], unique_name: Callable[[str], str]) -> tuple[str, Counter[str]]:
    table = unique_name("orders")
    create_plain_table(endpoint, table)
    items: list[dict[str, Any]] = [
        {"id": f"o{i:03d}", "customer": f"c{i % 9}", "amount": i * 3 - 100} for i in range(N)
    ]
    put_items(endpoint, table, items)
    expected: Counter[str] = Counter()
    for item in items:
        expected[item["customer"]] += item["amount"]
    return table, expected


@pytest.fixture
def pipeline(unique_name: Callable[[str], str]) -> Pipeline:
    return Pipeline(unique_name("orders"), monoid=Sum(), key="customer", value="amount")


def totals(store: DynamoDBStore, pipeline: Pipeline, expected: Counter[str]) -> dict[str, Any]:
    keys = sorted(expected)
    return dict(zip(keys, store.get_many(pipeline.name, [StateKey(k) for k in keys], Sum()), strict=True))


MODES = pytest.mark.parametrize("transactional", [False, True], ids=["at-least-once", "transactional"])


@MODES
def test_four_segments_give_exact_sums_and_a_rerun_with_dedup_changes_nothing(
    endpoint: dict[str, Any],
    orders: tuple[str, Counter[str]],
    pipeline: Pipeline,
    make_store: Callable[..., DynamoDBStore],
    make_deduper: Callable[..., DynamoDBDeduper],
    transactional: bool,
) -> None:
    table, expected = orders
    store, deduper = make_store(transactional=transactional), make_deduper()
    status = RunStatus(pipeline.name, "bootstrap")
    source = DynamoDBSnapshotSource(table, page_size=25, **endpoint)
    token = bootstrap.run(pipeline, source, store, dedup=deduper, segments=4, status=status)
    assert token.source == "dynamodb"
    assert token.token["table"] == table
    assert store.transactional is transactional  # absorbed only when not told otherwise
    assert totals(store, pipeline, expected) == dict(expected)
    assert status.applied == N
    assert status.total == N
    assert len(status.segments) == 4

    again = RunStatus(pipeline.name, "bootstrap")
    bootstrap.run(pipeline, source, store, dedup=deduper, segments=4, checkpoints="restart", status=again)
    assert totals(store, pipeline, expected) == dict(expected)
    assert again.dedup_skips == N
    assert again.applied == 0


class _FailingSource(DynamoDBSnapshotSource):
    """Fails reading segment 1 after `fail_after` batches, once (a network outage mid-scan)."""

    fail_after = 3

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        for n, batch in enumerate(super().scan(segment, after)):
            if segment == {"segment": 1, "total": 4} and n == self.fail_after:
                raise SourceError("dynamodb: injected read failure mid-scan")
            yield batch


@MODES
def test_a_scan_interrupted_half_way_resumes_to_exact_totals(
    endpoint: dict[str, Any],
    orders: tuple[str, Counter[str]],
    pipeline: Pipeline,
    make_store: Callable[..., DynamoDBStore],
    transactional: bool,
) -> None:
    """No deduper: the checkpoint of each segment alone makes the resume exact."""
    table, expected = orders
    store = make_store(transactional=transactional)
    with pytest.raises(SourceError, match="injected"):
        bootstrap.run(pipeline, _FailingSource(table, page_size=10, **endpoint), store, segments=4)
    assert totals(store, pipeline, expected) != dict(expected)
    status = RunStatus(pipeline.name, "bootstrap")
    bootstrap.run(
        pipeline,
        DynamoDBSnapshotSource(table, page_size=10, **endpoint),
        store,
        segments=4,
        checkpoints="resume",
        status=status,
    )
    assert status.resumed
    assert 0 < status.applied < N
    assert totals(store, pipeline, expected) == dict(expected)


class _DyingStore(DynamoDBStore):
    """The worker dies (murmur.testing.Crash) inside its `die_at`-th merge: before or after writing."""

    die_at = 3
    when = "before"
    merges = 0

    def merge(self, unit: Unit) -> None:
        self.merges += 1
        if self.merges == self.die_at and self.when == "before":
            raise Crash("killed between claim and apply")
        super().merge(unit)
        if self.merges == self.die_at and self.when == "after":
            raise Crash("killed after the store wrote, before the ack")


@pytest.mark.parametrize(
    ("transactional", "when"),
    [(False, "before"), (True, "before"), (True, "after")],
    ids=["at-least-once-before-write", "transactional-before-write", "transactional-after-write"],
)
def test_a_worker_killed_mid_batch_loses_nothing(
    endpoint: dict[str, Any],
    tables: tuple[str, str],
    orders: tuple[str, Counter[str]],
    pipeline: Pipeline,
    make_deduper: Callable[..., DynamoDBDeduper],
    transactional: bool,
    when: str,
) -> None:
    """At-least-once: the dead worker's claims expire and the redelivery is applied (nothing lost).
    Transactional: claims commit with the state, so a redelivery is a duplicate (nothing doubled)."""
    table, expected = orders
    dying = _DyingStore(tables[0], transactional=transactional, **endpoint)
    dying.when = when
    source = DynamoDBSnapshotSource(table, page_size=20, **endpoint)
    with pytest.raises(Crash):
        bootstrap.run(pipeline, source, dying, dedup=make_deduper(), lease=1.0, fold_records=20)  # a unit per page
    dying.close()
    # a new worker re-reads everything (as a redelivery would); its deduper waits out the dead lease
    store = DynamoDBStore(tables[0], transactional=transactional, **endpoint)
    status = RunStatus(pipeline.name, "bootstrap")
    bootstrap.run(pipeline, source, store, dedup=make_deduper(), lease=1.0, checkpoints="restart", status=status)
    assert totals(store, pipeline, expected) == dict(expected)
    assert status.dedup_skips + status.applied == N
    store.close()


@MODES
def test_changelog_contributions_keep_totals_exact_through_updates_and_deletes(
    pipeline: Pipeline, make_store: Callable[..., DynamoDBStore], transactional: bool
) -> None:
    """Changelog mode (SPEC §5b) on this store: contributions round-trip and move values between keys."""
    store = make_store(transactional=transactional)

    def doc(i: int, customer: str, amount: int, version: tuple[int, int], deleted: bool = False) -> Record:
        value = {"customer": customer, "amount": amount}
        return Record(value, event_id=f"docs/{i}@{version}", change=Change(f"docs/{i}", version, deleted))

    first = [doc(i, f"c{i % 4}", i, (1, 0)) for i in range(30)]
    bootstrap.run(pipeline, MemorySnapshotSource(first, batch_size=7, default_mode="changelog"), store)
    later = (
        [doc(i, "moved", 100, (2, 0)) for i in range(10)]  # re-assigned, new amount
        + [doc(i, f"c{i % 4}", i, (2, 0), deleted=True) for i in range(10, 15)]  # gone
        + [doc(i, f"c{i % 4}", i, (1, 0)) for i in range(15, 30)]  # seen again, unchanged
    )
    bootstrap.run(
        pipeline, MemorySnapshotSource(later, batch_size=7, default_mode="changelog"), store, checkpoints="restart"
    )
    expected: Counter[str] = Counter({"moved": 1000})
    for i in range(15, 30):
        expected[f"c{i % 4}"] += i
    assert totals(store, pipeline, expected) == dict(expected)
    stored = store.get_contributions(pipeline.name, ["docs/0", "docs/12", "docs/20"], Sum())
    assert stored["docs/0"].keys == (StateKey("moved"),)
    assert stored["docs/12"].deleted
    assert stored["docs/20"].value == 20
