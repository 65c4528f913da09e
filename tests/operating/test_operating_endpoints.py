"""``--metrics-port`` on real runs: a bootstrap then live Kafka scraped, counters against the ``--json``
summary and a recount; ``/readyz`` through a DynamoDB outage made by the fault proxy."""

from __future__ import annotations

import json
import random
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from operating_helpers import MURMUR, Worker, value, wait_for

from murmur_test_servers.dynamodb import env as aws_env

CUSTOMERS = [f"c{i}" for i in range(6)]
FAST = ["kafka.session.timeout.ms=2000", "kafka.heartbeat.interval.ms=300", "commit_interval=200ms"]


def orders(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"customer": rng.choice(CUSTOMERS), "amount": rng.randint(1, 100)} for _ in range(n)]


def produce(brokers: str, topic: str, values: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": brokers})
    for v in values:
        producer.produce(topic, json.dumps(v).encode(), key=str(v["customer"]).encode())
    assert producer.flush(30) == 0


def totals(*batches: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for batch in batches:
        for o in batch:
            if isinstance(o["amount"], int):
                out[o["customer"]] += o["amount"]
    return dict(out)


def options(flag: str, values: list[str]) -> list[str]:
    return [part for v in values for part in (flag, v)]


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        w.kill()


def test_a_bootstrap_then_live_kafka_scraped_equals_the_summary_and_the_recount(
    kafka_broker: Any, unique_name: Callable[[str], str], tmp_path: Path, workers: list[Worker]
) -> None:
    topic = unique_name("ops")
    kafka_broker.create_topic(topic, 3)
    snapshot = [*orders(300, seed=1), {"customer": "c1", "amount": "poison"}, {"customer": "c2", "amount": None}]
    (tmp_path / "orders.jsonl").write_text("".join(json.dumps(o) + "\n" for o in snapshot))
    kafka = [f"brokers={kafka_broker.bootstrap}", f"topic={topic}", f"group={unique_name('g')}", *FAST]
    worker = Worker(
        [
            "run", "--source", "jsonl", "-S", "path=orders.jsonl", "--key", "customer", "--value", "amount",
            "--monoid", "sum", "--name", "orders", "--then", "kafka", *options("-H", kafka),
            "--metrics-port", "0", "--log-format", "json", "--json",
        ],
        tmp_path,
    )  # fmt: skip
    workers.append(worker)
    boot = {"pipeline": "orders", "mode": "bootstrap"}
    live = {"pipeline": "orders", "mode": "live"}

    def in_live_phase() -> bool:
        got = worker.scrape()
        return value(got, "murmur_records_total", **live, outcome="applied") is not None

    wait_for(in_live_phase, message=worker.stderr)
    wait_for(lambda: worker.probe("/readyz")[0] == 200, message=lambda: str(worker.probe("/readyz")))
    assert worker.probe("/healthz") == (200, "ok\n")

    streamed = [*orders(200, seed=2), {"customer": "c3", "amount": "poison"}]
    produce(kafka_broker.bootstrap, topic, streamed)

    def caught_up() -> bool:
        got = worker.scrape()
        lags = [v for (name, _), v in got.items() if name == "murmur_live_lag"]
        return (
            value(got, "murmur_records_total", **live, outcome="applied") == 200
            and value(got, "murmur_records_total", **live, outcome="dead_lettered") == 1
            and len(lags) == 3
            and sum(lags) == 0
        )

    wait_for(caught_up, message=lambda: f"{worker.scrape()}\n{worker.stderr()}")
    got = worker.scrape()
    summary = worker.stop()

    phases = summary["phases"]
    for labels, phase, applied, dead in ((boot, phases["bootstrap"], 300, 2), (live, phases["live"], 200, 1)):
        assert value(got, "murmur_records_total", **labels, outcome="applied") == phase["applied"] == applied
        assert value(got, "murmur_records_total", **labels, outcome="dead_lettered") == phase["dead_letters"] == dead
        assert value(got, "murmur_records_total", **labels, outcome="dedup_skipped") == phase["dedup_skips"] == 0
        assert value(got, "murmur_keys_written_total", **labels) == phase["written_keys"] > 0
        assert value(got, "murmur_retries_total", **labels) == phase["retries"]
        merges = value(got, "murmur_store_merges_total", **labels)
        assert merges is not None and merges >= 1
        assert value(got, "murmur_store_merge_seconds_count", **labels) == merges
        assert value(got, "murmur_checkpoint_age_seconds", **labels) is not None
    assert value(got, "murmur_bootstrap_records_done", pipeline="orders", segment="scan") == 302
    assert value(got, "murmur_bootstrap_segment_finished", pipeline="orders", segment="scan") == 1

    lines = [json.loads(line) for line in worker.stderr().splitlines()]  # --log-format json: every line
    assert lines[0]["event"] == "metrics_listening"
    assert lines[-1]["event"] == "summary" and lines[-1]["fields"] == summary

    read = subprocess.run(
        [MURMUR, "get", "--name", "orders", "--json", *CUSTOMERS], cwd=tmp_path, capture_output=True, text=True
    )
    assert read.returncode == 0, read.stderr
    expected = totals(snapshot, streamed)
    assert {k: v for k, v in json.loads(read.stdout).items() if v is not None} == expected


def test_readyz_fails_while_dynamodb_is_unreachable_and_recovers(
    kafka_broker: Any,
    dynamodb_endpoint: str,
    dynamodb_faults: Any,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    from murmur import StateKey, Sum
    from murmur_dynamodb import DynamoDBStore, ensure_tables

    topic, table = unique_name("ops"), unique_name("state")
    kafka_broker.create_topic(topic, 3)
    ensure_tables(table, endpoint_url=dynamodb_endpoint, region="us-east-1")
    env = {**__import__("os").environ, **aws_env()}
    kafka = [f"brokers={kafka_broker.bootstrap}", f"topic={topic}", f"group={unique_name('g')}", *FAST]
    worker = Worker(
        [
            "run", "--source", "kafka", *options("-S", kafka), "--key", "customer", "--value", "amount",
            "--monoid", "sum", "--name", "orders", "--store", "dynamodb", "-T", f"table={table}",
            "-T", f"endpoint_url={dynamodb_faults.url}", "-T", "transactional=true",  # a failed merge writes nothing
            "--metrics-port", "0", "--json",
        ],
        tmp_path,
        env,
    )  # fmt: skip
    workers.append(worker)
    live = {"pipeline": "orders", "mode": "live"}
    applied = lambda: value(worker.scrape(), "murmur_records_total", **live, outcome="applied")  # noqa: E731

    wait_for(lambda: worker.probe("/readyz")[0] == 200, message=lambda: f"{worker.probe('/readyz')}{worker.stderr()}")
    first = orders(20, seed=3)
    produce(kafka_broker.bootstrap, topic, first)
    wait_for(lambda: applied() == 20, message=worker.stderr)

    dynamodb_faults.throttle()  # every request, until healed
    second = orders(10, seed=4)
    produce(kafka_broker.bootstrap, topic, second)
    wait_for(lambda: worker.probe("/readyz")[0] == 503, message=lambda: str(worker.probe("/readyz")))
    _, reason = worker.probe("/readyz")
    assert reason.startswith("store unreachable (retrying): ") and "dynamodb" in reason.lower()
    assert worker.probe("/healthz")[0] == 200  # alive: it retries, a liveness probe must not restart it
    assert applied() == 20

    dynamodb_faults.heal()
    wait_for(lambda: worker.probe("/readyz")[0] == 200, message=lambda: str(worker.probe("/readyz")))
    wait_for(lambda: applied() == 30, message=worker.stderr)
    got = worker.scrape()
    summary = worker.stop()
    assert value(got, "murmur_records_total", **live, outcome="applied") == summary["applied"] == 30
    retries = value(got, "murmur_retries_total", **live)
    assert retries == summary["retries"] and retries is not None and retries >= 1
    assert value(got, "murmur_keys_written_total", **live) == summary["written_keys"]

    store = DynamoDBStore(table, endpoint_url=dynamodb_endpoint, region="us-east-1")
    try:
        stored = store.get_many("orders", [StateKey(c, 0) for c in CUSTOMERS], Sum())
    finally:
        store.close()
    expected = totals(first, second)
    assert {c: v for c, v in zip(CUSTOMERS, stored, strict=True) if v is not None} == expected
