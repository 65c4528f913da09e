"""A live run in exactly-once mode (Kafka → DynamoDB store + deduper) through the DynamoDB fault
proxy: throttles, 503s and connections dropped after the write was applied, on every operation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

MURMUR = shutil.which("murmur", path=str(Path(sys.executable).parent)) or "murmur"
MESSAGES = 400


class Chaos(threading.Thread):
    """Cycles the three faults; each is used up before some requests go through (no clock involved)."""

    def __init__(self, proxy: Any) -> None:
        super().__init__(daemon=True)
        self.proxy = proxy
        self.done = threading.Event()

    def _until(self, counter: str, target: int) -> None:
        while not self.done.is_set() and self.proxy.stats()[counter] < target:
            self.done.wait(0.005)

    def run(self) -> None:
        faults = (
            lambda: self.proxy.throttle(n=2),
            lambda: self.proxy.fail_5xx(n=2, status=503),
            lambda: self.proxy.drop_connections(n=2, after_forward=True),
        )
        rounds = 0
        while not self.done.is_set():
            before = self.proxy.stats()["faulted"]
            faults[rounds % 3]()
            self._until("faulted", before + 2)
            self._until("forwarded", self.proxy.stats()["forwarded"] + 3)
            rounds += 1

    def stop(self) -> None:
        self.done.set()
        self.join()
        self.proxy.heal()


def murmur(*args: str, timeout: float = 280) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MURMUR_"))}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    env["MURMUR_DISABLE_PLUGINS"] = "broken"
    return subprocess.run([MURMUR, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False)


def test_a_live_run_rides_out_faults_exactly(
    kafka_broker: Any, dynamodb_endpoint: str, dynamodb_faults: Any, unique_name: Callable[[str], str]
) -> None:
    from murmur_dynamodb import ensure_tables

    topic, state, dedup, name = unique_name("orders"), unique_name("state"), unique_name("dedup"), unique_name("p")
    kafka_broker.create_topic(topic, 2)
    ensure_tables(state, dedup, endpoint_url=dynamodb_endpoint, region="us-east-1")
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    expected: Counter[str] = Counter()
    for i in range(MESSAGES):
        order = {"customer": f"c{i % 5}", "amount": i % 23 + 1}
        expected[order["customer"]] += order["amount"]
        producer.produce(topic, json.dumps(order).encode(), key=str(i).encode())
    assert producer.flush(30) == 0
    url = dynamodb_faults.url
    store = ("--store", "dynamodb", "-T", f"table={state}", "-T", f"endpoint_url={url}")
    chaos = Chaos(dynamodb_faults)
    chaos.start()
    try:
        result = murmur(
            "run", "--source", "kafka", "-S", f"brokers={kafka_broker.bootstrap}", "-S", f"topic={topic}",
            "-S", "poll_batch=20", *store, "--dedup", "dynamodb", "-D", f"table={dedup}", "-D", f"endpoint_url={url}",
            "--key", "customer", "--value", "amount", "--monoid", "sum", "--name", name, "--until-idle", "3", "--json",
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
