"""Min and Max (unset identity, so negatives work), First and Last by event time (SPEC §2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from murmur._errors import FieldError
from murmur.monoids._base import MonoidBase, from_jsonable, to_jsonable, wrong_type

_COMPARABLE = (int, float, Decimal, str, dt.datetime)


def _comparable(kind: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, _COMPARABLE):
        raise wrong_type(kind, "a number, string or datetime", value)
    return value


class _Extreme(MonoidBase):
    """Identity is ``None`` (unset), not 0: the min of -5 and nothing is -5."""

    def identity(self) -> Any:
        return None

    def _pick(self, a: Any, b: Any) -> bool:  # True ⇒ keep a
        raise NotImplementedError

    def combine(self, a: Any, b: Any) -> Any:
        if a is None:
            return b
        if b is None:
            return a
        try:
            return a if self._pick(a, b) else b
        except TypeError:
            raise FieldError(f"{self.kind}: cannot compare {a!r:.40} with {b!r:.40}") from None

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> Any:
        return _comparable(self.kind, value)


class Min(_Extreme):
    kind = "min"

    def _pick(self, a: Any, b: Any) -> bool:
        return bool(a <= b)


class Max(_Extreme):
    kind = "max"

    def _pick(self, a: Any, b: Any) -> bool:
        return bool(a >= b)


class _Stamped(MonoidBase):
    """State is ``(event time in epoch seconds, value)`` or ``None``; ``result`` is the value."""

    def identity(self) -> Any:
        return None

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> Any:
        when = event_time or dt.datetime.now(dt.UTC)
        return (when.timestamp(), value)

    def result(self, state: Any) -> Any:
        return None if state is None else state[1]

    def to_json(self, state: Any) -> Any:
        return None if state is None else [state[0], to_jsonable(state[1])]

    def from_json(self, doc: Any) -> Any:
        return None if doc is None else (float(doc[0]), from_jsonable(doc[1]))


class First(_Stamped):
    """The earliest value by event time; on a tie the left operand stays."""

    kind = "first"

    def combine(self, a: Any, b: Any) -> Any:
        if a is None:
            return b
        if b is None:
            return a
        return a if a[0] <= b[0] else b


class Last(_Stamped):
    """The latest value by event time; on a tie the right operand wins."""

    kind = "last"

    def combine(self, a: Any, b: Any) -> Any:
        if a is None:
            return b
        if b is None:
            return a
        return b if b[0] >= a[0] else a
