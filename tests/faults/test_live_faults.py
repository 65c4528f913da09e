"""A live run in exactly-once mode (Kafka → DynamoDB store + deduper) through the DynamoDB fault
proxy: throttles, 503s and connections dropped after the write was applied, on every operation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from murmur_test_servers import run_until
from murmur_test_servers.faults import FaultCycle

MURMUR = shutil.which("murmur", path=str(Path(sys.executable).parent)) or "murmur"
MESSAGES = 400
#: A deadline for a stuck run, not a timing assumption: a loaded machine may be many times slower.
DRAIN_TIMEOUT = 240.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MURMUR_"))}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    env["MURMUR_DISABLE_PLUGINS"] = "broken"
    return env


def murmur(*args: str, timeout: float = 280) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MURMUR, *args], capture_output=True, text=True, timeout=timeout, env=_env(), check=False)


def _committed(brokers: str, group: str, topic: str, partitions: int) -> list[int]:
    c = Consumer({"bootstrap.servers": brokers, "group.id": group})
    try:
        return [tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)]
    finally:
        c.close()


def drain(brokers: str, group: str, topic: str, ends: list[int], *args: str) -> subprocess.CompletedProcess[str]:
    """``murmur run ARGS`` until ``group`` has committed ``ends``, then SIGTERM (a clean stop, exit 0)."""
    return run_until(
        [MURMUR, *args],
        lambda: _committed(brokers, group, topic, len(ends)) == ends,
        DRAIN_TIMEOUT,
        describe=lambda: f"{group} committed {_committed(brokers, group, topic, len(ends))} of {ends}",
        env=_env(),
    )


def test_a_live_run_rides_out_faults_exactly(
    kafka_broker: Any, dynamodb_endpoint: str, dynamodb_faults: Any, unique_name: Callable[[str], str]
) -> None:
    from murmur_dynamodb import ensure_tables

    topic, state, dedup, name = unique_name("orders"), unique_name("state"), unique_name("dedup"), unique_name("p")
    kafka_broker.create_topic(topic, 2)
    ensure_tables(state, dedup, endpoint_url=dynamodb_endpoint, region="us-east-1")
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    expected: Counter[str] = Counter()
    ends = [0, 0]
    for i in range(MESSAGES):
        order = {"customer": f"c{i % 5}", "amount": i % 23 + 1}
        expected[order["customer"]] += order["amount"]
        producer.produce(topic, json.dumps(order).encode(), key=str(i).encode(), partition=i % 2)
        ends[i % 2] += 1
    assert producer.flush(30) == 0
    url = dynamodb_faults.url
    store = ("--store", "dynamodb", "-T", f"table={state}", "-T", f"endpoint_url={url}")
    chaos = FaultCycle(dynamodb_faults)
    chaos.start()
    try:
        result = drain(
            kafka_broker.bootstrap, f"murmur.{name}", topic, ends,
            "run", "--source", "kafka", "-S", f"brokers={kafka_broker.bootstrap}", "-S", f"topic={topic}",
            "-S", "poll_batch=20", "-S", "commit_interval=200ms",
            *store, "--dedup", "dynamodb", "-D", f"table={dedup}", "-D", f"endpoint_url={url}",
            "--key", "customer", "--value", "amount", "--monoid", "sum", "--name", name, "--json",
        )  # fmt: skip
    finally:
        chaos.stop()
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dead_letters"] == 0
    assert summary["records"] >= MESSAGES
    stats = dynamodb_faults.stats()
    assert stats["throttled"] >= 2
    assert stats["failed_5xx"] >= 2
    assert stats["dropped"] >= 2
    assert "TransactWriteItems" in stats["by_operation"]
    got = murmur("get", *store, "--name", name, "--json", *sorted(expected))
    assert json.loads(got.stdout) == dict(expected)
