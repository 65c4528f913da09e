"""The live runtime (SPEC §6): coalescing, per-key order, contiguous acks, outages, shutdown."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from live_helpers import run_in_thread

from murmur import ContiguousAcks, Count, HandoffToken, Pipeline, Poison, Record, RunStatus, Sum, live
from murmur._records import utcnow
from murmur.testing import MemoryDeduper, MemoryLiveSource, MemoryLog, MemoryStore

HOT = Pipeline("hot", Count(), key="k")


def wait_for(predicate: Any, timeout: float = 120.0, message: str = "condition not met") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.01)


def test_contiguous_acks_never_pass_an_unacked_offset() -> None:
    acks = ContiguousAcks()
    acks.reset("p", 10)
    for offset in (10, 11, 13, 17):  # gaps, as after compaction
        acks.track("p", offset)
    acks.ack("p", 13)
    acks.ack("p", 11)
    assert acks.committable("p") == 10
    acks.ack("p", 10)
    assert acks.committable("p") == 14 and acks.pending("p") == 1
    acks.ack("p", 17)
    assert acks.committable("p") == 18 and acks.pending("p") == 0
    acks.forget("p")
    acks.ack("p", 99)  # a late ack of a revoked partition is ignored
    assert acks.committable("p") is None


def test_coalescing_folds_a_hot_key_into_a_handful_of_writes_and_acks_after_the_flush() -> None:
    log = MemoryLog()
    log.extend({"k": "hot"} for _ in range(1000))
    source = MemoryLiveSource(log)

    class Watch(MemoryStore):
        committed_at_merge: list[int] = []

        def merge(self, unit: Any) -> None:
            source.commit()
            self.committed_at_merge.append(log.committed.get(0, 0))
            super().merge(unit)

    store = Watch()
    status = live.run(HOT, source, store, until_idle=0.3, flush_records=400, lanes=2)
    assert store.totals("hot") == {"hot": 1000}
    assert store.key_writes <= 5 and status.count("hot:flush") == store.merges
    assert store.committed_at_merge[0] == 0  # nothing was committed before the first write
    assert log.committed == {0: 1000}


def test_out_of_order_completion_never_commits_past_an_unapplied_record() -> None:
    log = MemoryLog()
    log.append({"k": "slow"})
    log.extend({"k": f"fast{i}"} for i in range(20))
    release = threading.Event()

    class SlowStore(MemoryStore):
        def merge(self, unit: Any) -> None:
            if any(k.entity == "slow" for k in unit.writes):
                release.wait(120)  # set by the test; a deadline only if the test failed
            super().merge(unit)

    store, source = SlowStore(), MemoryLiveSource(log)
    # With a deduper the records go to lanes by key (a run that folds merges from one lane).
    thread, stop, result = run_in_thread(
        pipeline=HOT, source=source, store=store, dedup=MemoryDeduper(), lanes=4, flush_interval=0.05
    )
    # keys routed to the other three lanes finish; those sharing the slow lane wait behind it
    wait_for(lambda: len(store.totals("hot")) >= 5, message="fast keys were not applied")
    source.commit()
    assert log.committed.get(0, 0) == 0  # offset 0 ("slow") is not applied, so nothing may commit
    release.set()
    wait_for(lambda: len(store.totals("hot")) == 21)
    stop.set()
    thread.join(120)
    assert "error" not in result and log.committed == {0: 21}


def test_a_store_outage_pauses_and_retries_without_dead_letters() -> None:
    log = MemoryLog(partitions=2)
    for i in range(300):
        log.append({"k": f"c{i % 5}", "v": i}, partition=i % 2)
    store = MemoryStore()
    store.fail_next(6)
    pipe = Pipeline("sum", Sum(), key="k", value="v")
    status = live.run(
        pipe, MemoryLiveSource(log), store, until_idle=0.3, flush_interval=0.05, retry_backoff=(0.001, 0.01)
    )
    assert status.dead_letters == 0 and status.retries == 6
    assert store.totals("sum") == {f"c{j}": sum(i for i in range(300) if i % 5 == j) for j in range(5)}


def test_shutdown_during_an_outage_acks_nothing_in_flight() -> None:
    log = MemoryLog()
    log.extend({"k": "a"} for _ in range(10))
    store = MemoryStore()
    store.fail_next(10_000)
    source = MemoryLiveSource(log)
    status = RunStatus("hot", "live")
    thread, stop, result = run_in_thread(
        pipeline=HOT, source=source, store=store, status=status, flush_interval=0.01, retry_backoff=(0.01, 0.02)
    )
    wait_for(lambda: status.retries >= 3, message="never retried")
    stop.set()
    thread.join(120)
    assert not thread.is_alive() and "error" not in result
    assert log.committed.get(0, 0) == 0 and status.dead_letters == 0 and store.totals("hot") == {}


def test_graceful_stop_flushes_and_commits_what_was_received() -> None:
    log = MemoryLog()
    log.extend({"k": "a"} for _ in range(50))
    store, source = MemoryStore(), MemoryLiveSource(log)
    thread, stop, _ = run_in_thread(pipeline=HOT, source=source, store=store, flush_interval=30)
    wait_for(lambda: source._acks.pending(0) == 50, timeout=60, message="records not received")
    stop.set()  # long flush interval: only the shutdown flush writes them
    thread.join(120)
    assert store.totals("hot") == {"a": 50} and log.committed == {0: 50}


def test_poison_goes_to_the_source_dead_letter_destination_then_is_committed() -> None:
    class WithDlq(MemoryLiveSource):
        letters: list[tuple[str, str]] = []

        def dead_letter(self, record: Record, error: BaseException, kind: str) -> None:
            self.letters.append((kind, str(error)))

    log = MemoryLog()
    log.append({"k": "a"})
    log.append(Record(Poison("not JSON", raw=b"{")))
    log.append({"nokey": 1})
    source = WithDlq(log)
    status = live.run(HOT, source, MemoryStore(), until_idle=0.2, flush_interval=0.01)
    assert sorted(source.letters) == [("decode", "missing field 'k'"), ("decode", "not JSON")]
    assert status.dead_letters == 2 and log.committed == {0: 3}


def test_handoff_positions_start_the_source_and_positions_are_checkpointed() -> None:
    class Positioned(MemoryLiveSource):
        started: list[Any] = []

        def start(self, handoff: Any, checkpoint: Any) -> None:
            self.started.append(checkpoint)
            super().start(handoff, checkpoint)

        def checkpoint(self) -> Any:
            return self._acks.committable(0)

    log = MemoryLog()
    log.extend({"k": "a"} for _ in range(10))
    token = HandoffToken("memory", None, utcnow(), {"source": "memory-live", "position": {"0": 4}})
    store = MemoryStore()
    live.run(HOT, Positioned(log), store, handoff=token, until_idle=0.2, flush_interval=0.01)
    assert store.totals("hot") == {"a": 6}  # started at offset 4
    assert store.read_meta("hot", "live/memory-live")["position"] == 10
    log.extend({"k": "a"} for _ in range(2))
    live.run(HOT, Positioned(log), store, until_idle=0.2, flush_interval=0.01)
    assert Positioned.started == [None, 10] and store.totals("hot") == {"a": 8}


def test_a_crashing_store_stops_the_run_and_leaves_unapplied_records_uncommitted() -> None:
    from murmur.testing import Crash

    log = MemoryLog()
    log.extend({"k": "a"} for _ in range(10))
    store = MemoryStore()
    store.fail_next(1, Crash("power cut"))
    with pytest.raises(Crash):
        live.run(HOT, MemoryLiveSource(log), store, until_idle=1, flush_interval=0.01)
    assert log.committed.get(0, 0) == 0
    live.run(HOT, MemoryLiveSource(log), store, until_idle=0.2, flush_interval=0.01)
    assert store.totals("hot") == {"a": 10}
