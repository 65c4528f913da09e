"""Decoders: json, raw, and Debezium envelopes (MongoDB and relational connectors). No broker needed."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson
import pytest
from murmur import Change, ConfigError, DecodeError, FieldError, document_event_id, render_id

from murmur_kafka import DebeziumDecoder, JsonDecoder, ObjectId, RawDecoder, decode_extended_json

META = {"topic": "orders", "partition": 2, "offset": 41, "headers": None, "timestamp": (1, 0)}
OID = "65f1c0ffee0123456789abcd"


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


# --------------------------------------------------------------------------- json


def test_json_defaults_to_the_topic_partition_offset_id() -> None:
    rec = JsonDecoder().decode(b'{"user": "u1", "n": 2}', key=None, meta=META)
    assert rec is not None
    assert rec.value == {"user": "u1", "n": 2}
    assert rec.event_id == "orders:2:41"
    assert rec.event_time is None and rec.change is None


def test_json_reads_event_id_and_event_time_from_field_paths() -> None:
    dec = JsonDecoder(event_id="meta.id", event_time="meta.at")
    rec = dec.decode(b'{"meta": {"id": 17, "at": "2024-03-01T12:00:00+01:00"}}', key=b"k", meta=META)
    assert rec is not None
    assert rec.event_id == "17"
    assert rec.event_time == dt.datetime(2024, 3, 1, 11, tzinfo=dt.UTC)
    millis = dec.decode(b'{"meta": {"id": "a", "at": 1709294400000}}', key=None, meta=META)
    assert millis is not None and millis.event_time == dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("payload", "error", "text"),
    [
        (b"{nope", DecodeError, "json: payload is not JSON"),
        (b'{"other": 1}', FieldError, "meta.id"),
    ],
)
def test_json_rejects_what_it_cannot_use(payload: bytes, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        JsonDecoder(event_id="meta.id").decode(payload, key=None, meta=META)


def test_json_keeps_integers_exact_at_any_size_and_refuses_numbers_beyond_floats() -> None:
    # The general path (a deduper, callables, changelog) decodes here: 10**30 + 1 must not become
    # 1e+30, as orjson would make it without a word, and 1e400 is no number a store can keep.
    big = b'{"n": 1000000000000000000000000000001, "m": 18446744073709551617}'
    rec = JsonDecoder().decode(big, key=None, meta=META)
    assert rec is not None and rec.value == {"n": 10**30 + 1, "m": 2**64 + 1}
    with pytest.raises(DecodeError, match="json: payload is not JSON"):
        JsonDecoder().decode(b'{"n": 1e400}', key=None, meta=META)
    # (orjson cannot write the big number: it is patched into the event's text)
    event = mongo_event("c", after={"_id": {"$oid": OID}, "n": 0})
    event = event.replace(b'\\"n\\":0', b'\\"n\\":' + str(10**30 + 1).encode())
    assert str(10**30 + 1).encode() in event
    change = DebeziumDecoder().decode(event, key=mongo_key(f'{{"$oid": "{OID}"}}'), meta=META)
    assert change is not None and change.value["n"] == 10**30 + 1


def test_json_null_or_empty_event_id_falls_back_to_the_position_and_is_counted() -> None:
    dec = JsonDecoder(event_id="meta.id")
    ids = [dec.decode(p, key=None, meta=META) for p in (b'{"meta": {"id": null}}', b'{"meta": {"id": ""}}')]
    assert [r.event_id if r is not None else None for r in ids] == ["orders:2:41", "orders:2:41"]
    assert dec.event_id_fallbacks == 2
    assert dec.decode(b'{"meta": {"id": 0}}', key=None, meta=META).event_id == "0"  # type: ignore[union-attr]
    assert dec.event_id_fallbacks == 2


def test_json_bad_event_time_is_a_field_error() -> None:
    with pytest.raises(FieldError, match="event-time field 'at'"):
        JsonDecoder(event_time="at").decode(b'{"at": "yesterday"}', key=None, meta=META)


# --------------------------------------------------------------------------- raw


def test_raw_gives_text_or_bytes() -> None:
    text = RawDecoder().decode("héllo".encode(), key=None, meta=META)
    assert text is not None and text.value == "héllo" and text.event_id == "orders:2:41"
    raw = RawDecoder(encoding="bytes").decode(b"\xff\x00", key=None, meta=META)
    assert raw is not None and raw.value == b"\xff\x00"
    with pytest.raises(DecodeError, match="not utf-8"):
        RawDecoder().decode(b"\xff\xfe", key=None, meta=META)
    with pytest.raises(ConfigError, match="unknown encoding") as info:
        RawDecoder(encoding="klingon")
    assert info.value.option == "encoding"


# --------------------------------------------------------------------------- extended JSON


def test_extended_json_relaxes_wrappers() -> None:
    text = orjson.dumps(
        {
            "_id": {"$oid": OID},
            "n": {"$numberLong": "5"},
            "i": {"$numberInt": "3"},
            "f": {"$numberDouble": "1.5"},
            "d": {"$numberDecimal": "10.25"},
            "at": {"$date": {"$numberLong": "1700000000000"}},
            "at2": {"$date": "2024-01-02T03:04:05Z"},
            "u": {"$binary": {"base64": base64.b64encode(uuid.UUID(int=1).bytes).decode(), "subType": "04"}},
            "b": {"$binary": "AAE=", "$type": "00"},
            "ts": {"$timestamp": {"t": 1, "i": 2}},
            "list": [{"$numberLong": "7"}],
        }
    ).decode()
    doc = decode_extended_json(text)
    assert doc["_id"] == OID and isinstance(doc["_id"], ObjectId)
    assert (doc["n"], doc["i"], doc["f"], doc["d"]) == (5, 3, 1.5, Decimal("10.25"))
    assert doc["at"] == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert doc["at2"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert doc["u"] == uuid.UUID(int=1)
    assert doc["b"] == b"\x00\x01"
    assert doc["ts"] == {"$timestamp": {"t": 1, "i": 2}}
    assert doc["list"] == [7]


def test_object_ids_render_like_pymongo_object_ids() -> None:
    bson = pytest.importorskip("bson")
    assert render_id(ObjectId(OID)) == render_id(bson.ObjectId(OID)) == OID
    assert str(ObjectId(OID)) == str(bson.ObjectId(OID))
    assert render_id(decode_extended_json('{"$numberLong": "5"}')) == render_id(bson.Int64(5)) == "5"


# --------------------------------------------------------------------------- debezium: MongoDB


def mongo_event(
    op: str,
    *,
    after: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    ts: int = 1_700_000_123,
    ord_: int = 4,
    wrap: bool = False,
) -> bytes:
    def ext(doc: dict[str, Any] | None) -> str | None:
        return None if doc is None else orjson.dumps(doc).decode()

    payload = {
        "before": ext(before),
        "after": ext(after),
        "source": {"connector": "mongodb", "db": "shop", "collection": "orders", "ts_ms": ts * 1000, "ord": ord_},
        "op": op,
        "ts_ms": ts * 1000 + 17,
    }
    if wrap:
        return dumps({"schema": {"type": "struct", "name": "shop.orders.Envelope"}, "payload": payload})
    return dumps(payload)


def mongo_key(id_json: str, wrap: bool = False) -> bytes:
    key = {"id": id_json}
    return dumps({"schema": {"type": "struct"}, "payload": key} if wrap else key)


@pytest.mark.parametrize("wrap", [False, True])
def test_debezium_mongo_create_is_the_new_document_with_the_scan_id(wrap: bool) -> None:
    after = {"_id": {"$oid": OID}, "customer": "c1", "amount": {"$numberLong": "250"}}
    rec = DebeziumDecoder().decode(
        mongo_event("c", after=after, wrap=wrap), key=mongo_key(f'{{"$oid": "{OID}"}}'), meta=META
    )
    assert rec is not None
    assert rec.value == {"_id": OID, "customer": "c1", "amount": 250}
    doc_id = document_event_id("shop.orders", ObjectId(OID))
    assert doc_id == f"shop.orders/{OID}"
    assert rec.event_id == doc_id  # same as a snapshot read of the document (SPEC §1)
    assert rec.change == Change(doc_id, (1_700_000_123, 4), deleted=False, op="insert")
    assert rec.partition_key == doc_id


def test_debezium_mongo_ids_match_the_mongo_scan_for_every_id_type() -> None:
    bson = pytest.importorskip("bson")
    cases = [({"$oid": OID}, bson.ObjectId(OID)), (5, 5), ({"$numberLong": "9"}, 9), ("5", "5"), ("abc", "abc")]
    for ext_id, native in cases:
        rec = DebeziumDecoder().decode(mongo_event("r", after={"_id": ext_id, "n": 1}), key=None, meta=META)
        assert rec is not None and rec.change is not None
        assert rec.change.doc_id == document_event_id("shop.orders", native), ext_id
    assert document_event_id("shop.orders", 5) != document_event_id("shop.orders", "5")


def test_debezium_mongo_update_and_delete_ids_carry_the_change_position() -> None:
    dec = DebeziumDecoder()
    upd = dec.decode(
        mongo_event("u", after={"_id": 7, "customer": "c2", "amount": 3}, ts=1_700_000_200, ord_=2), key=None, meta=META
    )
    assert upd is not None
    assert upd.event_id == "shop.orders/7@1700000200:2"
    assert upd.change == Change("shop.orders/7", (1_700_000_200, 2), deleted=False, op="update")
    # a delete without a pre-image: the id comes from the message key (extended JSON text)
    gone = dec.decode(mongo_event("d", ts=1_700_000_300, ord_=1), key=mongo_key("7", wrap=True), meta=META)
    assert gone is not None
    assert gone.value is None
    assert gone.event_id == "shop.orders/7@1700000300:1"
    assert gone.change == Change("shop.orders/7", (1_700_000_300, 1), deleted=True, op="delete")
    oid_gone = dec.decode(mongo_event("d"), key=mongo_key(f'{{"$oid" : "{OID}"}}'), meta=META)
    assert oid_gone is not None and oid_gone.change is not None
    assert oid_gone.change.doc_id == f"shop.orders/{OID}"
    str_gone = dec.decode(mongo_event("d"), key=mongo_key('"5"'), meta=META)
    assert str_gone is not None and str_gone.change is not None
    assert str_gone.change.doc_id == document_event_id("shop.orders", "5")


def test_debezium_before_images_are_kept_for_append_mode() -> None:
    before, after = {"_id": 3, "customer": "c1", "amount": 5}, {"_id": 3, "customer": "c2", "amount": 7}
    upd = DebeziumDecoder().decode(mongo_event("u", before=before, after=after), key=None, meta=META)
    assert upd is not None
    assert upd.change is not None
    assert upd.change.before == before
    gone = DebeziumDecoder().decode(mongo_event("d", before=after), key=None, meta=META)
    assert gone is not None
    assert gone.change == Change("shop.orders/3", (1_700_000_123, 4), deleted=True, before=after, op="delete")


def test_debezium_snapshot_reads_have_no_version() -> None:
    rec = DebeziumDecoder().decode(mongo_event("r", after={"_id": 1, "amount": 1}), key=None, meta=META)
    assert rec is not None and rec.change == Change("shop.orders/1", None, deleted=False, op="insert")
    assert rec.event_id == "shop.orders/1"


def test_debezium_tombstones_are_skipped() -> None:
    assert DebeziumDecoder().decode(None, key=b'{"id": "1"}', meta=META) is None


@pytest.mark.parametrize(
    ("payload", "key", "text"),
    [
        (b"[]", None, "expected a change-event object"),
        (dumps({"after": None}), None, "no 'op' field"),
        (dumps({"op": "t", "source": {}}), None, "truncate"),
        (dumps({"op": "x", "source": {}}), None, "unsupported op 'x'"),
        (mongo_event("u"), mongo_key("1"), "capture.mode=change_streams_update_full"),
        (mongo_event("d"), None, "no message key"),
        (dumps({"op": "c", "after": '{"_id": 1}', "source": {"connector": "mongodb"}}), None, "source.db"),
        (dumps({"op": "c", "after": {"id": 1}, "source": {"db": "d", "table": "t", "ts_ms": 1}}), None, "primary key"),
    ],
)
def test_debezium_rejects_events_it_cannot_apply(payload: bytes, key: bytes | None, text: str) -> None:
    with pytest.raises(DecodeError, match=text):
        DebeziumDecoder().decode(payload, key=key, meta=META)


# --------------------------------------------------------------------------- debezium: relational


def pg_event(op: str, before: Any, after: Any, *, lsn: int = 33_000_000, wrap: bool = True) -> bytes:
    amount = {"type": "bytes", "optional": False, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
              "parameters": {"scale": "2"}, "field": "amount"}  # fmt: skip
    row = {
        "type": "struct",
        "fields": [{"type": "int32", "field": "id"}, {"type": "string", "field": "customer"}, amount],
    }
    schema = {
        "type": "struct",
        "fields": [
            {**row, "field": "before", "optional": True},
            {**row, "field": "after", "optional": True},
            {"type": "struct", "field": "source", "fields": []},
        ],
    }
    source = {"connector": "postgresql", "db": "shop", "schema": "public", "table": "orders", "lsn": lsn, "ts_ms": 5}
    payload = {"before": before, "after": after, "source": source, "op": op, "ts_ms": 6}
    return dumps({"schema": schema, "payload": payload} if wrap else payload)


def cents(value: int) -> str:
    return base64.b64encode(value.to_bytes(4, "big", signed=True)).decode()


def test_debezium_postgres_decimals_keys_and_lsn_versions() -> None:
    key = dumps({"schema": {"type": "struct", "fields": [{"type": "int32", "field": "id"}]}, "payload": {"id": 42}})
    dec = DebeziumDecoder()
    upd = dec.decode(
        pg_event(
            "u", {"id": 42, "customer": "a", "amount": cents(1050)}, {"id": 42, "customer": "b", "amount": cents(-25)}
        ),
        key=key,
        meta=META,
    )
    assert upd is not None
    assert upd.value == {"id": 42, "customer": "b", "amount": Decimal("-0.25")}
    before = {"id": 42, "customer": "a", "amount": Decimal("10.50")}
    assert upd.change == Change("shop.public.orders/42", (33_000_000,), deleted=False, before=before, op="update")
    assert upd.event_id == "shop.public.orders/42@lsn:33000000"


def test_debezium_relational_without_key_uses_key_fields_and_ts_fallback() -> None:
    payload = dumps(
        {"op": "d", "before": {"tenant": "t1", "no": 3}, "after": None,
         "source": {"connector": "x", "db": "erp", "table": "lines", "ts_ms": 99}}
    )  # fmt: skip
    rec = DebeziumDecoder(key_fields="tenant,no").decode(payload, key=None, meta=META)
    assert rec is not None and rec.change is not None
    assert rec.change.doc_id == document_event_id("erp.lines", {"tenant": "t1", "no": 3})
    assert rec.change.deleted and rec.change.version == (99, 41)
    assert rec.event_id == f"{rec.change.doc_id}@ts:99:2:41"


def test_debezium_mysql_binlog_positions_order_changes() -> None:
    def event(file: str, pos: int) -> bytes:
        return dumps(
            {"op": "u", "before": None, "after": {"id": 1, "v": pos},
             "source": {"connector": "mysql", "db": "d", "table": "t", "file": file, "pos": pos, "row": 0, "ts_ms": 1}}
        )  # fmt: skip

    dec = DebeziumDecoder()
    early = dec.decode(event("mysql-bin.000009", 900), key=b'{"id": 1}', meta=META)
    late = dec.decode(event("mysql-bin.000010", 4), key=b'{"id": 1}', meta=META)
    assert early is not None and late is not None and early.change and late.change
    assert early.change.version is not None and late.change.version is not None
    assert early.change.version < late.change.version
    assert late.event_id == "d.t/1@lsn:mysql-bin.000010:4:0"
