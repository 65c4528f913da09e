"""The monoid protocol, a base class with the defaults, and the spec registry."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol, TypeVar, runtime_checkable

from murmur._errors import ConfigError, FieldError, StoreError

S = TypeVar("S")

#: The kinds a store may special-case (SPEC §2); third-party monoids use ``custom``.
KINDS = frozenset(
    {"sum", "count", "min", "max", "first", "last", "set", "hll", "topk", "bloom", "map", "tuple", "decayed", "custom"}
)


@runtime_checkable
class Monoid(Protocol[S]):
    """An associative ``combine`` with an ``identity``: how deltas fold into state.

    Contract:
    - ``combine(identity(), a) == combine(a, identity()) == a`` and ``combine`` is associative
      (``murmur.testing.check_monoid_laws`` checks both).
    - ``lift(value, event_time)`` turns a pipeline value into an element, raising
      ``FieldError`` for a value of the wrong type (the record is dead-lettered).
    - ``result(state)`` is what users read (an estimate for a sketch, the plain value otherwise).
    - ``encode``/``decode`` round-trip a state through bytes; ``decode`` raises ``StoreError``
      naming ``key`` on corrupt data, never returns something else instead.
    - ``kind`` tells stores which native write fits (``sum``/``count`` ⇒ atomic add, …).
    """

    kind: str

    @property
    def spec(self) -> str:
        """The text that recreates this monoid with :func:`parse_monoid`, e.g. ``topk:10``."""
        ...

    def identity(self) -> S: ...

    def combine(self, a: S, b: S) -> S: ...

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> S: ...

    def result(self, state: S) -> Any: ...

    def encode(self, state: S) -> bytes: ...

    def decode(self, data: bytes, *, key: str = "?") -> S: ...


@runtime_checkable
class Group(Monoid[S], Protocol[S]):
    """A monoid with inverses: ``combine(a, inverse(a)) == identity()``. Needed for retractions."""

    def inverse(self, a: S) -> S: ...


def is_group(monoid: Monoid[Any]) -> bool:
    return callable(getattr(monoid, "inverse", None))


class MonoidBase:
    """Defaults for the protocol: ``result`` is the state, and bytes are JSON of ``to_json``."""

    kind = "custom"
    #: True for sketches: laws and reads hold within stated error bounds.
    approximate = False

    @property
    def spec(self) -> str:
        return self.kind

    def result(self, state: Any) -> Any:
        return state

    def to_json(self, state: Any) -> Any:
        return to_jsonable(state)

    def from_json(self, doc: Any) -> Any:
        return from_jsonable(doc)

    def encode(self, state: Any) -> bytes:
        return json.dumps(self.to_json(state), separators=(",", ":"), sort_keys=True).encode()

    def decode(self, data: bytes, *, key: str = "?") -> Any:
        try:
            return self.from_json(json.loads(data))
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(f"corrupt {self.spec} value for key {key!r}: {exc}") from None

    def __repr__(self) -> str:
        return f"<monoid {self.spec}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MonoidBase) and type(other) is type(self) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash((type(self), self.spec))


# ----------------------------------------------------------------- JSON for non-JSON values


def to_jsonable(value: Any) -> Any:
    """JSON-safe form that :func:`from_jsonable` reverses: tuples, sets, Decimal, datetimes, bytes."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: to_jsonable(v) for k, v in value.items()}
        return {"$map": [[to_jsonable(k), to_jsonable(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"$tuple": [to_jsonable(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        items = [to_jsonable(v) for v in value]
        return {"$set": sorted(items, key=lambda v: json.dumps(v, sort_keys=True))}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, (bytes, bytearray)):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"cannot store a {type(value).__name__}")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$tuple": lambda v: tuple(from_jsonable(x) for x in v),
    "$set": lambda v: frozenset(_hashable(from_jsonable(x)) for x in v),
    "$dec": Decimal,
    "$dt": dt.datetime.fromisoformat,
    "$b64": base64.b64decode,
    "$map": lambda v: {_hashable(from_jsonable(k)): from_jsonable(x) for k, x in v},
}


def from_jsonable(doc: Any) -> Any:
    if isinstance(doc, list):
        return [from_jsonable(v) for v in doc]
    if isinstance(doc, dict):
        if len(doc) == 1:
            ((tag, inner),) = doc.items()
            decoder = _DECODERS.get(tag)
            if decoder is not None:
                return decoder(inner)
        return {k: from_jsonable(v) for k, v in doc.items()}
    return doc


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def wrong_type(monoid: str, expected: str, value: Any) -> FieldError:
    return FieldError(f"{monoid}: expected {expected}, got {type(value).__name__} {value!r:.60}")


# ------------------------------------------------------------------------------- registry

MonoidFactory = Callable[[str | None], Monoid[Any]]
_REGISTRY: dict[str, MonoidFactory] = {}


def register_monoid(name: str, factory: MonoidFactory) -> None:
    """Make ``name`` (and ``name:ARG``) usable in :func:`parse_monoid` and ``--monoid``."""
    _REGISTRY[name] = factory


def monoid_names() -> list[str]:
    return sorted(_REGISTRY)


def parse_monoid(spec: str) -> Monoid[Any]:
    """``sum``, ``count``, ``topk:10``, ``decayed:1h``, ``map:sum``, ``tuple:sum,count`` ⇒ a monoid."""
    name, sep, arg = spec.strip().partition(":")
    factory = _REGISTRY.get(name.lower())
    if factory is None:
        raise ConfigError(
            f"--monoid: unknown monoid {spec!r} (available: {', '.join(monoid_names())})", option="monoid"
        )
    return factory(arg if sep else None)


def no_argument(name: str, make: Callable[[], Monoid[Any]]) -> MonoidFactory:
    def factory(arg: str | None) -> Monoid[Any]:
        if arg:
            raise ConfigError(f"--monoid: {name} takes no argument (got {name}:{arg})", option="monoid")
        return make()

    return factory
