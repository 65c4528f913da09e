"""The sqlite store and deduper keep the store/deduper contracts, and what is special to SQLite."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from murmur import ClaimStatus, Contribution, ContributionConflict, ContributionWrite, StateKey, StoreError, Unit
from murmur.adapters.sqlite import SqliteDeduper, SqliteStore
from murmur.monoids import Count, Max, SetUnion, Sum, parse_monoid
from murmur.testing import DeduperContract, MemoryStore, StoreContract


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteStore]:
        s = SqliteStore(tmp_path / "state.db")
        yield s
        s.close()

    @pytest.fixture
    def absorbed_deduper(self, store: SqliteStore) -> Iterator[SqliteDeduper]:
        d = store.deduper()
        yield d
        d.close()


class TestSqliteDeduper(DeduperContract):
    @pytest.fixture
    def deduper(self, tmp_path: Path) -> Iterator[SqliteDeduper]:
        d = SqliteDeduper(tmp_path / "dedup.db")
        yield d
        d.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "murmur.db"


def test_state_survives_reopening_the_file(db: Path) -> None:
    m = Sum()
    with_store = SqliteStore(db)
    with_store.merge(Unit("p", m, {StateKey("a"): 5}, meta={"segment/0/1": {"position": 3}}))
    with_store.close()
    again = SqliteStore(db)
    assert again.get_many("p", [StateKey("a")], m) == [5]
    assert again.read_meta("p", "segment/0/1") == {"position": 3}
    again.close()


def test_int_sums_are_stored_as_native_integers(db: Path) -> None:
    store = SqliteStore(db)
    store.merge(Unit("p", Sum(), {StateKey("a"): 5, StateKey("b"): 1.5}))
    store.merge(Unit("p", Sum(), {StateKey("a"): 2, StateKey("b"): 1}))
    store.close()
    rows = dict(sqlite3.connect(db).execute("SELECT entity, v FROM murmur_state").fetchall())
    assert rows == {"a": 7, "b": 2.5}


def test_sums_beyond_sqlite_integers_stay_exact(db: Path) -> None:
    store = SqliteStore(db)
    m = Sum()
    for _ in range(5):
        store.merge(Unit("p", m, {StateKey("big"): 2**62}))
    store.merge(Unit("p", m, {StateKey("big"): 2**70, StateKey("small"): 1}))
    store.merge(Unit("p", m, {StateKey("big"): -(2**70), StateKey("small"): 1}))
    assert store.get_many("p", [StateKey("big"), StateKey("small")], m) == [5 * 2**62, 2]
    store.close()


def test_decimal_then_int_deltas_mix_exactly(db: Path) -> None:
    store = SqliteStore(db)
    m = Sum()
    store.merge(Unit("p", m, {StateKey("k"): Decimal("0.1")}))
    store.merge(Unit("p", m, {StateKey("k"): 2}))
    assert store.get_many("p", [StateKey("k")], m) == [Decimal("2.1")]
    store.close()


def test_non_additive_monoids_round_trip_through_encode(db: Path) -> None:
    store = SqliteStore(db)
    s, hi = SetUnion(), Max()
    store.merge(Unit("set", s, {StateKey("k"): frozenset({"a"})}))
    store.merge(Unit("set", s, {StateKey("k"): frozenset({"b"})}))
    store.merge(Unit("max", hi, {StateKey("k"): 3}))
    store.merge(Unit("max", hi, {StateKey("k"): 2}))
    assert store.get_many("set", [StateKey("k")], s) == [frozenset({"a", "b"})]
    assert store.get_many("max", [StateKey("k")], hi) == [3]
    store.close()


def test_expired_key_merges_as_new_and_is_purged_on_open(db: Path) -> None:
    now = [1_000_000.0]
    store = SqliteStore(db, clock=lambda: now[0])
    m = Count()
    key = StateKey("k", 7)
    store.merge(Unit("p", m, {key: 3}, expiry={key: 1_000_100}))
    now[0] = 1_000_200.0
    assert store.get_many("p", [key], m) == [None]
    store.merge(Unit("p", m, {key: 1}, expiry={key: 1_000_300}))
    assert store.get_many("p", [key], m) == [1]
    now[0] = 1_000_400.0
    store.close()
    reopened = SqliteStore(db, clock=lambda: now[0])
    reopened.close()
    assert sqlite3.connect(db).execute("SELECT count(*) FROM murmur_state").fetchone() == (0,)


def test_stale_contribution_raises_and_writes_nothing(db: Path) -> None:
    store = SqliteStore(db)
    m = Sum()
    first = Contribution((StateKey("c1"),), 10, (1, 0))
    store.merge(Unit("p", m, {StateKey("c1"): 10}, contributions={"d": ContributionWrite(first, None)}))
    second = Contribution((StateKey("c1"),), 15, (2, 0))
    with pytest.raises(ContributionConflict) as info:
        store.merge(Unit("p", m, {StateKey("c1"): 5}, contributions={"d": ContributionWrite(second, None)}))
    assert info.value.doc_ids == {"d"}
    assert store.get_many("p", [StateKey("c1")], m) == [10]
    store.merge(Unit("p", m, {StateKey("c1"): 5}, contributions={"d": ContributionWrite(second, first)}))
    assert store.get_many("p", [StateKey("c1")], m) == [15]
    assert store.get_contributions("p", ["d"], m) == {"d": second}
    store.close()


def test_store_absorbs_only_a_deduper_on_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = SqliteStore(tmp_path / "a.db")
    same = SqliteDeduper("a.db")
    other = SqliteDeduper(tmp_path / "b.db")
    assert store.absorbs(same)
    assert not store.absorbs(other)
    assert not store.absorbs(MemoryStore().deduper())
    for x in (store, same, other):
        x.close()


def test_corrupt_value_is_an_error_naming_the_key(db: Path) -> None:
    store = SqliteStore(db)
    store.merge(Unit("p", SetUnion(), {StateKey("k"): frozenset({"a"})}))
    conn = sqlite3.connect(db)
    conn.execute("UPDATE murmur_state SET v = x'00ff'")
    conn.commit()
    with pytest.raises(StoreError, match="k"):
        store.get_many("p", [StateKey("k")], SetUnion())
    store.close()


def test_locked_database_is_a_transient_error(db: Path) -> None:
    from murmur import TransientError

    store = SqliteStore(db, busy_timeout=0.05)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(TransientError, match="locked"):
            store.merge(Unit("p", Sum(), {StateKey("k"): 1}))
    finally:
        blocker.execute("ROLLBACK")
    store.merge(Unit("p", Sum(), {StateKey("k"): 1}))
    assert store.get_many("p", [StateKey("k")], Sum()) == [1]
    store.close()


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    from murmur import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        SqliteStore(tmp_path / "nope" / "x.db")


def _claim_in_process(path: str, event_id: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    d = SqliteDeduper(path)
    queue.put(d.claim([event_id], 30.0)[event_id].value)
    d.close()


def test_claims_have_one_winner_across_processes(db: Path) -> None:
    SqliteDeduper(db).close()
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_claim_in_process, args=(str(db), "e1", queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert results.count(ClaimStatus.GRANTED.value) == 1
    assert results.count(ClaimStatus.BUSY.value) == 3


def test_deduper_alone_with_a_memory_store(db: Path) -> None:
    dedup = SqliteDeduper(db)
    store = MemoryStore()
    assert not store.absorbs(dedup)
    assert dedup.claim(["x"], 30.0) == {"x": ClaimStatus.GRANTED}
    store.merge(Unit("p", Sum(), {StateKey("k"): 1}))
    dedup.commit(["x"])
    assert dedup.claim(["x"], 30.0) == {"x": ClaimStatus.DUPLICATE}
    dedup.close()


def test_monoid_spec_round_trip_for_tuple(db: Path) -> None:
    store = SqliteStore(db)
    m = parse_monoid("tuple:sum,count")
    store.merge(Unit("p", m, {StateKey("k"): (3, 1)}))
    store.merge(Unit("p", m, {StateKey("k"): (4, 1)}))
    assert store.get_many("p", [StateKey("k")], m) == [(7, 2)]
    store.close()


def test_many_batches_of_native_upserts_add_up(db: Path) -> None:
    store = SqliteStore(db, synchronous="normal")
    m = Sum()
    for _b in range(20):
        store.merge(Unit("p", m, {StateKey(f"k{i}"): 1 for i in range(1000)}))
    assert store.get_many("p", [StateKey("k0"), StateKey("k999")], m) == [20, 20]
    store.close()


@pytest.mark.parametrize(
    "deltas",
    [
        [2**62, 2**62],
        [2**62 - 1, 2**62 - 1, 2**62, 1],
        [-(2**62), -(2**62), -1],
        [10**30, 1, -(10**30)],
        [2**63 - 1, 1],
    ],
)
def test_integer_sums_stay_exact_across_the_64_bit_boundary(tmp_path: Path, deltas: list[int]) -> None:
    store = SqliteStore(tmp_path / "state.db")
    for delta in deltas:
        store.merge(Unit("p", Sum(), writes={StateKey("k"): delta}))
    (got,) = store.get_many("p", [StateKey("k")], Sum())
    assert got == sum(deltas) and type(got) is int
    store.close()


def test_a_float_sum_beyond_the_float_range_is_refused_loudly_not_stored_as_infinity(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    store.merge(Unit("p", Sum(), writes={StateKey("k"): 1.5e308}))
    with pytest.raises(StoreError, match="beyond the float range"):
        store.merge(Unit("p", Sum(), writes={StateKey("k"): 1.5e308}))
    assert store.get_many("p", [StateKey("k")], Sum()) == [1.5e308]
    store.close()
