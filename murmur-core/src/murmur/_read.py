"""Reading aggregates back, over time windows, from any Store (SPEC §3).

A windowed pipeline keeps one state per key and time bucket; a read folds the buckets asked
for, oldest first, into one state. ``last 7d`` on a daily pipeline is today and the six days
before (``Window.last``); a range is the buckets overlapping ``[start, end)``.

Expired buckets are missing: stores drop them (``MemoryStore`` against its clock), and the
reader does not even ask for a bucket whose retention has passed, since some stores expire
lazily (DynamoDB TTL deletes items up to days late).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from murmur._errors import ConfigError
from murmur._protocols import Store
from murmur._unit import StateKey
from murmur._windows import ALL_TIME, Window, parse_duration
from murmur.monoids import Monoid, parse_monoid

#: Keys per ``store.get_many`` call, so a long window over many keys stays bounded in memory.
_FETCH_CHUNK = 1000

Span = dt.timedelta | str


class Reader:
    """Folded state of one pipeline's keys, read from ``store``.

    Every ``get*`` method returns a *state* (``None`` where nothing is stored, or every bucket
    asked for is missing or expired); :meth:`result` turns a state into what users see
    (``monoid.result``), and :meth:`value` does both.

    Which buckets a read folds:

    - pipeline without a window: the all-time state (bucket 0); ``last``/ranges are an error;
    - windowed, ``last`` given: the buckets of the most recent ``last`` (``"7d"`` or a timedelta),
      the current one included;
    - windowed, no ``last``: every bucket still within retention; a window without retention
      keeps buckets forever, which no store can list, so that read asks for ``last``.

    ``clock`` (epoch seconds) decides "now", and so which buckets are current and which have
    expired; inject a fixed one in tests.
    """

    def __init__(
        self,
        store: Store,
        pipeline: str,
        monoid: Monoid[Any],
        window: Window | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.monoid = monoid
        self.window = window
        self.clock = clock

    @classmethod
    def open(cls, store: Store, name: str, *, clock: Callable[[], float] = time.time) -> Reader:
        """A reader for the pipeline ``name`` as the runtimes described it in ``store``.

        The description is the ``pipeline`` meta document (``Pipeline.describe()``): its
        ``monoid`` spec and ``window`` (``day:90d``). A pipeline never run against this store
        has none: that is a ``ConfigError`` naming it.
        """
        doc = store.read_meta(name, "pipeline")
        if doc is None:
            raise ConfigError(
                f"pipeline {name!r}: store {store.name!r} has no description of it "
                "(check --name and the store options; a pipeline is described when it first runs)",
                option="name",
            )
        spec = doc.get("monoid")
        if not isinstance(spec, str) or not spec:
            raise ConfigError(f"pipeline {name!r}: its stored description names no monoid: {doc!r:.200}", option="name")
        window = doc.get("window")
        return cls(store, name, parse_monoid(spec), Window.parse(window) if window else None, clock=clock)

    # ------------------------------------------------------------------ reads

    def get(self, key: str, *, last: Span | None = None) -> Any:
        """The state of ``key``: all time, or over ``last`` (see the class docstring)."""
        return self.get_many([key], last=last)[0]

    def get_many(self, keys: Sequence[str], *, last: Span | None = None) -> list[Any]:
        """States of ``keys`` in input order, ``None`` where missing; one batched store read."""
        return self._read(keys, self.buckets(last=last))

    def get_window(self, key: str, last: Span) -> Any:
        """The fold of ``key``'s most recent ``last`` of buckets (``"7d"`` = today and 6 days before)."""
        return self.get(key, last=last)

    def get_range(self, key: str, start: dt.datetime, end: dt.datetime) -> Any:
        """The fold of ``key``'s buckets overlapping ``[start, end)`` (naive times are UTC)."""
        window = self._windowed("a time range")
        start, end = _aware(start), _aware(end)
        if end < start:
            raise ConfigError(f"range: end {end.isoformat()} is before start {start.isoformat()}", option="range")
        return self._read([key], self._alive(window.between(start, end)))[0]

    def result(self, state: Any) -> Any:
        """What users see for ``state`` (an estimate, a top-K list, a number); ``None`` stays ``None``."""
        return None if state is None else self.monoid.result(state)

    def value(self, key: str, *, last: Span | None = None) -> Any:
        """``result(get(key, last=last))``: the value ``murmur get`` prints."""
        return self.result(self.get(key, last=last))

    # -------------------------------------------------------------- buckets

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def buckets(self, *, last: Span | None = None) -> list[int]:
        """The bucket ids a read folds, oldest first, expired ones left out."""
        if self.window is None:
            if last is not None:
                self._windowed("--window")
            return [ALL_TIME]
        now = self.now()
        if last is not None:
            return self._alive(self.window.last(_span(last), now))
        if self.window.retention is None:
            raise ConfigError(
                f"--window: pipeline {self.pipeline!r} keeps {self.window.granularity} buckets without retention, "
                "so there is no 'all' to read: give a window such as --window 7d",
                option="window",
            )
        first = self.window.bucket(now - self.window.retention)
        return self._alive(range(first, self.window.bucket(now) + 1))

    def _alive(self, buckets: Iterable[int]) -> list[int]:
        assert self.window is not None
        now = self.clock()
        return [b for b in buckets if (expiry := self.window.expiry(b)) is None or expiry > now]

    def _windowed(self, what: str) -> Window:
        if self.window is None:
            raise ConfigError(
                f"--window: pipeline {self.pipeline!r} has no time window, so {what} cannot apply: "
                "it keeps one all-time value per key",
                option="window",
            )
        return self.window

    # ----------------------------------------------------------------- fold

    def _read(self, keys: Sequence[str], buckets: Sequence[int]) -> list[Any]:
        wanted = [StateKey(key, b) for key in keys for b in buckets]
        states: list[Any] = []
        for i in range(0, len(wanted), _FETCH_CHUNK):
            states.extend(self.store.get_many(self.pipeline, wanted[i : i + _FETCH_CHUNK], self.monoid))
        n = len(buckets)
        return [self._fold(states[i * n : (i + 1) * n]) for i in range(len(keys))]

    def _fold(self, states: Iterable[Any]) -> Any:
        folded = None
        for state in states:
            if state is not None:
                folded = state if folded is None else self.monoid.combine(folded, state)
        return folded


def _span(last: Span) -> dt.timedelta:
    span = parse_duration(last, option="window") if isinstance(last, str) else last
    if not isinstance(span, dt.timedelta) or span <= dt.timedelta(0):
        raise ConfigError(f"window: {last!r} is not a positive duration (e.g. 7d, 24h, 30m)", option="window")
    return span


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
