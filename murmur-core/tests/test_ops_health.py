"""``/healthz`` and ``/readyz`` verdicts from what the runtime reports, on an injected clock."""

from __future__ import annotations

from murmur._errors import SourceError, TransientError
from murmur.ops import Health


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ready_only_once_the_loop_has_reached_source_and_store() -> None:
    clock = Clock()
    health = Health(stall_after=30, clock=clock)
    assert health.healthz().ok
    ready = health.readyz()
    assert not ready.ok and ready.reason == "starting: source and store not reached yet"
    health.event("orders:poll")
    assert health.readyz().ok and health.readyz().reason == "ok"


def test_a_bootstrap_is_ready_after_its_first_applied_batch() -> None:
    health = Health(clock=Clock())
    health.latency("store_merge", 0.01)
    health.latency("batch_bootstrap", 0.02)
    assert health.readyz().ok


def test_a_store_outage_makes_it_unready_but_alive_until_a_merge_succeeds() -> None:
    clock = Clock()
    health = Health(stall_after=30, clock=clock)
    health.event("orders:poll")
    for _ in range(100):  # retries every few seconds, for far longer than the stall limit
        clock.now += 5
        health.event("orders:retry")
        health.error("orders:retry", TransientError("dynamodb: ThrottlingException"))
    ready = health.readyz()
    assert not ready.ok
    assert ready.reason == "store unreachable (retrying): TransientError: dynamodb: ThrottlingException"
    assert health.healthz().ok  # retrying is the loop turning: no restart by a liveness probe
    health.latency("store_merge", 0.5)
    assert health.readyz().ok


def test_a_source_failure_makes_it_unready_until_a_poll_succeeds() -> None:
    health = Health(clock=Clock())
    health.event("orders:poll")
    health.error("orders:source", SourceError("kafka: broker down"))
    assert health.readyz().reason == "source unreachable (retrying): SourceError: kafka: broker down"
    health.event("orders:poll")
    assert health.readyz().ok


def test_no_progress_past_the_limit_is_a_stall_and_no_report_at_all_is_unhealthy() -> None:
    clock = Clock()
    health = Health(stall_after=30, clock=clock)
    health.event("orders:poll")
    clock.now += 30
    assert health.readyz().ok and health.healthz().ok  # at the limit, not past it
    clock.now += 1
    assert health.readyz().reason == "stalled: no progress for 31s (limit 30s)"
    assert health.healthz().reason == "no report from the run loop for 31s (limit 30s)"
    health.batch("live", 10, 1.0)  # a report, not progress
    assert health.healthz().ok and not health.readyz().ok


def test_a_finished_run_is_alive_and_no_longer_ready() -> None:
    health = Health(clock=Clock())
    health.event("orders:poll")
    health.finish()
    assert health.healthz().ok
    assert health.readyz().reason == "run finished"
