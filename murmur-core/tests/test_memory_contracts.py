"""The in-memory test doubles keep the same contracts as real adapters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from murmur import Deduper, LiveSource, Store
from murmur.testing import (
    DeduperContract,
    LiveSourceContract,
    MemoryDeduper,
    MemoryLiveSource,
    MemoryLog,
    MemorySnapshotSource,
    MemoryStore,
    SnapshotSourceContract,
    StoreContract,
)


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Store:
        return MemoryStore()

    @pytest.fixture
    def absorbed_deduper(self, store: MemoryStore) -> Deduper:  # type: ignore[override]
        return store.deduper()


class TestMemoryDeduper(DeduperContract):
    @pytest.fixture
    def deduper(self) -> Deduper:
        return MemoryDeduper()


class TestMemorySnapshotSource(SnapshotSourceContract):
    @pytest.fixture
    def expected(self) -> list[Any]:
        return [{"k": i % 7, "v": i} for i in range(230)]

    @pytest.fixture
    def source(self, expected: list[Any]) -> MemorySnapshotSource:
        return MemorySnapshotSource(expected, batch_size=50)


class TestMemoryLiveSource(LiveSourceContract):
    @pytest.fixture
    def log(self) -> MemoryLog:
        return MemoryLog(partitions=3)

    @pytest.fixture
    def make_source(self, log: MemoryLog) -> Callable[[], LiveSource]:
        return lambda: MemoryLiveSource(log)

    @pytest.fixture
    def produce(self, log: MemoryLog) -> Callable[[list[dict[str, Any]]], None]:
        def produce(values: list[dict[str, Any]]) -> None:
            for i, v in enumerate(values):
                log.append(v, partition=i % 3)

        return produce
