"""The kafka source under the live runtime (murmur.live.run) on the real broker: exact totals."""

from __future__ import annotations

import datetime as dt
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cdc_table import Table
from conftest import DRAIN_TIMEOUT, Kafka
from murmur import Change, Count, Pipeline, Record, StateKey, Sum, Window, bootstrap, document_event_id
from murmur.testing import MemorySnapshotSource, MemoryStore
from murmur_test_servers import wait_for

#: Sources of runs that ``kafka.run_live`` drains: it waits on the group's commits, so they come often.
COMMIT = "200ms"


def test_three_partitions_of_ten_thousand_json_events_count_exactly_per_key(kafka: Kafka) -> None:
    topic, group = kafka.topic(3), kafka.group()
    users = [f"u{i % 50}" for i in range(30_000)]
    kafka.produce(topic, [{"user": u, "n": i} for i, u in enumerate(users)], keys=users, partition=lambda i: i % 3)
    store = MemoryStore()
    pipeline = Pipeline("counts", key="user", monoid=Count())
    src = kafka.source(topic, group=group, pipeline="counts", commit_interval=COMMIT)
    (status,) = kafka.run_live(pipeline, src, store, dedup=store.deduper())
    assert store.totals("counts") == {f"u{i}": 600 for i in range(50)}
    assert status.applied == 30_000 and status.dead_letters == 0
    assert kafka.committed(group, topic, 3) == {0: 10_000, 1: 10_000, 2: 10_000}
    assert status.source_stats["lag_total"] == 0


def test_daily_windows_follow_the_message_timestamps_not_the_time_of_reading(kafka: Kafka) -> None:
    topic = kafka.topic(2)
    days = [dt.datetime(2024, 3, d, 12, tzinfo=dt.UTC) for d in (1, 2, 3)]
    stamps = [int(days[i % 3].timestamp() * 1000) for i in range(300)]
    kafka.produce(topic, [{"user": "a"}] * 300, timestamps=stamps, partition=lambda i: i % 2)
    store = MemoryStore()
    window = Window("day")
    pipeline = Pipeline("daily", key="user", monoid=Count(), window=window)
    kafka.run_live(pipeline, kafka.source(topic, group=kafka.group(), pipeline="daily", commit_interval=COMMIT), store)
    assert [store.value("daily", "a", window.bucket(day)) for day in days] == [100, 100, 100]
    today = window.bucket(dt.datetime.now(dt.UTC))
    assert store.value("daily", "a", today) is None


def test_two_workers_in_one_group_split_partitions_and_give_exact_totals(kafka: Kafka) -> None:
    topic, group = kafka.topic(4), kafka.group()
    users = [f"u{i % 37}" for i in range(20_000)]
    store = MemoryStore()
    dedup = store.deduper()
    pipeline = Pipeline("split", key="user", monoid=Count())
    sources = [
        kafka.source(topic, group=group, pipeline="split", poll_batch="200", commit_interval=COMMIT) for _ in range(2)
    ]
    produced: list[bool] = []

    def split_then_produce() -> bool:
        # Produced once both members own partitions, so both read some (on a slow machine the
        # first member could otherwise read everything before the second one joins).
        if (
            not produced
            and sum(s.stats()["assigned"] for s in sources) == 4
            and all(s.stats()["assigned"] for s in sources)
        ):
            kafka.produce(topic, [{"user": u} for u in users], keys=users, partition=lambda i: i % 4)
            produced.append(True)
        return bool(produced)

    kafka.run_live(pipeline, sources, store, ready=split_then_produce, dedup=dedup, flush_interval=0.2)
    assert store.totals("split") == dict(Counter(users))
    assert all(s.stats()["records"] > 0 for s in sources), [s.stats() for s in sources]
    assert kafka.committed(group, topic, 4) == {p: 5_000 for p in range(4)}


def test_poison_and_unapplicable_records_go_to_the_dead_letter_topic(kafka: Kafka) -> None:
    topic, dlq, group = kafka.topic(2), kafka.topic(1, "dlq"), kafka.group()
    values: list[Any] = [{"user": "a", "amount": 1}] * 10 + [b"{oops", {"user": "b", "amount": "lots"}, None]
    values += [{"user": "b", "amount": 2}] * 5
    kafka.produce(topic, values, keys=[f"k{i}" for i in range(len(values))], partition=lambda i: i % 2)
    store = MemoryStore()
    pipeline = Pipeline("amounts", key="user", value="amount", monoid=Sum())
    src = kafka.source(topic, group=group, dlq_topic=dlq, pipeline="amounts", commit_interval=COMMIT)
    (status,) = kafka.run_live(pipeline, src, store)
    assert store.totals("amounts") == {"a": 10, "b": 10}
    assert status.dead_letters == 2
    letters = {m.value(): dict(m.headers()) for m in kafka.read_all(dlq, 2)}
    assert letters[b"{oops"]["x-murmur-error-kind"] == b"decode"
    wrong_type = letters[b'{"user":"b","amount":"lots"}']
    assert wrong_type["x-murmur-error-kind"] == b"decode"  # a field of the wrong type (FieldError.kind)
    assert b"amount" in wrong_type["x-murmur-error"] or b"lots" in wrong_type["x-murmur-error"], wrong_type
    for headers in letters.values():
        assert headers["x-murmur-source-topic"] == topic.encode()
        assert {"x-murmur-source-partition", "x-murmur-source-offset", "x-murmur-source-name", "x-murmur-error"} <= set(
            headers
        )
    ends = kafka.end_offsets(topic, 2)
    assert kafka.committed(group, topic, 2) == ends  # committed past the dead letters and the tombstone


# --------------------------------------------------------------------------- Debezium changelog


def _nonzero(totals: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in totals.items() if v}


def test_debezium_creates_updates_and_deletes_give_the_totals_of_the_final_table(kafka: Kafka) -> None:
    rng = random.Random(7)
    table = Table(rng)
    for _ in range(1500):
        table.step()
    topic, group = kafka.topic(3), kafka.group()
    table.produce(kafka, topic, table.events)
    # at-least-once upstream: a stretch of the log is published twice
    table.produce(kafka, topic, table.events[200:500])
    store = MemoryStore()
    pipeline = Pipeline("by_customer", key="customer", value="amount", monoid=Sum())
    src = kafka.source(topic, group=group, decoder="debezium", pipeline="by_customer", commit_interval=COMMIT)
    assert src.default_mode == "changelog"
    (status,) = kafka.run_live(pipeline, src, store)
    assert _nonzero(store.totals("by_customer")) == table.totals()
    assert status.dead_letters == 0


def test_debezium_in_append_mode_retracts_before_images(kafka: Kafka) -> None:
    # SPEC §7 append mode: c/r add `after`, u retracts `before` and adds `after`, d retracts `before`;
    # every change counts once through the event-id deduper, even when published twice.
    table = Table(random.Random(5), pre_images=True)
    for _ in range(800):
        table.step()
    topic = kafka.topic(3)
    table.produce(kafka, topic, table.events)
    table.produce(kafka, topic, table.events[100:300])
    store = MemoryStore()
    pipeline = Pipeline("append", key="customer", value="amount", monoid=Sum(), mode="append")
    src = kafka.source(topic, group=kafka.group(), decoder="debezium", pipeline="append", commit_interval=COMMIT)
    (status,) = kafka.run_live(pipeline, src, store, dedup=store.deduper())
    assert _nonzero(store.totals("append")) == table.totals()
    assert status.dead_letters == 0
    assert status.dedup_skips > 0


def test_handoff_from_a_snapshot_then_the_topic_gives_the_final_totals(kafka: Kafka) -> None:
    rng = random.Random(11)
    table = Table(rng)
    for _ in range(400):
        table.step()
    topic = kafka.topic(3)
    table.produce(kafka, topic, table.events)  # history already in the topic before the bootstrap
    before = len(table.events)

    # the snapshot sees the table as it is when scanned
    snapshot = [
        Record(
            dict(doc), event_id=document_event_id("shop.orders", i), change=Change(document_event_id("shop.orders", i))
        )
        for i, doc in sorted(table.docs.items())
    ]
    store = MemoryStore()
    pipeline = Pipeline("handoff", key="customer", value="amount", monoid=Sum())
    capture = kafka.source(topic)
    token = bootstrap.run(pipeline, MemorySnapshotSource(snapshot, default_mode="changelog"), store, handoff_to=capture)
    capture.close()
    assert token.live is not None and token.live["source"] == "kafka"
    assert token.live["position"]["topic"] == topic

    for _ in range(300):  # changes after the snapshot
        table.step()
    table.produce(kafka, topic, table.events[before:])
    src = kafka.source(
        topic, group=kafka.group(), decoder="debezium", start="handoff", pipeline="handoff", commit_interval=COMMIT
    )
    kafka.run_live(pipeline, src, store, handoff=token)
    assert _nonzero(store.totals("handoff")) == table.totals()
    assert src.stats()["records"] == len(table.events) - before  # nothing before the handoff was read


# --------------------------------------------------------------------------- crashes

WORKER = Path(__file__).with_name("kafka_worker.py")


def _sqlite_totals(kafka: Kafka, db: Path, name: str, users: list[str]) -> dict[str, int]:
    store = kafka.registry.build("store", "sqlite", {"path": str(db)})
    try:
        values = store.get_many(name, [StateKey(u) for u in users], Count())
    finally:
        store.close()
    return {u: v for u, v in zip(users, values, strict=True) if v}


@pytest.mark.parametrize("dedup", ["dedup", "none"])
def test_a_worker_killed_at_random_points_and_restarted_gives_exact_totals(
    kafka: Kafka, tmp_path: Path, dedup: str
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    topic, group, name, db = kafka.topic(3), kafka.group(), "crashes", tmp_path / "state.db"
    users = [f"u{i}" for i in range(30)]
    total = 15_000
    events = [rng.choice(users) for _ in range(total)]

    # A live stream, produced in six stretches: one while each of the five workers runs (so it is
    # killed while events keep coming) and the last one before the final run. A kill therefore
    # lands with work applied and work left to do however fast or slow the machine is: the test
    # never needs the producer to stay ahead of a worker by the clock.
    stretches = [events[i : i + total // 6] for i in range(0, total, total // 6)]

    def produce(stretch: list[str]) -> None:
        for start in range(0, len(stretch), 500):
            chunk = stretch[start : start + 500]
            kafka.produce(topic, [{"user": u} for u in chunk], keys=chunk, partition=lambda i: i % 3)
            time.sleep(0.05)

    argv = [sys.executable, str(WORKER), kafka.bootstrap, topic, group, str(db), name, dedup]
    progress, kill_times, applied_at_kill = 0, [], []
    started = time.monotonic()
    for kill in range(5):
        producer = threading.Thread(target=produce, args=(stretches[kill],))
        producer.start()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:

            def advanced(before: int = progress, proc: subprocess.Popen[bytes] = proc) -> int:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "worker exited"
                done = sum(_sqlite_totals(kafka, db, name, users).values()) if db.exists() else 0
                return done if done > before else 0

            progress = wait_for(
                advanced, DRAIN_TIMEOUT, interval=0.1, message=f"worker {kill} made no progress (seed {seed})"
            )
            time.sleep(rng.uniform(0, 0.5))
            applied_at_kill.append(progress)
        finally:
            proc.send_signal(signal.SIGKILL)  # abrupt: no flush, no commit, no goodbye to the group
            proc.wait(60)
            kill_times.append(round(time.monotonic() - started, 1))
            producer.join(DRAIN_TIMEOUT)
    produce(stretches[5])
    # every kill landed mid-stream, with work applied and work left to do
    assert all(0 < n < total for n in applied_at_kill), (applied_at_kill, kill_times)
    # The last worker runs until its group has committed the whole topic (not an idle window,
    # which a loaded machine's slow group join could outlast), then stops cleanly on SIGTERM.
    last = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        done = kafka.drained(group, topic)
        wait_for(
            lambda: last.poll() is not None or done(),
            DRAIN_TIMEOUT,
            interval=0.2,
            message=lambda: f"committed {kafka.committed(group, topic, 3)} (seed {seed})",
        )
        assert last.poll() is None, last.communicate()[1][-2000:]
        last.send_signal(signal.SIGTERM)
        stdout, stderr = last.communicate(timeout=DRAIN_TIMEOUT)
    finally:
        if last.poll() is None:
            last.kill()
            last.wait()
    assert last.returncode == 0, stderr[-2000:]
    assert _sqlite_totals(kafka, db, name, users) == dict(Counter(events)), (
        f"{dedup}, seed {seed}, kills at {kill_times}s"
    )
    assert kafka.committed(group, topic, 3) == kafka.end_offsets(topic, 3), stderr[-3000:]
    print(f"{dedup}, seed {seed}: killed at {kill_times}s with {applied_at_kill} applied; final: {stdout.strip()}")
