"""The example third-party live source passes the core's whole live-source contract."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tail_source import JsonLinesTail

from murmur import Count, LiveSource, Pipeline, live
from murmur.testing import CheckpointShelf, LiveSourceContract, MemoryStore


class TestJsonLinesTail(LiveSourceContract):
    quiet = 0.5

    @pytest.fixture
    def files(self, tmp_path: Path) -> tuple[Path, Path]:
        return tmp_path / "events.jsonl", tmp_path / "dead.jsonl"

    @pytest.fixture
    def make_source(self, files: tuple[Path, Path]) -> Iterator[Callable[[], LiveSource]]:
        shelf = CheckpointShelf()  # it returns positions from checkpoint(): kept as the runtime keeps them
        yield shelf.wrap(lambda: JsonLinesTail(files[0], dead_letters=files[1]))
        shelf.close_all()

    @pytest.fixture
    def produce(self, files: tuple[Path, Path]) -> Callable[[list[dict[str, Any]]], None]:
        def produce(values: list[dict[str, Any]]) -> None:
            with files[0].open("a", encoding="utf-8") as f:
                f.writelines(json.dumps(v) + "\n" for v in values)

        return produce

    @pytest.fixture
    def read_dead_letters(self, files: tuple[Path, Path]) -> Callable[[], list[str]]:
        def read() -> list[str]:
            if not files[1].exists():
                return []
            return [json.loads(line)["error"] for line in files[1].read_text().splitlines()]

        return read


def test_malformed_and_half_written_lines(tmp_path: Path) -> None:
    """A bad line is a dead letter with its reason; a line still being written waits for its newline."""
    events, dead = tmp_path / "events.jsonl", tmp_path / "dead.jsonl"
    events.write_text('{"k": "a"}\nnot json\n[1, 2]\n{"k": "a"}\n{"k": "b"')
    store = MemoryStore()
    status = live.run(Pipeline("p", Count(), key="k"), JsonLinesTail(events, dead_letters=dead), store, until_idle=0.3)
    assert store.totals("p") == {"a": 2}
    assert status.dead_letters == 2
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(d["kind"], d["raw"]) for d in letters] == [("decode", "not json\n"), ("decode", "[1, 2]\n")]
    assert "not JSON" in letters[0]["error"] and "expected a JSON object" in letters[1]["error"]
    with events.open("a") as f:
        f.write("}\n")  # the half-written line is complete now
    live.run(Pipeline("p", Count(), key="k"), JsonLinesTail(events, dead_letters=dead), store, until_idle=0.3)
    assert store.totals("p") == {"a": 2, "b": 1}
