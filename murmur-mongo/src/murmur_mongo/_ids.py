"""``_id`` values: their JSON form (positions, segment bounds) and the queries that page them.

MongoDB compares values of different BSON types by a fixed type order, and a range operator
(``$gt``, ``$lte``) only matches values of its operand's type bracket. So ``{_id: {$gt: last}}``
alone would end a scan at the last number of a collection whose ids are numbers *and* strings.
We therefore walk the type brackets in MongoDB's order and page inside each one. Every query
carries an ``_id`` range, which is also what makes nx-27017 sort integer ids as numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from bson import Binary, Decimal128, ObjectId, Timestamp, json_util
from bson.binary import UuidRepresentation
from bson.codec_options import DatetimeConversion
from bson.datetime_ms import DatetimeMS
from bson.json_util import JSONMode, JSONOptions

__all__ = [
    "BRACKETS",
    "JSON_OPTIONS",
    "LOAD_OPTIONS",
    "Bracket",
    "bracket_of",
    "id_from_json",
    "id_to_json",
    "native_uuids",
    "order_boundaries",
]

T = TypeVar("T")

#: Canonical extended JSON, with UUIDs as subtype 4 and out-of-range dates kept as DatetimeMS,
#: so that every ``_id`` round-trips exactly (int stays int, Int64 stays long, "5" stays a string).
JSON_OPTIONS = JSONOptions(
    json_mode=JSONMode.CANONICAL,
    uuid_representation=UuidRepresentation.STANDARD,
    tz_aware=True,
    tzinfo=dt.UTC,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)

#: json_util.loads with STANDARD turns legacy UUIDs (subtype 3) into uuid.UUID, which encodes
#: back as subtype 4: a different _id. So read binaries as they are, then make subtype 4 native.
LOAD_OPTIONS = JSON_OPTIONS.with_options(uuid_representation=UuidRepresentation.UNSPECIFIED)


def id_to_json(value: Any) -> dict[str, Any]:
    """``{"_id": <canonical extended JSON>}``: plain JSON that :func:`id_from_json` turns back
    into the very same BSON value. Wrapped in a document so that a ``null`` id stays distinct
    from "no position"."""
    doc: dict[str, Any] = json.loads(json_util.dumps({"_id": value}, json_options=JSON_OPTIONS))
    return doc


def id_from_json(doc: Any, *, what: str = "position") -> Any:
    """The ``_id`` stored by :func:`id_to_json`; ``ValueError`` naming ``what`` if malformed."""
    if not isinstance(doc, Mapping) or set(doc) != {"_id"}:
        raise ValueError(f"{what}: expected {{'_id': <extended JSON>}}, got {doc!r}")
    try:
        value = json_util.loads(json.dumps(dict(doc)), json_options=LOAD_OPTIONS)["_id"]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: not a valid extended-JSON _id ({exc})") from None
    return native_uuids(value)


def native_uuids(value: Any) -> Any:
    """Binary subtype 4 as ``uuid.UUID`` (at any depth), as documents are decoded."""
    if isinstance(value, Binary) and value.subtype == 4 and len(value) == 16:
        return uuid.UUID(bytes=bytes(value))
    if isinstance(value, dict):
        return {k: native_uuids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [native_uuids(v) for v in value]
    return value


@dataclass(frozen=True)
class Bracket:
    """One BSON type bracket: ``every`` is an ``_id`` condition matching exactly its values.

    Where both real MongoDB and nx-27017 accept it, ``every`` is a range from the bracket's
    smallest value (an index seek on MongoDB); otherwise a ``$type`` test.
    """

    name: str
    every: Mapping[str, Any]
    pageable: bool = True

    def clause(self, gt: Any = None, lte: Any = None, *, has_gt: bool = False, has_lte: bool = False) -> dict[str, Any]:
        cond = dict(self.every)
        if has_gt:
            cond["$gt"] = gt
        if has_lte:
            cond["$lte"] = lte
        return cond


_EPOCH_MIN = dt.datetime(1, 1, 1, tzinfo=dt.UTC)

#: MongoDB's comparison order of the types an ``_id`` can have (arrays cannot be ids;
#: regular expressions, MinKey, MaxKey and JavaScript ids are not supported).
BRACKETS: tuple[Bracket, ...] = (
    Bracket("null", {"$type": "null"}, pageable=False),
    Bracket("number", {"$type": "number"}),
    Bracket("string", {"$gte": ""}),
    Bracket("object", {"$type": "object"}),
    Bracket("binary", {"$gte": Binary(b"", 0)}),
    Bracket("objectId", {"$gte": ObjectId("0" * 24)}),
    Bracket("bool", {"$type": "bool"}),
    Bracket("date", {"$gte": _EPOCH_MIN}),
    Bracket("timestamp", {"$type": "timestamp"}),
)
_INDEX = {b.name: i for i, b in enumerate(BRACKETS)}


def bracket_of(value: Any) -> int | None:
    """Index in :data:`BRACKETS` of the value's type bracket, ``None`` for unsupported types."""
    if value is None:
        return _INDEX["null"]
    if isinstance(value, bool):
        return _INDEX["bool"]
    if isinstance(value, (int, float, Decimal128)):
        return _INDEX["number"]
    if isinstance(value, str):
        return _INDEX["string"]
    if isinstance(value, Mapping):
        return _INDEX["object"]
    if isinstance(value, (bytes, uuid.UUID)):  # Binary is a bytes subclass
        return _INDEX["binary"]
    if isinstance(value, ObjectId):
        return _INDEX["objectId"]
    if isinstance(value, (dt.datetime, DatetimeMS)):
        return _INDEX["date"]
    if isinstance(value, Timestamp):
        return _INDEX["timestamp"]
    return None


def order_boundaries(rows: Sequence[tuple[Any, T]]) -> list[tuple[Any, T]]:
    """``(id, payload)`` rows (``$bucketAuto`` output) in scan order.

    Brackets go in MongoDB's order (nx-27017 orders some brackets differently). Inside the
    brackets where Python compares as MongoDB does (numbers, strings, ObjectIds, dates,
    booleans) rows are sorted by value, so a server that sorts numbers as text cannot give
    cut points that go backwards (which would make two segments overlap); elsewhere the
    server's order is kept. Ids of unsupported types, ``null`` and NaN are dropped.
    """
    keyed: list[tuple[int, Any, int, tuple[Any, T]]] = []
    for i, row in enumerate(rows):
        b = bracket_of(row[0])
        if b is None or row[0] is None:
            continue
        value = _comparable(b, row[0])
        if value is _NAN:
            continue
        keyed.append((b, value, i, row))
    keyed.sort(key=lambda t: (t[0], t[1] if t[1] is not None else 0, t[2]))
    return [row for _, _, _, row in keyed]


_NAN = object()
_SORTABLE = frozenset({_INDEX["number"], _INDEX["string"], _INDEX["objectId"], _INDEX["date"], _INDEX["bool"]})


def _comparable(bracket: int, value: Any) -> Any:
    """A Python value ordered as MongoDB orders ``value`` in its bracket, or ``None`` (keep the server's order)."""
    if bracket not in _SORTABLE:
        return None
    if bracket == _INDEX["number"]:
        number = value.to_decimal() if isinstance(value, Decimal128) else Decimal(value)
        return _NAN if number.is_nan() else number
    if bracket == _INDEX["date"] and isinstance(value, DatetimeMS):
        return int(value)  # milliseconds since the epoch, like the datetimes below
    if bracket == _INDEX["date"] and isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return int(aware.timestamp() * 1000)
    return value
