"""Bootstrap then live, through the core runtimes (``murmur.bootstrap.run``, ``murmur.live.run``),
on the real MongoDB-protocol server: the totals must equal a fresh recount of the collection."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from conftest import Coll
from mongo_helpers import sums
from murmur import HandoffToken, Pipeline, Record, RunStatus, SourceError, StateKey, Store, Sum, bootstrap, live
from murmur.adapters.sqlite import SqliteStore
from murmur.testing import MemoryStore

from murmur_mongo import MongoChangeSource, MongoSnapshotSource

PIPE = Pipeline("orders", Sum(), key="customer", value="amount")
CUSTOMERS = [f"c{i}" for i in range(13)]


def totals(store: Store, keys: list[str] | None = None) -> dict[str, int]:
    keys = keys or CUSTOMERS
    got = store.get_many(PIPE.name, [StateKey(k) for k in keys], Sum())
    return {k: v for k, v in zip(keys, got, strict=True) if v}


def recount(coll: Coll) -> dict[str, int]:
    return {k: v for k, v in sums(coll.handle.find()).items() if v}


def seed(coll: Coll, n: int) -> None:
    coll.handle.insert_many([{"_id": i, "customer": CUSTOMERS[i % 13], "amount": i % 97} for i in range(n)])


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "state.db")
    yield store
    store.close()


class Spy:
    """Wraps the snapshot source to log the runtime's calls and act between them (our protocol, not pymongo)."""

    def __init__(self, inner: MongoSnapshotSource, *, after_capture: Any = None, after_batch: Any = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.default_mode: Literal["append", "changelog"] = inner.default_mode
        self.log: list[str] = []
        self.after_capture = after_capture
        self.after_batch = after_batch
        self.fail_after_batches: int | None = None
        self.batches = 0

    def capture_handoff(self) -> HandoffToken:
        self.log.append("capture")
        token = self.inner.capture_handoff()
        if self.after_capture is not None:
            self.after_capture()
        return token

    def segments(self, count: int) -> Any:
        self.log.append("segments")
        return self.inner.segments(count)

    def estimated_total(self, segment: Any | None = None) -> int | None:
        return self.inner.estimated_total(segment)

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        self.log.append("scan")
        for batch in self.inner.scan(segment, after):
            self.log.append(f"read {len(batch)}")
            if self.fail_after_batches is not None and self.batches >= self.fail_after_batches:
                raise SourceError("mongo: connection reset while reading (injected)")
            self.batches += 1
            yield batch
            if self.after_batch is not None:
                self.after_batch()

    def close(self) -> None:
        self.inner.close()


def test_10000_documents_bootstrap_to_exact_per_key_sums(coll: Coll, sqlite_store: SqliteStore) -> None:
    seed(coll, 10_000)
    status = RunStatus(PIPE.name, "bootstrap")
    with MongoSnapshotSource(**coll.options) as src:
        token = bootstrap.run(PIPE, src, sqlite_store, status=status)
    assert token.source == "mongo"
    assert token.token["namespace"] == coll.namespace
    assert totals(sqlite_store) == recount(coll)
    assert (status.applied, status.dead_letters, status.total) == (10_000, 0, 10_000)


def test_the_token_is_captured_before_the_first_document_is_read(coll: Coll) -> None:
    seed(coll, 300)
    store = MemoryStore()

    def write_after_capture() -> None:  # lands after the token, before the scan
        coll.handle.insert_one({"_id": 10_000, "customer": "c1", "amount": 1000})
        coll.handle.update_one({"_id": 5}, {"$set": {"amount": 500}})

    spy = Spy(MongoSnapshotSource(**coll.options, batch_size=100), after_capture=write_after_capture)
    with spy.inner:
        token = bootstrap.run(PIPE, spy, store)
    assert spy.log[0] == "capture"
    assert spy.log.index("capture") < spy.log.index("scan")
    # both writes came after the token: the change stream from it has them (and nothing else)
    with MongoChangeSource(**coll.options) as changes:
        changes.start(token, None)
        seen: list[Record] = []
        while len(seen) < 2:
            seen.extend(changes.poll(10, 0.5))
    assert [r.value["_id"] for r in seen] == [10_000, 5]
    assert totals(store) == recount(coll)  # the scan saw them too: changelog mode counts them once


@pytest.mark.parametrize("segments", [1, 4])
def test_an_interrupted_scan_resumes_to_exact_totals(coll: Coll, sqlite_store: SqliteStore, segments: int) -> None:
    seed(coll, 4000)
    spy = Spy(MongoSnapshotSource(**coll.options, batch_size=250))
    spy.fail_after_batches = 5
    with spy.inner, pytest.raises(SourceError, match="injected"):
        bootstrap.run(PIPE, spy, sqlite_store, segments=segments)
    partial = totals(sqlite_store)
    assert partial != recount(coll)
    first_token = sqlite_store.read_meta(PIPE.name, "handoff")
    status = RunStatus(PIPE.name, "bootstrap")
    with MongoSnapshotSource(**coll.options, batch_size=250) as src:
        token = bootstrap.run(PIPE, src, sqlite_store, checkpoints="resume", segments=segments, status=status)
    assert totals(sqlite_store) == recount(coll)
    assert status.resumed
    assert status.applied < 4000  # it continued after the checkpoints, not from the start
    assert sqlite_store.read_meta(PIPE.name, "handoff") == first_token
    assert token.token is not None


def test_four_segments_in_one_run(coll: Coll) -> None:
    seed(coll, 5000)
    store = MemoryStore()
    status = RunStatus(PIPE.name, "bootstrap")
    with MongoSnapshotSource(**coll.options, batch_size=200) as src:
        bootstrap.run(PIPE, src, store, segments=4, status=status)
    assert totals(store) == recount(coll)
    assert status.applied == 5000
    assert len(status.segments) == 4
    assert all(seg.done > 0 for seg in status.segments.values())


def test_four_segments_as_separate_runs_share_one_plan(coll: Coll, sqlite_store: SqliteStore) -> None:
    seed(coll, 3000)
    applied = 0
    for index in (2, 0, 3, 1):  # in any order, each with its own source, as separate processes would
        status = RunStatus(PIPE.name, "bootstrap")
        with MongoSnapshotSource(**coll.options, batch_size=200) as src:
            bootstrap.run(PIPE, src, sqlite_store, segments=4, segment=index, checkpoints="resume", status=status)
        applied += status.applied
    assert applied == 3000
    assert totals(sqlite_store) == recount(coll)


class Writer:
    """Inserts, updates (amounts and customers) and deletes documents, deterministically."""

    def __init__(self, coll: Coll, first_new_id: int, seed: int) -> None:
        self.coll = coll
        self.next_id = first_new_id
        self.rng = random.Random(seed)
        self.writes = 0
        self.lock = threading.Lock()  # segments scan (and so write) concurrently

    def some(self, n: int = 6) -> None:
        with self.lock:
            self._some(n)

    def _some(self, n: int) -> None:
        h = self.coll.handle
        for _ in range(n):
            roll = self.rng.random()
            target = self.rng.randrange(self.next_id)
            if roll < 0.35:
                h.insert_one(
                    {"_id": self.next_id, "customer": self.rng.choice(CUSTOMERS), "amount": self.rng.randrange(100)}
                )
                self.next_id += 1
            elif roll < 0.6:
                h.update_one({"_id": target}, {"$inc": {"amount": self.rng.randrange(1, 50)}})
            elif roll < 0.8:
                h.update_one({"_id": target}, {"$set": {"customer": self.rng.choice(CUSTOMERS)}})
            elif roll < 0.9:
                h.replace_one({"_id": target}, {"customer": self.rng.choice(CUSTOMERS), "amount": 1})
            else:
                h.delete_one({"_id": target})
            self.writes += 1


@pytest.mark.parametrize("dedup", [False, True], ids=["changelog", "changelog+dedup"])
def test_live_from_the_token_makes_totals_equal_a_recount(coll: Coll, tmp_path: Path, dedup: bool) -> None:
    seed(coll, 3000)
    store = SqliteStore(tmp_path / "state.db")
    deduper = store.deduper() if dedup else None
    writer = Writer(coll, 3000, seed=7)
    try:
        # writes while the scan runs: before, inside and after the part already read
        spy = Spy(MongoSnapshotSource(**coll.options, batch_size=300), after_batch=writer.some)
        with spy.inner:
            token = bootstrap.run(PIPE, spy, store, dedup=deduper, segments=2)
        assert writer.writes >= 50
        writer.some(40)  # and after the bootstrap
        status = live.run(PIPE, MongoChangeSource(**coll.options), store, dedup=deduper, handoff=token, until_idle=1.5)
        assert status.dead_letters == 0
        assert totals(store) == recount(coll)

        # a restart continues from the checkpointed resume token (no handoff needed)
        writer.some(30)
        status = live.run(PIPE, MongoChangeSource(**coll.options), store, dedup=deduper, until_idle=1.5)
        assert 0 < status.records <= 30
        assert totals(store) == recount(coll)
    finally:
        if deduper is not None:
            deduper.close()
        store.close()


def test_replaying_from_the_handoff_again_changes_nothing(coll: Coll, sqlite_store: SqliteStore) -> None:
    seed(coll, 500)
    writer = Writer(coll, 500, seed=11)
    spy = Spy(MongoSnapshotSource(**coll.options, batch_size=100), after_batch=writer.some)
    with spy.inner:
        token = bootstrap.run(PIPE, spy, sqlite_store)
    live.run(PIPE, MongoChangeSource(**coll.options), sqlite_store, handoff=token, until_idle=1.0)
    assert totals(sqlite_store) == recount(coll)
    # a second live pipeline state, replayed from the same handoff over the finished state
    sqlite_store.delete_meta(PIPE.name)
    live.run(PIPE, MongoChangeSource(**coll.options), sqlite_store, handoff=token, until_idle=1.0)
    assert totals(sqlite_store) == recount(coll)


def test_a_reinserted_document_counts_with_dedup(coll: Coll, tmp_path: Path) -> None:
    seed(coll, 20)
    store = SqliteStore(tmp_path / "state.db")
    deduper = store.deduper()
    try:
        with MongoSnapshotSource(**coll.options) as src:
            token = bootstrap.run(PIPE, src, store, dedup=deduper)
        coll.handle.delete_one({"_id": 3})
        coll.handle.insert_one({"_id": 3, "customer": "c3", "amount": 77})
        live.run(PIPE, MongoChangeSource(**coll.options), store, dedup=deduper, handoff=token, until_idle=1.0)
        assert totals(store) == recount(coll)
    finally:
        deduper.close()
        store.close()


def test_a_reinserted_document_counts_without_dedup(coll: Coll, sqlite_store: SqliteStore) -> None:
    seed(coll, 20)
    with MongoSnapshotSource(**coll.options) as src:
        token = bootstrap.run(PIPE, src, sqlite_store)
    coll.handle.delete_one({"_id": 3})
    coll.handle.insert_one({"_id": 3, "customer": "c3", "amount": 77})
    live.run(PIPE, MongoChangeSource(**coll.options), sqlite_store, handoff=token, until_idle=1.0)
    assert totals(sqlite_store) == recount(coll)
