"""The fold helper process (``murmur._foldahead``): a second core for a JSON-Lines bootstrap, exactly.

Which blocks the helper folds depends on speed, so these tests assert what must hold whoever
folds a block (totals, dead letters, checkpoints), and count the helper's blocks only where the
protocol fixes them: once it is ready, the first two blocks go to it.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from murmur import Count, DeadLetter, Pipeline, RunStatus, StateKey, Sum, _foldahead, bootstrap
from murmur._decode import FieldPlan
from murmur._errors import MurmurError
from murmur.adapters.jsonl import JsonLinesSource, LinesBatch
from murmur.adapters.sqlite import SqliteStore

pytestmark = pytest.mark.skipif(not _foldahead.usable(asked=True), reason="needs os.memfd_create (Linux)")

KEYS = 13
BIG = 10**30


class ListSink:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    def write(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


def write_lines(path: Path, n: int, bad: dict[int, str] | None = None) -> dict[str, int]:
    """``n`` lines (1-based line ``i`` replaced by ``bad[i]``); returns the expected sums per key."""
    bad = bad or {}
    sums: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as fh:
        for i in range(1, n + 1):
            if i in bad:
                fh.write(bad[i] + "\n")
                continue
            key, value = f"k{i % KEYS}", BIG + i
            sums[key] = sums.get(key, 0) + value
            fh.write(json.dumps({"k": key, "v": value, "pad": "x" * (i % 50)}) + "\n")
    return sums


def totals(store: SqliteStore, name: str, keys: list[str], monoid: Any) -> dict[str, Any]:
    return dict(zip(keys, store.get_many(name, [StateKey(k) for k in keys], monoid), strict=True))


def watch_helper(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Counts of the blocks the helper folded and refused, and the helper itself once started."""
    seen: dict[str, Any] = {"folded": 0, "refused": 0, "helper": None, "wait": False}
    start, collect = _foldahead.FoldHelper.start, _foldahead.FoldHelper.collect

    def starting(spec: Any, *, wait: bool = False) -> Any:
        seen["helper"] = start(spec, wait=wait or seen["wait"])
        return seen["helper"]

    def counting(self: _foldahead.FoldHelper) -> Any:
        batch, rows = collect(self)
        seen["refused" if rows is None else "folded"] += 1
        return batch, rows

    monkeypatch.setattr(_foldahead.FoldHelper, "start", staticmethod(starting))
    monkeypatch.setattr(_foldahead.FoldHelper, "collect", counting)
    return seen


def test_a_helper_folds_exactly_what_the_segment_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "in.jsonl"
    expected = write_lines(path, 20_000)
    seen = watch_helper(monkeypatch)
    runs: dict[bool, tuple[dict[str, Any], RunStatus]] = {}
    for helper in (True, False):
        store = SqliteStore(tmp_path / f"{helper}.db")
        status = RunStatus("h", "bootstrap")
        # Tiny blocks: about a hundred of them, so both processes fold many.
        bootstrap.run(
            Pipeline("h", Sum(), key="k", value="v"),
            JsonLinesSource(path, block_size=8192),
            store,
            status=status,
            fold_helper=helper,
        )
        runs[helper] = totals(store, "h", sorted(expected), Sum()), status
        store.close()
    assert seen["folded"] >= 2
    assert runs[True][0] == runs[False][0] == expected
    assert all(type(v) is int for v in runs[True][0].values())  # past 64 bits, exact (pickled, not rounded)
    assert runs[True][1].applied == runs[False][1].applied == 20_000


def test_a_count_takes_the_helper_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "in.jsonl"
    write_lines(path, 5_000)
    seen = watch_helper(monkeypatch)
    store = SqliteStore(tmp_path / "s.db")
    bootstrap.run(Pipeline("c", Count(), key="k"), JsonLinesSource(path, block_size=4096), store, fold_helper=True)
    got = totals(store, "c", [f"k{j}" for j in range(KEYS)], Count())
    assert seen["folded"] >= 2
    assert got == {f"k{j}": len(range(j or KEYS, 5_001, KEYS)) for j in range(KEYS)}


def test_a_block_the_helper_refuses_is_folded_here_with_its_dead_letters_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "in.jsonl"
    bad = {3: '{"k":"k1","v":true}', 4: "{not json", 900: '{"k":"k2","v":"7"}', 1500: '{"k":[1],"v":1}'}
    expected = write_lines(path, 2_000, bad)
    seen = watch_helper(monkeypatch)
    sink, status = ListSink(), RunStatus("r", "bootstrap")
    store = SqliteStore(tmp_path / "s.db")
    bootstrap.run(
        Pipeline("r", Sum(), key="k", value="v"),
        JsonLinesSource(path, block_size=4096),  # line 3 is in the first block, which the helper gets
        store,
        dead_letters=sink,
        status=status,
        fold_helper=True,
    )
    assert seen["refused"] >= 1
    assert totals(store, "r", sorted(expected), Sum()) == expected
    assert [str(letter.record.event_id) for letter in sink.letters] == [f"{path}:{n}" for n in sorted(bad)]
    assert f"{path}:4: invalid JSON" in sink.letters[1].error
    assert status.dead_letters == 4 and status.applied == 2_000 - 4


def test_when_the_helper_dies_the_run_stops_at_its_checkpoint_and_a_resume_is_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "in.jsonl"
    expected = write_lines(path, 30_000)
    seen = watch_helper(monkeypatch)
    offer = _foldahead.FoldHelper.offer
    offers = 0

    def offer_then_kill(self: _foldahead.FoldHelper, batch: Any) -> bool:
        nonlocal offers
        offers += 1
        if offers == 40:  # a good way in, after several merges (flush_interval=0)
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        return offer(self, batch)

    monkeypatch.setattr(_foldahead.FoldHelper, "offer", offer_then_kill)
    store = SqliteStore(tmp_path / "s.db")
    pipeline = Pipeline("d", Sum(), key="k", value="v")
    with pytest.raises(MurmurError, match=r"the fold helper process stopped .*run again with --resume"):
        bootstrap.run(pipeline, JsonLinesSource(path, block_size=8192), store, fold_helper=True, flush_interval=0)
    assert seen["folded"] >= 2
    partial = totals(store, "d", sorted(expected), Sum())
    assert partial != expected  # it stopped part way, at a checkpoint

    monkeypatch.undo()
    status = RunStatus("d", "bootstrap")
    bootstrap.run(
        pipeline, JsonLinesSource(path, block_size=8192), store, checkpoints="resume", status=status, fold_helper=False
    )
    assert status.resumed
    assert totals(store, "d", sorted(expected), Sum()) == expected
    store.close()


def test_a_helper_that_cannot_start_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "in.jsonl"
    expected = write_lines(path, 3_000)
    monkeypatch.setattr(_foldahead, "_CHILD", "raise SystemExit(3)")  # a child that exits at once
    store = SqliteStore(tmp_path / "s.db")
    bootstrap.run(
        Pipeline("n", Sum(), key="k", value="v"), JsonLinesSource(path, block_size=4096), store, fold_helper=True
    )
    assert totals(store, "n", sorted(expected), Sum()) == expected
    store.close()


def test_the_helper_outlives_ctrl_c_and_sigterm_until_its_parent_closes_it() -> None:
    """Ctrl-C reaches the whole process group (a service manager's stop, the whole cgroup): the
    run stops gracefully and may still merge, so its helper must not die of the signal first."""
    plan = FieldPlan.of(Pipeline("s", Sum(), key="k", value="v"), "append")
    assert plan is not None
    helper = _foldahead.FoldHelper.start(plan.spec, wait=True)
    assert helper is not None
    try:
        first = LinesBatch("x.jsonl", b'{"k":"a","v":1}\n{"k":"b","v":2}\n', 0, 1)
        assert helper.offer(first)
        assert helper.collect() == (first, 2)  # (it is running its loop: the signals come after set-up)
        os.kill(helper._proc.pid, signal.SIGINT)
        os.kill(helper._proc.pid, signal.SIGTERM)
        second = LinesBatch("x.jsonl", b'{"k":"a","v":' + str(BIG).encode() + b"}\n", 32, 3)
        assert helper.offer(second)
        assert helper.collect() == (second, 1)
        writes: dict[str, Any] = {"a": 10}
        helper.drain(writes)
        assert writes == {"a": 11 + BIG, "b": 2}
    finally:
        helper.close()
    assert helper._proc.returncode == 0  # it ended when its input closed


class FakeClocks:
    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def work(self, wall: float, cpu: float) -> None:
        self.wall += wall
        self.cpu += cpu


def test_a_helper_helps_while_the_segment_goes_faster_with_it_than_it_would_alone() -> None:
    plan = FieldPlan.of(Pipeline("s", Sum(), key="k", value="v"), "append")
    assert plan is not None
    clocks = FakeClocks()
    helper = _foldahead.FoldHelper.start(plan.spec, wait=True, clock=lambda: clocks.wall, cpu_clock=lambda: clocks.cpu)
    assert helper is not None
    block = b'{"k":"a","v":1}\n' * 10

    def local_fold(wall: float, cpu: float) -> Any:
        def fold(batch: Any, writes: dict[str, Any]) -> Any:
            clocks.work(wall, cpu)
            return 10, []

        return fold

    try:
        # A core to spare: two blocks here (10 s each, uncontended) while the helper did two more.
        for _ in range(2):
            assert helper.offer(LinesBatch("x", block, 0, 1))
            helper.fold_here(local_fold(10, 10), LinesBatch("x", block, 0, 1), {})
        assert helper.collect()[1] == 10 and helper.collect()[1] == 10
        assert _foldahead.CHECK_EVERY == 2
        assert helper.helps()  # 20 s with it, against 20 s + 2 x 10 s alone
        # No core to spare: the segment waits for its core (wall twice its CPU), the helper did one.
        assert helper.offer(LinesBatch("x", block, 0, 1))
        for _ in range(2):
            helper.fold_here(local_fold(20, 10), LinesBatch("x", block, 0, 1), {})
        assert helper.collect()[1] == 10
        assert not helper.helps()  # 40 s with it, against 20 s + 10 s alone
        writes: dict[str, Any] = {}
        helper.drain(writes)
        assert writes == {"a": 30}  # the three blocks it folded
    finally:
        helper.close()


def test_a_helper_that_does_not_help_leaves_and_the_totals_stay_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "in.jsonl"
    bad = {700: "{nope", 9_000: '{"k":"k3","v":false}'}
    expected = write_lines(path, 20_000, bad)
    seen = watch_helper(monkeypatch)
    looks = 0

    def helps_once(self: _foldahead.FoldHelper) -> bool:
        nonlocal looks
        looks += 1
        return looks < 2  # it helped at the first look, not at the second: it leaves mid-run

    monkeypatch.setattr(_foldahead.FoldHelper, "helps", helps_once)
    # Left to decide (fold_helper=None), as a helper that was asked for stays: start one at once,
    # ready before the first block, and keep both its blocks in flight until the segment must
    # wait for them (so the segment folds blocks itself meanwhile, and looks whether it helps).
    monkeypatch.setattr(_foldahead, "usable", lambda asked=False: True)
    monkeypatch.setattr(_foldahead, "AUTO_AFTER", 0)
    seen["wait"] = True
    monkeypatch.setattr(_foldahead.FoldHelper, "replied", lambda self: False)
    sink, status = ListSink(), RunStatus("l", "bootstrap")
    store = SqliteStore(tmp_path / "s.db")
    bootstrap.run(
        Pipeline("l", Sum(), key="k", value="v"),
        JsonLinesSource(path, block_size=4096),
        store,
        dead_letters=sink,
        status=status,
    )
    assert seen["folded"] >= 2 and looks == 2
    assert seen["helper"]._proc.returncode == 0  # closed when it left, not at the end
    assert totals(store, "l", sorted(expected), Sum()) == expected
    assert [str(letter.record.event_id) for letter in sink.letters] == [f"{path}:{n}" for n in sorted(bad)]
    assert status.applied == 20_000 - 2
    store.close()
