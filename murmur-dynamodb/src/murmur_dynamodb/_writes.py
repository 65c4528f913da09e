"""How each monoid kind's delta becomes a DynamoDB write, and how stored state reads back.

The store (``store.py``) decides *when* and *how together* writes go out (one by one, or in a
``TransactWriteItems``); this module decides *what* each write is for a monoid kind:

- ``sum``/``count``: ``UpdateItem ADD`` — atomic, exact (ints and Decimals; floats by their
  shortest decimal text), negative deltas for retractions. ``vt`` remembers a float or Decimal
  sum so it reads back as one; integral sums read back as ``int``.
- ``min``/``max``: a conditional ``SET`` that only lands when the new value is lower/higher
  (equal is a no-op). Numbers and strings compare natively; datetimes are kept as epoch
  microseconds (``vt = "dt"``; naive ones are taken as UTC).
- anything else: compare-and-swap on ``ver``: the write carries ``monoid.combine(stored, delta)``
  encoded as binary, conditioned on the version read.

An expired item (``ttl`` passed but not yet deleted — DynamoDB deletes lazily) reads as missing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from murmur import FieldError, Monoid, StateKey, StoreError

from murmur_dynamodb._codec import Item, from_micros, micros, now, number, parse_number

__all__ = [
    "ADDITIVE",
    "EXTREMES",
    "Write",
    "add",
    "cas",
    "decode",
    "describe_key",
    "extreme",
    "extreme_needed",
    "is_live",
]

ADDITIVE = frozenset({"sum", "count"})
EXTREMES = frozenset({"min", "max"})

_EXPIRED = "(attribute_exists(#ttl) AND #ttl <= :now)"


def is_live(item: Item | None, at: float) -> bool:
    """Whether ``item`` exists and its ``ttl`` (if any) has not passed at ``at``."""
    return item is not None and not ("ttl" in item and float(item["ttl"]["N"]) <= at)


def describe_key(table: str, av_key: Item) -> str:
    """``table/pk/sk``, for error messages."""
    return f"{table}/{av_key['pk']['S']}/{av_key['sk']['N']}"


@dataclass
class Write:
    """One state key's update, ready for UpdateItem or a transaction's ``Update``."""

    key: StateKey
    av_key: Item
    update: str
    condition: str
    names: dict[str, str]
    values: dict[str, Any]
    #: Non-transactional only: what a failed condition means (None ⇒ the write is a no-op).
    on_conflict: Callable[[Item | None], None] | None = field(default=None, repr=False)
    is_min: bool = False

    def params(self, table: str) -> dict[str, Any]:
        return {
            "TableName": table,
            "Key": self.av_key,
            "UpdateExpression": self.update,
            "ConditionExpression": self.condition,
            "ExpressionAttributeNames": self.names,
            "ExpressionAttributeValues": self.values,
        }


def decode(item: Item | None, monoid: Monoid[Any], at: float, *, table: str, what: str) -> Any:
    """The state a stored item holds for ``monoid`` (None when missing or expired)."""
    if item is None or not is_live(item, at) or "v" not in item:
        return None
    value = item["v"]
    kind = monoid.kind
    if kind in ADDITIVE or kind in EXTREMES:
        if "S" in value:
            return value["S"]
        if "N" not in value:
            raise StoreError(f"{what}: key {describe_key(table, item)} holds no number for {monoid.spec}")
        marker = item.get("vt", {}).get("S")
        if marker == "f":
            return float(value["N"])
        if marker == "d":
            return Decimal(value["N"])
        if marker == "dt":
            return from_micros(int(value["N"]))
        return parse_number(value["N"])
    if "B" not in value:
        raise StoreError(f"{what}: key {describe_key(table, item)} holds no encoded {monoid.spec} state")
    return monoid.decode(bytes(value["B"]), key=describe_key(table, item))


def add(av_key: Item, key: StateKey, delta: Any, expiry: int | None, at: float) -> Write:
    """A ``sum``/``count`` delta: ``ADD``, unless the item expired (then it is started over)."""
    names = {"#v": "v", "#ttl": "ttl"}
    values: dict[str, Any] = {":d": number(delta), ":now": number(int(at))}
    sets = []
    if expiry is not None:
        sets.append("#ttl = :ttl")
        values[":ttl"] = number(int(expiry))
    if isinstance(delta, float):  # a float sum reads back as float unless a Decimal joined it
        names["#vt"] = "vt"
        sets.append("#vt = if_not_exists(#vt, :vt)")
        values[":vt"] = {"S": "f"}
    elif isinstance(delta, Decimal):
        names["#vt"] = "vt"
        sets.append("#vt = :vt")
        values[":vt"] = {"S": "d"}
    update = "ADD #v :d" + (" SET " + ", ".join(sets) if sets else "")
    return Write(key, av_key, update, "attribute_not_exists(#ttl) OR #ttl > :now", names, values)


def _extreme_form(kind: str, value: Any) -> tuple[dict[str, Any], str, str | None]:
    """(attribute value, DynamoDB type, ``vt`` marker) of a min/max value."""
    if isinstance(value, bool):
        raise FieldError(f"{kind}: expected a number, string or datetime, got bool")
    if isinstance(value, str):
        return {"S": value}, "S", None
    if isinstance(value, dt.datetime):
        return number(micros(value)), "N", "dt"
    if isinstance(value, int):
        return number(value), "N", None
    if isinstance(value, float):
        return number(value), "N", "f"
    if isinstance(value, Decimal):
        return number(value), "N", "d"
    raise FieldError(f"{kind}: cannot store a {type(value).__name__} ({value!r:.40}) as a min/max value")


def extreme(av_key: Item, key: StateKey, kind: str, value: Any, expiry: int | None, at: float, *, table: str) -> Write:
    """A ``min``/``max`` value: a ``SET`` that only lands when it beats what is stored."""
    x, ty, marker = _extreme_form(kind, value)
    names = {"#v": "v", "#ttl": "ttl", "#vt": "vt"}
    values: dict[str, Any] = {":x": x, ":ty": {"S": ty}, ":now": number(int(at))}
    if marker == "dt":
        guard = "#vt = :dt AND "
        values[":dt"] = {"S": "dt"}
    elif ty == "N":
        guard = "(attribute_not_exists(#vt) OR #vt <> :dt) AND "
        values[":dt"] = {"S": "dt"}
    else:
        guard = ""
    better = ">" if kind == "min" else "<"  # replace when the stored value is worse
    condition = f"attribute_not_exists(#v) OR {_EXPIRED} OR (attribute_type(#v, :ty) AND {guard}#v {better} :x)"
    sets = ["#v = :x"]
    if marker is not None:
        sets.append("#vt = :vt")
        values[":vt"] = {"S": marker}
    if expiry is not None:
        sets.append("#ttl = :ttl")
        values[":ttl"] = number(int(expiry))
    update = "SET " + ", ".join(sets) + ("" if marker is not None else " REMOVE #vt")

    def on_conflict(stored: Item | None) -> None:
        # The stored value is at least as good: a silent no-op — unless it is of another type.
        if stored is not None and is_live(stored, now()) and "v" in stored:
            stored_type = "S" if "S" in stored["v"] else "N"
            stored_dt = stored.get("vt", {}).get("S") == "dt"
            if stored_type != ty or stored_dt != (marker == "dt"):
                raise FieldError(
                    f"{kind}: cannot compare the stored value of {describe_key(table, av_key)} with {value!r:.40}"
                )

    return Write(key, av_key, update, condition, names, values, on_conflict, kind == "min")


def extreme_needed(write: Write, stored: Item | None, at: float) -> bool:
    """Whether a min/max write would change the key: in a transaction a failed condition
    cancels everything, so keys that would not change are left out."""
    if stored is None or not is_live(stored, at) or "v" not in stored:
        return True
    assert write.on_conflict is not None
    write.on_conflict(stored)  # raises on a type mismatch
    x, old = write.values[":x"], stored["v"]
    new_value: Any = x["S"] if "S" in x else Decimal(x["N"])
    old_value: Any = old["S"] if "S" in old else Decimal(old["N"])
    return bool(new_value < old_value) if write.is_min else bool(new_value > old_value)


def cas(
    av_key: Item,
    key: StateKey,
    monoid: Monoid[Any],
    delta: Any,
    stored: Item | None,
    expiry: int | None,
    at: float,
    *,
    table: str,
    what: str,
) -> Write:
    """Any other monoid: ``combine(stored, delta)``, conditioned on the version read."""
    old = decode(stored, monoid, at, table=table, what=what)
    new = delta if old is None else monoid.combine(old, delta)
    names = {"#v": "v", "#ver": "ver"}
    version = int(stored["ver"]["N"]) if stored is not None and "ver" in stored else None
    values: dict[str, Any] = {":v": {"B": monoid.encode(new)}, ":next": number((version or 0) + 1)}
    if version is None:
        condition = "attribute_not_exists(#ver)"
    else:
        condition = "#ver = :ver"
        values[":ver"] = number(version)
    sets = ["#v = :v", "#ver = :next"]
    if expiry is not None:
        names["#ttl"] = "ttl"
        sets.append("#ttl = :ttl")
        values[":ttl"] = number(int(expiry))
    return Write(key, av_key, "SET " + ", ".join(sets), condition, names, values)
