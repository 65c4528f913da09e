"""The ``mongo`` snapshot source against the real MongoDB-protocol server (nx-27017)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bson import Int64, ObjectId
from conftest import Coll
from mongo_helpers import TcpProxy, flatten
from murmur import Change, HandoffToken, Record, SourceError, document_event_id
from murmur.testing import SnapshotSourceContract

from murmur_mongo import MongoSnapshotSource, id_from_json


def _source(coll: Coll, **options: Any) -> MongoSnapshotSource:
    return MongoSnapshotSource(**coll.options, **options)


@pytest.fixture
def open_source(coll: Coll) -> Iterator[Callable[..., MongoSnapshotSource]]:
    made: list[MongoSnapshotSource] = []

    def make(**options: Any) -> MongoSnapshotSource:
        src = _source(coll, **options)
        made.append(src)
        return src

    yield make
    for src in made:
        src.close()


def _ids(records: list[Record]) -> list[Any]:
    return [r.value["_id"] for r in records]


class TestMongoSnapshotContract(SnapshotSourceContract):
    """The core's contract, on 60 documents read 7 at a time (so paging and resume are exercised)."""

    @pytest.fixture
    def expected(self) -> list[dict[str, Any]]:
        return [{"_id": i, "n": i, "customer": f"c{i % 3}"} for i in range(60)]

    @pytest.fixture
    def source(self, coll: Coll, expected: list[dict[str, Any]]) -> Iterator[MongoSnapshotSource]:
        coll.handle.insert_many([dict(d) for d in expected])
        src = _source(coll, batch_size=7)
        yield src
        src.close()


# ------------------------------------------------------------------ handoff


def test_handoff_token_names_the_collection_and_survives_the_handoff_file(coll: Coll, tmp_path: Any) -> None:
    coll.handle.insert_one({"_id": 1})
    with _source(coll) as src:
        token = src.capture_handoff()
    assert token.source == "mongo"
    assert token.token["namespace"] == coll.namespace
    assert isinstance(token.token["resume_token"], dict)
    token.write(tmp_path / "token.json")
    assert HandoffToken.read(tmp_path / "token.json").token == json.loads(json.dumps(token.token))


def test_no_handoff_gives_an_empty_token(coll: Coll) -> None:
    with _source(coll, no_handoff=True) as src:
        token = src.capture_handoff()
    assert token.source == "mongo"
    assert token.token is None


def test_unreachable_server_fails_the_capture_clearly() -> None:
    src = MongoSnapshotSource(
        uri="mongodb://bob:hunter2@127.0.0.1:9/?serverSelectionTimeoutMS=300&directConnection=true",
        database="shop",
        collection="orders",
    )
    with src, pytest.raises(SourceError) as info:  # a failed run (exit 1), not a handoff problem (2)
        src.capture_handoff()
    text = str(info.value)
    assert text.startswith("mongo: capturing the handoff token of shop.orders: cannot reach MongoDB at 127.0.0.1:9:")
    assert "after 0.3 s" in text
    assert "hunter2" not in text


# ------------------------------------------------------------------ scanning


def test_integer_ids_are_read_in_numeric_order_across_pages(coll: Coll, open_source: Callable[..., Any]) -> None:
    # nx-27017 sorts integer ids as text ("10" < "2") unless the query has an _id range
    coll.handle.insert_many([{"_id": i} for i in range(1, 26)])
    records = flatten(open_source(batch_size=4).scan(None, None))
    assert _ids(records) == list(range(1, 26))


def test_records_are_changelog_records_of_their_document(coll: Coll, open_source: Callable[..., Any]) -> None:
    oid = ObjectId()
    coll.handle.insert_many([{"_id": oid, "amount": 5}, {"_id": "k-1", "amount": 7}])
    src = open_source()
    assert src.default_mode == "changelog"
    records = flatten(src.scan(None, None))
    by_id = {r.value["_id"]: r for r in records}
    rec = by_id[oid]
    assert rec.event_id == f"{coll.namespace}/{oid}"
    assert rec.change == Change(rec.event_id, None)
    assert rec.partition_key == rec.event_id
    assert rec.value == {"_id": oid, "amount": 5}
    assert by_id["k-1"].event_id == f"{coll.namespace}/k-1"


#: _id values of every type nx-27017 can store, each distinct in MongoDB. (nx cannot hold int 5
#: and string "5" together: it indexes ids as text; that pair is checked in test_units.)
SERVER_IDS: list[Any] = [
    7,
    -3,
    Int64(2**40),
    2.5,
    "seven",
    "0123456789abcdef01234567",  # looks like an ObjectId's hex
    "~s:odd",
    ObjectId("65a1b2c3d4e5f60718293a4b"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"\x01\x02",
    dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC),
    {"region": "eu", "n": 1},
    True,
]


def test_every_id_type_yields_a_distinct_stable_event_id(coll: Coll, open_source: Callable[..., Any]) -> None:
    coll.handle.insert_many([{"_id": v, "i": i} for i, v in enumerate(SERVER_IDS)])
    src = open_source(batch_size=3)
    first = flatten(src.scan(None, None))
    second = flatten(src.scan(None, None))
    ids = [r.event_id for r in first]
    assert len(ids) == len(SERVER_IDS) == len(set(ids))
    assert sorted(map(str, ids)) == sorted(str(r.event_id) for r in second)
    for r in first:
        assert r.change is not None
        assert r.change.doc_id == r.event_id == document_event_id(coll.namespace, r.value["_id"])
        # the position is the exact id: resuming after it starts at the next document
        assert id_from_json(json.loads(json.dumps(r.position))) == r.value["_id"]
    expected = {document_event_id(coll.namespace, v) for v in SERVER_IDS if not isinstance(v, uuid.UUID)}
    assert expected <= set(ids)  # nx returns UUID ids as plain binary: same bytes, other rendering


def test_mixed_id_types_are_paged_bracket_by_bracket(coll: Coll, open_source: Callable[..., Any]) -> None:
    # In MongoDB {_id: {$gt: 5}} never matches a string: a plain $gt scan would stop after the numbers.
    docs: list[dict[str, Any]] = [{"_id": i} for i in range(10)] + [{"_id": f"s{i:02}"} for i in range(10)]
    docs += [{"_id": ObjectId()} for _ in range(5)] + [{"_id": {"k": i}} for i in range(2)]
    docs += [{"_id": dt.datetime(2020, 1, d, tzinfo=dt.UTC)} for d in range(1, 4)] + [{"_id": False}]
    coll.handle.insert_many(docs)
    src = open_source(batch_size=3)
    records = flatten(src.scan(None, None))
    assert Counter(map(repr, _ids(records))) == Counter(repr(d["_id"]) for d in docs)
    # in MongoDB's type order: numbers, strings, objects, ObjectIds, booleans, dates
    kinds = [type(i).__name__ for i in _ids(records)]
    order = ["int", "str", "dict", "ObjectId", "bool", "datetime"]
    assert sorted(kinds, key=order.index) == kinds
    # and a resume from inside any bracket gives exactly the rest
    for cut in (5, 12, 22, 26, 28):
        rest = flatten(src.scan(None, records[cut - 1].position))
        assert [r.event_id for r in rest] == [r.event_id for r in records[cut:]]


def test_filter_and_projection(coll: Coll, open_source: Callable[..., Any]) -> None:
    day = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    coll.handle.insert_many(
        [
            {
                "_id": i,
                "status": "paid" if i % 2 else "open",
                "at": day + dt.timedelta(days=i),
                "amount": i,
                "note": "x",
            }
            for i in range(40)
        ]
    )
    src = open_source(
        filter='{"status": "paid", "at": {"$gte": {"$date": "2024-01-11T00:00:00Z"}}}',
        projection={"_id": 0, "amount": 1},
        batch_size=6,
    )
    records = flatten(src.scan(None, None))
    assert [r.value for r in records] == [{"_id": i, "amount": i} for i in range(11, 40, 2)]
    assert src.estimated_total() == 15


def test_a_filter_on_id_is_combined_with_the_paging_range(coll: Coll, open_source: Callable[..., Any]) -> None:
    coll.handle.insert_many([{"_id": i} for i in range(30)])
    records = flatten(open_source(filter={"_id": {"$gte": 10, "$lt": 20}}, batch_size=4).scan(None, None))
    assert _ids(records) == list(range(10, 20))


def test_estimated_total_of_the_collection(coll: Coll, open_source: Callable[..., Any]) -> None:
    coll.handle.insert_many([{"_id": i} for i in range(123)])
    assert open_source().estimated_total() == 123


def test_empty_collection(coll: Coll, open_source: Callable[..., Any]) -> None:
    src = open_source()
    assert flatten(src.scan(None, None)) == []
    assert [flatten(src.scan(s, None)) for s in src.segments(4)] == [[], [], [], []]


# ------------------------------------------------------------------ segments


def _cover(src: MongoSnapshotSource, count: int) -> tuple[list[list[Any]], list[Any]]:
    whole = [r.event_id for r in flatten(src.scan(None, None))]
    segments = json.loads(json.dumps(src.segments(count)))  # as the core persists the plan
    assert len(segments) == count
    parts = [[r.event_id for r in flatten(src.scan(seg, None))] for seg in segments]
    return parts, whole


@pytest.mark.parametrize(
    "make_id",
    [
        lambda i: i,
        lambda i: f"order-{i:05}",
        lambda i: ObjectId(),
        lambda i: [i, f"s{i}", ObjectId(), dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i)][i % 4],
    ],
    ids=["int", "str", "objectid", "mixed"],
)
def test_four_segments_cover_the_collection_exactly_once(
    coll: Coll, open_source: Callable[..., Any], make_id: Callable[[int], Any]
) -> None:
    coll.handle.insert_many([{"_id": make_id(i), "amount": i} for i in range(1000)])
    src = open_source(batch_size=50)
    parts, whole = _cover(src, 4)
    assert sorted(e for p in parts for e in p) == sorted(whole)
    assert len(whole) == 1000
    assert all(parts), [len(p) for p in parts]  # enough documents: every segment has work
    estimates = [src.estimated_total(seg) for seg in src.segments(4)]
    assert abs(sum(estimates) - 1000) <= 4, estimates  # each rounded


def test_segments_with_a_filter_cover_the_matching_documents_once(coll: Coll, open_source: Callable[..., Any]) -> None:
    coll.handle.insert_many([{"_id": i, "keep": i % 3 == 0} for i in range(600)])
    parts, whole = _cover(open_source(filter={"keep": True}, batch_size=25), 4)
    assert sorted(e for p in parts for e in p) == sorted(whole)
    assert len(whole) == 200


@pytest.mark.parametrize("count", [2, 4, 7])
def test_more_segments_than_documents(coll: Coll, open_source: Callable[..., Any], count: int) -> None:
    coll.handle.insert_many([{"_id": 1}, {"_id": 2}, {"_id": "x"}])
    parts, whole = _cover(open_source(), count)
    assert sorted(e for p in parts for e in p) == sorted(whole)
    assert len(whole) == 3


def test_resume_inside_a_segment(coll: Coll, open_source: Callable[..., Any]) -> None:
    coll.handle.insert_many([{"_id": i} for i in range(400)])
    src = open_source(batch_size=16)
    seg = src.segments(4)[2]
    records = flatten(src.scan(seg, None))
    rest = flatten(src.scan(seg, records[9].position))
    assert [r.event_id for r in rest] == [r.event_id for r in records[10:]]


def heal_after_a_refusal(proxy: TcpProxy, before: int) -> None:
    """End the outage once the proxy turned a connection away (the client noticed it)."""
    deadline = time.monotonic() + 120
    while proxy.accepted <= before and time.monotonic() < deadline:
        time.sleep(0.01)
    proxy.heal()


def test_a_lost_connection_during_the_scan_is_retried_without_loss(coll: Coll, mongo_uri: str) -> None:
    host, port = mongo_uri.split("//", 1)[1].split("/", 1)[0].split(":")
    proxy = TcpProxy(host, int(port))
    coll.handle.insert_many([{"_id": i} for i in range(100)])
    # Server selection may wait long: the outage ends on a condition, not after a set time.
    uri = f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true&serverSelectionTimeoutMS=60000"
    try:
        with MongoSnapshotSource(**{**coll.options, "uri": uri}, batch_size=10) as src:
            records: list[Record] = []
            before = 0
            for batch in src.scan(None, None):
                records += batch
                if len(records) == 30:
                    before = proxy.accepted
                    proxy.cut()  # the next page query fails; the outage ends once a reconnect was refused
                    threading.Thread(target=heal_after_a_refusal, args=(proxy, before), daemon=True).start()
        assert _ids(records) == list(range(100))
        assert proxy.accepted > before  # it did reconnect
    finally:
        proxy.close()
