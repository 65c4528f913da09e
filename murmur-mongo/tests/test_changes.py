"""The ``mongo-changes`` live source against the real MongoDB-protocol server (nx-27017)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bson import ObjectId
from conftest import Coll
from mongo_helpers import TcpProxy, flatten
from murmur import Change, HandoffError, HandoffToken, LiveSource, Record, document_event_id
from murmur.testing import CheckpointShelf, LiveSourceContract

from murmur_mongo import MongoChangeSource, MongoSnapshotSource

PATIENCE = 20.0


def take(src: MongoChangeSource, n: int, *, patience: float = PATIENCE) -> list[Record]:
    """Poll until ``n`` records arrived (fails after ``patience`` seconds)."""
    got: list[Record] = []
    deadline = time.monotonic() + patience
    while len(got) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"got {len(got)} of {n} records: {[r.event_id for r in got]}")
        got.extend(src.poll(n - len(got), 0.2))
    return got


def quiet(src: MongoChangeSource, seconds: float = 0.6) -> list[Record]:
    """Everything that arrives within ``seconds`` (to show that nothing more does)."""
    got: list[Record] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got.extend(src.poll(100, 0.1))
    return got


def capture(coll: Coll) -> HandoffToken:
    with MongoSnapshotSource(**coll.options) as snap:
        return snap.capture_handoff()


@pytest.fixture
def live(coll: Coll) -> Iterator[Callable[..., MongoChangeSource]]:
    made: list[MongoChangeSource] = []

    def make(**options: Any) -> MongoChangeSource:
        src = MongoChangeSource(**{**coll.options, **options})
        made.append(src)
        return src

    yield make
    for src in made:
        src.close()


# ------------------------------------------------------------------ the core's contract


class TestMongoChangesContract(LiveSourceContract):
    """A change stream returns its position from ``checkpoint()``: the shelf keeps it as the runtime would."""

    @pytest.fixture
    def make_source(self, coll: Coll) -> Iterator[Callable[[], LiveSource]]:
        shelf = CheckpointShelf(handoff=capture(coll))
        yield shelf.wrap(lambda: MongoChangeSource(**coll.options))
        shelf.close_all()

    @pytest.fixture
    def produce(self, coll: Coll) -> Callable[[list[dict[str, Any]]], None]:
        def produce(values: list[dict[str, Any]]) -> None:
            coll.handle.insert_many([dict(v) for v in values])

        return produce


# ------------------------------------------------------------------ handoff


def test_starts_after_the_handoff_and_sees_exactly_the_later_changes(
    coll: Coll, live: Callable[..., MongoChangeSource]
) -> None:
    oid = ObjectId()
    coll.handle.insert_many([{"_id": 1, "amount": 10}, {"_id": "s", "amount": 20}, {"_id": oid, "amount": 30}])
    token = capture(coll)
    coll.handle.insert_one({"_id": 2, "amount": 5, "ref": {"other": oid}})
    coll.handle.update_one({"_id": 1}, {"$set": {"amount": 11}})
    coll.handle.replace_one({"_id": oid}, {"amount": 31})
    coll.handle.delete_one({"_id": "s"})
    coll.handle.delete_one({"_id": 2})
    src = live()
    src.start(token, None)
    got = take(src, 5)
    assert quiet(src) == []
    ns = coll.namespace
    doc = {v: document_event_id(ns, v) for v in (1, 2, "s", oid)}
    assert [(r.change.doc_id if r.change else None, r.change.deleted if r.change else None) for r in got] == [
        (doc[2], False),
        (doc[1], False),
        (doc[oid], False),
        (doc["s"], True),
        (doc[2], True),
    ]
    insert, update, replace = got[0], got[1], got[2]
    assert insert.event_id == doc[2]  # the same id a scan gives: an insert seen by both counts once
    assert insert.value == {"_id": 2, "amount": 5, "ref": {"other": oid}}  # nx's ObjectId encoding undone
    assert update.value == {"_id": 1, "amount": 11}
    assert replace.value == {"_id": oid, "amount": 31}
    for r in got[1:]:
        assert r.change is not None
        assert str(r.event_id).startswith(f"{r.change.doc_id}@")
    assert len({r.event_id for r in got}) == 5
    for r in got:
        assert r.partition_key == (r.change.doc_id if r.change else None)
        assert r.event_time is not None
        assert r.event_time.tzinfo is not None


def test_change_stream_doc_ids_equal_the_scan_doc_ids(coll: Coll, live: Callable[..., MongoChangeSource]) -> None:
    # nx-27017 sends documentKey._id of an int id as a string; the doc ids must still agree
    ids: list[Any] = [7, "7x", ObjectId(), -2, 2**40]
    token = capture(coll)
    coll.handle.insert_many([{"_id": i, "v": 1} for i in ids])
    for i in ids:
        coll.handle.update_one({"_id": i}, {"$set": {"v": 2}})
    for i in ids:
        coll.handle.delete_one({"_id": i})
    coll.handle.insert_many([{"_id": i, "v": 3} for i in ids])
    with MongoSnapshotSource(**coll.options) as snap:
        scanned = {r.change.doc_id for r in flatten(snap.scan(None, None)) if r.change}
    src = live()
    src.start(token, None)
    got = take(src, 4 * len(ids))
    by_kind: dict[str, set[str]] = {}
    for r in got:
        assert r.change is not None
        kind = "delete" if r.change.deleted else ("insert" if "@" not in (r.event_id or "") else "update")
        by_kind.setdefault(kind, set()).add(r.change.doc_id)
    assert by_kind["insert"] == by_kind["update"] == by_kind["delete"] == scanned


def test_handoff_of_another_collection_is_refused(coll: Coll, make_coll: Callable[[], Coll]) -> None:
    other = make_coll()
    token = capture(other)
    with MongoChangeSource(**coll.options) as src, pytest.raises(HandoffError) as info:
        src.start(token, None)
    assert other.namespace in str(info.value)
    assert coll.namespace in str(info.value)


def test_handoff_of_another_source_is_refused(coll: Coll) -> None:
    token = HandoffToken("jsonl", None, capture(coll).captured_at)
    with MongoChangeSource(**coll.options) as src, pytest.raises(HandoffError, match="'jsonl'"):
        src.start(token, None)


def test_handoff_without_a_token_is_refused(coll: Coll) -> None:
    with MongoSnapshotSource(**coll.options, no_handoff=True) as snap:
        token = snap.capture_handoff()
    with MongoChangeSource(**coll.options) as src, pytest.raises(HandoffError, match="no-handoff"):
        src.start(token, None)


def test_position_captured_by_the_live_source_is_used_first(coll: Coll, live: Callable[..., MongoChangeSource]) -> None:
    # a bootstrap run with --handoff-to mongo-changes records the live source's own position
    position = live().capture_position()
    coll.handle.insert_one({"_id": 1})
    token = capture(coll).with_live("mongo-changes", position)
    coll.handle.insert_one({"_id": 2})
    src = live()
    src.start(token, None)
    assert [r.value["_id"] for r in take(src, 2)] == [1, 2]


def test_without_handoff_or_checkpoint_it_starts_now(coll: Coll, live: Callable[..., MongoChangeSource]) -> None:
    coll.handle.insert_one({"_id": "before"})
    src = live()
    src.start(None, None)
    coll.handle.insert_one({"_id": "after"})
    assert [r.value["_id"] for r in take(src, 1)] == ["after"]
    assert quiet(src) == []


# ------------------------------------------------------------------ acks and checkpoints


def test_checkpoint_is_the_token_of_the_contiguous_acked_prefix(
    coll: Coll, live: Callable[..., MongoChangeSource]
) -> None:
    token = capture(coll)
    src = live()
    src.start(token, None)
    assert src.checkpoint() == token.token  # nothing acked: the start position
    coll.handle.insert_many([{"_id": i} for i in range(6)])
    got = take(src, 6)
    for i in (0, 1, 3, 4, 5):  # record 2 is not acked
        got[i].ack()
    checkpoint = src.checkpoint()
    assert checkpoint == {"resume_token": got[1].position, "namespace": coll.namespace}
    got[2].ack()
    assert src.checkpoint() == {"resume_token": got[5].position, "namespace": coll.namespace}


def test_restart_from_the_checkpoint_continues_after_it(coll: Coll, live: Callable[..., MongoChangeSource]) -> None:
    token = capture(coll)
    coll.handle.insert_many([{"_id": i} for i in range(5)])
    first = live()
    first.start(token, None)
    got = take(first, 5)
    for r in got[:3]:
        r.ack()
    checkpoint = first.checkpoint()
    first.close()
    coll.handle.insert_one({"_id": 5})
    second = live()
    second.start(token, checkpoint)  # the checkpoint wins over the handoff
    assert [r.value["_id"] for r in take(second, 3)] == [3, 4, 5]
    assert quiet(second) == []


def test_checkpoint_of_another_collection_is_refused(coll: Coll, make_coll: Callable[[], Coll]) -> None:
    other = make_coll()
    with MongoChangeSource(**other.options) as src:
        src.start(capture(other), None)
        checkpoint = src.checkpoint()
    with MongoChangeSource(**coll.options) as src, pytest.raises(HandoffError, match="stored checkpoint"):
        src.start(None, checkpoint)


def test_stats_count_events(coll: Coll, live: Callable[..., MongoChangeSource]) -> None:
    token = capture(coll)
    coll.handle.insert_many([{"_id": i} for i in range(3)])
    coll.handle.delete_one({"_id": 0})
    src = live()
    src.start(token, None)
    got = take(src, 4)
    stats = src.stats()
    assert (stats["events"], stats["insert"], stats["delete"], stats["pending"]) == (4, 3, 1, 4)
    for r in got:
        r.ack()
    assert src.stats()["pending"] == 0
    assert "lag_seconds" in stats


# ------------------------------------------------------------------ filter


def test_filter_counts_documents_that_stop_matching_as_deleted(
    coll: Coll, live: Callable[..., MongoChangeSource]
) -> None:
    token = capture(coll)
    coll.handle.insert_many([{"_id": 1, "status": "paid"}, {"_id": 2, "status": "open"}])
    coll.handle.update_one({"_id": 1}, {"$set": {"status": "refunded"}})  # leaves the filter
    coll.handle.update_one({"_id": 2}, {"$set": {"status": "paid"}})  # enters it
    coll.handle.insert_one({"_id": 3, "status": "open"})  # never matches: nothing to apply
    coll.handle.update_one({"_id": 2}, {"$set": {"note": "x"}})
    src = live(filter='{"status": "paid"}')
    src.start(token, None)
    got = take(src, 4)
    assert quiet(src) == []
    ns = coll.namespace

    def doc(i: int) -> str:
        return document_event_id(ns, i)

    # the lookup sees the documents as they are now (as fullDocument=updateLookup does)
    # (the inserts of 1 and 3 are skipped: 1 does not match any more, 3 never did)
    assert [(r.change.doc_id, r.change.deleted) for r in got if r.change] == [
        (doc(2), False),
        (doc(1), True),
        (doc(2), False),
        (doc(2), False),
    ]
    assert all(isinstance(r.change, Change) for r in got)
    for r in got:
        r.ack()
    checkpoint = src.checkpoint()
    assert checkpoint is not None
    src.close()
    # the skipped insert of 3 is inside the checkpoint: a restart sees nothing again
    again = live(filter='{"status": "paid"}')
    again.start(None, checkpoint)
    assert quiet(again) == []


# ------------------------------------------------------------------ outages


@pytest.fixture
def proxy(mongo_uri: str) -> Iterator[TcpProxy]:
    host, port = mongo_uri.split("//", 1)[1].split("/", 1)[0].split(":")
    p = TcpProxy(host, int(port))
    yield p
    p.close()


def test_a_lost_connection_pauses_reading_and_resumes_after_the_last_event(coll: Coll, proxy: TcpProxy) -> None:
    uri = f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true&serverSelectionTimeoutMS=500"
    token = capture(coll)
    coll.handle.insert_many([{"_id": i} for i in range(5)])
    with MongoChangeSource(**{**coll.options, "uri": uri}) as src:
        src.start(token, None)
        first = take(src, 5)
        proxy.cut()
        coll.handle.insert_many([{"_id": i} for i in range(5, 8)])  # written during the outage
        for _ in range(3):
            assert src.poll(10, 0.2) == []  # pauses; does not fail the run
        assert src.stats()["reconnects"] >= 1
        proxy.heal()
        rest = take(src, 3)
        assert quiet(src) == []
    assert [r.value["_id"] for r in first + rest] == list(range(8))
