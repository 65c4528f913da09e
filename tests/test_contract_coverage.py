"""Every first-party source, live source, store and deduper runs its contract suite in its own tests.

A new adapter registered without a contract test class fails here, naming what is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from murmur.plugins import Registry, load

REPO = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"murmur-core", "murmur-mongo", "murmur-kafka", "murmur-dynamodb"}
CONTRACTS = {
    "source": "SnapshotSourceContract",
    "live": "LiveSourceContract",
    "store": "StoreContract",
    "dedup": "DeduperContract",
}

#: (kind, adapter name) ⇒ the test module with its contract class (a class named for the adapter).
WHERE = {
    ("source", "jsonl"): ("murmur-core/tests/test_jsonl.py", "JsonLines"),
    ("store", "sqlite"): ("murmur-core/tests/test_sqlite.py", "SqliteStore"),
    ("dedup", "sqlite"): ("murmur-core/tests/test_sqlite.py", "SqliteDeduper"),
    ("store", "memory"): ("murmur-core/tests/test_memory_contracts.py", "MemoryStore"),
    ("dedup", "memory"): ("murmur-core/tests/test_memory_contracts.py", "MemoryDeduper"),
    ("source", "mongo"): ("murmur-mongo/tests/test_source.py", "MongoSnapshot"),
    ("live", "mongo-changes"): ("murmur-mongo/tests/test_changes.py", "MongoChanges"),
    ("live", "kafka"): ("murmur-kafka/tests/test_contract.py", "Kafka"),
    ("store", "dynamodb"): ("murmur-dynamodb/tests/test_dynamodb_contracts.py", "Store"),
    ("dedup", "dynamodb"): ("murmur-dynamodb/tests/test_dynamodb_contracts.py", "Deduper"),
    ("source", "dynamodb"): ("murmur-dynamodb/tests/test_dynamodb_contracts.py", "SnapshotSource"),
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load()


def test_every_first_party_adapter_is_listed(registry: Registry) -> None:
    registered = {
        key for key, spec in registry.specs.items() if spec.kind in CONTRACTS and spec.distribution in FIRST_PARTY
    }
    assert registered == set(WHERE), f"adapters without a contract test entry: {sorted(registered - set(WHERE))}"


@pytest.mark.parametrize(("kind", "name"), sorted(WHERE))
def test_the_adapters_tests_subclass_its_contract_suite(kind: str, name: str) -> None:
    path, class_part = WHERE[(kind, name)]
    text = (REPO / path).read_text(encoding="utf-8")
    pattern = rf"^class Test\w*{class_part}\w*\({CONTRACTS[kind]}\):"
    assert re.search(pattern, text, re.M), f"{path}: no test class subclassing {CONTRACTS[kind]} for {kind} {name!r}"
