"""The stores' optional listing and clearing (``scan`` and ``clear``), in-memory and SQLite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from murmur import Sum
from murmur._unit import StateKey, Unit
from murmur.adapters.memory import MemoryStore
from murmur.adapters.sqlite import SqliteStore


def _memory(tmp_path: Path) -> Any:
    return MemoryStore()


def _sqlite(tmp_path: Path) -> Any:
    return SqliteStore(tmp_path / "s.db")


@pytest.fixture(params=[_memory, _sqlite], ids=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    make: Callable[[Path], Any] = request.param
    s = make(tmp_path)
    s.merge(Unit("p", Sum(), {StateKey(f"k{i}"): i + 1 for i in range(7)}, meta={"segment/0/1": {"done": 7}}))
    s.merge(Unit("q", Sum(), {StateKey("k1"): 100}))
    yield s
    s.close()


def _all(store: Any, pipeline: str, **kw: Any) -> list[tuple[str, Any]]:
    out, after = [], None
    while True:
        page, after = store.scan(pipeline, Sum(), after=after, limit=3, **kw)
        out.extend((k.entity, v) for k, v in page)
        if after is None:
            return out


def test_scan_pages_through_every_key_in_order(store: Any) -> None:
    assert _all(store, "p") == [(f"k{i}", i + 1) for i in range(7)]
    assert _all(store, "q") == [("k1", 100)]
    assert _all(store, "p", prefix="k3") == [("k3", 4)]
    assert _all(store, "nothing") == []


def test_clear_removes_one_pipeline_only(store: Any) -> None:
    assert store.clear("p") == {"keys": 7, "contributions": 0, "checkpoints": 1, "claims": 0}
    assert _all(store, "p") == []
    assert store.list_meta("p") == {}
    assert _all(store, "q") == [("k1", 100)]


def test_sqlite_clear_removes_the_pipelines_claims(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    dedup = store.deduper()
    store.merge(Unit("p", Sum(), {StateKey("a"): 1}, claims=["p|e1", "p|e2"]))
    store.merge(Unit("pp", Sum(), {StateKey("a"): 1}, claims=["pp|e1"]))
    assert store.clear("p")["claims"] == 2
    assert dedup.contains(["p|e1", "p|e2", "pp|e1"]) == {"pp|e1"}
    assert dedup.clear("pp") == {"claims": 1}
    store.close()
    dedup.close()
