"""What needs no server: _id JSON forms, event ids, cut points, filters, error translation, decoding."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
import uuid
from typing import Any

import bson
import pytest
from bson import Binary, Decimal128, Int64, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS
from bson.raw_bson import RawBSONDocument
from hypothesis import given
from hypothesis import strategies as st
from murmur import (
    ConfigError,
    HandoffError,
    LiveSource,
    SnapshotSource,
    SourceError,
    TransientError,
    document_event_id,
)
from pymongo import errors as pe

from murmur_mongo import MongoChangeSource, MongoSnapshotSource
from murmur_mongo._client import Redactor, check_names, translate, with_uri_options
from murmur_mongo._codec import DECODE, RAW, fix_nx_object_ids, parse_query, rewrite_for_change_events
from murmur_mongo._ids import BRACKETS, bracket_of, id_from_json, id_to_json, order_boundaries
from murmur_mongo._plugin import CHANGES, SNAPSHOT
from murmur_mongo.source import _even_cuts

NS = "shop.orders"
OID = ObjectId("65a1b2c3d4e5f60718293a4b")
UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")
WHEN = dt.datetime(2024, 3, 1, 12, 30, 15, 123000, tzinfo=dt.UTC)

#: Values that MongoDB keeps as *different* _ids (it treats 5, 5.0, Int64(5) and
#: Decimal128("5") as the same number, so only one of those is here).
DISTINCT_IDS: list[Any] = [
    5,
    -5,
    2**40,
    5.5,
    "5",
    "-5",
    "five",
    "",
    "~s:5",
    "~uuid:" + UUID.hex,
    str(OID),
    OID,
    UUID,
    str(UUID),
    UUID.hex,
    b"\x01\x02",
    "0102",
    Decimal128("1E+400"),
    "1E+400",
    WHEN,
    WHEN.isoformat(),
    {"a": 1},
    {"a": "1"},
    '{"a":1}',
    True,
    False,
    "true",
    None,
    "null",
    Timestamp(1700000000, 7),
    [1, 2],  # not a valid _id in MongoDB, but nx-27017 accepts it
]


# ------------------------------------------------------------------ _id JSON form


def _bson(value: Any) -> bytes:
    return bson.encode({"_id": value}, codec_options=DECODE)


@pytest.mark.parametrize(
    "value",
    [
        0,
        -1,
        2**31 - 1,
        2**31,
        2**62,
        Int64(5),
        3.5,
        -0.0,
        math.inf,
        "x",
        "5",
        "",
        "ünïcødé ✓",
        OID,
        UUID,
        b"\x00\x01\xff",
        Binary(b"ab", 5),
        Binary(UUID.bytes, 3),
        Decimal128("1.50"),
        Decimal128("-Infinity"),
        WHEN,
        DatetimeMS(2**62),
        {"b": 1, "a": [1, "x", {"c": OID}]},
        True,
        None,
        Timestamp(1, 2),
    ],
    ids=repr,
)
def test_id_json_round_trips_the_exact_bson_value(value: Any) -> None:
    stored = json.loads(json.dumps(id_to_json(value)))  # as a checkpoint store keeps it
    back = id_from_json(stored)
    assert _bson(back) == _bson(value)


@given(st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(), st.floats(allow_nan=False)))
def test_id_json_round_trips_any_int_text_or_float(value: Any) -> None:
    back = id_from_json(json.loads(json.dumps(id_to_json(value))))
    assert _bson(back) == _bson(value)


def test_malformed_position_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="position"):
        id_from_json({"id": 5})
    with pytest.raises(ValueError, match="position"):
        id_from_json(5)


# ------------------------------------------------------------------ event ids


def test_every_id_type_yields_a_distinct_event_id() -> None:
    ids = [document_event_id(NS, v) for v in DISTINCT_IDS]
    clashes = {i for i in ids if ids.count(i) > 1}
    assert not clashes, clashes
    assert all(i.startswith(f"{NS}/") for i in ids)


def test_event_ids_are_stable_through_the_json_position() -> None:
    for value in DISTINCT_IDS:
        back = id_from_json(json.loads(json.dumps(id_to_json(value))))
        assert document_event_id(NS, back) == document_event_id(NS, value), value


def test_event_ids_follow_the_spec_renderings() -> None:
    assert document_event_id(NS, OID) == f"{NS}/{OID}"
    assert document_event_id(NS, "abc") == f"{NS}/abc"
    assert document_event_id(NS, 42) == f"{NS}/42"
    assert document_event_id(NS, "42") != document_event_id(NS, 42)
    assert document_event_id(NS, 42, "1700000000:3") == f"{NS}/42@1700000000:3"


def test_binary_subtypes_do_not_collide() -> None:
    assert document_event_id(NS, Binary(b"ab", 5)) != document_event_id(NS, b"ab")


def test_document_ids_with_other_field_order_do_not_collide() -> None:
    # MongoDB: {a: 1, b: 2} and {b: 2, a: 1} are different _ids
    assert document_event_id(NS, {"a": 1, "b": 2}) != document_event_id(NS, {"b": 2, "a": 1})


def test_nested_uuid_and_text_do_not_collide() -> None:
    assert document_event_id(NS, {"u": UUID}) != document_event_id(NS, {"u": str(UUID)})


# ------------------------------------------------------------------ brackets and cut points


def test_brackets_follow_mongodb_type_order() -> None:
    ordered = [None, 1, "a", {"a": 1}, b"x", OID, False, WHEN, Timestamp(1, 1)]
    assert [bracket_of(v) for v in ordered] == list(range(len(BRACKETS)))
    assert bracket_of(Int64(1)) == bracket_of(2.5) == bracket_of(Decimal128("1")) == bracket_of(7)
    assert bracket_of(UUID) == bracket_of(Binary(b"", 4)) == bracket_of(b"")
    assert bracket_of(Regex("a")) is None


def test_cut_points_go_in_scan_order_even_if_the_server_sorted_numbers_as_text() -> None:
    rows = [(OID, 1), (1000, 1), (2, 1), ("b", 1), (300, 1), ("a", 1), (float("nan"), 1), (None, 1), (Regex("x"), 1)]
    assert [v for v, _ in order_boundaries(rows)] == [2, 300, 1000, "a", "b", OID]


def test_cut_points_keep_the_server_order_where_python_cannot_compare_like_mongodb() -> None:
    rows = [(b"\x02", 1), (b"\x01\x00", 1)]  # MongoDB orders binary by length first
    assert [v for v, _ in order_boundaries(rows)] == [b"\x02", b"\x01\x00"]


def test_even_cuts_split_by_document_count() -> None:
    rows = [(i, 10) for i in range(8)]
    assert _even_cuts(rows, 4) == ([1, 3, 5], [20, 20, 20, 20])
    assert _even_cuts([(1, 100), (2, 1), (3, 1)], 3) == ([1, 2], [100, 1, 1])  # no empty segment
    assert _even_cuts([(1, 250), (2, 251)], 2) == ([1], [250, 251])  # an odd total still splits
    assert _even_cuts([(1, 5)], 4) == ([], [5])
    assert _even_cuts([], 4) == ([], [0])


# ------------------------------------------------------------------ queries


def test_filter_accepts_extended_json_text_or_objects() -> None:
    got = parse_query(
        '{"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}, "at": {"$gte": {"$date": "2024-03-01T00:00:00Z"}}}', "filter"
    )
    assert got == {"_id": OID, "at": {"$gte": dt.datetime(2024, 3, 1, tzinfo=dt.UTC)}}
    assert parse_query({"status": "paid"}, "filter") == {"status": "paid"}
    assert parse_query(None, "filter") is None
    assert parse_query("{}", "filter") is None


@pytest.mark.parametrize(("text", "message"), [("{status: paid}", "not valid"), ("[1, 2]", "must be a JSON object")])
def test_bad_filter_names_the_option(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_query(text, "filter")
    assert info.value.option == "filter"


def test_filter_is_rewritten_for_change_events() -> None:
    query = {
        "status": "paid",
        "amount": {"$gt": 5},
        "$or": [{"a.b": 1}, {"$and": [{"c": {"$in": [1]}}]}],
        "$comment": "x",
    }
    assert rewrite_for_change_events(query) == {
        "fullDocument.status": "paid",
        "fullDocument.amount": {"$gt": 5},
        "$or": [{"fullDocument.a.b": 1}, {"$and": [{"fullDocument.c": {"$in": [1]}}]}],
        "$comment": "x",
    }
    with pytest.raises(ConfigError, match=r"\$expr") as info:
        rewrite_for_change_events({"$expr": {"$gt": ["$a", 1]}})
    assert info.value.option == "filter"


def test_server_filter_only_drops_inserts() -> None:
    src = MongoChangeSource(
        uri="mongodb://127.0.0.1:1", database="d", collection="c", filter={"k": "a"}, server_filter=True
    )
    try:
        assert src._pipeline == [{"$match": {"$or": [{"operationType": {"$ne": "insert"}}, {"fullDocument.k": "a"}]}}]
    finally:
        src.close()


# ------------------------------------------------------------------ errors


def test_redactor_removes_the_password() -> None:
    redact = Redactor("mongodb://alice:p%40ss@db.example:27017/?authSource=admin")
    assert redact("auth failed for alice:p%40ss and p@ss") == "auth failed for *** and ***"
    assert Redactor("mongodb://db.example")("nothing secret") == "nothing secret"


def test_standalone_server_error_names_replica_set_and_no_handoff() -> None:
    exc = pe.OperationFailure("The $changeStream stage is only supported on replica sets", 40573)
    err = translate(exc, "mongo: capturing the handoff token of shop.orders", Redactor("mongodb://h"))
    assert isinstance(err, HandoffError)
    assert "does not support change streams" in str(err)
    assert "replica set" in str(err)
    assert "--no-handoff" in str(err)


@pytest.mark.parametrize("code", [286, 260, 280])
def test_unusable_resume_token_names_the_remedy(code: int) -> None:
    exc = pe.OperationFailure(
        "Resume of change stream was not possible, as the resume point may no longer be in the oplog", code
    )
    err = translate(exc, "mongo-changes: opening", Redactor("mongodb://h"), live=True)
    assert isinstance(err, HandoffError)
    assert "--restart" in str(err)
    assert "--from-handoff" in str(err)


@pytest.mark.parametrize(
    "exc",
    [
        pe.AutoReconnect("connection reset"),
        pe.NetworkTimeout("timed out"),
        pe.OperationFailure("interrupted at shutdown", 11600),
        pe.OperationFailure("not primary", 10107),
        pe.OperationFailure("whatever", 1, {"errorLabels": ["ResumableChangeStreamError"]}),
    ],
    ids=repr,
)
def test_retryable_failures_are_transient(exc: Exception) -> None:
    assert isinstance(translate(exc, "reading", Redactor("mongodb://h")), TransientError)


def test_a_server_selection_timeout_is_final_at_start_and_transient_for_a_running_live_source() -> None:
    text = (
        "127.0.0.1:9: [Errno 111] Connection refused (configured timeouts: socketTimeoutMS: 20000.0ms,"
        " connectTimeoutMS: 20000.0ms), Timeout: 5.0s, Topology Description: <TopologyDescription id: 1, ...>"
    )
    exc = pe.ServerSelectionTimeoutError(text)
    err = translate(exc, "mongo: reading d.c", Redactor("mongodb://bob:pw@127.0.0.1:9"))
    assert isinstance(err, SourceError)
    assert str(err).startswith("mongo: reading d.c: cannot reach MongoDB at 127.0.0.1:9: connection refused")
    assert "after 5 s" in str(err)
    assert "Topology" not in str(err)
    assert isinstance(translate(exc, "polling", Redactor("mongodb://h"), live=True), TransientError)


def test_rejected_names_and_failed_authentication_are_configuration_errors() -> None:
    redact = Redactor("mongodb://bob:hunter2@db.example:27017/?authSource=admin")
    auth = translate(pe.OperationFailure("Authentication failed.", 18), "mongo: reading d.c", redact)
    assert isinstance(auth, ConfigError)
    assert "authentication as 'bob' failed at db.example:27017" in str(auth)
    assert "hunter2" not in str(auth)
    for failure in (
        pe.OperationFailure("Invalid namespace specified 'd.'", 73),
        pe.OperationFailure('near "order": syntax error', 1),
    ):
        err = translate(failure, "mongo: counting d.order", redact)
        assert isinstance(err, ConfigError)
        assert "rejects the database or collection name" in str(err)
        assert err.option == "collection"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mongodb://h:1", "mongodb://h:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=200"),
        ("mongodb://h:1/db", "mongodb://h:1/db?serverSelectionTimeoutMS=300&connectTimeoutMS=200"),
        (
            "mongodb://h:1/?directConnection=true",
            "mongodb://h:1/?directConnection=true&serverSelectionTimeoutMS=300&connectTimeoutMS=200",
        ),
        ("mongodb://h:1/?serverselectiontimeoutms=9", "mongodb://h:1/?serverselectiontimeoutms=9&connectTimeoutMS=200"),
    ],
)
def test_timeout_options_join_the_uri_unless_it_sets_them(uri: str, expected: str) -> None:
    got = with_uri_options(uri, {"serverSelectionTimeoutMS": 300, "connectTimeoutMS": 200})
    assert got == expected


def test_names_mongodb_refuses_are_caught_before_connecting() -> None:
    with pytest.raises(ConfigError, match=r"-S collection='a\$b': MongoDB collection names cannot contain '\$'"):
        check_names("mongo", "shop", "a$b")
    with pytest.raises(ConfigError, match=r"-S database='my shop'"):
        check_names("mongo", "my shop", "orders")
    with pytest.raises(ConfigError, match=r"system\. prefix"):
        check_names("mongo", "shop", "system.users")
    check_names("mongo", "shop", "orders-2026.eu")


def test_other_failures_are_permanent_and_keep_the_secret_out() -> None:
    redact = Redactor("mongodb://bob:hunter2@h")
    err = translate(pe.OperationFailure("bad query for bob:hunter2", 2, {"errmsg": "x"}), "reading d.c", redact)
    assert isinstance(err, SourceError)
    assert "hunter2" not in str(err)
    assert "full error" not in str(err)
    assert "(code 2)" in str(err)
    raw = translate(KeyError("payload"), "capturing", redact)
    assert isinstance(raw, SourceError)
    assert "capturing: KeyError" in str(raw)


# ------------------------------------------------------------------ decoding


def _bad_utf8_document(_id: Any) -> RawBSONDocument:
    good = bson.encode({"_id": _id, "name": "ab"})
    return RawBSONDocument(good.replace(b"ab\x00", b"\xff\xfe\x00"))


def test_undecodable_document_becomes_poison_with_its_id() -> None:
    # nx-27017 cannot store such a document, so the record builder is fed the raw bytes directly.
    src = MongoSnapshotSource(uri="mongodb://127.0.0.1:1", database="shop", collection="orders")
    try:
        rec = src._record(_bad_utf8_document(17))
    finally:
        src.close()
    from murmur import Poison

    assert isinstance(rec.value, Poison)
    assert "shop.orders/17" in rec.value.error
    assert "_id=17" in rec.value.error
    assert rec.event_id == "shop.orders/17"
    assert id_from_json(rec.position) == 17  # the scan pages past it
    assert isinstance(rec.value.raw, bytes)


def test_nx_object_ids_in_change_events_are_restored() -> None:
    doc = {
        "_id": {"__neosqlite_objectid__": True, "id": str(OID)},
        "x": [{"o": {"__neosqlite_objectid__": True, "id": str(OID)}}],
    }
    assert fix_nx_object_ids(doc) == {"_id": OID, "x": [{"o": OID}]}
    assert fix_nx_object_ids({"__neosqlite_objectid__": True, "id": "x", "more": 1})["more"] == 1


# ------------------------------------------------------------------ configuration and plugin


def test_options_are_checked_before_any_io() -> None:
    base: dict[str, Any] = {"uri": "mongodb://127.0.0.1:1"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"database": "", "collection": "c"}, "database"),
        ({"database": "d", "collection": ""}, "collection"),
        ({"database": "d", "collection": "c", "batch_size": 0}, "batch_size"),
        ({"database": "d", "collection": "c", "segments": 0}, "segments"),
        ({"database": "d", "collection": "c", "filter": "nope"}, "filter"),
    ]
    for kwargs, option in cases:
        with pytest.raises(ConfigError) as info:
            MongoSnapshotSource(**base, **kwargs)
        assert info.value.option == option


def test_invalid_uri_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        MongoSnapshotSource(uri="mongodb://bob:hunter2@h:notaport", database="d", collection="c")
    assert info.value.option == "uri"
    assert "hunter2" not in str(info.value)


def test_projection_always_keeps_the_id() -> None:
    src = MongoSnapshotSource(
        uri="mongodb://127.0.0.1:1", database="d", collection="c", projection='{"_id": 0, "amount": 1}'
    )
    try:
        assert src.projection == {"amount": 1}
    finally:
        src.close()


def test_plugin_registration_does_not_import_pymongo() -> None:
    code = (
        "import sys, murmur_mongo, murmur_mongo._plugin as p\n"
        "specs = []\n"
        "p.murmur_register(specs.append)\n"
        "assert [s.name for s in specs] == ['mongo', 'mongo-changes'], specs\n"
        "assert 'pymongo' not in sys.modules and 'bson' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sources_keep_the_core_protocols() -> None:
    options: dict[str, Any] = {"uri": "mongodb://127.0.0.1:1", "database": "d", "collection": "c"}
    with MongoSnapshotSource(**options) as snap, MongoChangeSource(**options) as changes:
        assert isinstance(snap, SnapshotSource)
        assert isinstance(changes, LiveSource)
        assert snap.default_mode == changes.default_mode == "changelog"


def test_declared_options() -> None:
    assert SNAPSHOT.kind == "source"
    assert CHANGES.kind == "live"
    snap = {o.name: o for o in SNAPSHOT.options}
    live = {o.name: o for o in CHANGES.options}
    assert set(snap) == {
        "uri",
        "database",
        "collection",
        "filter",
        "projection",
        "batch_size",
        "segments",
        "no_handoff",
        "server_selection_timeout_ms",
        "connect_timeout_ms",
    }
    assert {"uri", "database", "collection", "filter", "batch_size", "max_await_ms", "connect_timeout_ms"} <= set(live)
    assert snap["server_selection_timeout_ms"].default == live["server_selection_timeout_ms"].default == 5000
    assert snap["uri"].secret
    assert live["uri"].secret
    assert (snap["filter"].type, snap["segments"].type, snap["no_handoff"].type) == ("json", "int", "bool")


# ------------------------------------------------------------------ change events as MongoDB sends them


def _event(n: int, op: str, key: Any, full: dict[str, Any] | None, **extra: Any) -> RawBSONDocument:
    doc: dict[str, Any] = {
        "_id": {"_data": f"8265{n:04X}"},
        "operationType": op,
        "clusterTime": Timestamp(1700000000, n),
        "wallTime": WHEN,
        "ns": {"db": "shop", "coll": "orders"},
        "documentKey": {"_id": key},
        **extra,
    }
    if full is not None:
        doc["fullDocument"] = full
    return RawBSONDocument(bson.encode(doc, codec_options=DECODE), codec_options=RAW)


def _changes() -> MongoChangeSource:
    return MongoChangeSource(uri="mongodb://127.0.0.1:1", database="shop", collection="orders")


def test_real_mongodb_events_carry_cluster_time_versions() -> None:
    with _changes() as src:
        got = src._records(
            [
                _event(1, "insert", OID, {"_id": OID, "amount": 5}),
                _event(2, "update", OID, {"_id": OID, "amount": 6}, updateDescription={"updatedFields": {}}),
                _event(3, "replace", OID, {"_id": OID, "amount": 7}),
                _event(4, "update", 9, None),  # deleted before the lookup: no fullDocument
                _event(5, "delete", OID, None),
            ]
        )
    ns = f"shop.orders/{OID}"
    assert [r.event_id for r in got] == [
        ns,
        f"{ns}@1700000000:2",
        f"{ns}@1700000000:3",
        "shop.orders/9@1700000000:4",
        f"{ns}@1700000000:5",
    ]
    assert [r.change.version if r.change else None for r in got] == [(1700000000, i) for i in range(1, 6)]
    assert [r.change.deleted if r.change else None for r in got] == [False, False, False, True, True]
    assert got[0].event_time == WHEN
    assert got[1].value == {"_id": OID, "amount": 6}
    assert got[0].position == {"_data": "82650001"}


def test_an_undecodable_change_event_is_poison_naming_the_document() -> None:
    good = _event(1, "insert", 17, {"_id": 17, "name": "ab"})
    bad = RawBSONDocument(bytes(good.raw).replace(b"ab\x00", b"\xff\xfe\x00"), codec_options=RAW)
    with _changes() as src:
        (rec,) = src._records([bad])
    from murmur import Poison

    assert isinstance(rec.value, Poison)
    assert "shop.orders/17" in rec.value.error
    assert rec.event_id == "shop.orders/17@1700000000:1"
    rec.ack()
    assert src.checkpoint() == {"resume_token": {"_data": "82650001"}, "namespace": "shop.orders"}


def test_a_dropped_collection_ends_the_stream_with_the_remedy() -> None:
    with _changes() as src:
        src._started = True  # as after start(); no server is needed for what follows
        got = src._records([_event(1, "insert", 1, {"_id": 1}), _event(2, "drop", None, None)])
        assert [r.event_id for r in got] == ["shop.orders/1"]
        with pytest.raises(SourceError, match="dropped or renamed") as info:
            src.poll(10, 0)
    assert "--restart" in str(info.value)


def test_other_operations_are_skipped_but_checkpointed() -> None:
    with _changes() as src:
        got = src._records([_event(1, "createIndexes", None, None), _event(2, "insert", 1, {"_id": 1})])
        assert [r.event_id for r in got] == ["shop.orders/1"]
        assert src.checkpoint() == {"resume_token": {"_data": "82650001"}, "namespace": "shop.orders"}
        got[0].ack()
        assert src.checkpoint() == {"resume_token": {"_data": "82650002"}, "namespace": "shop.orders"}


def test_a_batch_carries_the_resume_token_after_its_last_event() -> None:
    with _changes() as src:
        src._started = True  # as after start(); no server is needed for what follows
        batch = src._batch([_event(1, "createIndexes", None, None), _event(2, "insert", 1, {"_id": 1})])
        assert batch is not None
        assert batch.size == 1
        assert batch.end == {}
        (rec,) = batch.records()
        assert rec.event_id == "shop.orders/1"
        assert rec.change is not None
        assert rec.change.op == "insert"
        assert batch.checkpoint == {"resume_token": {"_data": "82650002"}, "namespace": "shop.orders"}
        # only skipped events: nothing to apply, but the position still moves
        skipped = src._batch([_event(3, "createIndexes", None, None)])
        assert skipped is not None
        assert skipped.size == 0
        assert skipped.checkpoint == {"resume_token": {"_data": "82650003"}, "namespace": "shop.orders"}
        assert src.stats()["skipped"] == 2
