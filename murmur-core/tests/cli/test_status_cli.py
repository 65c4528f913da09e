"""``murmur status`` on SQLite: a finished and an interrupted bootstrap of two segments, and a live position."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Invoke

from murmur.adapters.sqlite import SqliteStore
from murmur.testing import build_status_scenario, check_status_scenario


@pytest.fixture
def db(workdir: Path) -> Path:
    path = workdir / "murmur.db"
    store = SqliteStore(path)
    try:
        build_status_scenario(store)
    finally:
        store.close()
    return path


def test_status_json_lists_every_pipeline_of_a_sqlite_store(cli: Invoke, db: Path) -> None:
    result = cli("status", "--json", "--stale-after", "0")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["store"]["adapter"] == "sqlite"
    check_status_scenario(doc)


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
