"""Sum and Count: the group monoids, exact for ints and Decimals (SPEC §2)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from murmur.monoids._base import MonoidBase, from_jsonable, wrong_type

Number = int | float | Decimal


def _add(a: Number, b: Number) -> Number:
    try:
        return a + b  # type: ignore[operator]
    except TypeError:  # Decimal + float: keep the exact side exact
        return Decimal(str(a)) + Decimal(str(b))


def _stored_number(kind: str, doc: Any) -> Number:
    value = from_jsonable(doc)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"stored {kind} value is a {type(value).__name__}, not a number")
    return value  # type: ignore[no-any-return]


class Sum(MonoidBase):
    """Sum of numbers; ints stay ints (exact at any size), Decimals stay Decimals."""

    kind = "sum"

    def identity(self) -> Number:
        return 0

    def combine(self, a: Number, b: Number) -> Number:
        return _add(a, b)

    def inverse(self, a: Number) -> Number:
        return -a

    def from_json(self, doc: Any) -> Number:
        return _stored_number("sum", doc)

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> Number:
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            if not (isinstance(value, int) or math.isfinite(value)):  # NaN/inf would poison the sum for good
                raise wrong_type("sum", "a finite number", value)
            return value
        if type(value).__name__ == "Decimal128":  # BSON decimal, without importing bson
            return value.to_decimal()  # type: ignore[no-any-return]
        raise wrong_type("sum", "a number", value)


class Count(MonoidBase):
    """Number of events; the value is ignored, so a count pipeline needs no value."""

    kind = "count"

    def identity(self) -> int:
        return 0

    def combine(self, a: int, b: int) -> int:
        return a + b

    def inverse(self, a: int) -> int:
        return -a

    def from_json(self, doc: Any) -> int:
        value = _stored_number("count", doc)
        if not isinstance(value, int):
            raise TypeError(f"stored count is a {type(value).__name__}, not an integer")
        return value

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> int:
        return 1
