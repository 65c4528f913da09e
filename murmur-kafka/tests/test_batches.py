"""The kafka source's batch path (murmur.BatchLiveSource) on the real broker: one poll is one batch,
its end offset per partition is committed only once the runtime reports it durable."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from typing import Any

import murmur
import orjson
from conftest import Kafka
from murmur import Batch, BatchLiveSource, Poison
from murmur_test_servers import wait_for
from test_source import start_while


def take_batches(source: Any, n: int, timeout: float = 120.0) -> list[Batch]:
    """Poll batches until they hold ``n`` messages (fails after ``timeout``)."""
    got: list[Batch] = []
    deadline = time.monotonic() + timeout
    while sum(b.size for b in got) < n:
        assert time.monotonic() < deadline, f"got {sum(b.size for b in got)} of {n} messages"
        batch = source.poll_batch(n - sum(b.size for b in got), 0.2)
        if batch is not None:
            got.append(batch)
    return got


def ends(batches: list[Batch]) -> dict[Any, int]:
    """The newest end per partition over ``batches`` (what the runtime reports once they are durable)."""
    out: dict[Any, int] = {}
    for b in batches:
        out.update(b.end)
    return out


def test_the_source_speaks_the_batch_protocol(kafka: Kafka) -> None:
    src = kafka.source(kafka.topic(1), group=kafka.group())
    assert isinstance(src, BatchLiveSource)


def test_a_poll_is_one_batch_of_raw_payloads_with_its_end_offset_per_partition(kafka: Kafka) -> None:
    topic, group = kafka.topic(2), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(10)] + [None], partition=lambda i: i % 2)
    src = kafka.source(topic, group=group)
    src.start(None, None)
    batches = take_batches(src, 11)
    payloads = [p for b in batches for p in (b.payloads or [])]
    assert sorted(orjson.loads(p)["n"] for p in payloads if p is not None) == list(range(10))
    assert payloads.count(None) == 1  # the tombstone: skipped by the runtime, still inside the batch's end
    # keys are (topic, partition, assignment generation); values one past the last offset
    assert {(t, p): off for (t, p, _gen), off in ends(batches).items()} == {(topic, 0): 6, (topic, 1): 5}
    assert src.stats()["tombstones"] == 1 and src.stats()["records"] == 11


def test_only_what_the_runtime_reports_durable_is_committed(kafka: Kafka) -> None:
    topic, group = kafka.topic(1), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(10)])
    src = kafka.source(topic, group=group, poll_batch="4", commit_interval="1h")
    src.start(None, None)
    batches = take_batches(src, 10)
    assert len(batches) >= 3 and all(b.size <= 4 for b in batches)  # poll_batch bounds a batch
    assert src.commit() and kafka.committed(group, topic) == {0: -1001}  # nothing reported yet
    first = batches[0]
    src.commit(first.end)
    assert src.commit()
    assert kafka.committed(group, topic) == {0: first.size}
    src.commit(ends(batches[1:]))
    src.close()  # the reported end is committed on close too
    assert kafka.committed(group, topic) == {0: 10}


def test_a_batch_reported_after_its_partition_was_revoked_is_not_committed(kafka: Kafka) -> None:
    topic, group = kafka.topic(2), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(20)], partition=lambda i: i % 2)
    a = kafka.source(topic, group=group, commit_interval="1h")
    a.start(None, None)
    late = take_batches(a, 20)  # in flight when the group rebalances
    b = kafka.source(topic, group=group, commit_interval="1h")
    start_while(b, lambda: a.poll_batch(0, 0.05))  # a holds back but serves the rebalance

    def rebalanced() -> bool:
        a.poll_batch(0, 0.05)
        b.poll_batch(0, 0.05)
        return bool(a.stats()["rebalances"] >= 2 and b.stats()["assigned"] > 0)

    wait_for(rebalanced, 120, message=lambda: f"a={a.stats()} b={b.stats()}")
    a.commit(ends(late))  # durable now, but of the previous generation: ignored
    assert a.commit()
    assert max(kafka.committed(group, topic, 2).values()) <= 0
    # what a still owns is delivered to it again (a new generation), and that batch's end counts
    again = take_batches(a, 10)
    a.commit(ends(again))
    assert a.commit()
    owned = {p for (_t, p, _g) in ends(again)}
    assert {p for p, off in kafka.committed(group, topic, 2).items() if off == 10} == owned


def test_a_late_batch_of_a_partition_that_came_back_counts_past_where_the_new_generation_began(
    kafka: Kafka,
) -> None:
    topic, group = kafka.topic(1), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(10)])
    a = kafka.source(topic, group=group, commit_interval="1h")
    a.start(None, None)
    early = take_batches(a, 10)  # applied by a, but reported only after the rebalances below
    a.commit({key: 2 for key in ends(early)})  # 0..1 reported in time
    assert a.commit() and kafka.committed(group, topic) == {0: 2}
    # Another member joins and leaves: the partition comes back to a in a new generation, which
    # starts at the committed offset 2.
    c = kafka.source(topic, group=group, commit_interval="1h")
    start_while(c, lambda: a.poll_batch(0, 0.05))
    wait_for(lambda: c.poll_batch(0, 0.05) is None and c.stats()["rebalances"] >= 1, 120)
    c.close()
    wait_for(lambda: a.poll_batch(0, 0.05) is None and a.stats()["assigned"] == 1 and a.stats()["rebalances"] >= 3, 120)
    again = take_batches(a, 8)  # redelivered from the committed offset 2
    assert max(ends(again).values()) == 10
    a.commit(ends(early))  # late, of an older generation, past 2: an applied prefix, committed
    assert a.commit()
    assert kafka.committed(group, topic) == {0: 10}


def test_the_keep_alive_poll_takes_nothing_and_loses_nothing(kafka: Kafka) -> None:
    topic, group = kafka.topic(1), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(10)])
    src = kafka.source(topic, group=group)
    src.start(None, None)
    first = take_batches(src, 3)
    for _ in range(10):
        assert src.poll_batch(0, 0.05) is None
    kafka.produce(topic, [{"n": i} for i in range(10, 20)])
    rest = take_batches(src, 17)
    values = [orjson.loads(p)["n"] for b in first + rest for p in b.payloads or []]
    assert values == list(range(20))


def test_decoders_with_field_paths_hand_over_records_acked_one_by_one(kafka: Kafka) -> None:
    topic = kafka.topic(1)
    stamp = dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    kafka.produce(topic, [{"id": "e-1"}, {"id": None}, b"{bad", None], timestamps=[int(stamp.timestamp() * 1000)] * 4)
    group = kafka.group()
    src = kafka.source(topic, group=group, event_id="id")
    src.start(None, None)
    batches = take_batches(src, 4)
    assert all(b.payloads is None for b in batches)
    records = [r for b in batches for r in b.records()]
    assert [r.event_id for r in records] == ["e-1", f"{topic}:0:1", f"{topic}:0:2"]
    assert isinstance(records[2].value, Poison)
    assert all(r.event_time == stamp for r in records)
    stats = src.stats()
    assert (stats["event_id_fallback"], stats["poison"], stats["tombstones"], stats["records"]) == (1, 1, 1, 4)
    # These records are acknowledged one by one (the batch has no ends to report): the acked
    # prefix is committed, the tombstone included.
    assert all(b.end is None for b in batches)
    records[0].ack()
    assert src.commit() and kafka.committed(group, topic) == {0: 1}
    for r in records[1:]:
        r.ack()
    assert src.commit() and kafka.committed(group, topic) == {0: 4}


def test_a_payload_the_runtime_cannot_decode_is_dead_lettered_with_its_original_message(kafka: Kafka) -> None:
    topic, dlq, group = kafka.topic(1), kafka.topic(1, "dlq"), kafka.group()
    kafka.produce(topic, [{"n": 1}, b"{broken"], keys=["k0", "k1"], headers=[("trace", b"abc")])
    src = kafka.source(topic, group=group, dlq_topic=dlq, pipeline="orders")
    src.start(None, None)
    (batch,) = take_batches(src, 2)
    assert batch.payloads == [b'{"n":1}', b"{broken"]
    letter = batch.poison(1, "json: not JSON at line 1")
    assert isinstance(letter, murmur.Record) and isinstance(letter.value, Poison)
    assert (letter.event_id, letter.partition_key, letter.position) == (
        f"{topic}:0:1",
        "k1",
        {"topic": topic, "partition": 0, "offset": 1},
    )
    src.dead_letter(letter, letter.value.error, "decode")
    (msg,) = kafka.read_all(dlq, 1)
    headers = dict(msg.headers())
    assert (msg.key(), msg.value(), headers["trace"]) == (b"k1", b"{broken", b"abc")
    assert headers["x-murmur-error"] == b"json: not JSON at line 1"
    assert headers["x-murmur-source-offset"] == b"1"
    assert src.stats()["dead_letters"] == 1 and src.stats()["poison"] == 1


def test_each_batch_checkpoint_mirrors_the_end_of_everything_handed_out(kafka: Kafka) -> None:
    topic = kafka.topic(2)
    kafka.produce(topic, [{"n": i} for i in range(10)], partition=lambda i: i % 2)
    src = kafka.source(topic, group=kafka.group())
    src.start(None, None)
    batches = take_batches(src, 10)
    assert batches[-1].checkpoint == {f"{topic}:0": 5, f"{topic}:1": 5}
    for earlier, later in itertools.pairwise(batches):  # cumulative: only ever forward
        assert all(later.checkpoint[k] >= v for k, v in earlier.checkpoint.items())


def test_a_restart_resumes_at_the_mirrored_offsets_when_they_are_past_the_committed_ones(kafka: Kafka) -> None:
    topic, group = kafka.topic(2), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(20)], partition=lambda i: i % 2)
    # What a killed run leaves: its store's last unit mirrored these offsets; the broker commit
    # that would have followed never happened (p0), or a commit made meanwhile is further (p1).
    mirror = {f"{topic}:0": 7, f"{topic}:1": 2, "other-topic:0": 99}
    kafka_commit(kafka, group, topic, {1: 4})
    again = kafka.source(topic, group=group)
    again.start(None, mirror)
    got = [(p, orjson.loads(v)["n"]) for b in take_batches(again, 3 + 6) for p, v in partitions_and_values(b)]
    assert sorted(n for p, n in got if p == 0) == [14, 16, 18]  # offsets 7..9 of p0 hold n = 14, 16, 18
    assert sorted(n for p, n in got if p == 1) == [9, 11, 13, 15, 17, 19]  # offsets 4..9 of p1


def partitions_and_values(batch: Batch) -> list[tuple[int, bytes]]:
    messages = batch._messages  # type: ignore[attr-defined]
    return [(m.partition(), m.value()) for m in messages]


def kafka_commit(kafka: Kafka, group: str, topic: str, offsets: dict[int, int]) -> None:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group})
    try:
        c.commit(offsets=[TopicPartition(topic, p, off) for p, off in offsets.items()], asynchronous=False)
    finally:
        c.close()
