"""``murmur status`` on SQLite: a finished and an interrupted bootstrap of two segments, and a live position."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Invoke

from murmur import Pipeline, SourceError, Sum, bootstrap, live
from murmur.adapters.sqlite import SqliteStore
from murmur.testing import MemoryLiveSource, MemoryLog, MemorySnapshotSource

ORDERS: list[Any] = [{"customer": f"c{i % 5}", "amount": i} for i in range(400)]


def pipe(name: str) -> Pipeline:
    return Pipeline(name, Sum(), key="customer", value="amount")


class PositionedLive(MemoryLiveSource):
    """The in-memory log keeping its own position in the store (like a change stream), not committing."""

    def checkpoint(self) -> Any | None:
        return {str(p): self._acks.committable(p) for p in sorted(self._acks.partitions())}


def build(store: Any) -> None:
    """finished: 2 segments, 1 dead letter, a handoff with a live position; cut: segment 0 finished,
    segment 1 interrupted after 100 records; tail: a live run whose position the store keeps."""
    log = MemoryLog()
    log.extend([{"customer": "c1", "amount": 1}] * 3)
    poisoned = [*ORDERS[:10], {"customer": "c0", "amount": "x"}, *ORDERS[10:]]
    bootstrap.run(
        pipe("finished"),
        MemorySnapshotSource(poisoned, batch_size=50),
        store,
        segments=2,
        handoff_to=MemoryLiveSource(log),
        dead_letters=_Sink(),
    )
    bootstrap.run(pipe("cut"), MemorySnapshotSource(ORDERS, batch_size=50), store, segments=2, segment=0)
    with pytest.raises(SourceError):
        bootstrap.run(
            pipe("cut"),
            MemorySnapshotSource(ORDERS, batch_size=50, fail_after=100),
            store,
            segments=2,
            segment=1,
        )
    live.run(pipe("tail"), PositionedLive(log), store, until_idle=0.3, flush_interval=0.05)


class _Sink:
    def write(self, letter: Any) -> None:
        pass


@pytest.fixture
def db(workdir: Path) -> Path:
    path = workdir / "murmur.db"
    store = SqliteStore(path)
    try:
        build(store)
    finally:
        store.close()
    return path


def check(doc: dict[str, Any]) -> None:
    """The status of the scenario :func:`build` makes, whatever the store."""
    by_name = {p["pipeline"]: p for p in doc["pipelines"]}
    assert sorted(by_name) == ["cut", "finished", "tail"]

    finished = by_name["finished"]
    assert finished["definition"] == {
        "name": "finished", "monoid": "sum", "key": "customer", "keys": None, "value": "amount",
        "window": None, "event_time": None, "mode": None,
    }  # fmt: skip
    assert len(finished["definition_hash"]) == 12
    assert finished["definition_hash"] == by_name["cut"]["definition_hash"]  # same computation, other name
    boot = finished["bootstrap"]
    assert boot["state"] == "finished"
    assert (boot["records"], boot["applied"], boot["dead_lettered"]) == (401, 400, 1)
    assert [(s["segment"], s["of"], s["state"], s["records"]) for s in boot["segments"]] == [
        (0, 2, "finished", 200),
        (1, 2, "finished", 201),
    ]
    assert [s["dead_lettered"] for s in boot["segments"]] == [1, 0]
    assert all(s["age_seconds"] >= 0 and s["updated"] for s in boot["segments"])
    hand = finished["handoff"]
    assert hand["source"] == "memory" and hand["token"] == "memory-token"
    assert hand["live"] == {"source": "memory-live", "position": {"0": 3}}
    assert finished["live"] == []

    cut = by_name["cut"]["bootstrap"]
    assert cut["state"] == "interrupted"
    assert [(s["state"], s["records"], s["position"]) for s in cut["segments"]] == [
        ("finished", 200, 199),
        ("interrupted", 100, 299),
    ]

    tail = by_name["tail"]
    assert tail["bootstrap"] is None and tail["handoff"] is None
    assert [(p["source"], p["position"]) for p in tail["live"]] == [("memory-live", {"0": 3})]
    assert tail["live"][0]["age_seconds"] >= 0


def test_status_json_lists_every_pipeline_of_a_sqlite_store(cli: Invoke, db: Path) -> None:
    result = cli("status", "--json", "--stale-after", "0")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["store"]["adapter"] == "sqlite"
    check(doc)


def test_a_fresh_unfinished_segment_shows_running(cli: Invoke, db: Path) -> None:
    result = cli("status", "--json", "--name", "cut", "--stale-after", "86400")
    assert result.exit_code == 0, result.stderr
    (cut,) = json.loads(result.stdout)["pipelines"]
    assert cut["bootstrap"]["state"] == "running"
    assert [s["state"] for s in cut["bootstrap"]["segments"]] == ["finished", "running"]


def test_status_for_humans(cli: Invoke, db: Path) -> None:
    result = cli("status", "--name", "finished")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("finished  definition ") and lines[0].endswith("(sum of amount by customer)")
    assert lines[1] == "  bootstrap   finished: 401 records, 1 dead-lettered, 2 segment(s)"
    assert lines[2].startswith("    segment 0/2  finished    200 records, 1 dead-lettered  updated ")
    assert lines[4].startswith("  handoff     memory token captured ")
    assert lines[4].endswith('; live position for memory-live: {"0": 3}')


def test_unknown_pipeline_and_missing_store_are_usage_errors(cli: Invoke, db: Path, workdir: Path) -> None:
    result = cli("status", "--name", "nope")
    assert result.exit_code == 2
    assert result.stderr == "murmur: error: --name nope: the store holds no pipeline of that name\n"
    result = cli("status", "-T", "path=elsewhere.db")
    assert result.exit_code == 2
    assert "murmur: error: -T path: 'elsewhere.db' does not exist" in result.stderr
    result = cli("status", "--stale-after", "-1")
    assert result.exit_code == 2
    assert result.stderr == "murmur: error: --stale-after: expected seconds, 0 or more, got -1\n"
