"""The one transient-error policy around every store and deduper call (murmur._retrying)."""

from __future__ import annotations

import threading

import pytest

from murmur import Sum, TransientError
from murmur._errors import Cancelled
from murmur._retrying import RetryingDeduper, RetryingStore, RetryPolicy, StoreUnavailable
from murmur._unit import StateKey, Unit
from murmur.adapters.memory import MemoryStore
from murmur.metrics import InMemoryRecorder


class Flaky:
    """Fails ``times`` calls transiently, then answers."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.times:
            raise TransientError(f"throttled #{self.calls}")
        return "ok"


class Ticks:
    """A clock that moves one second per reading: deadlines without waiting for them."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_transient_failures_are_ridden_out_and_reported_once() -> None:
    said: list[str] = []
    recorder = InMemoryRecorder()
    policy = RetryPolicy(60, backoff=(0.001, 0.002), on_wait=said.append, recorder=recorder, pipeline="p")
    flaky = Flaky(5)
    assert policy.call("sqlite store: merge", flaky) == "ok"
    assert flaky.calls == 6
    assert recorder.count("p:retry") == 5
    assert said[0] == "murmur: waiting for the store (sqlite store: merge: throttled #1); retrying for up to 1m"
    assert said[1].startswith("murmur: the store answers again (waited ")
    assert len(said) == 2


def test_after_retry_for_the_call_stops_the_run() -> None:
    policy = RetryPolicy(5, backoff=(0.001, 0.002), clock=Ticks())
    flaky = Flaky(1000)
    with pytest.raises(StoreUnavailable, match=r"kept failing for 5s \(--retry-for\): throttled #\d+"):
        policy.call("dynamodb store: write checkpoint", flaky)
    assert 3 <= flaky.calls < 1000


def test_permanent_errors_are_not_retried() -> None:
    policy = RetryPolicy(60, backoff=(0.001, 0.002))

    def broken() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError):
        policy.call("x", broken)


def test_a_stop_ends_the_wait() -> None:
    stop = threading.Event()
    stop.set()
    policy = RetryPolicy(None, backoff=(5.0, 5.0), stop=stop)
    with pytest.raises(Cancelled):
        policy.call("x", Flaky(1))


def test_the_wrappers_retry_every_call_and_keep_absorbing() -> None:
    inner = MemoryStore()
    dedup = inner.deduper()
    policy = RetryPolicy(60, backoff=(0.001, 0.002))
    store, wrapped = RetryingStore(inner, policy), RetryingDeduper(dedup, policy)
    assert store.absorbs(wrapped)  # the store sees the deduper inside the wrapper
    assert store.transactional
    inner.fail_next(3)
    store.merge(Unit("p", Sum(), {StateKey("a"): 2}))
    assert store.get_many("p", [StateKey("a")], Sum()) == [2]
    dedup.fail_next(2)
    assert wrapped.contains(["x"]) == set()
    assert store.clear("p") == {"keys": 1, "contributions": 0, "checkpoints": 0, "claims": 0}


def test_the_wrapped_store_keeps_its_transaction_cap_for_isinstance() -> None:
    # On Python 3.12+ isinstance() with a runtime protocol does not see __getattr__: a cap left to
    # forwarding would vanish and the Applier would build units larger than one transaction.
    from murmur import HasMaxUnitItems

    capped = MemoryStore()
    capped.max_unit_items = 100  # type: ignore[attr-defined]
    wrapped = RetryingStore(capped, RetryPolicy(1.0))
    assert isinstance(wrapped, HasMaxUnitItems) and wrapped.max_unit_items == 100
    assert RetryingStore(MemoryStore(), RetryPolicy(1.0)).max_unit_items is None
