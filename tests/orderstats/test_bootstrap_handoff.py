"""Bootstrap from Mongo into DynamoDB, then Kafka CDC live: the handoff leaves no gap and counts nothing twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from orderstats_helpers import RUN_TIMEOUT, Orderstats, end_offsets, pipeline_module, wait_for

from murmur import HandoffToken, Record, RunStatus, bootstrap, live
from murmur.plugins import Registry, load


class ScanHook:
    """The real ``mongo`` snapshot source; ``before_scan`` runs once, after the capture and before the first read."""

    def __init__(self, inner: Any, before_scan: Any) -> None:
        self.inner = inner
        self.before_scan = before_scan
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def capture_handoff(self) -> HandoffToken:
        self.calls.append("capture")
        return self.inner.capture_handoff()  # type: ignore[no-any-return]

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        if "scan" not in self.calls:
            self.calls.append("scan")
            self.before_scan()
        yield from self.inner.scan(segment, after)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load()


def _bootstrap_then_live(
    orderstats: Orderstats, registry: Registry, orders: int, changes_after_capture: int, *, transactional: bool = True
) -> None:
    world = orderstats
    gen = world.generator(seed=11)
    gen.run(orders=orders, changes=orders // 5)
    seeded = end_offsets(world.brokers, world.topic)
    name = world.pipeline
    mongo = {"uri": world.mongo_uri, "database": world.database, "collection": "orders"}
    kafka = {"brokers": world.brokers, "topic": world.topic, "decoder": "debezium", "kafka.group.protocol": "consumer"}
    store_options = {"table": world.table, "endpoint_url": world.dynamodb, "transactional": str(transactional).lower()}
    after_capture: list[Any] = []

    def write_after_capture() -> None:
        after_capture.append(gen.run(changes=changes_after_capture).total)

    source = ScanHook(registry.build("source", "mongo", mongo, pipeline=name), write_after_capture)
    position = registry.build("live", "kafka", kafka, flag="-H", pipeline=name)
    store = registry.build("store", "dynamodb", store_options, flag="-T", pipeline=name)
    pipeline = pipeline_module.orders.with_mode("changelog")
    from dataclasses import replace

    pipeline = replace(pipeline, name=name)
    try:
        token = bootstrap.run(pipeline, source, store, handoff_to=position)
    finally:
        source.close()
        position.close()
    assert source.calls == ["capture", "scan"]
    assert after_capture, "the hook ran before the first document was read"
    # The scan read the collection after those writes: the totals are exact already.
    world.assert_exact()

    # The Kafka position was taken before the writes made after the capture ...
    assert token.live is not None and token.live["source"] == "kafka"
    assert sum(token.live["position"]["partitions"].values()) == seeded
    assert end_offsets(world.brokers, world.topic) > seeded
    # ... and so was the Mongo resume token: from it, the change stream holds exactly those writes.
    expected_changes = gen.stats.total - orders - orders // 5
    assert _changes_after(world, token, expected_changes) == expected_changes

    # Live from the handoff replays exactly the changes made after the capture: delta 0 each.
    # It runs until it has applied them and its lag reads 0, then stops as on SIGTERM: not an
    # idle window, which a slow first fetch on a loaded machine could outlast.
    status = RunStatus(name, "live")
    src = registry.build("live", "kafka", kafka, pipeline=name)
    stop, failed = threading.Event(), []

    def run() -> None:
        try:
            live.run(pipeline, src, store, handoff=token, status=status, stop=stop)
        except BaseException as exc:  # re-raised below
            failed.append(exc)

    thread = threading.Thread(target=run, name="live")
    thread.start()
    try:
        wait_for(
            lambda: failed or (status.applied >= changes_after_capture and src.stats()["lag_total"] == 0),
            timeout=240,
            message=lambda: f"applied {status.applied} of {changes_after_capture}; {src.stats()}",
        )
    finally:
        stop.set()
        thread.join(240)
    store.close()
    if failed:
        raise failed[0]
    assert status.applied == changes_after_capture
    assert status.dead_letters == 0
    world.assert_exact()


def _changes_after(world: Orderstats, token: HandoffToken, expected: int) -> int:
    """How many changes the stream holds after the token: read until ``expected`` came (a slow
    machine may answer a getMore with an empty batch first), then until an empty answer."""
    from bson import json_util
    from pymongo import MongoClient

    resume = json_util.loads(json_util.dumps(token.token["resume_token"]))
    client: Any = MongoClient(world.mongo_uri)
    try:
        seen = 0
        with client[world.database]["orders"].watch(resume_after=resume, max_await_time_ms=200) as stream:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                event = stream.try_next()
                if event is None and seen >= expected:
                    break
                seen += event is not None
        return seen
    finally:
        client.close()


def test_seed_bootstrap_totals_equal_a_recount_and_the_handoff_precedes_the_scan(
    orderstats: Orderstats, registry: Registry
) -> None:
    _bootstrap_then_live(orderstats, registry, orders=300, changes_after_capture=40)


@pytest.mark.slow
def test_ten_thousand_orders(orderstats: Orderstats, registry: Registry) -> None:
    # Not transactional: moto deep-copies the whole table for every item of a TransactWriteItems,
    # which on a 10 000-item table takes minutes per batch. Without crashes, changelog mode is exact anyway.
    _bootstrap_then_live(orderstats, registry, orders=10_000, changes_after_capture=500, transactional=False)


def test_writes_during_the_bootstrap_then_live_from_the_token(orderstats: Orderstats) -> None:
    world = orderstats
    gen = world.generator(seed=21)
    gen.run(orders=250, changes=50)
    before = gen.stats.total
    stop = world.in_background(gen, rate=120)
    # The capture must come after some background writes: wait for them instead of assuming them.
    wait_for(lambda: gen.stats.total > before, timeout=300, message="the generator wrote nothing")
    proc = world.spawn(world.bootstrap_args("-S", "batch_size=25", "--json", "-q"), "bootstrap")
    wait_for(lambda: world.meta("handoff") is not None or not proc.alive(), timeout=300, message="no handoff stored")
    at_capture = gen.stats.total
    # Some writes after the capture, while the scan runs; then the generator stops. Writing on at
    # its fixed rate until the scan ends raced the clock: on a loaded machine the scan (paging by
    # _id) never caught up with the new orders, and the bootstrap never ended.
    wait_for(lambda: gen.stats.total >= at_capture + 20 or not proc.alive(), timeout=300, message="no writes")
    during = gen.stats.total - at_capture
    stop.set()
    world.stop_background()
    result = proc.wait(timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert at_capture > before, "the generator was writing before the capture"
    assert during > 0, "the generator was writing while the scan ran"
    summary = result.summary
    assert summary["dead_letters"] == 0
    token = HandoffToken.read(world.token)
    assert token.live is not None

    # Keep writing a little after the bootstrap too, then drain the topic from the token.
    gen.run(changes=30)
    # Drained (until the group has committed the whole topic), not --until-idle: a consumer that
    # takes longer than the idle time to join its group on a loaded machine would stop early.
    live_run = world.drain(world.live_args("--json", "-q"), group=f"murmur.{world.pipeline}", label="live")
    assert live_run.summary["dead_letters"] == 0
    assert live_run.summary["records"] >= gen.stats.total - at_capture  # at least every change after the capture
    world.assert_exact()
