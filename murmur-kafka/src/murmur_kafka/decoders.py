"""Payload decoders for the Kafka source: ``json``, ``raw`` and ``debezium`` (murmur.Decoder protocol).

A decoder turns one message value into a :class:`murmur.Record`; it raises ``DecodeError`` (or
``FieldError``) for a payload it cannot use, which the source turns into a poison record that the
runtime dead-letters. ``meta`` carries ``topic``, ``partition``, ``offset``, ``headers`` and
``timestamp`` of the message.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec
import murmur
from murmur import Change, DecodeError, FieldError, Record, document_event_id, field_getter, parse_event_time

__all__ = [
    "CountsEventIdFallbacks",
    "DebeziumDecoder",
    "JsonDecoder",
    "ObjectId",
    "RawDecoder",
    "decode_extended_json",
    "default_event_id",
]

Mode = Literal["append", "changelog"]


def default_event_id(meta: Mapping[str, Any]) -> str | None:
    """``<topic>:<partition>:<offset>`` (SPEC §1), or ``None`` when the message position is unknown."""
    try:
        return f"{meta['topic']}:{meta['partition']}:{meta['offset']}"
    except KeyError:
        return None


#: Untyped msgspec decoding keeps integers exact at any size, like the block path's typed decode
#: (orjson turns 10**30 into 1e+30 without a word) and refuses numbers beyond the float range.
_JSON = msgspec.json.Decoder()


def _loads(payload: bytes | str, what: str) -> Any:
    try:
        return _JSON.decode(payload)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"{what}: payload is not JSON ({exc})") from None


class _EventTime:
    """Reads and parses an event-time field path; ``None`` when no path is configured."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._get = field_getter(path) if path else None
        self._parse = parse_event_time

    def __call__(self, value: Any) -> dt.datetime | None:
        if self._get is None:
            return None
        raw = self._get(value)
        if raw is None:
            raise FieldError(f"event-time field {self.path!r} is null")
        return self._parse(raw, field=self.path or "")


# --------------------------------------------------------------------------- json


@runtime_checkable
class CountsEventIdFallbacks(Protocol):
    """A decoder that counts the payloads whose event-id field was null or empty (the source
    reports the count as ``event_id_fallback`` in its stats)."""

    event_id_fallbacks: int


class JsonDecoder:
    """JSON payloads (msgspec: integers exact at any size). The record value is the parsed document.

    ``event_id``: a field path whose value is the dedup id; without it, or where the field is
    null or empty, the id is ``<topic>:<partition>:<offset>`` (the fallbacks are counted in
    ``event_id_fallbacks``; a missing field is still an error). ``event_time``: a field path
    (ISO-8601 or epoch s/ms); without it the Kafka source uses the message timestamp.
    """

    name = "json"
    default_mode: Mode = "append"

    def __init__(self, *, event_id: str | None = None, event_time: str | None = None) -> None:
        self.event_id_path = event_id
        self._event_id = field_getter(event_id) if event_id else None
        self._event_time = _EventTime(event_time)
        #: Payloads whose event-id field was null or empty (only the consumer's thread writes it).
        self.event_id_fallbacks = 0

    @property
    def document_only(self) -> bool:
        """No field paths: a payload's record is its JSON document and nothing it holds can make
        it fail otherwise, so a source may hand payloads to the runtime's batch decoding as they are."""
        return self._event_id is None and self._event_time.path is None

    def decode(self, payload: bytes | None, *, key: bytes | None, meta: Mapping[str, Any]) -> Record | None:
        if payload is None:
            return None
        value = _loads(payload, "json")
        if self._event_id is not None:
            raw_id = self._event_id(value)
            if raw_id is None or raw_id == "":
                # As the Go original does: the message's position still identifies it exactly.
                self.event_id_fallbacks += 1
                event_id: str | None = default_event_id(meta)
            else:
                event_id = str(raw_id)
        else:
            event_id = default_event_id(meta)
        return Record(value, event_id=event_id, event_time=self._event_time(value))


# --------------------------------------------------------------------------- raw


class RawDecoder:
    """The payload as it is: text decoded with ``encoding`` (default utf-8), or ``bytes`` with
    ``encoding=bytes``. The event id is ``<topic>:<partition>:<offset>``."""

    name = "raw"
    default_mode: Mode = "append"

    def __init__(self, *, encoding: str = "utf-8") -> None:
        self.encoding = encoding or "utf-8"
        if self.encoding != "bytes":
            try:
                "".encode(self.encoding)
            except LookupError:
                raise murmur.ConfigError(
                    f"raw decoder: unknown encoding {self.encoding!r} (give a Python codec name or 'bytes')",
                    option="encoding",
                ) from None

    def decode(self, payload: bytes | None, *, key: bytes | None, meta: Mapping[str, Any]) -> Record | None:
        if payload is None:
            return None
        if self.encoding == "bytes":
            return Record(bytes(payload), event_id=default_event_id(meta))
        try:
            text = bytes(payload).decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise DecodeError(f"raw: payload is not {self.encoding} ({exc.reason} at byte {exc.start})") from None
        return Record(text, event_id=default_event_id(meta))


# --------------------------------------------------------------------------- extended JSON


class ObjectId(str):
    """A BSON ObjectId known by its 24 hex characters (from extended JSON ``{"$oid": ...}``).

    It is a ``str`` (so keys and values built from it read as the hex text, like
    ``str(bson.ObjectId)``) and ``murmur.render_id`` renders it like pymongo's ObjectId, so a
    document id decoded here equals the one the Mongo snapshot source produces.
    """

    __slots__ = ()


def _ext_date(inner: Any) -> Any:
    if isinstance(inner, Mapping) and "$numberLong" in inner:
        inner = int(inner["$numberLong"])
    if isinstance(inner, (int, float)) and not isinstance(inner, bool):
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=inner)
    if isinstance(inner, str):
        try:
            parsed = dt.datetime.fromisoformat(inner.replace("Z", "+00:00"))
        except ValueError:
            return {"$date": inner}
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return {"$date": inner}


def _ext_binary(data: str, subtype: str) -> Any:
    raw = base64.b64decode(data)
    if subtype.lower().lstrip("0") in ("3", "4") and len(raw) == 16:
        return uuid.UUID(bytes=raw)
    return raw


def _ext_scalar(doc: Mapping[str, Any]) -> Any:
    """The native value an extended-JSON wrapper stands for, or ``doc`` itself if it is not one."""
    if len(doc) == 1:
        ((tag, inner),) = doc.items()
        try:
            if tag == "$oid" and isinstance(inner, str):
                return ObjectId(inner.lower())
            if tag in ("$numberLong", "$numberInt") and isinstance(inner, str):
                return int(inner)
            if tag == "$numberDouble" and isinstance(inner, str):
                return float(inner)
            if tag == "$numberDecimal" and isinstance(inner, str):
                return Decimal(inner)
            if tag == "$date":
                return _ext_date(inner)
            if tag == "$uuid" and isinstance(inner, str):
                return uuid.UUID(inner)
            if tag == "$binary" and isinstance(inner, Mapping):
                return _ext_binary(str(inner.get("base64", "")), str(inner.get("subType", "00")))
            if tag == "$symbol" and isinstance(inner, str):
                return inner
        except (ValueError, InvalidOperation, TypeError):
            return doc
    elif len(doc) == 2 and "$binary" in doc and "$type" in doc and isinstance(doc["$binary"], str):
        # legacy (strict-mode) binary, as older Debezium MongoDB connectors emit it
        try:
            return _ext_binary(doc["$binary"], str(doc["$type"]))
        except ValueError:
            return doc
    return doc


def _relax(value: Any) -> Any:
    if isinstance(value, dict):
        if value and next(iter(value)).startswith("$"):
            scalar = _ext_scalar(value)
            if scalar is not value:
                return scalar
        return {k: _relax(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_relax(v) for v in value]
    return value


def decode_extended_json(text: str | bytes) -> Any:
    """Parse MongoDB extended JSON (canonical, relaxed or legacy strict) into plain values.

    ``{"$numberLong": "5"}`` ⇒ 5, ``{"$numberDecimal": "1.5"}`` ⇒ ``Decimal``, ``{"$date": ...}``
    ⇒ aware datetime, ``{"$oid": h}`` ⇒ :class:`ObjectId`, binary ⇒ ``bytes`` (``UUID`` for
    subtypes 3/4). Other wrappers (``$timestamp``, ``$regularExpression``...) are kept as they are.
    Raises ``DecodeError`` for text that is not JSON.
    """
    parsed = _loads(text, "extended JSON")
    has_wrappers = ("$" in text) if isinstance(text, str) else (b"$" in text)
    return _relax(parsed) if has_wrappers else parsed


# --------------------------------------------------------------------------- debezium

#: Debezium op ⇒ Change.op (a snapshot read counts as an insert).
_CHANGE_OPS = {"c": "insert", "r": "insert", "u": "update", "d": "delete"}
_OPS = {"c": "create", "r": "read (snapshot)", "u": "update", "d": "delete"}
_CONNECT_DECIMAL = "org.apache.kafka.connect.data.Decimal"
_VARIABLE_DECIMAL = "io.debezium.data.VariableScaleDecimal"
_BINLOG_SEQ = re.compile(r"(\d+)$")


def _unwrap(doc: Any) -> tuple[Any, Any]:
    """(payload, schema) of a Kafka Connect JSON message with or without the schema wrapper."""
    if isinstance(doc, dict) and "payload" in doc and "schema" in doc and "op" not in doc:
        return doc["payload"], doc["schema"]
    return doc, None


def _connect_decimal(scale: int, value: Any) -> Any:
    if not isinstance(value, str):
        return value  # decimal.handling.mode=double|string: already usable
    try:
        unscaled = int.from_bytes(base64.b64decode(value, validate=True), "big", signed=True)
    except ValueError:
        return value
    return Decimal(unscaled).scaleb(-scale)


def _variable_decimal(value: Any) -> Any:
    if isinstance(value, Mapping) and "scale" in value and "value" in value:
        return _connect_decimal(int(value["scale"]), value["value"])
    return value


def _converters(fields: Any) -> dict[str, Callable[[Any], Any]]:
    """Per-field converters for Kafka Connect logical types (decimals) found in a struct schema."""
    out: dict[str, Callable[[Any], Any]] = {}
    if not isinstance(fields, list):
        return out
    for f in fields:
        if not isinstance(f, Mapping) or "field" not in f:
            continue
        name = f.get("name")
        if name == _CONNECT_DECIMAL:
            params = f.get("parameters") or {}
            out[str(f["field"])] = partial(_connect_decimal, int(params.get("scale", 0)))
        elif name == _VARIABLE_DECIMAL:
            out[str(f["field"])] = _variable_decimal
    return out


def _struct_fields(schema: Any, name: str) -> Any:
    if isinstance(schema, Mapping):
        for f in schema.get("fields") or ():
            if isinstance(f, Mapping) and f.get("field") == name:
                return f.get("fields")
    return None


def _convert(row: Any, conv: Mapping[str, Callable[[Any], Any]]) -> Any:
    if not conv or not isinstance(row, dict):
        return row
    return {k: (conv[k](v) if k in conv and v is not None else v) for k, v in row.items()}


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or value is None:
        raise DecodeError(f"debezium: {what} is missing")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DecodeError(f"debezium: {what} is not an integer ({value!r})") from None


class DebeziumDecoder:
    """Debezium change events (JSON converter, with or without the ``schema``/``payload`` wrapper).

    Changelog records (SPEC §5b): ops ``c``/``r``/``u`` give the new document (``after``) with
    ``Change(doc_id, version)``, ``d`` gives ``Change(doc_id, version, deleted=True)``.

    - MongoDB connector (``source.connector == "mongodb"`` or a stringified ``after``): ``after``
      and ``before`` are extended-JSON strings; ``doc_id = <db>.<collection>/<render_id(_id)>`` with
      ``_id`` from ``after``/``before`` or the message key ``{"id": "<extended JSON>"}``, so it
      equals the Mongo snapshot source's id. Version ``(ts_ms // 1000, ord)``; update/delete event
      ids end in ``@<t>:<i>``.
    - Relational connectors: ``doc_id = <db>[.<schema>].<table>/<primary key>``, the key fields from
      the message key (or ``key_fields``). Version from the log position (PostgreSQL ``lsn``, MySQL
      binlog file/pos/row, SQL Server ``change_lsn``, Oracle ``scn``), event ids ``@lsn:<pos>``;
      without one, ``ts_ms`` and the Kafka offset (``@ts:<ts_ms>:<partition>:<offset>``).
    - Snapshot reads (``r``) have version ``None`` (older than any change) and the same event id as
      a create, so a document seen by a snapshot and by its insert counts once.
    - ``Change.before`` carries the ``before`` image when the event has one (MongoDB pre-images,
      PostgreSQL ``REPLICA IDENTITY FULL``...): append mode (``--mode append``) retracts it.
    """

    name = "debezium"
    default_mode: Mode = "changelog"

    def __init__(self, *, key_fields: Sequence[str] | str | None = None, event_time: str | None = None) -> None:
        if isinstance(key_fields, str):
            key_fields = [k.strip() for k in key_fields.split(",") if k.strip()]
        self.key_fields = tuple(key_fields or ())
        self._event_time = _EventTime(event_time)

    # -- entry point

    def decode(self, payload: bytes | None, *, key: bytes | None, meta: Mapping[str, Any]) -> Record | None:
        if payload is None:
            return None  # the tombstone Debezium writes after a delete
        doc, schema = _unwrap(_loads(payload, "debezium"))
        if doc is None:
            return None
        if not isinstance(doc, dict):
            raise DecodeError(f"debezium: expected a change-event object, got {type(doc).__name__}")
        op = doc.get("op")
        if op not in _OPS:
            if op is None:
                raise DecodeError("debezium: not a change event (no 'op' field)")
            if op == "t":
                raise DecodeError("debezium: truncate events cannot be applied per document; re-run the bootstrap")
            raise DecodeError(f"debezium: unsupported op {op!r} (expected c, r, u or d)")
        source = doc.get("source")
        if not isinstance(source, dict):
            raise DecodeError("debezium: change event has no 'source' block")
        before, after = doc.get("before"), doc.get("after")
        if source.get("connector") == "mongodb" or isinstance(after, str) or isinstance(before, str):
            ns, doc_key, before, after = self._mongo(source, before, after, key)
            version, suffix = self._mongo_version(op, source)
        else:
            ns, doc_key, before, after = self._relational(source, schema, before, after, key)
            version, suffix = self._relational_version(op, source, meta)
        if op != "d" and after is None:
            hint = " (MongoDB: set capture.mode=change_streams_update_full)" if op == "u" else ""
            raise DecodeError(f"debezium: {_OPS[op]} event without 'after'{hint}")
        doc_id = document_event_id(ns, doc_key)
        deleted = op == "d"
        event_id = doc_id if op in ("c", "r") else f"{doc_id}@{suffix}"
        event_time = self._event_time(after) if not deleted and self._event_time.path else None
        return Record(
            None if deleted else after,
            event_id=event_id,
            event_time=event_time,
            partition_key=doc_id,
            change=Change(doc_id, None if op == "r" else version, deleted, before, _CHANGE_OPS[op]),
        )

    # -- MongoDB connector

    def _mongo(
        self, source: Mapping[str, Any], before: Any, after: Any, key: bytes | None
    ) -> tuple[str, Any, Any, Any]:
        db, coll = source.get("db"), source.get("collection")
        if not db or not coll:
            raise DecodeError("debezium: MongoDB event without source.db / source.collection")
        after, before = self._mongo_doc(after, "after"), self._mongo_doc(before, "before")
        for image in (after, before):
            if isinstance(image, dict) and "_id" in image:
                return f"{db}.{coll}", image["_id"], before, after
        return f"{db}.{coll}", self._mongo_key(key), before, after

    @staticmethod
    def _mongo_doc(value: Any, what: str) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            doc = decode_extended_json(value)
        elif isinstance(value, dict):
            doc = _relax(value)
        else:
            raise DecodeError(f"debezium: '{what}' is neither a document nor a JSON string")
        if not isinstance(doc, dict):
            raise DecodeError(f"debezium: '{what}' is not a document")
        return doc

    @staticmethod
    def _mongo_key(key: bytes | None) -> Any:
        if key is None:
            raise DecodeError("debezium: cannot tell the document id: no _id in after/before and no message key")
        parsed, _ = _unwrap(_loads(key, "debezium key"))
        raw = parsed.get("id", parsed.get("_id")) if isinstance(parsed, dict) else None
        if raw is None:
            raise DecodeError("debezium: message key has no 'id' field")
        if isinstance(raw, str):
            try:
                return decode_extended_json(raw)  # the key holds the id as extended-JSON text
            except DecodeError:
                return raw
        return _relax(raw)

    @staticmethod
    def _mongo_version(op: str, source: Mapping[str, Any]) -> tuple[tuple[int, ...] | None, str]:
        if op == "r":
            return None, ""
        t = _int(source.get("ts_ms"), "source.ts_ms") // 1000
        i = _int(source.get("ord", 0), "source.ord")
        return (t, i), f"{t}:{i}"

    # -- relational connectors

    def _relational(
        self, source: Mapping[str, Any], schema: Any, before: Any, after: Any, key: bytes | None
    ) -> tuple[str, Any, Any, Any]:
        table = source.get("table") or source.get("collection")
        if not table:
            raise DecodeError("debezium: event without source.table")
        parts = [source.get("db"), source.get("schema"), table]
        ns = ".".join(str(p) for p in parts if p)
        if schema is not None:
            before = _convert(before, _converters(_struct_fields(schema, "before")))
            after = _convert(after, _converters(_struct_fields(schema, "after")))
        for image in (before, after):
            if image is not None and not isinstance(image, dict):
                raise DecodeError("debezium: 'before'/'after' must be objects")
        return ns, self._primary_key(key, before, after), before, after

    def _primary_key(self, key: bytes | None, before: Any, after: Any) -> Any:
        pk: dict[str, Any] | None = None
        if self.key_fields:
            row = after if after is not None else before
            if not isinstance(row, dict):
                raise DecodeError("debezium: no row image to read the key fields from")
            missing = [f for f in self.key_fields if f not in row]
            if missing:
                raise DecodeError(f"debezium: key field(s) {', '.join(missing)} missing from the row")
            pk = {f: row[f] for f in self.key_fields}
        elif key is not None:
            parsed, key_schema = _unwrap(_loads(key, "debezium key"))
            if isinstance(parsed, dict):
                pk = _convert(
                    parsed, _converters(key_schema.get("fields") if isinstance(key_schema, Mapping) else None)
                )
        if not pk:
            raise DecodeError(
                "debezium: cannot tell the primary key: the message has no key (give -S decoder.key_fields=...)"
            )
        return next(iter(pk.values())) if len(pk) == 1 else pk

    @staticmethod
    def _relational_version(
        op: str, source: Mapping[str, Any], meta: Mapping[str, Any]
    ) -> tuple[tuple[int, ...] | None, str]:
        if op == "r":
            return None, ""
        if source.get("lsn") is not None:  # PostgreSQL
            lsn = _int(source["lsn"], "source.lsn")
            return (lsn,), f"lsn:{lsn}"
        if source.get("file") and source.get("pos") is not None:  # MySQL / MariaDB binlog
            match = _BINLOG_SEQ.search(str(source["file"]))
            seq = int(match.group(1)) if match else 0
            pos, row = _int(source["pos"], "source.pos"), _int(source.get("row", 0), "source.row")
            return (seq, pos, row), f"lsn:{source['file']}:{pos}:{row}"
        if source.get("change_lsn"):  # SQL Server
            change_lsn = str(source["change_lsn"])
            serial = _int(source.get("event_serial_no", 0), "source.event_serial_no")
            try:
                parts = tuple(int(p, 16) for p in change_lsn.split(":"))
            except ValueError:
                raise DecodeError(f"debezium: source.change_lsn {change_lsn!r} is not an LSN") from None
            return (*parts, serial), f"lsn:{change_lsn}:{serial}"
        if source.get("scn") is not None:  # Oracle
            scn = _int(source["scn"], "source.scn")
            return (scn,), f"lsn:{scn}"
        ts = _int(source.get("ts_ms"), "source.ts_ms")
        # ts_ms alone is not unique: two changes of a row in one millisecond would share an id
        # (and the second would be dropped as a duplicate), so the Kafka offset breaks the tie.
        offset = _int(meta.get("offset"), "message offset")
        return (ts, offset), f"ts:{ts}:{meta.get('partition')}:{offset}"
