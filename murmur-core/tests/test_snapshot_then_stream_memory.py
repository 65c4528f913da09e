"""``snapshot_then_stream`` and ``RunOptions`` on the in-memory doubles: exact totals across the handoff."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest

import murmur
from murmur import ConfigError, Count, Pipeline, Record, RunOptions, RunStatus, SourceError, snapshot_then_stream
from murmur.testing import MemoryLiveSource, MemoryLog, MemorySnapshotSource, MemoryStore

ORDERS = Pipeline("orders", Count(), key="k")


class ScanWhileWriting(MemorySnapshotSource):
    """A snapshot during whose scan the application keeps writing: each batch read is followed
    by ``per_batch`` new records in the live log (after the captured position)."""

    def __init__(self, items: list[Any], log: MemoryLog, per_batch: int, **kw: Any) -> None:
        super().__init__(items, **kw)
        self.live_log = log
        self.per_batch = per_batch
        self.written = 0

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        for batch in super().scan(segment, after):
            yield batch
            for _ in range(self.per_batch):
                self.live_log.append({"k": f"k{self.written % 5}"}, partition=self.written % 2)
                self.written += 1


def expected(snapshot: int, live: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in range(snapshot):
        out[f"k{i % 5}"] = out.get(f"k{i % 5}", 0) + 1
    for i in range(live):
        out[f"k{i % 5}"] = out.get(f"k{i % 5}", 0) + 1
    return out


def test_writes_during_the_scan_are_counted_once_by_the_live_phase() -> None:
    log = MemoryLog(partitions=2)
    log.extend({"k": "k0"} for _ in range(30))  # already in the snapshot: before the captured position
    snapshot = ScanWhileWriting([{"k": f"k{i % 5}"} for i in range(500)], log, per_batch=10, batch_size=50)
    store = MemoryStore()
    phases: list[str] = []

    status = snapshot_then_stream(
        ORDERS,
        snapshot,
        MemoryLiveSource(log),
        store,
        until_idle=0.3,
        on_phase=lambda s: phases.append(s.mode),
    )

    assert snapshot.written == 100
    assert store.totals("orders") == expected(500, 100)
    assert phases == ["bootstrap", "live"]
    assert status.mode == "bootstrap+live"
    assert (status.records, status.applied, status.dead_letters) == (600, 600, 0)
    assert status.phases["bootstrap"].records == 500 and status.phases["live"].records == 100
    assert status.handoff is not None and status.handoff.live is not None
    assert status.summary()["phases"]["live"]["applied"] == 100
    assert log.committed == {0: 30 + 50, 1: 50}  # the live phase committed all it applied


def test_a_rerun_after_a_failed_scan_resumes_and_stays_exact() -> None:
    log = MemoryLog(partitions=2)
    snapshot = ScanWhileWriting([{"k": f"k{i % 5}"} for i in range(500)], log, per_batch=4, batch_size=50)
    snapshot.fail_after = 230
    store = MemoryStore()
    live = MemoryLiveSource(log)

    with pytest.raises(SourceError, match="injected read failure"):
        snapshot_then_stream(ORDERS, snapshot, live, store, until_idle=0.3)
    assert log.committed == {}  # the live phase never began

    again = snapshot_then_stream(ORDERS, snapshot, MemoryLiveSource(log), store, until_idle=0.3)

    assert again.resumed and not again.already_finished
    # Writes of both attempts' scans come after the position the first attempt captured.
    assert store.totals("orders") == expected(500, snapshot.written)
    assert again.phases["live"].records == snapshot.written


def test_a_rerun_after_a_finished_bootstrap_only_streams_what_is_new() -> None:
    log = MemoryLog()
    snapshot = ScanWhileWriting([{"k": f"k{i % 5}"} for i in range(100)], log, per_batch=3, batch_size=25)
    store = MemoryStore()
    snapshot_then_stream(ORDERS, snapshot, MemoryLiveSource(log), store, until_idle=0.3)
    assert snapshot.written == 12
    log.extend({"k": f"k{i % 5}"} for i in range(12, 40))

    again = snapshot_then_stream(
        ORDERS, snapshot, MemoryLiveSource(log), store, options=RunOptions(until_idle=0.3, lanes=2)
    )

    assert again.already_finished
    assert again.phases["bootstrap"].records == 0
    assert again.phases["live"].records == 28
    assert store.totals("orders") == expected(100, 40)


def test_the_status_and_metrics_see_both_phases() -> None:
    log = MemoryLog()
    snapshot = ScanWhileWriting([{"k": "a"}] * 40, log, per_batch=5, batch_size=20)
    recorder = RunStatus("orders", "mine")  # any Recorder: this one counts
    status = snapshot_then_stream(
        ORDERS, snapshot, MemoryLiveSource(log), MemoryStore(), until_idle=0.3, metrics=recorder
    )
    assert recorder.count("orders") == status.applied == 50
    assert status.written_keys == status.phases["bootstrap"].written_keys + status.phases["live"].written_keys > 0


def test_the_live_source_is_closed_when_the_bootstrap_fails() -> None:
    closed: list[bool] = []

    class Live(MemoryLiveSource):
        def close(self) -> None:
            closed.append(True)
            super().close()

    snapshot = MemorySnapshotSource([{"k": 1}], fail_capture=ConnectionError("down"))
    with pytest.raises(ConnectionError):
        snapshot_then_stream(ORDERS, snapshot, Live(MemoryLog()), MemoryStore(), until_idle=0.3)
    assert closed == [True]


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"segment": 0, "segments": 2}, "segment"),
        ({"handoff": False}, "handoff"),
        ({"lanes": 0}, "lanes"),
    ],
)
def test_bad_options_are_config_errors_before_anything_runs(options: dict[str, Any], option: str) -> None:
    snapshot = MemorySnapshotSource([{"k": 1}])
    store = MemoryStore()
    with pytest.raises(ConfigError) as info:
        snapshot_then_stream(ORDERS, snapshot, MemoryLiveSource(MemoryLog()), store, **options)
    assert info.value.option == option
    assert snapshot.log == [] and store.meta == {}


def test_an_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"unknown run option\(s\): flush_every"):
        RunOptions.of(None, flush_every=3)


@pytest.mark.parametrize(
    ("field", "value", "option"),
    [
        ("max_attempts", 0, "max-attempts"),
        ("fold_records", 0, "fold-records"),
        ("flush_records", 0, "flush-records"),
        ("flush_interval", -1, "flush-interval"),
        ("until_idle", 0, "until-idle"),
        ("segments", 0, "segments"),
        ("segment", 3, "segment"),
        ("lease", 0, "lease"),
        ("retry_backoff", (5.0, 1.0), "retry-backoff"),
        ("checkpoints", "sometimes", "checkpoints"),
        ("lanes", True, "lanes"),
    ],
)
def test_run_options_validate_once_naming_the_option(field: str, value: Any, option: str) -> None:
    with pytest.raises(ConfigError) as info:
        RunOptions(**{field: value, **({"segments": 2} if field == "segment" else {})})
    assert info.value.option == option
    assert field in str(info.value)


def test_run_options_cover_every_knob_of_both_runtimes() -> None:
    """Each runtime keyword is a RunOptions field, except what is per run (status, stop, inputs)."""
    per_run = {"status", "stop", "handoff_to", "options"}
    boot = set(inspect.signature(murmur.bootstrap.run).parameters) - {"pipeline", "source", "store"} - per_run
    stream = set(inspect.signature(murmur.live.run).parameters) - {"pipeline", "source", "store"} - per_run
    options = RunOptions(checkpoints="resume")
    assert set(options.bootstrap_kwargs()) == boot
    assert set(options.live_kwargs()) == stream - {"handoff"}  # live's handoff is the token, not a knob
    fields = set(RunOptions.__dataclass_fields__)
    assert boot | stream - {"handoff"} == fields


def test_run_options_kwargs_run_the_runtimes() -> None:
    store, log = MemoryStore(), MemoryLog()
    options = RunOptions(checkpoints="restart", fold_records=7, until_idle=0.3, lanes=1)
    token = murmur.bootstrap.run(ORDERS, MemorySnapshotSource([{"k": "a"}] * 20), store, **options.bootstrap_kwargs())
    log.extend([{"k": "a"}] * 5)
    murmur.live.run(ORDERS, MemoryLiveSource(log), store, handoff=token, **options.live_kwargs())
    assert store.totals("orders") == {"a": 25}


def test_the_runtimes_take_run_options_instead_of_keywords_but_not_both() -> None:
    from murmur import Reader, Sum, bootstrap, live

    log = MemoryLog()
    log.extend([{"k": "a", "v": 2}, {"k": "b", "v": 3}])
    store = MemoryStore()
    pipe = Pipeline("opts", Sum(), key="k", value="v")
    bootstrap.run(pipe, MemorySnapshotSource([{"k": "a", "v": 1}]), store, options=RunOptions(segments=1))
    live.run(pipe, MemoryLiveSource(log), store, options=RunOptions(until_idle=0.2, lanes=1))
    assert [Reader(store, "opts", Sum()).value(k) for k in ("a", "b")] == [3, 3]
    with pytest.raises(TypeError, match="lanes inside options="):
        live.run(pipe, MemoryLiveSource(log), store, lanes=2, options=RunOptions(until_idle=0.2))
    with pytest.raises(ConfigError, match="lanes"):
        live.run(pipe, MemoryLiveSource(log), store, lanes=0)
