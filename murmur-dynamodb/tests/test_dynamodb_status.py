"""``murmur status`` on DynamoDB (a real endpoint, a real subprocess): the store lists its pipelines."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from murmur.testing import build_status_scenario, check_status_scenario
from test_dynamodb_cli import murmur

from murmur_dynamodb import DynamoDBStore


def test_status_json_on_dynamodb(
    dynamodb_endpoint: str, make_store: Callable[..., DynamoDBStore], tables: tuple[str, str]
) -> None:
    store = make_store(transactional=True)
    build_status_scenario(store)
    assert store.pipelines() == ["cut", "finished", "tail"]
    base = ("status", "--store", "dynamodb", "-T", f"table={tables[0]}", "-T", f"endpoint_url={dynamodb_endpoint}")
    result = murmur(*base, "--json", "--stale-after", "0")
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    assert doc["store"]["adapter"] == "dynamodb"
    check_status_scenario(doc)
    one = murmur(*base, "--json", "--name", "cut", "--stale-after", "86400")
    assert one.returncode == 0, one.stderr
    (cut,) = json.loads(one.stdout)["pipelines"]
    assert [s["state"] for s in cut["bootstrap"]["segments"]] == ["finished", "running"]


def test_an_empty_table_lists_no_pipelines(
    dynamodb_endpoint: str, make_store: Callable[..., DynamoDBStore], tables: tuple[str, str]
) -> None:
    assert make_store().pipelines() == []
    result = murmur(
        "status", "--store", "dynamodb", "-T", f"table={tables[0]}", "-T", f"endpoint_url={dynamodb_endpoint}"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "no pipelines in this store\n"
