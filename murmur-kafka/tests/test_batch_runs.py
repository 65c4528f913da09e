"""How a poll becomes a batch without Python code per message: partition runs (the payload path)
give the same batch as the per-message path, and the source notices that it read every
partition to its end instead of waiting out a poll timeout. Real messages from the real broker."""

from __future__ import annotations

import time
from typing import Any

import orjson
from conftest import Kafka
from test_batches import take_batches

from murmur_kafka._batch import _each, _runs, make_batch
from murmur_kafka._message import MessageReader
from murmur_kafka._offsets import OffsetBook
from murmur_kafka.decoders import JsonDecoder


def reader_owning(*partitions: tuple[str, int]) -> MessageReader:
    """A reader whose book owns ``partitions`` (first generation), as after the group assigned them."""
    book = OffsetBook(lambda *args: None)
    book.assign(partitions)
    return MessageReader(JsonDecoder(), book, settings={}, warn=lambda *args: None)


def by_partition(messages: list[Any]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for m in messages:
        out.setdefault(m.partition(), []).append(m)
    return out


def test_a_poll_in_runs_of_partitions_gives_each_partition_its_end_and_keeps_the_order(kafka: Kafka) -> None:
    topic = kafka.topic(3)
    kafka.produce(topic, [{"n": i} for i in range(30)] + [None], partition=lambda i: i % 3)
    parts = by_partition(kafka.read_all(topic, 31))
    assert {p: len(ms) for p, ms in parts.items()} == {0: 11, 1: 10, 2: 10}
    # Partition 0 comes in two runs; partition 2 was revoked just before the poll (not ours).
    poll = parts[0][:4] + parts[1][:3] + parts[0][4:] + parts[2] + parts[1][3:]
    assert _runs(poll) == (topic, [(0, 0, 4), (1, 4, 7), (0, 7, 14), (2, 14, 24), (1, 24, 31)])
    assert _runs(poll, topic) == _runs(poll)  # the source's hint when it reads one topic
    reader = reader_owning((topic, 0), (topic, 1))
    batch = make_batch(poll, reader, payloads=True)
    assert batch is not None
    kept = [m for m in poll if m.partition() != 2]
    assert batch.size == 21 and list(batch.payloads or []) == [m.value() for m in kept]
    assert batch.end == {(topic, 0, 1): 11, (topic, 1, 1): 10}  # one past each partition's last offset
    assert batch.checkpoint == {f"{topic}:0": 11, f"{topic}:1": 10}
    assert reader.book.first == {(topic, 0): 0, (topic, 1): 0}
    assert reader.counts["records"] == 21 and reader.counts["tombstones"] == 1
    # The per-message path makes the same batch of the same poll.
    other = reader_owning((topic, 0), (topic, 1))
    slow = _each(poll, other, payloads=True)
    assert slow is not None
    assert (list(slow.payloads or []), slow.end, slow.checkpoint) == (batch.payloads, batch.end, batch.checkpoint)
    assert (other.counts, other.book.first) == (reader.counts, reader.book.first)

    # A payload the runtime cannot decode names its own message.
    bad = batch.poison(5, "invalid JSON")
    assert bad.position == {"topic": topic, "partition": kept[5].partition(), "offset": kept[5].offset()}
    assert bad.event_id == f"{topic}:{kept[5].partition()}:{kept[5].offset()}"


def test_a_poll_of_two_topics_or_of_partitions_no_longer_ours_is_handled_too(kafka: Kafka) -> None:
    first, second = kafka.topic(1), kafka.topic(1)
    kafka.produce(first, [{"n": i} for i in range(3)])
    kafka.produce(second, [{"n": i} for i in range(10, 14)])
    poll = kafka.read_all(first, 3) + kafka.read_all(second, 4)
    reader = reader_owning((first, 0), (second, 0))
    batch = make_batch(poll, reader, payloads=True)
    assert batch is not None
    assert [orjson.loads(p)["n"] for p in batch.payloads or []] == [0, 1, 2, 10, 11, 12, 13]
    assert batch.end == {(first, 0, 1): 3, (second, 0, 1): 4}
    assert _runs(poll) is None  # two topics: message by message
    assert make_batch(poll[:3], reader_owning((second, 0)), payloads=True) is None  # nothing of ours


def test_the_poll_after_the_last_message_does_not_wait_out_its_timeout_and_the_next_one_does(kafka: Kafka) -> None:
    topic = kafka.topic(3)
    kafka.produce(topic, [{"n": i} for i in range(20)], partition=lambda i: i % 2)  # partition 2 stays empty
    src = kafka.source(topic, group=kafka.group())
    src.start(None, None)
    take_batches(src, 20)
    began = time.monotonic()
    assert src.poll_batch(500, 120.0) is None  # every partition read to its end: the stream went quiet
    assert time.monotonic() - began < 60  # (far less than the timeout, even on a loaded machine)
    began = time.monotonic()
    assert src.poll_batch(500, 0.5) is None  # still quiet: this one waits (no busy loop)
    assert time.monotonic() - began >= 0.5
    kafka.produce(topic, [{"n": 20}], partition=lambda i: 2)
    again = take_batches(src, 1)
    assert [orjson.loads(p)["n"] for b in again for p in b.payloads or []] == [20]
