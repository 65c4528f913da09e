"""Pipelines: what to key by, what to add, how to fold it, and into which time buckets (SPEC §3)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from murmur._errors import FieldError, PipelineError
from murmur._unit import StateKey
from murmur._windows import ALL_TIME, Window, parse_event_time
from murmur.monoids import Monoid

#: A key is a dotted field path (``customer.id``), a template (``post:{id}``), a constant
#: (``=global``), or a callable from the value to a key (``None`` for no key).
KeySpec = str | Callable[[Any], Any]
#: Several keys per event: a list of KeySpecs, or one callable returning an iterable of keys.
KeysSpec = Sequence[KeySpec] | Callable[[Any], Iterable[Any]]
#: The value is a dotted field path, a callable, or a constant (``1`` for a count).
ValueSpec = str | Callable[[Any], Any] | int | float

Mode = Literal["append", "changelog"]

_MISSING = object()
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


def field_getter(path: str) -> Callable[[Any], Any]:
    """A function reading the dotted ``path`` from mappings, sequences (``items.0``) or attributes.

    A missing field raises ``FieldError`` naming the whole path.
    """
    parts = tuple(p for p in path.split("."))
    if not path or any(not p for p in parts):
        raise PipelineError(f"field path {path!r} is empty or has an empty part", option="field")

    def missing(value: Any = _MISSING) -> FieldError:
        return FieldError(f"missing field {path!r}")

    if len(parts) == 1:
        (name,) = parts

        def get_one(obj: Any) -> Any:
            try:
                return obj[name]
            except (KeyError, IndexError):
                raise missing() from None
            except TypeError:
                value = getattr(obj, name, _MISSING)
                if value is _MISSING:
                    raise missing() from None
                return value

        return get_one

    def get_path(obj: Any) -> Any:
        for part in parts:
            if isinstance(obj, Mapping):
                obj = obj.get(part, _MISSING)
            elif isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)) and part.isdigit():
                idx = int(part)
                obj = obj[idx] if idx < len(obj) else _MISSING
            else:
                obj = getattr(obj, part, _MISSING)
            if obj is _MISSING:
                raise missing()
        return obj

    return get_path


def _render_key(value: Any, what: str) -> str:
    """A key as stored: a string as is, a number in decimal (exact at any size); nothing else.

    Booleans, objects, lists and null are refused (``FieldError`` naming ``what``): rendering
    them with ``str()`` would silently merge unrelated keys (``True`` and ``"True"``).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if value is None:
        raise FieldError(f"key {what} is null")
    if isinstance(value, (bool, Mapping, list, tuple, set, frozenset, bytes, bytearray)):
        kind = "an object" if isinstance(value, Mapping) else f"a {_KINDS.get(type(value), type(value).__name__)}"
        raise FieldError(f"key {what} is {kind} ({value!r:.60}): a key must be a string or a number")
    return str(value)  # scalar ids from document stores (ObjectId, UUID, Decimal128, datetime)


_KINDS = {bool: "boolean", list: "list", tuple: "list", set: "set", frozenset: "set", bytes: "binary"}


def key_getter(spec: KeySpec) -> Callable[[Any], str | None]:
    """Compile one key spec. A callable may return ``None`` to give no key for that value."""
    if callable(spec):
        fn = spec

        def call(value: Any) -> str | None:
            key = fn(value)
            return None if key is None else _render_key(key, "function result")

        return call
    if not isinstance(spec, str) or not spec:
        raise PipelineError(f"key {spec!r}: expected a field path, a template or a callable", option="key")
    if spec.startswith("="):
        constant = spec[1:]
        return lambda value: constant
    fields = _TEMPLATE_FIELD.findall(spec)
    if fields:
        getters = [(f"{{{name}}}", field_getter(name.strip())) for name in fields]

        def template(value: Any) -> str:
            out = spec
            for placeholder, get in getters:
                out = out.replace(placeholder, _render_key(get(value), placeholder), 1)
            return out

        return template
    get = field_getter(spec)
    return lambda value: _render_key(get(value), repr(spec))


@dataclass(frozen=True)
class Pipeline:
    """One aggregation: ``key``/``keys`` ⇒ which entities, ``value`` ⇒ what, ``monoid`` ⇒ how.

    ``window`` buckets state by event time (read from ``event_time``, a field path or callable,
    else from the record, else processing time). ``mode`` chooses append or changelog (SPEC §5b);
    ``None`` lets the source pick its default. ``decode`` turns a source value into the user's
    own type before any extraction.
    """

    name: str
    monoid: Monoid[Any] | None = None
    key: KeySpec | None = None
    keys: KeysSpec | None = None
    value: ValueSpec | None = None
    window: Window | None = None
    event_time: str | Callable[[Any], Any] | None = None
    mode: Mode | None = None
    decode: Callable[[Any], Any] | None = None
    _compiled: _Compiled = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"pipeline {self.name!r}" if self.name else "pipeline"
        if not self.name or not isinstance(self.name, str):
            raise PipelineError("pipeline: missing name (give name=, or --name on the command line)", option="name")
        if any(c in self.name for c in "#|/\n"):
            raise PipelineError(f"{where}: name may not contain '#', '|', '/' or newlines", option="name")
        if self.monoid is None:
            raise PipelineError(f"{where}: missing monoid (give monoid=, or --monoid)", option="monoid")
        if self.key is None and self.keys is None:
            raise PipelineError(f"{where}: missing key (give key= or keys=, or --key/--keys)", option="key")
        if self.key is not None and self.keys is not None:
            raise PipelineError(f"{where}: give key= or keys=, not both", option="key")
        if self.value is None and self.monoid.kind != "count":
            raise PipelineError(
                f"{where}: missing value for monoid {self.monoid.spec} (give value=, or --value)", option="value"
            )
        if self.mode not in (None, "append", "changelog"):
            raise PipelineError(f"{where}: mode must be 'append' or 'changelog', not {self.mode!r}", option="mode")
        object.__setattr__(self, "_compiled", _Compiled(self))

    def with_mode(self, mode: Mode) -> Pipeline:
        """This pipeline with ``mode`` set (sources use it to apply their default)."""
        from dataclasses import replace

        return replace(self, mode=mode)

    def extract(self, value: Any, event_time: dt.datetime | None) -> tuple[tuple[StateKey, ...], Any]:
        """The state keys a value touches and the monoid element it adds.

        Raises ``FieldError`` (a permanent error: the record is dead-lettered) for a missing
        field or a value of the wrong type.
        """
        return self._compiled.extract(value, event_time)

    def describe(self) -> dict[str, Any]:
        """A JSON summary for checkpoints and ``--json`` output (callables shown by name)."""

        def show(spec: Any) -> Any:
            if callable(spec):
                return getattr(spec, "__qualname__", repr(spec))
            if isinstance(spec, (list, tuple)):
                return [show(s) for s in spec]
            return spec

        return {
            "name": self.name,
            "monoid": self.monoid.spec if self.monoid else None,
            "key": show(self.key),
            "keys": show(self.keys),
            "value": show(self.value),
            "window": self.window.describe() if self.window else None,
            "event_time": show(self.event_time),
            "mode": self.mode,
        }


class _Compiled:
    """The pipeline's specs compiled once into plain functions (per-record work stays small)."""

    def __init__(self, p: Pipeline) -> None:
        assert p.monoid is not None
        self.lift = p.monoid.lift
        self.decode = p.decode
        self.window = p.window
        if p.key is not None:
            one = key_getter(p.key)
            self.keys: Callable[[Any], list[str]] = lambda v: [] if (k := one(v)) is None else [k]
        elif callable(p.keys):
            many = p.keys
            self.keys = lambda v: [_render_key(k, "function result") for k in many(v) if k is not None]
        else:
            assert p.keys is not None
            getters = [key_getter(spec) for spec in p.keys]
            if not getters:
                raise PipelineError(f"pipeline {p.name!r}: keys is empty", option="keys")
            self.keys = lambda v: [k for g in getters if (k := g(v)) is not None]
        if p.value is None:
            self.value: Callable[[Any], Any] = lambda v: 1
        elif callable(p.value):
            self.value = p.value
        elif isinstance(p.value, str):
            self.value = field_getter(p.value)
        else:
            constant = p.value
            self.value = lambda v: constant
        if p.event_time is None:
            self.event_time: Callable[[Any], Any] | None = None
        else:
            name = p.event_time if isinstance(p.event_time, str) else getattr(p.event_time, "__name__", "event_time")
            get_time = field_getter(p.event_time) if isinstance(p.event_time, str) else p.event_time
            self.event_time = lambda v: parse_event_time(get_time(v), field=name)
        simple = p.key is not None and p.window is None and p.event_time is None and p.decode is None
        if simple:
            self.extract = self._single_key(key_getter(p.key))  # type: ignore[method-assign, arg-type]

    def _single_key(self, key_of: Callable[[Any], str | None]) -> Callable[..., tuple[tuple[StateKey, ...], Any]]:
        """The common shape (one key, all time): no per-record tuple building; StateKeys are reused."""
        lift, value_of = self.lift, self.value
        cache: dict[str, tuple[StateKey, ...]] = {}

        def extract(value: Any, event_time: dt.datetime | None) -> tuple[tuple[StateKey, ...], Any]:
            name = key_of(value)
            if name is None:
                return (), None
            keys = cache.get(name)
            if keys is None:
                if len(cache) >= 100_000:  # bounded: high-cardinality keys just miss the cache
                    cache.clear()
                keys = cache[name] = (StateKey(name, ALL_TIME),)
            return keys, lift(value_of(value), event_time)

        return extract

    def extract(self, value: Any, event_time: dt.datetime | None) -> tuple[tuple[StateKey, ...], Any]:
        if self.decode is not None:
            try:
                value = self.decode(value)
            except FieldError:
                raise
            except Exception as exc:  # the user's decoder: any failure makes the record poison
                raise FieldError(f"decode failed: {type(exc).__name__}: {exc}") from exc
        names = self.keys(value)
        if not names:
            return (), None
        when = self.event_time(value) if self.event_time is not None else event_time
        element = self.lift(self.value(value), when)
        bucket = ALL_TIME if self.window is None else self.window.bucket(when or dt.datetime.now(dt.UTC))
        return tuple(StateKey(n, bucket) for n in dict.fromkeys(names)), element
