"""The seams between commands on DynamoDB (issue 13): riding out faults exactly, listing keys, --restart."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from murmur import StateKey, Sum, Unit
from murmur_test_servers.faults import FaultCycle
from test_dynamodb_cli import murmur

from murmur_dynamodb import DynamoDBStore

KEYS = 10_000


def _orders(tmp_path: Path, n: int) -> tuple[Path, dict[str, int]]:
    lines = [{"id": i, "customer": f"c{i % 6}", "amount": i % 37 + 1} for i in range(n)]
    path = tmp_path / "orders.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    expected: Counter[str] = Counter()
    for line in lines:
        expected[line["customer"]] += line["amount"]
    return path, dict(expected)


def test_a_bootstrap_rides_out_faults_on_every_operation_exactly(
    tmp_path: Path, dynamodb_faults: Any, tables: tuple[str, str], unique_name: Callable[[str], str]
) -> None:
    state, dedup = tables
    path, expected = _orders(tmp_path, 600)
    name = unique_name("orders")
    url = dynamodb_faults.url
    dynamodb_faults.throttle(n=2, operations=["PutItem"])  # the pipeline description's first writes
    chaos = FaultCycle(dynamodb_faults)
    chaos.start()
    try:
        result = murmur(
            "run", "--source", "jsonl", "-S", f"path={path}", "-S", "batch_size=25",
            "--store", "dynamodb", "-T", f"table={state}", "-T", f"endpoint_url={url}",
            "--dedup", "dynamodb", "-D", f"table={dedup}", "-D", f"endpoint_url={url}",
            "--key", "customer", "--value", "amount", "--monoid", "sum", "--name", name, "--json",
            "--dead-letters", str(tmp_path / "dead.jsonl"), timeout=280,
        )  # fmt: skip
    finally:
        chaos.stop()
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dead_letters"] == 0
    assert summary["applied"] + summary["dedup_skips"] == 600
    assert "murmur: waiting for the store" in result.stderr
    stats = dynamodb_faults.stats()
    assert stats["throttled"] >= 2
    assert stats["failed_5xx"] >= 2
    assert stats["dropped"] >= 2
    assert {"PutItem", "TransactWriteItems"} <= set(stats["by_operation"])
    got = murmur(
        "get", "--store", "dynamodb", "-T", f"table={state}", "-T", f"endpoint_url={url}", "--name", name, "--json"
    )
    assert json.loads(got.stdout) == expected


def test_a_bootstrap_gives_up_after_retry_for_and_keeps_its_checkpoint(
    tmp_path: Path, dynamodb_faults: Any, tables: tuple[str, str], unique_name: Callable[[str], str]
) -> None:
    state, _ = tables
    path, _ = _orders(tmp_path, 10)
    dynamodb_faults.throttle()  # until healed
    result = murmur(
        "run", "--source", "jsonl", "-S", f"path={path}", "--store", "dynamodb", "-T", f"table={state}",
        "-T", f"endpoint_url={dynamodb_faults.url}", "--key", "customer", "--value", "amount", "--monoid", "sum",
        "--name", unique_name("orders"), "--retry-for", "2s",
    )  # fmt: skip
    assert result.returncode == 1
    assert "kept failing for 2s (--retry-for)" in result.stderr
    assert "ProvisionedThroughputExceededException" in result.stderr
    assert "run again with --resume" in result.stderr


def test_get_lists_10000_keys_with_a_query_per_page(
    dynamodb_faults: Any, endpoint: dict[str, Any], tables: tuple[str, str], unique_name: Callable[[str], str]
) -> None:
    state, _ = tables
    name, other = unique_name("many"), unique_name("other")
    # Non-transactional writes: moto's TransactWriteItems slows down as the table grows.
    store = DynamoDBStore(state, **endpoint, transactional=False)
    for pipeline in (name, other):
        store.write_meta(pipeline, "pipeline", {"monoid": "sum", "window": None})
    for start in range(0, KEYS, 1000):
        store.merge(Unit(name, Sum(), {StateKey(f"k{i:05d}"): i + 1 for i in range(start, start + 1000)}))
    store.merge(Unit(other, Sum(), {StateKey("k00001"): 5}))
    store.close()
    args = ("get", "--store", "dynamodb", "-T", f"table={state}", "-T", f"endpoint_url={dynamodb_faults.url}")
    dynamodb_faults.reset_counters()
    everything = murmur(*args, "--name", name, "--all", "--json")
    assert everything.returncode == 0, everything.stderr
    listed = json.loads(everything.stdout)
    assert len(listed) == KEYS
    assert listed["k00000"] == 1
    assert listed["k09999"] == KEYS
    ops = dynamodb_faults.stats()["by_operation"]
    assert "Scan" not in ops
    top = murmur(*args, "--name", name, "--top", "2")
    assert top.stdout.splitlines() == ["k09999\t10000", "k09998\t9999"]
    prefix = murmur(*args, "--name", name, "--prefix", "k0999", "--format", "csv")
    rows = prefix.stdout.splitlines()
    assert rows[0] == "key,value"
    assert sorted(rows[1:]) == [f"k0999{i},{9991 + i}" for i in range(10)]
    assert json.loads(murmur(*args, "--name", other, "--all", "--json").stdout) == {"k00001": 5}


def test_restart_clears_only_its_pipeline_and_totals_stay_single(
    tmp_path: Path, dynamodb_endpoint: str, tables: tuple[str, str], unique_name: Callable[[str], str]
) -> None:
    state, dedup = tables
    path, expected = _orders(tmp_path, 60)
    name, other = unique_name("orders"), unique_name("other")
    store = ("--store", "dynamodb", "-T", f"table={state}", "-T", f"endpoint_url={dynamodb_endpoint}")
    base = ("run", "--source", "jsonl", "-S", f"path={path}", *store, "--key", "customer", "--value", "amount")
    assert murmur(*base, "--monoid", "sum", "--name", other).returncode == 0
    assert murmur(*base, "--monoid", "sum", "--name", name).returncode == 0  # no deduper
    dedup_opts = ("--dedup", "dynamodb", "-D", f"table={dedup}", "-D", f"endpoint_url={dynamodb_endpoint}")
    restarted = murmur(*base, "--monoid", "sum", "--name", name, "--restart", *dedup_opts, "--json")
    assert restarted.returncode == 0, restarted.stderr
    assert json.loads(restarted.stdout)["cleared"]["keys"] == 6
    again = murmur(*base, "--monoid", "sum", "--name", name, "--restart", *dedup_opts, "--json")
    assert json.loads(again.stdout)["cleared"]["claims"] == 60
    for pipeline in (name, other):
        got = murmur("get", *store, "--name", pipeline, "--json")
        assert json.loads(got.stdout) == expected
