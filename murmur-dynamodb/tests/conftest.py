"""Fixtures for murmur-dynamodb's tests: tables on a real DynamoDB endpoint.

`dynamodb_endpoint`, `dynamodb_faults` and `unique_name` come from the `murmur-test-servers`
pytest plugin (tests/servers), whose moto server serialises requests as real DynamoDB's
per-item atomicity requires.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from murmur_dynamodb import DynamoDBDeduper, DynamoDBStore, ensure_tables

# Dummy credentials: moto ignores them, botocore needs some to sign, and a mis-pointed client
# must never pick up real ones.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ.pop("AWS_SESSION_TOKEN", None)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
REGION = "us-east-1"


@pytest.fixture
def endpoint(dynamodb_endpoint: str) -> dict[str, Any]:
    """Keyword arguments that point an adapter at the test endpoint."""
    return {"endpoint_url": dynamodb_endpoint, "region": REGION}


@pytest.fixture
def tables(endpoint: dict[str, Any], unique_name: Callable[[str], str]) -> tuple[str, str]:
    """A fresh (state, dedup) pair of tables."""
    state, dedup = unique_name("state"), unique_name("dedup")
    ensure_tables(state, dedup, **endpoint)
    return state, dedup


@pytest.fixture
def make_store(endpoint: dict[str, Any], tables: tuple[str, str]) -> Iterator[Callable[..., DynamoDBStore]]:
    """Stores on the test's state table (each call is another worker's store)."""
    made: list[DynamoDBStore] = []

    def make(**options: Any) -> DynamoDBStore:
        store = DynamoDBStore(tables[0], **{**endpoint, **options})
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def make_deduper(endpoint: dict[str, Any], tables: tuple[str, str]) -> Iterator[Callable[..., DynamoDBDeduper]]:
    made: list[DynamoDBDeduper] = []

    def make(**options: Any) -> DynamoDBDeduper:
        deduper = DynamoDBDeduper(tables[1], **{**endpoint, **options})
        made.append(deduper)
        return deduper

    yield make
    for deduper in made:
        deduper.close()
