"""Scenario 3: Kafka → SQLite live count by ``user`` (10 000 keys), one topic of 4 partitions on the
test broker (librdkafka's mock cluster), every variant reading the same messages from the start.

- murmur: ``murmur.live.run`` with the ``kafka`` live source (json decoder, a fresh consumer
  group) into the real ``sqlite`` store; timed from ``live.run`` to the merge that completes the
  count (group join included, as for the others).
- limit: a raw confluent-kafka consumer (fresh group, ``consume(500)``) touching every message.
- info: the same consumer parsing each message with orjson and counting in a dict.
- naive: the hand-written at-least-once script murmur replaces: ``consume(500)``, decode with
  orjson, fold counts in a dict, and once a second (from the first message folded since the last
  flush, as murmur's lanes do) upsert the dict into SQLite (one transaction) and then commit the
  consumed offsets synchronously; timed to the flush that completes the count.
- info: murmur with ``flush_interval=0.05``: at these sizes every message is polled and folded
  well within the default 1 s interval, so the default row's time is mostly the wait for its
  merge; this row shows the throughput without that wait.
- peer: Bytewax 0.21 (``KafkaSource(tail=False)``, ``reduce_final``), its final counts written to
  SQLite in one transaction; ``run_main`` timed whole (its start-up included).
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from benchmarks._data import event
from benchmarks._harness import Context, Plan, Target, Variant
from benchmarks._stores import CountingSqliteStore

KEYS = 10_000
PARTITIONS = 4
#: A variant that sees no message for this long has stalled: fail rather than wait forever.
STALL = 30.0


def murmur(brokers: str, topic: str, n: int, workdir: str, flush_interval: float = 1.0) -> dict[str, Any]:
    from murmur import Count, Pipeline, live
    from murmur_kafka import JsonDecoder, KafkaSource

    stop = threading.Event()
    store = CountingSqliteStore(str(Path(tempfile.mkdtemp(dir=workdir)) / "state.db"), until=n, stop=stop)
    source = KafkaSource(brokers=brokers, topic=topic, decoder=JsonDecoder(), group=f"bench-{uuid.uuid4().hex}")
    started = time.perf_counter()
    pipeline = Pipeline("bench", Count(), key="user")
    live.run(pipeline, source, store, stop=stop, until_idle=STALL, flush_interval=flush_interval)
    assert store.done_at is not None, "live.run ended before applying every message"
    total, keys = store.total("bench")
    assert (total, keys) == (n, min(n, KEYS)), (total, keys)
    store.close()
    return {"seconds": store.done_at - started, "records": n, "writes": store.key_writes}


def _consume(brokers: str, topic: str, n: int, handle: Any) -> float:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    started = time.perf_counter()
    consumer.subscribe([topic])
    seen, last = 0, started
    while seen < n:
        for msg in consumer.consume(500, 0.2):
            if msg.error() is None:
                handle(msg.value())
                seen += 1
                last = time.perf_counter()
        if time.perf_counter() - last > STALL:
            raise RuntimeError(f"stalled after {seen} of {n} messages")
    seconds = time.perf_counter() - started
    consumer.close()
    return seconds


def limit(brokers: str, topic: str, n: int) -> dict[str, Any]:
    return {"seconds": _consume(brokers, topic, n, len), "records": n}


def parse_count(brokers: str, topic: str, n: int) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    loads = orjson.loads
    seconds = _consume(brokers, topic, n, lambda raw: counts.update((loads(raw)["user"],)))
    assert sum(counts.values()) == n
    return {"seconds": seconds, "records": n}


def script(brokers: str, topic: str, n: int, workdir: str) -> dict[str, Any]:
    from confluent_kafka import Consumer

    conn = sqlite3.connect(str(Path(tempfile.mkdtemp(dir=workdir)) / "state.db"))
    conn.execute("CREATE TABLE totals (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    upsert = "INSERT INTO totals (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = v + excluded.v"
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    loads = orjson.loads
    started = time.perf_counter()
    consumer.subscribe([topic])
    pending: dict[str, int] = {}
    seen, durable, last, writes = 0, 0, started, 0
    first: float | None = None
    # Like murmur (which does not know n either), it flushes on its timer only: timed to the
    # flush that makes the count complete.
    while durable < n:
        for msg in consumer.consume(500, 0.2):
            if msg.error() is None:
                user = loads(msg.value())["user"]
                pending[user] = pending.get(user, 0) + 1
                seen += 1
                last = time.perf_counter()
                if first is None:
                    first = last
        now = time.perf_counter()
        if pending and first is not None and now - first >= 1.0:
            with conn:  # at least once: the counts are durable before their offsets are committed
                conn.executemany(upsert, pending.items())
            consumer.commit(asynchronous=False)
            writes += len(pending)
            pending.clear()
            durable, first = seen, None
        if now - last > STALL:
            raise RuntimeError(f"stalled after {seen} of {n} messages")
    seconds = time.perf_counter() - started
    consumer.close()
    assert conn.execute("SELECT sum(v), count(*) FROM totals").fetchone() == (n, min(n, KEYS))
    conn.close()
    return {"seconds": seconds, "records": n, "writes": writes}


def bytewax(brokers: str, topic: str, n: int, workdir: str) -> dict[str, Any]:
    import bytewax.operators as op
    from bytewax.connectors.kafka import KafkaSource
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, run_main

    counts: list[tuple[str, int]] = []
    flow = Dataflow("count")
    messages = op.input("in", flow, KafkaSource([brokers], [topic], tail=False))
    pairs = op.map("key", messages, lambda msg: (orjson.loads(msg.value)["user"], 1))
    op.output("out", op.reduce_final("count", pairs, lambda a, b: a + b), TestingSink(counts))
    conn = sqlite3.connect(str(Path(tempfile.mkdtemp(dir=workdir)) / "state.db"))
    conn.execute("CREATE TABLE totals (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    started = time.perf_counter()
    run_main(flow)
    with conn:
        conn.executemany("INSERT INTO totals (k, v) VALUES (?, ?)", counts)
    seconds = time.perf_counter() - started
    assert conn.execute("SELECT sum(v), count(*) FROM totals").fetchone() == (n, min(n, KEYS))
    conn.close()
    return {"seconds": seconds, "records": n, "writes": len(counts)}


def _produce(brokers: str, topic: str, n: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "queue.buffering.max.messages": 1_000_000})
    for i in range(n):
        doc = event(i, KEYS)
        producer.produce(topic, json.dumps(doc).encode(), key=str(doc["user"]).encode())
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("could not produce the benchmark's messages")


def _check_retained(brokers: str, topic: str) -> None:
    """The mock broker drops old messages past roughly 40 000 per partition: make sure none went."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "bench-check", "fetch.wait.max.ms": 50})
    try:
        for p in range(PARTITIONS):
            low, _ = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if low > 0:
                raise RuntimeError(f"the broker already dropped {low} messages of {topic}[{p}]: use fewer messages")
    finally:
        consumer.close()


@contextmanager
def setup(ctx: Context) -> Iterator[Plan]:
    from murmur_test_servers.kafka import KafkaBroker

    n = ctx.size(50_000, 120_000)  # the mock broker keeps ~40 000 messages per partition
    topic = "bench.events"
    with KafkaBroker([(topic, PARTITIONS)]) as broker:
        _produce(broker.bootstrap, topic, n)
        _check_retained(broker.bootstrap, topic)
        kwargs = {"brokers": broker.bootstrap, "topic": topic, "n": n}
        variants = [
            Variant("murmur live", "murmur", f"{__name__}:murmur", {**kwargs, "workdir": str(ctx.workdir)}),
            Variant(
                "murmur live, flush 0.05 s",
                "info",
                f"{__name__}:murmur",
                {**kwargs, "workdir": str(ctx.workdir), "flush_interval": 0.05},
            ),
            Variant("raw consume", "limit", f"{__name__}:limit", kwargs),
            Variant("raw consume + orjson count", "info", f"{__name__}:parse_count", kwargs),
            Variant(
                "script: fold, upsert+commit 1/s",
                "naive",
                f"{__name__}:script",
                {**kwargs, "workdir": str(ctx.workdir)},
            ),
        ]
        targets = [Target("murmur live", "ratio_limit", ">=", 0.7), Target("murmur live", "ratio_naive", ">=", 1.2)]
        if importlib.util.find_spec("bytewax") is not None:
            variants.append(
                Variant("bytewax 0.21", "peer", f"{__name__}:bytewax", {**kwargs, "workdir": str(ctx.workdir)})
            )
            targets.append(Target("murmur live", "ratio_peer", ">=", 3))
        else:
            print("  bytewax is not installed: the peer of scenario 3 is skipped", file=sys.stderr)
        yield Plan(f"3 kafka→sqlite {n:,}", variants, targets)
