"""``murmur.snapshot_then_stream`` end to end, on real servers: exact totals across the handoff.

- Mongo → SQLite: the collection changes while it is scanned (inserts, updates, deletes); the
  change stream from the handoff settles every change exactly once (changelog mode). A second
  call continues from the change stream's stored position.
- Kafka → SQLite: messages produced before the handoff belong to the snapshot; those produced
  during the scan are counted once by the live phase, and the group commits them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pymongo
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from murmur import Count, Pipeline, Record, RunStatus, Sum, snapshot_then_stream
from murmur.adapters.sqlite import SqliteStore
from murmur.plugins import Registry, load
from murmur.testing import MemorySnapshotSource
from murmur_test_servers import wait_for

KEYS = [f"k{i}" for i in range(4)]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load()


class WritesDuringScan:
    """A snapshot source whose every batch read is followed by ``write()``: the application keeps
    writing while the bootstrap scans."""

    def __init__(self, inner: Any, write: Callable[[], None]) -> None:
        self.inner = inner
        self.write = write
        self.batches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        for batch in self.inner.scan(segment, after):
            yield batch
            self.batches += 1
            self.write()


def run_until_live_applied(expected: Callable[[], int], *args: Any, **kwargs: Any) -> RunStatus:
    """``snapshot_then_stream(*args, **kwargs)`` in a thread, stopped once its live phase has applied
    ``expected()`` records (asked once the live phase began): a condition, not an idle timer."""
    stop, phases, result = threading.Event(), [], {}

    def target() -> None:
        try:
            result["status"] = snapshot_then_stream(*args, stop=stop, on_phase=phases.append, **kwargs)
        except BaseException as exc:  # re-raised below
            result["error"] = exc

    thread = threading.Thread(target=target, name="snapshot-then-stream")
    thread.start()
    try:
        wait_for(
            lambda: result or (len(phases) == 2 and phases[1].records >= expected()),
            timeout=180,
            message=lambda: f"the live phase applied {phases[-1].records if len(phases) == 2 else 0}, not {expected()}",
        )
    finally:
        stop.set()
        thread.join(180)
    if "error" in result:
        raise result["error"]
    assert not thread.is_alive() and "status" in result
    return result["status"]


def sqlite_totals(store: SqliteStore, pipeline: Pipeline) -> dict[str, Any]:
    assert pipeline.monoid is not None
    values = store.get_many(pipeline.name, [_key(k) for k in KEYS], pipeline.monoid)
    return {k: v for k, v in zip(KEYS, values, strict=True) if v not in (None, 0)}


def _key(entity: str) -> Any:
    from murmur import StateKey

    return StateKey(entity)


# ------------------------------------------------------------------ Mongo → SQLite


def test_mongo_to_sqlite_with_writes_during_the_scan_is_exact(
    mongo_uri: str, unique_name: Callable[[str], str], registry: Registry, tmp_path: Path
) -> None:
    database, name = unique_name("db"), unique_name("orders")
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_uri)
    orders = client[database][name]
    orders.insert_many([{"_id": i, "k": KEYS[i % 4], "amount": i % 7} for i in range(300)])
    options = {"uri": mongo_uri, "database": database, "collection": name}
    pipeline = Pipeline(unique_name("revenue"), Sum(), key="k", value="amount")
    written = {"next": 1000, "changes": 0}

    def write() -> None:  # an insert, an update that moves an order to another key, a delete
        n = written["next"]
        written["next"] += 1
        orders.insert_one({"_id": n, "k": KEYS[n % 4], "amount": 5})
        orders.update_one({"_id": n % 300}, {"$set": {"k": KEYS[(n + 1) % 4], "amount": 11}})
        orders.delete_one({"_id": 299 - n % 300})
        written["changes"] += 3

    def recount() -> dict[str, int]:
        out: dict[str, int] = {}
        for doc in orders.find():
            out[doc["k"]] = out.get(doc["k"], 0) + doc["amount"]
        return {k: v for k, v in out.items() if v}

    store = SqliteStore(tmp_path / "state.db")
    try:
        snapshot = WritesDuringScan(registry.build("source", "mongo", {**options, "batch_size": "25"}), write)
        try:
            status = run_until_live_applied(
                lambda: written["changes"], pipeline, snapshot, registry.build("live", "mongo-changes", options), store
            )
        finally:
            snapshot.inner.close()
        # 300 documents in batches of 25, plus what the scan found of the documents inserted meanwhile
        assert snapshot.batches >= 12 and written["changes"] == 3 * snapshot.batches
        assert sqlite_totals(store, pipeline) == recount()
        assert status.mode == "bootstrap+live" and status.dead_letters == 0
        assert status.phases["bootstrap"].applied >= 300
        assert status.phases["live"].records == written["changes"]  # every change after the handoff, once

        # Again, after more writes: the bootstrap is finished, the live phase continues from the
        # change stream's position stored in SQLite (not from the old handoff).
        for _ in range(5):
            write()
        snapshot = WritesDuringScan(registry.build("source", "mongo", options), write)
        try:
            again = run_until_live_applied(
                lambda: 15, pipeline, snapshot, registry.build("live", "mongo-changes", options), store
            )
        finally:
            snapshot.inner.close()
        assert again.already_finished and snapshot.batches == 0
        assert again.phases["live"].records == 15
        assert sqlite_totals(store, pipeline) == recount()
    finally:
        store.close()
        client.drop_database(database)
        client.close()


# ------------------------------------------------------------------ Kafka handoff → SQLite


def test_kafka_handoff_to_sqlite_counts_what_was_produced_during_the_scan_once(
    kafka_broker: Any, unique_name: Callable[[str], str], registry: Registry, tmp_path: Path
) -> None:
    topic, group = unique_name("events"), unique_name("g")
    kafka_broker.create_topic(topic, 3)
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap, "linger.ms": 5})
    produced = {"n": 0}

    def produce(count: int) -> None:
        for _ in range(count):
            n = produced["n"]
            produced["n"] += 1
            producer.produce(topic, value=orjson.dumps({"k": KEYS[n % 4]}), partition=n % 3)
        assert producer.flush(30) == 0

    produce(40)  # before the handoff: already in the snapshot, not counted again
    before = produced["n"]
    pipeline = Pipeline(unique_name("events"), Count(), key="k")
    snapshot = WritesDuringScan(
        MemorySnapshotSource([{"k": KEYS[i % 4]} for i in range(400)], batch_size=50), lambda: produce(10)
    )
    kafka = {"brokers": kafka_broker.bootstrap, "topic": topic, "group": group}
    store = SqliteStore(tmp_path / "state.db")
    try:
        source = registry.build("live", "kafka", kafka, pipeline=pipeline.name)
        status = run_until_live_applied(lambda: produced["n"] - before, pipeline, snapshot, source, store)
        during = produced["n"] - before
        assert snapshot.batches == 8 and during == 80
        expected = {k: 100 + during // 4 for k in KEYS}
        assert sqlite_totals(store, pipeline) == expected
        assert status.handoff is not None and status.handoff.live is not None
        assert sum(status.handoff.live["position"]["partitions"].values()) == before
        assert (status.phases["live"].records, status.dead_letters) == (during, 0)
    finally:
        store.close()
    consumer = Consumer({"bootstrap.servers": kafka_broker.bootstrap, "group.id": group})
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    finally:
        consumer.close()
    assert sum(tp.offset for tp in committed) == produced["n"]  # all applied, all committed
