"""Set union, and the component-wise MapMerge and Tuple (SPEC §2)."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from murmur._errors import FieldError
from murmur.monoids._base import Monoid, MonoidBase, is_group, wrong_type


class SetUnion(MonoidBase):
    """Union of hashable values; a list/tuple/set value adds each of its elements."""

    kind = "set"

    def identity(self) -> frozenset[Any]:
        return frozenset()

    def combine(self, a: frozenset[Any], b: frozenset[Any]) -> frozenset[Any]:
        return a | b

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> frozenset[Any]:
        items = value if isinstance(value, (list, tuple, set, frozenset)) else (value,)
        try:
            return frozenset(items)
        except TypeError:
            raise wrong_type("set", "hashable values", value) from None

    def result(self, state: frozenset[Any]) -> list[Any]:
        try:
            return sorted(state)
        except TypeError:
            return sorted(state, key=repr)


class MapMerge(MonoidBase):
    """A mapping of names to states of ``inner``, combined name by name."""

    kind = "map"

    def __init__(self, inner: Monoid[Any]) -> None:
        self.inner = inner
        if is_group(inner):
            self.inverse = self._inverse

    @property
    def spec(self) -> str:
        return f"map:{self.inner.spec}"

    def identity(self) -> dict[str, Any]:
        return {}

    def combine(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        if not a:
            return b
        out = dict(a)
        for name, state in b.items():
            out[name] = self.inner.combine(out[name], state) if name in out else state
        return out

    def _inverse(self, a: dict[str, Any]) -> dict[str, Any]:
        return {name: self.inner.inverse(s) for name, s in a.items()}  # type: ignore[attr-defined]

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise wrong_type(self.spec, "a mapping", value)
        return {str(k): self.inner.lift(v, event_time) for k, v in value.items()}

    def result(self, state: dict[str, Any]) -> dict[str, Any]:
        return {name: self.inner.result(s) for name, s in state.items()}

    def to_json(self, state: dict[str, Any]) -> Any:
        return {name: _inner_json(self.inner, s) for name, s in state.items()}

    def from_json(self, doc: Any) -> dict[str, Any]:
        return {name: _inner_from_json(self.inner, s) for name, s in doc.items()}


class TupleOf(MonoidBase):
    """A fixed tuple of monoids, combined position by position; the value is a same-length sequence."""

    kind = "tuple"

    def __init__(self, *parts: Monoid[Any]) -> None:
        if not parts:
            raise ValueError("Tuple needs at least one monoid")
        self.parts = parts
        if all(is_group(p) for p in parts):
            self.inverse = self._inverse

    @property
    def spec(self) -> str:
        return "tuple:" + ",".join(p.spec for p in self.parts)

    def identity(self) -> tuple[Any, ...]:
        return tuple(p.identity() for p in self.parts)

    def combine(self, a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(p.combine(x, y) for p, x, y in zip(self.parts, a, b, strict=True))

    def _inverse(self, a: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(p.inverse(x) for p, x in zip(self.parts, a, strict=True))  # type: ignore[attr-defined]

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> tuple[Any, ...]:
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)) or len(value) != len(self.parts):
            raise wrong_type(self.spec, f"a sequence of {len(self.parts)} values", value)
        return tuple(p.lift(v, event_time) for p, v in zip(self.parts, value, strict=True))

    def result(self, state: tuple[Any, ...]) -> list[Any]:
        return [p.result(s) for p, s in zip(self.parts, state, strict=True)]

    def to_json(self, state: tuple[Any, ...]) -> Any:
        return [_inner_json(p, s) for p, s in zip(self.parts, state, strict=True)]

    def from_json(self, doc: Any) -> tuple[Any, ...]:
        if len(doc) != len(self.parts):
            raise FieldError(f"{self.spec}: stored tuple has {len(doc)} parts")
        return tuple(_inner_from_json(p, s) for p, s in zip(self.parts, doc, strict=True))


def _inner_json(monoid: Monoid[Any], state: Any) -> Any:
    to_json = getattr(monoid, "to_json", None)
    if to_json is not None:
        return to_json(state)
    return {"$b64": base64.b64encode(monoid.encode(state)).decode()}


def _inner_from_json(monoid: Monoid[Any], doc: Any) -> Any:
    from_json = getattr(monoid, "from_json", None)
    if from_json is not None:
        return from_json(doc)
    return monoid.decode(base64.b64decode(doc["$b64"]))
