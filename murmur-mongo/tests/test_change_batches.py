"""mongo-changes on the live runtime's batch path (``murmur.BatchLiveSource``), on the real
MongoDB-protocol server: each read of the change stream is one batch whose resume token rides
inside the unit of work that applies it (meta ``live/mongo-changes``), so a run killed at any
merge and restarted counts every change exactly once, even in append mode without a deduper."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import Coll
from murmur import Batch, BatchLiveSource, Count, HandoffToken, Pipeline, StateKey, bootstrap, live
from murmur._batch import live_batches
from murmur._checkpoint import live_name
from murmur._unit import Unit
from murmur.testing import MemoryStore

from murmur_mongo import MongoChangeSource, MongoSnapshotSource

CUSTOMERS = [f"c{i}" for i in range(7)]
# Append mode: a change applied twice would count twice, so only an exact resume passes.
INSERTS = Pipeline("inserts", Count(), key="customer", mode="append")
POSITION = live_name("mongo-changes")


class Killed(BaseException):
    """The process dies at a merge (injected: a BaseException, as the store cannot catch a kill)."""


class UnitLog(MemoryStore):
    """A MemoryStore that keeps each merged unit's meta, and can die just before or just after
    a merge is durable (our Store protocol, not pymongo)."""

    def __init__(self) -> None:
        super().__init__()
        self.metas: list[dict[str, Any]] = []
        self.kill_before: int | None = None  # die at this merge, before it is applied
        self.kill_after: int | None = None  # die at this merge, after it is applied
        self.units = 0  # merges of this pipeline so far (MemoryStore.merges counts only state writes)

    def merge(self, unit: Unit) -> None:
        if unit.pipeline == INSERTS.name and (unit.writes or unit.meta):
            self.units += 1
            if self.units == self.kill_before:
                raise Killed(f"killed before merge {self.units}")
        super().merge(unit)
        self.metas.append(copy.deepcopy(unit.meta))
        if unit.pipeline == INSERTS.name and self.units == self.kill_after:
            raise Killed(f"killed after merge {self.units}")


def counts(store: MemoryStore) -> dict[str, int]:
    got = store.get_many(INSERTS.name, [StateKey(c) for c in CUSTOMERS], Count())
    return {c: v for c, v in zip(CUSTOMERS, got, strict=True) if v}


def expected(coll: Coll) -> dict[str, int]:
    out: dict[str, int] = {}
    for doc in coll.handle.find():
        out[doc["customer"]] = out.get(doc["customer"], 0) + 1
    return out


def insert(coll: Coll, start: int, n: int) -> None:
    coll.handle.insert_many([{"_id": i, "customer": CUSTOMERS[i % 7]} for i in range(start, start + n)])


def handoff(coll: Coll, store: MemoryStore) -> HandoffToken:
    with MongoSnapshotSource(**coll.options) as src:
        return bootstrap.run(INSERTS, src, store)


def test_the_change_source_speaks_batches(coll: Coll) -> None:
    src = MongoChangeSource(**coll.options)
    try:
        assert isinstance(src, BatchLiveSource)
        assert live_batches(src) is src  # the runtime takes the batch path, not the per-record adapter
        src.start(None, None)
        assert src.poll_batch(0, 0) is None  # keep-alive
        insert(coll, 0, 5)
        got: list[Batch] = []
        while sum(b.size for b in got) < 5:
            batch = src.poll_batch(100, 5.0)
            if batch is not None:
                got.append(batch)
        records = [r for b in got for r in b.records()]
        assert [r.change.doc_id for r in records if r.change] == [f"{coll.namespace}/{i}" for i in range(5)]
        assert all(r.change is not None and r.change.op == "insert" for r in records)
        last = got[-1]
        assert last.end == {}
        assert last.checkpoint == {"resume_token": records[-1].position, "namespace": coll.namespace}
    finally:
        src.close()
    # the checkpoint has the shape start() reads back: a restart sees only later changes
    again = MongoChangeSource(**coll.options)
    try:
        again.start(None, last.checkpoint)
        insert(coll, 5, 1)
        more: list[Any] = []
        while not more:
            batch = again.poll_batch(100, 5.0)
            more = list(batch.records()) if batch is not None else []
        assert [r.change.doc_id for r in more if r.change] == [f"{coll.namespace}/5"]
    finally:
        again.close()


def test_the_resume_token_is_stored_in_the_unit_that_applies_the_changes(coll: Coll) -> None:
    store = UnitLog()
    token = handoff(coll, store)
    insert(coll, 0, 40)
    live.run(INSERTS, MongoChangeSource(**coll.options), store, handoff=token, until_idle=1.0, lanes=1)
    assert counts(store) == expected(coll)
    riding = [m[POSITION]["position"] for m in store.metas if POSITION in m]
    assert riding, f"no merged unit carried {POSITION}: {store.metas}"
    assert all(p["namespace"] == coll.namespace and "resume_token" in p for p in riding)
    assert store.read_meta(INSERTS.name, POSITION) is not None


@pytest.mark.parametrize("kill", ["before", "after"])
def test_a_run_killed_at_a_merge_and_restarted_counts_each_change_once(coll: Coll, kill: str) -> None:
    store = UnitLog()
    token = handoff(coll, store)
    insert(coll, 0, 30)
    live.run(INSERTS, MongoChangeSource(**coll.options), store, handoff=token, until_idle=1.0, lanes=1)
    assert counts(store) == expected(coll)

    insert(coll, 30, 50)
    setattr(store, f"kill_{kill}", store.units + 1)  # the next merge of these changes dies
    with pytest.raises(Killed):
        live.run(INSERTS, MongoChangeSource(**coll.options), store, until_idle=5.0, lanes=1)
    store.kill_before = store.kill_after = None
    # restarted from the stored resume token, no handoff and no deduper
    insert(coll, 80, 20)
    live.run(INSERTS, MongoChangeSource(**coll.options), store, until_idle=1.0, lanes=1)
    assert counts(store) == expected(coll)
    assert sum(counts(store).values()) == 100
