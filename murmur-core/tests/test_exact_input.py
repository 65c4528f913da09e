"""Exact means exact (issue 12): huge integers, floats, booleans, odd keys, NaN, a 5 MB line and
broken JSON in one JSON-Lines file. Good lines give exact totals on both the block path and the
general path; every bad line is a counted dead letter naming its line and its reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from murmur import DeadLetter, Max, Min, Pipeline, RunStatus, StateKey, Sum, _foldahead, bootstrap
from murmur.adapters.jsonl import BLOCK_SIZE, JsonLinesSource
from murmur.adapters.sqlite import SqliteDeduper, SqliteStore

BIG = 10**30
HUGE = 2**64 + 1
PAD = "x" * (5 * 1024 * 1024)

#: (line text, None for a good line or a fragment of its dead letter's reason)
LINES: list[tuple[str, str | None]] = [
    ('{"k":"a","v":1}', None),
    (f'{{"k":"a","v":{BIG}}}', None),
    (f'{{"k":"b","v":{HUGE}}}', None),
    ('{"k":"b","v":-1}', None),
    ('{"k":"f","v":1.5}', None),
    ('{"k":"f","v":2.25}', None),
    ('{"k":"a","v":true}', "expected a number, got bool True"),
    ('{"k":true,"v":1}', "key 'k' is a boolean"),
    ('{"k":{"x":1},"v":1}', "key 'k' is an object"),
    ('{"k":[1],"v":1}', "key 'k' is a list"),
    ('{"k":"a","v":{"n":1}}', "expected a number, got dict"),
    ('{"k":"a","v":[1]}', "expected a number, got list"),
    ('{"k":"a","v":NaN}', "invalid JSON"),
    ('{"k":"a","v":Infinity}', "invalid JSON"),
    ('{"k":"a","v":1e400}', "invalid JSON"),
    (f'{{"k":"big","v":7,"pad":"{PAD}"}}', None),
    ('{"k":"a","v":1', "invalid JSON"),
    ('{"k":12345678901234567890123,"v":2}', None),
    ('{"k":3,"v":1}', None),
    ('{"k":null,"v":1}', "key 'k' is null"),
    ('{"v":1}', "missing field 'k'"),
    ("", None),  # a blank line is not a record
    ('{"k":"a","v":1}', None),
]
EXPECTED = {"a": BIG + 2, "b": 2**64, "f": 3.75, "big": 7, "12345678901234567890123": 2, "3": 1}
BAD = {number: reason for number, (_, reason) in enumerate(LINES, 1) if reason is not None}


class ListSink:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    def write(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exact") / "mixed.jsonl"
    path.write_text("".join(line + "\n" for line, _ in LINES), encoding="utf-8")
    return path


@pytest.mark.parametrize("block_size", [64, BLOCK_SIZE], ids=["tiny-blocks", "default-blocks"])
@pytest.mark.parametrize("path_kind", ["block", "general", "fold-helper"])
def test_good_lines_are_exact_and_every_bad_line_is_a_dead_letter(
    tmp_path: Path, mixed: Path, block_size: int, path_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "state.db")
    # A deduper needs each record's event id, so it sends the run down the general path.
    dedup = SqliteDeduper(tmp_path / "state.db") if path_kind == "general" else None
    sink, status = ListSink(), RunStatus("exact", "bootstrap")
    pipeline = Pipeline("exact", Sum(), key="k", value="v")
    helped = _count_helper_blocks(monkeypatch)
    bootstrap.run(
        pipeline,
        JsonLinesSource(mixed, block_size=block_size),
        store,
        dedup=dedup,
        dead_letters=sink,
        status=status,
        fold_helper=path_kind == "fold-helper",
    )
    if path_kind == "fold-helper" and block_size == 64:  # (one default block is all the file: no helper)
        assert helped["folded"] + helped["refused"] >= 2, helped  # (two blocks go to it once it is ready)
    got = dict(zip(EXPECTED, store.get_many("exact", [StateKey(k) for k in EXPECTED], Sum()), strict=True))
    assert got == EXPECTED
    assert all(type(got[k]) is int for k in ("a", "b", "big")) and type(got["f"]) is float
    assert status.applied == len(LINES) - len(BAD) - 1
    assert status.dead_letters == len(BAD) == len(sink.letters)
    by_line = {int(str(letter.record.event_id).rsplit(":", 1)[1]): letter for letter in sink.letters}
    assert list(by_line) == sorted(BAD)  # in the order of the file, whoever folded the block
    for number, letter in by_line.items():
        assert str(letter.record.event_id) == f"{mixed}:{number}"
        assert BAD[number] in letter.error, (number, letter.error)
        if "invalid JSON" in BAD[number]:
            assert f"{mixed}:{number}: invalid JSON" in letter.error
    store.close()
    if dedup is not None:
        dedup.close()


def _count_helper_blocks(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many blocks a fold helper folded, and how many it left to the segment (bad lines)."""
    seen = {"folded": 0, "refused": 0}
    collect = _foldahead.FoldHelper.collect

    def counting(self: _foldahead.FoldHelper) -> Any:
        batch, rows = collect(self)
        seen["refused" if rows is None else "folded"] += 1
        return batch, rows

    monkeypatch.setattr(_foldahead.FoldHelper, "collect", counting)
    return seen


@pytest.mark.parametrize("monoid", [Min(), Max()])
def test_min_and_max_take_strings_and_numbers_per_key_on_the_block_path(tmp_path: Path, monoid: Any) -> None:
    path = tmp_path / "m.jsonl"
    rows = [{"k": "n", "v": 5}, {"k": "n", "v": BIG}, {"k": "n", "v": -2.5}, {"k": "s", "v": "pear"}]
    rows += [{"k": "s", "v": "apple"}, {"k": "s", "v": 3}, {"k": "n", "v": False}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store, sink = SqliteStore(tmp_path / "m.db"), ListSink()
    bootstrap.run(Pipeline("m", monoid, key="k", value="v"), JsonLinesSource(path), store, dead_letters=sink)
    n, s = store.get_many("m", [StateKey("n"), StateKey("s")], monoid)
    assert (n, s) == ((-2.5, "apple") if monoid.kind == "min" else (BIG, "pear"))
    # a string and a number cannot be compared, and a boolean is not a number: dead letters
    assert sorted(int(str(letter.record.event_id).rsplit(":", 1)[1]) for letter in sink.letters) == [6, 7]
    store.close()


def test_murmur_get_prints_a_sum_beyond_64_bits_exactly(tmp_path: Path) -> None:
    # The last line is a dead letter whose value holds a huge integer: the dead-letter file keeps it exactly.
    lines = (f'{{"k":"a","v":{BIG}}}', '{"k":"a","v":1}', f'{{"k":"b","v":{HUGE}}}', f'{{"k":{{"x":1}},"v":{BIG + 1}}}')
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    murmur = str(Path(sys.executable).parent / "murmur")
    common = ("--name", "big", "--store", "sqlite")
    run = ("run", "--source", "jsonl", "-S", "path=in.jsonl", "--key", "k", "--value", "v", "--monoid", "sum")
    ran = subprocess.run(
        [murmur, *run, *common, "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    (letter,) = [json.loads(line) for line in (tmp_path / "murmur-dead-letters.jsonl").read_text().splitlines()]
    assert letter["value"] == {"k": {"x": 1}, "v": BIG + 1} and "key 'k' is an object" in letter["error"]
    got = subprocess.run(
        [murmur, "get", *common, "--json", "a", "b"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == {"a": BIG + 1, "b": HUGE}
    assert str(BIG + 1) in got.stdout
