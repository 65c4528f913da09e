"""The core's contract suites, run against the real endpoint."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dynamodb_helpers import create_plain_table, put_items
from murmur import Deduper, Store
from murmur.testing import DeduperContract, SnapshotSourceContract, StoreContract

from murmur_dynamodb import DynamoDBDeduper, DynamoDBSnapshotSource, DynamoDBStore


class TestStoreAtLeastOnce(StoreContract):
    """transactional=false: concurrent per-key writes, safe order."""

    @pytest.fixture
    def store(self, make_store: Callable[..., DynamoDBStore]) -> Store:
        store = make_store(transactional=False)
        assert not store.transactional
        return store


class TestStoreTransactional(StoreContract):
    """The default with a dynamodb deduper on the same endpoint: one TransactWriteItems per unit."""

    @pytest.fixture
    def store(self, make_store: Callable[..., DynamoDBStore]) -> Store:
        return make_store()

    @pytest.fixture
    def absorbed_deduper(self, store: DynamoDBStore, make_deduper: Callable[..., DynamoDBDeduper]) -> Deduper:
        deduper = make_deduper()
        assert store.absorbs(deduper)
        assert store.transactional
        return deduper


class TestDeduper(DeduperContract):
    @pytest.fixture
    def deduper(self, make_deduper: Callable[..., DynamoDBDeduper]) -> Deduper:
        return make_deduper()


class TestSnapshotSource(SnapshotSourceContract):
    @pytest.fixture
    def expected(self) -> list[Any]:
        return [{"id": f"o{i:03d}", "line": i % 3, "customer": f"c{i % 7}", "amount": i} for i in range(230)]

    @pytest.fixture
    def source(
        self, endpoint: dict[str, Any], unique_name: Callable[[str], str], expected: list[Any]
    ) -> Iterator[DynamoDBSnapshotSource]:
        table = unique_name("orders")
        create_plain_table(endpoint, table, sort_key="line")
        put_items(endpoint, table, expected)
        source = DynamoDBSnapshotSource(table, page_size=40, **endpoint)
        yield source
        source.close()
