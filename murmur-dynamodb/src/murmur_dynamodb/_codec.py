"""DynamoDB attribute values ⇄ plain Python, without boto3's resource layer.

We speak the low-level client's wire form (``{"N": "12"}``) ourselves: it is faster than the
resource layer, and lets us keep numbers exact (ints stay ints, Decimals stay Decimals) and
format them the way every DynamoDB endpoint accepts (no exponent notation).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from murmur import FieldError

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)


#: DynamoDB keeps a number's first 38 significant digits and refuses more (it never rounds).
MAX_DIGITS = 38


def number_text(value: int | float | Decimal) -> str:
    """The text of a DynamoDB number: plain notation (no ``1E+2``), floats by their shortest repr.

    A number with more than 38 significant digits is a ``FieldError`` naming that limit (the
    service would refuse it with a ValidationException): exact, or not at all."""
    if isinstance(value, bool):
        raise FieldError(f"expected a number, got bool {value!r}")
    if isinstance(value, int):
        text = str(value)
        if len(text) > MAX_DIGITS and len(text.lstrip("-").rstrip("0")) > MAX_DIGITS:
            raise FieldError(_too_precise(text))
        return text
    d = Decimal(repr(value)) if isinstance(value, float) else value
    if not d.is_finite():
        raise FieldError(f"DynamoDB numbers cannot be NaN or infinite (got {value!r})")
    digits = "".join(map(str, d.as_tuple().digits)).strip("0")  # (normalize() would round to 28)
    if len(digits) > MAX_DIGITS:
        raise FieldError(_too_precise(format(d, "f")))
    return format(d, "f")


def _too_precise(text: str) -> str:
    shown = text if len(text) <= 60 else f"{text[:28]}…{text[-28:]}"
    return f"{shown} has more than the {MAX_DIGITS} significant digits a DynamoDB number keeps exactly"


def number(value: int | float | Decimal) -> AttributeValue:
    return {"N": number_text(value)}


def parse_number(text: str) -> int | Decimal:
    """An int when the number is integral, else an exact Decimal."""
    d = Decimal(text)
    return int(d) if d == d.to_integral_value() else d


def micros(value: dt.datetime) -> int:
    """Epoch microseconds of a datetime (a naive one is taken as UTC), for ordered storage."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return (aware - _EPOCH) // _MICRO


def from_micros(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


def plain(av: Mapping[str, Any]) -> Any:
    """One attribute value as plain Python: numbers are int when integral, else Decimal."""
    ((tag, inner),) = av.items()
    if tag == "S":
        return inner
    if tag == "N":
        return parse_number(inner)
    if tag == "B":
        return bytes(inner)
    if tag == "BOOL":
        return bool(inner)
    if tag == "NULL":
        return None
    if tag == "M":
        return {k: plain(v) for k, v in inner.items()}
    if tag == "L":
        return [plain(v) for v in inner]
    if tag == "SS":
        return set(inner)
    if tag == "NS":
        return {parse_number(n) for n in inner}
    if tag == "BS":
        return {bytes(b) for b in inner}
    raise ValueError(f"unknown DynamoDB attribute type {tag!r}")


def plain_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {k: plain(v) for k, v in item.items()}


def key_to_json(key: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A primary key (or LastEvaluatedKey) as JSON: binary parts become base64 text."""
    out: dict[str, Any] = {}
    for name, av in key.items():
        ((tag, inner),) = av.items()
        out[name] = {tag: base64.b64encode(bytes(inner)).decode() if tag == "B" else inner}
    return out


def key_from_json(doc: Mapping[str, Any]) -> Item:
    out: Item = {}
    for name, av in doc.items():
        ((tag, inner),) = av.items()
        out[name] = {tag: base64.b64decode(inner) if tag == "B" else inner}
    return out


def name_hash(name: str) -> int:
    """A stable 63-bit number for a name, used as the sort key of named items (meta)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


def backoff(attempt: int, base: float = 0.02, cap: float = 1.0) -> None:
    """Sleep with exponential backoff and full jitter (attempt counts from 0)."""
    time.sleep(random.uniform(0, min(cap, base * (2**attempt))))


def now() -> float:
    return time.time()
