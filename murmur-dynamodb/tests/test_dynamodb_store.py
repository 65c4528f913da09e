"""What is special to the DynamoDB store, on the real endpoint (both modes where it matters)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from dynamodb_helpers import together
from murmur import (
    ClaimConflict,
    ClaimStatus,
    ConfigError,
    Contribution,
    ContributionConflict,
    ContributionWrite,
    FieldError,
    Max,
    Min,
    StateKey,
    StoreError,
    Sum,
    TransientError,
    Unit,
)
from murmur.monoids import Count, SetUnion, TupleOf
from murmur.testing import MemoryDeduper

from murmur_dynamodb import DynamoDBDeduper, DynamoDBStore

MODES = pytest.mark.parametrize("transactional", [False, True], ids=["at-least-once", "transactional"])


def unit(pipeline: str, monoid: Any, writes: dict[str, Any], **kw: Any) -> Unit:
    return Unit(pipeline, monoid, {StateKey(k): v for k, v in writes.items()}, **kw)


def read(store: DynamoDBStore, pipeline: str, monoid: Any, *entities: str) -> list[Any]:
    return store.get_many(pipeline, [StateKey(e) for e in entities], monoid)


def raw_client(endpoint: dict[str, Any]) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint["endpoint_url"], region_name=endpoint["region"])


@MODES
def test_add_is_exact_under_eight_concurrent_writers(
    make_store: Callable[..., DynamoDBStore], transactional: bool
) -> None:
    m, workers, rounds = Sum(), 8, 12
    stores = [make_store(transactional=transactional) for _ in range(workers)]

    def work(w: int) -> None:
        for r in range(rounds):
            stores[w].merge(unit("p", m, {"hot": 1, "neg": -3, "big": 2**53 + w, "dec": Decimal("0.01"), f"own{w}": r}))

    together(work, workers)
    hot, neg, big, dec = read(stores[0], "p", m, "hot", "neg", "big", "dec")
    assert (hot, neg) == (workers * rounds, -3 * workers * rounds)
    assert big == sum(2**53 + w for w in range(workers)) * rounds
    assert isinstance(big, int)
    assert dec == Decimal("0.96")
    assert isinstance(dec, Decimal)
    assert read(stores[0], "p", m, *(f"own{w}" for w in range(workers))) == [sum(range(rounds))] * workers


@MODES
def test_sums_read_back_as_the_type_they_were_written(
    make_store: Callable[..., DynamoDBStore], transactional: bool
) -> None:
    store, m = make_store(transactional=transactional), Sum()
    store.merge(unit("p", m, {"i": 3, "f": 0.5, "d": Decimal("1.25"), "fd": 0.5}))
    store.merge(unit("p", m, {"i": -3, "f": 0.5, "d": Decimal("0.75"), "fd": Decimal("1.5")}))
    i, f, d, fd = read(store, "p", m, "i", "f", "d", "fd")
    assert (i, type(i)) == (0, int)
    assert (f, type(f)) == (1.0, float)
    assert (d, type(d)) == (Decimal("2.00"), Decimal)
    assert (fd, type(fd)) == (Decimal("2.0"), Decimal)  # float + Decimal is Decimal, as in the core's Sum
    c = Count()
    store.merge(unit("c", c, {"k": 2}))
    assert read(store, "c", c, "k") == [2]


@MODES
def test_min_max_edge_cases(make_store: Callable[..., DynamoDBStore], transactional: bool) -> None:
    store, lo, hi = make_store(transactional=transactional), Min(), Max()
    # negatives: the identity is "unset", not 0
    store.merge(unit("mn", lo, {"neg": -5, "str": "m", "eq": 5}))
    store.merge(unit("mx", hi, {"neg": -7, "str": "m", "eq": 5}))
    # a higher min / lower max is silently ignored; equal values change nothing (the int stays an int)
    store.merge(unit("mn", lo, {"neg": 3, "str": "z", "eq": 5.0}))
    store.merge(unit("mx", hi, {"neg": -9, "str": "a", "eq": Decimal("5.0")}))
    assert read(store, "mn", lo, "neg", "str", "eq") == [-5, "m", 5]
    assert read(store, "mx", hi, "neg", "str", "eq") == [-7, "m", 5]
    assert type(read(store, "mn", lo, "eq")[0]) is int
    assert type(read(store, "mx", hi, "eq")[0]) is int
    # a better value lands, with its own type
    store.merge(unit("mn", lo, {"neg": -5.5, "str": "a"}))
    store.merge(unit("mx", hi, {"neg": Decimal("-6.5"), "str": "zz"}))
    assert read(store, "mn", lo, "neg", "str") == [-5.5, "a"]
    assert read(store, "mx", hi, "neg", "str") == [Decimal("-6.5"), "zz"]
    # datetimes compare as instants, whatever their time zone
    early = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
    late = dt.datetime(2024, 1, 1, 13, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 11:30 UTC
    store.merge(unit("when", lo, {"k": early}))
    store.merge(unit("when", lo, {"k": late}))
    assert read(store, "when", lo, "k") == [late]


@MODES
def test_min_of_another_type_is_a_clear_error(make_store: Callable[..., DynamoDBStore], transactional: bool) -> None:
    store, lo = make_store(transactional=transactional), Min()
    store.merge(unit("p", lo, {"k": 5}))
    with pytest.raises(FieldError, match="cannot compare"):
        store.merge(unit("p", lo, {"k": "text"}))
    with pytest.raises(FieldError, match="cannot compare"):
        store.merge(unit("p", lo, {"k": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}))
    assert read(store, "p", lo, "k") == [5]


@MODES
def test_compare_and_swap_under_two_concurrent_writers(
    make_store: Callable[..., DynamoDBStore], transactional: bool
) -> None:
    s, t = SetUnion(), TupleOf(Sum(), Max())
    stores = [make_store(transactional=transactional), make_store(transactional=transactional)]

    def work(w: int) -> None:
        for i in range(15):
            stores[w].merge(unit("set", s, {"k": frozenset({f"w{w}-{i}"}), "shared": frozenset({"x"})}))
            stores[w].merge(unit("tup", t, {"k": (1, w * 100 + i)}))

    together(work, 2)
    assert read(stores[0], "set", s, "k", "shared") == [
        frozenset(f"w{w}-{i}" for w in range(2) for i in range(15)),
        frozenset({"x"}),
    ]
    assert read(stores[1], "tup", t, "k") == [(30, 114)]


class _RacedStore(DynamoDBStore):
    """Another writer bumps the version between every read and write of this store."""

    rival: Any = None

    def _read(self, keys: Any, *, consistent: bool) -> Any:
        found = super()._read(keys, consistent=consistent)
        for key in keys:
            self.rival.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="ADD ver :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        return found


@MODES
def test_compare_and_swap_gives_up_with_a_clear_error(
    endpoint: dict[str, Any], tables: tuple[str, str], transactional: bool
) -> None:
    store = _RacedStore(tables[0], transactional=transactional, cas_attempts=3, **endpoint)
    store.rival = raw_client(endpoint)
    with pytest.raises(TransientError, match=r"3 (attempts|times)"):
        store.merge(unit("p", SetUnion(), {"k": frozenset({"a"})}))
    store.close()


def test_get_many_keeps_order_with_repeats_and_buckets(make_store: Callable[..., DynamoDBStore]) -> None:
    store, m = make_store(), Sum()
    store.merge(Unit("p", m, {StateKey("a", 0): 1, StateKey("a", 19000): 2, StateKey("b", 0): 3}))
    keys = [StateKey("b"), StateKey("a", 19000), StateKey("zz"), StateKey("a"), StateKey("b"), StateKey("a", 19001)]
    assert store.get_many("p", keys, m) == [3, 2, None, 1, 3, None]
    assert store.get_many("p", [], m) == []


@MODES
def test_expired_keys_start_over(
    make_store: Callable[..., DynamoDBStore], endpoint: dict[str, Any], tables: tuple[str, str], transactional: bool
) -> None:
    """moto (like DynamoDB, for up to days) keeps expired items: they must read and write as gone."""
    store = make_store(transactional=transactional)
    past, future = int(time.time()) - 5, int(time.time()) + 3600
    k = StateKey("k", 20000)
    for monoid, first, second in ((Sum(), 5, 2), (Max(), 9, 4), (SetUnion(), frozenset("a"), frozenset("b"))):
        p = f"p_{monoid.kind}"
        store.merge(Unit(p, monoid, {k: first}, expiry={k: past}))
        assert store.get_many(p, [k], monoid) == [None]
        store.merge(Unit(p, monoid, {k: second}, expiry={k: future}))
        assert store.get_many(p, [k], monoid) == [second]
    item = raw_client(endpoint).get_item(TableName=tables[0], Key={"pk": {"S": "p_sum#k"}, "sk": {"N": "20000"}})[
        "Item"
    ]
    assert item["ttl"] == {"N": str(future)}


def test_transactional_unit_over_the_limit_is_refused_whole(make_store: Callable[..., DynamoDBStore]) -> None:
    store, m = make_store(transactional=True), Sum()
    assert store.max_unit_items == 100
    big = unit("p", m, {f"k{i}": 1 for i in range(99)}, meta={"segment/0/1": {"position": 1}, "x": {}})
    with pytest.raises(StoreError, match=r"101 items.*at most 100"):
        store.merge(big)
    assert read(store, "p", m, "k0") == [None]
    assert store.list_meta("p") == {}
    store.merge(unit("p", m, {f"k{i}": 1 for i in range(99)}, meta={"segment/0/1": {"position": 1}}))
    assert read(store, "p", m, "k0", "k98") == [1, 1]


def test_claim_conflict_names_exactly_the_taken_ids(
    make_store: Callable[..., DynamoDBStore], make_deduper: Callable[..., DynamoDBDeduper]
) -> None:
    store, deduper, m = make_store(), make_deduper(), Sum()
    assert store.absorbs(deduper)
    store.merge(unit("p", m, {"k": 1}, claims=["e1", "e3"]))
    deduper.claim(["e5"], 30)  # a pending claim held by someone else counts as taken too
    with pytest.raises(ClaimConflict) as info:
        store.merge(unit("p", m, {"k": 10}, claims=["e2", "e3", "e4", "e1", "e5"]))
    assert info.value.event_ids == {"e1", "e3", "e5"}
    store.merge(unit("p", m, {"k": 10}, claims=["e2", "e4"]))
    assert read(store, "p", m, "k") == [11]
    assert deduper.contains(["e1", "e2", "e3", "e4", "e5"]) == {"e1", "e2", "e3", "e4"}


def test_contribution_conflicts_in_transactional_mode(make_store: Callable[..., DynamoDBStore]) -> None:
    store, m = make_store(transactional=True), Sum()
    v1 = Contribution((StateKey("c1"),), 10, (1, 0))
    v2 = Contribution((StateKey("c2"),), 7, (2, 0))
    store.merge(Unit("p", m, {StateKey("c1"): 10}, contributions={"d": ContributionWrite(v1, None)}))
    # a writer that read nothing (stale) loses; nothing of its unit lands
    with pytest.raises(ContributionConflict) as info:
        store.merge(Unit("p", m, {StateKey("c1"): 10}, contributions={"d": ContributionWrite(v1, None)}))
    assert info.value.doc_ids == {"d"}
    # one that read v1 moves the value
    stored = store.get_contributions("p", ["d"], m)["d"]
    assert stored == v1
    store.merge(
        Unit("p", m, {StateKey("c1"): -10, StateKey("c2"): 7}, contributions={"d": ContributionWrite(v2, stored)})
    )
    assert read(store, "p", m, "c1", "c2") == [0, 7]
    with pytest.raises(ContributionConflict):
        store.merge(Unit("p", m, {StateKey("c2"): 1}, contributions={"d": ContributionWrite(v2, v1)}))
    assert read(store, "p", m, "c2") == [7]


def test_absorbs_only_a_dynamodb_deduper_on_the_same_database(
    make_store: Callable[..., DynamoDBStore],
    make_deduper: Callable[..., DynamoDBDeduper],
    endpoint: dict[str, Any],
    tables: tuple[str, str],
) -> None:
    assert not make_store().absorbs(MemoryDeduper())
    off = make_store(transactional=False)
    assert not off.absorbs(make_deduper())
    assert not off.transactional
    elsewhere = DynamoDBDeduper(tables[1], endpoint_url=endpoint["endpoint_url"], region="eu-west-1")
    auto = make_store()
    assert not auto.absorbs(elsewhere)
    assert not auto.transactional
    elsewhere.close()
    assert auto.absorbs(make_deduper())
    assert auto.transactional
    same_table = DynamoDBDeduper(tables[0], **endpoint)
    with pytest.raises(ConfigError, match="table of its own"):
        make_store().absorbs(same_table)
    same_table.close()


def test_claims_without_an_absorbed_deduper_are_refused(make_store: Callable[..., DynamoDBStore]) -> None:
    with pytest.raises(StoreError, match="absorbed no deduper"):
        make_store().merge(unit("p", Sum(), {"k": 1}, claims=["e"]))


def test_pipeline_names_cannot_escape_their_key_space(make_store: Callable[..., DynamoDBStore]) -> None:
    store, m = make_store(), Sum()
    store.merge(unit("p", m, {"|meta": 1, "~doc#x": 2}))  # entities may hold anything
    assert store.list_meta("p") == {}
    assert read(store, "p", m, "|meta", "~doc#x") == [1, 2]
    with pytest.raises(ConfigError, match="may not"):
        store.merge(unit("a#b", m, {"k": 1}))


def test_a_missing_table_says_how_to_create_it(endpoint: dict[str, Any], unique_name: Callable[[str], str]) -> None:
    store = DynamoDBStore(unique_name("nope"), **endpoint)
    with pytest.raises(StoreError, match="create-tables"):
        store.get_many("p", [StateKey("k")], Sum())
    store.close()


def test_connection_failures_are_transient() -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = DynamoDBStore("t", endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1")
    with pytest.raises(TransientError) as info:
        store.merge(unit("p", Sum(), {"k": 1}))
    assert info.value.__cause__ is not None
    store.close()


def test_no_region_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ConfigError) as info:
        DynamoDBStore("t")
    assert info.value.option == "region"


# --------------------------------------------------------------------------- crashes


class _CrashingStore(DynamoDBStore):
    """Dies (murmur.testing.Crash) inside merge: before writing, or after the unit is durable."""

    crash: str | None = None

    def merge(self, unit: Unit) -> None:
        from murmur.testing import Crash

        if self.crash == "before":
            self.crash = None
            raise Crash("worker killed before the store wrote anything")
        super().merge(unit)
        if self.crash == "after":
            self.crash = None
            raise Crash("worker killed after the store wrote, before the ack")


class FakeClock:
    """Epoch seconds that move only when told to."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _apply(store: DynamoDBStore, deduper: DynamoDBDeduper, event_id: str, delta: int, lease: float) -> str:
    """What the runtime does for one record (SPEC §4): claim, merge, commit — or claims in the unit."""
    m = Sum()
    if store.absorbs(deduper):
        try:
            store.merge(unit("p", m, {"k": delta}, claims=[event_id]))
        except ClaimConflict:
            return "duplicate"
        return "applied"
    status = deduper.claim([event_id], lease)[event_id]
    if status is not ClaimStatus.GRANTED:
        return str(status.value)
    store.merge(unit("p", m, {"k": delta}))
    deduper.commit([event_id])
    return "applied"


def test_worker_killed_between_claim_and_apply_loses_nothing_at_least_once(
    endpoint: dict[str, Any], tables: tuple[str, str], make_deduper: Callable[..., DynamoDBDeduper]
) -> None:
    from murmur.testing import Crash

    # Every worker reads one injected clock, so the lease expires when the test says, however slow
    # the machine is (a 0.5 s wall-clock lease raced a loaded machine).
    clock = FakeClock(time.time())
    store = _CrashingStore(tables[0], transactional=False, **endpoint)
    deduper = make_deduper(clock=clock)
    store.crash = "before"
    with pytest.raises(Crash):
        _apply(store, deduper, "e1", 5, lease=30)  # claimed, never applied, never released
    clock.advance(29)
    assert _apply(store, make_deduper(clock=clock), "e1", 5, lease=30) == "busy"  # the dead worker's lease holds
    clock.advance(2)
    assert _apply(store, make_deduper(clock=clock), "e1", 5, lease=30) == "applied"  # ... and has run out
    assert _apply(store, deduper, "e1", 5, lease=30) == "duplicate"
    assert store.get_many("p", [StateKey("k")], Sum()) == [5]
    store.close()


def test_worker_killed_around_the_transaction_counts_once(
    endpoint: dict[str, Any], tables: tuple[str, str], make_deduper: Callable[..., DynamoDBDeduper]
) -> None:
    from murmur.testing import Crash

    store = _CrashingStore(tables[0], **endpoint)
    deduper = make_deduper()
    store.crash = "before"
    with pytest.raises(Crash):
        _apply(store, deduper, "e1", 5, lease=30)
    store.crash = "after"  # the redelivery commits, then the worker dies before acking
    with pytest.raises(Crash):
        _apply(store, deduper, "e1", 5, lease=30)
    assert _apply(store, deduper, "e1", 5, lease=30) == "duplicate"  # and the next redelivery is a duplicate
    assert store.get_many("p", [StateKey("k")], Sum()) == [5]
    store.close()


@MODES
def test_numbers_stay_exact_to_38_digits_and_more_is_refused_naming_the_limit(
    make_store: Callable[..., DynamoDBStore], transactional: bool
) -> None:
    store, m = make_store(transactional=transactional), Sum()
    store.merge(unit("x", m, {"a": 10**30 + 1, "b": 2**64 + 1}))
    store.merge(unit("x", m, {"a": 10**30 + 1, "b": -1}))
    assert read(store, "x", m, "a", "b") == [2 * 10**30 + 2, 2**64]
    with pytest.raises(FieldError, match="more than the 38 significant digits a DynamoDB number keeps exactly"):
        store.merge(unit("x", m, {"a": 1, "c": 2**128}))
    assert read(store, "x", m, "a", "c") == [2 * 10**30 + 2, None]  # nothing of the refused unit was written
