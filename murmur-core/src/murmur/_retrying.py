"""The one transient-error policy around every store and deduper call (SPEC §4.8).

:class:`RetryingStore` and :class:`RetryingDeduper` wrap an adapter so that *every* call —
merges, reads, checkpoints and the pipeline description, claims — rides out throttling, 5xx
answers and lost connections the same way: retried with capped, jittered exponential backoff
for up to ``retry_for`` seconds of one outage (``None``: until the run is stopped). Only then
does the call raise :class:`StoreUnavailable`, which the runtimes treat as "stop here": nothing
is dead-lettered, claims are released, the checkpoint stays where the last durable write put it.

A retried call may repeat a write that was applied although the client never learned so (a
connection dropped after the answer was sent). That is exact for a transactional store with
claims or contributions: the repeat finds its claims taken (``ClaimConflict``) or its
contribution already there, and the runtime counts the records as duplicates.

Waiting is reported through ``on_wait(text)``: once when an outage starts ("waiting for the
store …") and once when it ends, however many threads wait together.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from murmur._errors import Aborted, Cancelled, is_transient
from murmur._protocols import ClaimStatus, Deduper, Recorder, Store
from murmur._unit import Contribution, StateKey, Unit
from murmur.monoids import Monoid

__all__ = ["DEFAULT_RETRY_FOR", "RetryPolicy", "RetryingDeduper", "RetryingStore", "StoreUnavailable", "unwrap"]

T = TypeVar("T")

#: How long a bootstrap waits out one outage of the store before it stops (``--retry-for``).
DEFAULT_RETRY_FOR = 600.0


class StoreUnavailable(Aborted):
    """The store (or deduper) kept failing transiently for longer than ``retry_for``.

    An :class:`Aborted`: the runtime releases the claims of the batch in flight and stops,
    without dead-lettering anything; the checkpoint is kept.
    """


def _seconds(value: float) -> str:
    value = round(value)
    if value >= 3600 and value % 3600 == 0:
        return f"{value // 3600}h"
    if value >= 60 and value % 60 == 0:
        return f"{value // 60}m"
    return f"{value}s"


class RetryPolicy:
    """Retry transient failures for up to ``retry_for`` seconds per outage; shared by one run's wrappers."""

    def __init__(
        self,
        retry_for: float | None = DEFAULT_RETRY_FOR,
        *,
        backoff: tuple[float, float] = (0.05, 5.0),
        stop: threading.Event | None = None,
        on_wait: Callable[[str], None] | None = None,
        recorder: Recorder | None = None,
        pipeline: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry_for = retry_for
        self.backoff = backoff
        self.stop = stop or threading.Event()
        self.on_wait = on_wait
        self.recorder = recorder
        self.pipeline = pipeline
        self.clock = clock
        self._lock = threading.Lock()
        self._waiters = 0
        self._since: float | None = None

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started: float | None = None
        delay = self.backoff[0]
        while True:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    if started is not None:
                        self._end_wait()
                    raise
                now = self.clock()
                if started is None:
                    started = now
                    self._begin_wait(what, exc)
                if self.recorder is not None:
                    self.recorder.event(f"{self.pipeline}:retry")
                    self.recorder.error(f"{self.pipeline}:retry", exc)
                left = None if self.retry_for is None else started + self.retry_for - now
                if left is not None and left <= 0:
                    self._end_wait(gave_up=True)
                    raise StoreUnavailable(
                        f"{what} kept failing for {_seconds(self.retry_for or 0)} (--retry-for): {exc}; "
                        "nothing was dead-lettered and the checkpoint is kept: run again with --resume "
                        "once the store answers"
                    ) from exc
                pause = random.uniform(delay / 2, delay)  # jitter: waiting threads do not retry in step
                if left is not None:
                    pause = min(pause, left)
                if self.stop.wait(pause):
                    self._end_wait(gave_up=True)
                    raise Cancelled("shutting down while waiting for the store") from exc
                delay = min(delay * 2, self.backoff[1])
                continue
            if started is not None:
                self._end_wait()
            return result

    def _begin_wait(self, what: str, exc: BaseException) -> None:
        with self._lock:
            self._waiters += 1
            first = self._waiters == 1
            if first:
                self._since = self.clock()
        if first and self.on_wait is not None:
            limit = "until stopped" if self.retry_for is None else f"for up to {_seconds(self.retry_for)}"
            self.on_wait(f"murmur: waiting for the store ({what}: {exc}); retrying {limit}")

    def _end_wait(self, *, gave_up: bool = False) -> None:
        with self._lock:
            self._waiters = max(0, self._waiters - 1)
            last = self._waiters == 0
            since = self._since
            if last:
                self._since = None
        if last and not gave_up and since is not None and self.on_wait is not None:
            self.on_wait(f"murmur: the store answers again (waited {self.clock() - since:.1f}s)")


class RetryingStore:
    """A :class:`Store` whose every call goes through ``policy``; anything else is the inner store's."""

    def __init__(self, inner: Store, policy: RetryPolicy) -> None:
        self.inner = inner
        self.policy = policy
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:  # options, helpers of the adapter
        return getattr(self.inner, name)

    @property
    def max_unit_items(self) -> int | None:
        # Spelled out, not left to __getattr__: isinstance(store, HasMaxUnitItems) looks attributes
        # up statically on Python 3.12+, and a lost transaction cap makes oversized units.
        return getattr(self.inner, "max_unit_items", None)

    @property
    def transactional(self) -> bool:  # may turn on in absorbs(): always ask the inner store
        return self.inner.transactional

    @transactional.setter
    def transactional(self, value: bool) -> None:
        self.inner.transactional = value

    @property
    def max_concurrency(self) -> int:
        return self.inner.max_concurrency

    @max_concurrency.setter
    def max_concurrency(self, value: int) -> None:
        self.inner.max_concurrency = value

    def absorbs(self, deduper: Deduper) -> bool:
        return self.inner.absorbs(unwrap(deduper))

    def merge(self, unit: Unit) -> None:
        self.policy.call(f"{self.name} store: merge", self.inner.merge, unit)

    def get_many(self, pipeline: str, keys: Sequence[StateKey], monoid: Monoid[Any]) -> list[Any]:
        return self.policy.call(f"{self.name} store: read", self.inner.get_many, pipeline, keys, monoid)

    def get_contributions(self, pipeline: str, doc_ids: Sequence[str], monoid: Monoid[Any]) -> dict[str, Contribution]:
        return self.policy.call(
            f"{self.name} store: read contributions", self.inner.get_contributions, pipeline, doc_ids, monoid
        )

    def read_meta(self, pipeline: str, name: str) -> dict[str, Any] | None:
        return self.policy.call(f"{self.name} store: read checkpoint", self.inner.read_meta, pipeline, name)

    def list_meta(self, pipeline: str) -> dict[str, dict[str, Any]]:
        return self.policy.call(f"{self.name} store: read checkpoints", self.inner.list_meta, pipeline)

    def write_meta(
        self, pipeline: str, name: str, doc: dict[str, Any], *, only_if_absent: bool = False
    ) -> dict[str, Any]:
        return self.policy.call(
            f"{self.name} store: write checkpoint",
            self.inner.write_meta,
            pipeline,
            name,
            doc,
            only_if_absent=only_if_absent,
        )

    def delete_meta(self, pipeline: str) -> None:
        self.policy.call(f"{self.name} store: delete checkpoints", self.inner.delete_meta, pipeline)

    def scan(self, pipeline: str, monoid: Monoid[Any], **kwargs: Any) -> tuple[list[tuple[StateKey, Any]], str | None]:
        return self.policy.call(f"{self.name} store: list keys", self.inner.scan, pipeline, monoid, **kwargs)  # type: ignore[attr-defined, no-any-return]

    def clear(self, pipeline: str) -> dict[str, int]:
        return self.policy.call(f"{self.name} store: clear", self.inner.clear, pipeline)  # type: ignore[attr-defined, no-any-return]

    def close(self) -> None:
        self.inner.close()


class RetryingDeduper:
    """A :class:`Deduper` whose every call goes through ``policy``."""

    def __init__(self, inner: Deduper, policy: RetryPolicy) -> None:
        self.inner = inner
        self.policy = policy
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def contains(self, ids: Sequence[str]) -> set[str]:
        return self.policy.call(f"{self.name} deduper: read", self.inner.contains, ids)

    def claim(self, ids: Sequence[str], lease: float) -> dict[str, ClaimStatus]:
        return self.policy.call(f"{self.name} deduper: claim", self.inner.claim, ids, lease)

    def commit(self, ids: Sequence[str]) -> None:
        self.policy.call(f"{self.name} deduper: commit", self.inner.commit, ids)

    def release(self, ids: Sequence[str]) -> None:
        self.policy.call(f"{self.name} deduper: release", self.inner.release, ids)

    def clear(self, pipeline: str) -> dict[str, int]:
        return self.policy.call(f"{self.name} deduper: clear", self.inner.clear, pipeline)  # type: ignore[attr-defined, no-any-return]

    def close(self) -> None:
        self.inner.close()


def unwrap(thing: Any) -> Any:
    """The adapter inside a retrying wrapper (the adapter itself otherwise)."""
    return thing.inner if isinstance(thing, (RetryingStore, RetryingDeduper)) else thing
