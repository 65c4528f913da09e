"""BSON documents to Python values, one at a time, and user JSON to queries.

Cursors hand us raw BSON (``RawBSONDocument``) so that one undecodable document becomes one
poison record instead of failing the whole batch it arrived in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import bson
from bson import ObjectId, json_util
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.raw_bson import RawBSONDocument
from murmur import ConfigError

from murmur_mongo._ids import JSON_OPTIONS, LOAD_OPTIONS, native_uuids

__all__ = [
    "DECODE",
    "RAW",
    "decode",
    "fix_nx_object_ids",
    "has_nx_object_ids",
    "is_missing",
    "parse_query",
    "rewrite_for_change_events",
    "salvage_id",
    "token_from_json",
    "token_to_json",
]

#: How documents are decoded: aware UTC datetimes (dates outside Python's range stay
#: ``DatetimeMS`` instead of failing), UUIDs as ``uuid.UUID``.
DECODE: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True,
    tzinfo=dt.UTC,
    uuid_representation=UuidRepresentation.STANDARD,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)
#: What cursors return: undecoded documents.
RAW: CodecOptions[RawBSONDocument] = CodecOptions(
    document_class=RawBSONDocument,
    tz_aware=True,
    tzinfo=dt.UTC,
    uuid_representation=UuidRepresentation.STANDARD,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)
_LENIENT: CodecOptions[dict[str, Any]] = DECODE.with_options(unicode_decode_error_handler="replace")

_MISSING = object()


def decode(raw: bytes | memoryview) -> dict[str, Any]:
    """The document as a dict; raises (``bson.errors.InvalidBSON``...) if it cannot be decoded."""
    return bson.decode(bytes(raw), DECODE)


def salvage_id(raw: bytes | memoryview, field: str = "_id") -> Any:
    """Best effort: the ``field`` of a document that did not decode strictly (bad UTF-8 is
    replaced), or ``_MISSING``. Good enough to name the document in an error."""
    try:
        doc = bson.decode(bytes(raw), _LENIENT)
    except Exception:
        return _MISSING
    value: Any = doc
    for part in field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def is_missing(value: Any) -> bool:
    return value is _MISSING


_NX_OID = "__neosqlite_objectid__"


def fix_nx_object_ids(value: Any) -> Any:
    """nx-27017 sends ObjectIds inside change events' ``fullDocument`` as
    ``{"__neosqlite_objectid__": true, "id": "<hex>"}``; put real ObjectIds back, at any depth."""
    if isinstance(value, dict):
        if value.get(_NX_OID) is True and isinstance(value.get("id"), str) and len(value) == 2:
            return ObjectId(value["id"])
        return {k: fix_nx_object_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [fix_nx_object_ids(v) for v in value]
    return value


def has_nx_object_ids(raw: bytes | memoryview) -> bool:
    return _NX_OID.encode() in bytes(raw)


def parse_query(value: Any, option: str) -> dict[str, Any] | None:
    """A filter/projection option (a JSON object, as text or already parsed) as a BSON query.

    Extended JSON works (``{"_id": {"$oid": "..."}}``, ``{"at": {"$gte": {"$date": "..."}}}``).
    """
    if value is None or value == "" or value == {}:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        parsed = json_util.loads(text, json_options=JSON_OPTIONS)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"mongo: option {option!r} is not valid (extended) JSON: {exc}", option=option) from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"mongo: option {option!r} must be a JSON object, got {type(parsed).__name__}", option=option)
    return parsed or None


_NOT_REWRITABLE = ("$where", "$expr", "$text", "$function", "$jsonSchema")


def rewrite_for_change_events(query: Mapping[str, Any], option: str = "filter") -> dict[str, Any]:
    """``{"status": "paid", "$or": [{"a": 1}]}`` ⇒ ``{"fullDocument.status": "paid", "$or":
    [{"fullDocument.a": 1}]}``: the same condition on a change event's ``fullDocument``."""
    out: dict[str, Any] = {}
    for key, cond in query.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(cond, list):
                raise ConfigError(f"mongo-changes: {option}: {key} needs a list", option=option)
            out[key] = [rewrite_for_change_events(c, option) for c in cond]
        elif key in _NOT_REWRITABLE:
            raise ConfigError(
                f"mongo-changes: {option}: {key} cannot be applied to change events; use field conditions",
                option=option,
            )
        elif key.startswith("$"):
            out[key] = cond  # $comment and friends
        else:
            out[f"fullDocument.{key}"] = cond
    return out


def token_to_json(token: Any) -> dict[str, Any]:
    """A resume token (``RawBSONDocument`` or dict) as plain JSON (canonical extended JSON)."""
    doc = bson.decode(token.raw, DECODE) if isinstance(token, RawBSONDocument) else dict(token)
    out: dict[str, Any] = json.loads(json_util.dumps(doc, json_options=JSON_OPTIONS))
    return out


def token_from_json(doc: Any) -> dict[str, Any]:
    """The resume token stored by :func:`token_to_json`; ``ValueError`` if it is not a document."""
    if not isinstance(doc, Mapping) or not doc:
        raise ValueError(f"not a resume token: {doc!r}")
    token: dict[str, Any] = native_uuids(json_util.loads(json.dumps(dict(doc)), json_options=LOAD_OPTIONS))
    return token
