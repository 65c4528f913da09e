"""The jsonl snapshot source: files, globs, .gz and stdin; exact resume; malformed lines as poison."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from murmur import ConfigError, Pipeline, Poison, SnapshotSource, SourceError, StateKey, Unit, bootstrap
from murmur.adapters.jsonl import JsonLinesSource
from murmur.adapters.sqlite import SqliteStore
from murmur.monoids import Sum
from murmur.testing import Crash, SnapshotSourceContract


def write_lines(path: Path, values: list[Any], *, gz: bool = False) -> Path:
    data = b"".join(orjson.dumps(v) + b"\n" for v in values)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


class TestJsonLinesGlob(SnapshotSourceContract):
    """Three files (one gzipped) behind a glob: splittable across files."""

    @pytest.fixture
    def expected(self) -> list[Any]:
        return [{"n": i, "k": f"k{i % 3}"} for i in range(90)]

    @pytest.fixture
    def source(self, tmp_path: Path, expected: list[Any]) -> SnapshotSource:
        write_lines(tmp_path / "a.jsonl", expected[:30])
        write_lines(tmp_path / "b.jsonl.gz", expected[30:70], gz=True)
        write_lines(tmp_path / "c.jsonl", expected[70:])
        return JsonLinesSource(str(tmp_path / "*.jsonl*"), batch_size=7)

    def test_segments_are_files_dealt_round_robin(self, source: JsonLinesSource) -> None:
        assert [len(s) for s in source.segments(2)] == [2, 1]
        assert [len(s) for s in source.segments(4)] == [1, 1, 1, 0]
        assert source.estimated_total(source.segments(4)[3]) == 0


class TestJsonLinesOneFile(SnapshotSourceContract):
    splittable = False

    @pytest.fixture
    def expected(self) -> list[Any]:
        return [{"n": i} for i in range(50)]

    @pytest.fixture
    def source(self, tmp_path: Path, expected: list[Any]) -> SnapshotSource:
        return JsonLinesSource(write_lines(tmp_path / "one.jsonl", expected), batch_size=8)


def scan_all(source: JsonLinesSource, after: Any = None) -> list[Any]:
    return [r for batch in source.scan(None, after) for r in batch]


def test_event_ids_and_positions_name_file_line_and_offset(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", [{"a": 1}, {"a": 22}])
    records = scan_all(JsonLinesSource(path))
    absolute = str(path.resolve())
    assert [r.event_id for r in records] == [f"{absolute}:1", f"{absolute}:2"]
    assert records[0].position == (absolute, len(b'{"a":1}\n'), 1)
    assert records[1].position == (absolute, path.stat().st_size, 2)


def test_malformed_line_is_poison_naming_file_and_line_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": \n   \n{"a": 3}\n\xff\xfe\n')
    records = scan_all(JsonLinesSource(path))
    values = [r.value for r in records]
    assert values[0] == {"a": 1}
    assert values[2] == {"a": 3}
    assert isinstance(values[1], Poison)
    assert isinstance(values[3], Poison)
    assert f"{path.resolve()}:3: invalid JSON" in values[1].error
    assert values[1].raw == b'{"a": '
    assert f"{path.resolve()}:6:" in values[3].error
    assert [r.event_id.rsplit(":", 1)[1] for r in records] == ["1", "3", "5", "6"]


def test_resume_from_a_position_seeks_past_it(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", [{"n": i} for i in range(10)])
    records = scan_all(JsonLinesSource(path, batch_size=3))
    resumed = scan_all(JsonLinesSource(path, batch_size=3), list(records[5].position))  # as stored in JSON
    assert [r.value["n"] for r in resumed] == [6, 7, 8, 9]
    assert [r.event_id for r in resumed] == [r.event_id for r in records[6:]]


def test_resume_in_a_gzip_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl.gz", [{"n": i} for i in range(10)], gz=True)
    records = scan_all(JsonLinesSource(path))
    assert [r.value["n"] for r in scan_all(JsonLinesSource(path), records[2].position)] == list(range(3, 10))


def test_resume_refuses_a_file_that_shrank(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", [{"n": i} for i in range(10)])
    last = scan_all(JsonLinesSource(path))[-1].position
    write_lines(path, [{"n": 0}])
    with pytest.raises(SourceError, match="shorter than the checkpoint"):
        scan_all(JsonLinesSource(path), last)


def test_resume_refuses_a_checkpoint_for_another_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", [{"n": 1}])
    with pytest.raises(SourceError, match="no longer"):
        scan_all(JsonLinesSource(path), ["/elsewhere/y.jsonl", 5, 1])


def test_stdin_is_read_and_a_resume_skips_by_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"".join(orjson.dumps({"n": i}) + b"\n" for i in range(5))

    def stdin() -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))

    stdin()
    source = JsonLinesSource("-")
    assert source.estimated_total() is None
    records = scan_all(source)
    assert [r.event_id for r in records] == [f"<stdin>:{i}" for i in range(1, 6)]
    stdin()
    assert [r.value["n"] for r in scan_all(JsonLinesSource("-"), records[1].position)] == [2, 3, 4]
    with pytest.raises(ConfigError, match="single stream"):
        JsonLinesSource("-").segments(2)


def test_truncated_gzip_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"n": 1}\n' * 1000)[:-30])
    with pytest.raises(SourceError, match="error reading"):
        scan_all(JsonLinesSource(path))


@pytest.mark.parametrize(
    ("path", "message"),
    [("missing.jsonl", "does not exist"), ("*.nothing", "no file matches"), (".", "is a directory")],
)
def test_bad_paths_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message) as info:
        JsonLinesSource(path)
    assert info.value.option == "path"


def test_estimated_total_of_a_large_file_is_close(tmp_path: Path) -> None:
    values = [{"n": i, "pad": "x" * (i % 40)} for i in range(20_000)]
    source = JsonLinesSource(write_lines(tmp_path / "big.jsonl", values))
    gz = JsonLinesSource(write_lines(tmp_path / "big.jsonl.gz", values, gz=True))
    for estimate in (source.estimated_total(), gz.estimated_total()):
        assert estimate is not None
        assert abs(estimate - 20_000) < 2_000


class CrashingStore(SqliteStore):
    """Dies (like a killed process) on the merge after ``survive`` successful ones."""

    def __init__(self, path: Path, survive: int) -> None:
        super().__init__(path)
        self.survive = survive

    def merge(self, unit: Unit) -> None:
        if unit.writes:
            if self.survive == 0:
                raise Crash("killed")
            self.survive -= 1
        super().merge(unit)


def test_a_crashed_bootstrap_resumes_to_exact_totals_without_a_deduper(tmp_path: Path) -> None:
    values = [{"k": f"k{i % 4}", "v": i} for i in range(1000)]
    path = write_lines(tmp_path / "in.jsonl", values)
    pipeline = Pipeline("sums", Sum(), key="k", value="v")
    db = tmp_path / "state.db"
    crashing = CrashingStore(db, survive=3)
    with pytest.raises(Crash):
        bootstrap.run(pipeline, JsonLinesSource(path, batch_size=50), crashing, batch_tick=0, fold_records=50)
    crashing.close()
    store = SqliteStore(db)
    bootstrap.run(pipeline, JsonLinesSource(path, batch_size=50), store, checkpoints="resume", batch_tick=0)
    expected = {f"k{j}": sum(i for i in range(1000) if i % 4 == j) for j in range(4)}
    got = store.get_many("sums", [StateKey(k) for k in expected], Sum())
    assert dict(zip(expected, got, strict=True)) == expected
    store.close()


@pytest.mark.parametrize(("block_size", "batch_size"), [(40, None), (1 << 20, 3), (7, 2)])
def test_blocks_end_at_a_newline_and_resuming_after_any_block_end_reads_the_rest(
    tmp_path: Path, block_size: int, batch_size: int | None
) -> None:
    values = [{"n": i, "pad": "y" * (i % 13)} for i in range(40)]
    path = write_lines(tmp_path / "b.jsonl", values)
    source = JsonLinesSource(path, block_size=block_size, batch_size=batch_size)
    batches = list(source.scan_batches(None, None))
    assert len(batches) > 1
    assert all(b.block is not None and bytes(b.block).endswith(b"\n") for b in batches)
    if batch_size is not None:
        assert all(b.size <= batch_size for b in batches)
    assert [r.value["n"] for b in batches for r in b.records()] == list(range(40))
    seen = 0
    for batch in batches:
        seen += batch.size
        rest = [r.value["n"] for b in source.scan_batches(None, list(batch.end)) for r in b.records()]
        assert rest == list(range(seen, 40))
    assert batches[-1].end == (str(path.resolve()), path.stat().st_size, 40)


def test_a_finished_block_path_bootstrap_is_finished_in_its_last_unit(tmp_path: Path) -> None:
    from murmur import RunStatus

    path = write_lines(tmp_path / "f.jsonl", [{"k": "a", "v": i} for i in range(10)])
    store = SqliteStore(tmp_path / "state.db")
    pipeline = Pipeline("fin", Sum(), key="k", value="v")
    bootstrap.run(pipeline, JsonLinesSource(path), store)
    segment = store.read_meta("fin", "segment/0/1")
    assert segment is not None and segment["finished"] and segment["done"] == 10
    again = RunStatus("fin", "bootstrap")
    bootstrap.run(pipeline, JsonLinesSource(path), store, checkpoints="resume", status=again)
    assert again.already_finished
    assert store.get_many("fin", [StateKey("a")], Sum()) == [45]
    store.close()
