"""One poll as one :class:`murmur.Batch`: the raw payloads for the runtime's one-pass decoding,
records built only if the pipeline needs them, the end offset per partition to commit once the
batch is durable (no per-record acknowledgement), and the offsets mirrored as its checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import TYPE_CHECKING, Any

from murmur import Batch, Record

from murmur_kafka._handoff import mirror_of
from murmur_kafka._message import MessageReader
from murmur_kafka._offsets import AckKey

if TYPE_CHECKING:
    from confluent_kafka import Message

__all__ = ["KafkaBatch", "make_batch"]


class KafkaBatch(Batch):
    """A poll's messages of partitions this member owns. ``end`` maps ``(topic, partition,
    generation)`` to the offset after the batch's last message of that partition (None when the
    records are acknowledged one by one)."""

    __slots__ = ("_messages", "_reader")

    def __init__(
        self,
        messages: Sequence[Message],
        end: dict[AckKey, int] | None,
        reader: MessageReader,
        *,
        payloads: Sequence[bytes | None] | None,
        records: Sequence[Record] | None = None,
        checkpoint: Any = None,
    ) -> None:
        # No make=self._build: a bound method kept on the batch would be a reference cycle, and
        # every poll's messages would then wait for the cyclic garbage collector instead of being
        # freed when the runtime lets go of the batch (measured: gen-0 collections every ~1.4
        # polls, and consume() twice as slow from the growing heap).
        super().__init__(len(messages), end, records=records, payloads=payloads, checkpoint=checkpoint)
        self._messages = messages
        self._reader = reader

    def records(self) -> Sequence[Record]:
        """The batch as records, built once on first use (the general path)."""
        if self._records is None:
            self._records = self._build()
        return self._records

    def _build(self) -> list[Record]:
        decode = self._reader.decode
        out: list[Record] = []
        for msg in self._messages:
            if msg.value() is None:
                continue  # a tombstone, counted when the batch was made
            record = decode(msg, str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0))
            if record is not None:
                out.append(record)
        return out

    def poison(self, index: int, reason: str) -> Record:
        return self._reader.poison(self._messages[index], reason)


def make_batch(
    messages: Sequence[Message], reader: MessageReader, *, payloads: bool, topic: str | None = None
) -> KafkaBatch | None:
    """The batch of ``messages`` (error events and messages of partitions no longer ours left
    out), or None when none is left.

    ``payloads`` (the plain json decoder): the raw values go to the runtime for decoding in one
    pass, the batch's ``end`` offsets are acknowledged once per batch, and records are built
    only if the runtime asks. Otherwise (decoders with field paths, debezium, raw) the records
    are built here and acknowledged one by one as the runtime applies them, as ``poll`` does:
    measured on a changelog topic into a slow store under frequent rebalances, per-batch ends
    (durable only once every lane merged its share, in poll order) committed far less often
    than per-partition record acks, and the group fell behind.

    ``topic``: the one topic the consumer subscribed to, if it subscribed to one (every message
    is of that topic, so it is not read per message)."""
    if payloads:
        runs = _runs(messages, topic)
        if runs is not None:
            return _payload_batch(messages, reader, *runs)
    return _each(messages, reader, payloads=payloads)


#: A poll's messages of one topic as runs of one partition each: ``(partition, start, stop)``
#: indexes into the poll.
_Runs = list[tuple[int, int, int]]


def _runs(messages: Sequence[Message], topic: str | None = None) -> tuple[str, _Runs] | None:
    """The poll as runs of one partition, or None when the per-message path must sort it out
    (an error event, several topics, or objects that are not the client's messages).

    The per-message work is a few accessor calls mapped in C (no Python code runs per message):
    the consumer hands over what each partition fetched together, so a poll of 500 messages
    over 4 partitions is a handful of runs, and offsets are read at the ends of runs only."""
    kind = type(messages[0])
    n = len(messages)
    try:
        if any(map(kind.error, messages)):  # (a KafkaError is always true)
            return None  # an error event: logged (or raised) by the per-message path
        if topic is None:
            topics = set(map(kind.topic, messages))
            if len(topics) != 1:
                return None
            topic = str(topics.pop())
        partitions = list(map(kind.partition, messages))
    except TypeError:  # a mix of message types (a test double): take the per-message path
        return None
    if partitions.count(partitions[0]) == n:  # the common case: one partition fetched
        return topic, [(int(partitions[0] or 0), 0, n)]
    runs: _Runs = []
    start = 0
    for partition, run in groupby(partitions):
        stop = start + len(list(run))
        runs.append((int(partition or 0), start, stop))
        start = stop
    return topic, runs


def _payload_batch(messages: Sequence[Message], reader: MessageReader, topic: str, runs: _Runs) -> KafkaBatch | None:
    """The payload batch of a poll of one topic without error events, from its partition runs."""
    book = reader.book
    end: dict[AckKey, int] = {}
    owners: dict[int, AckKey | None] = {}  # per partition, looked up once per batch
    kept: list[tuple[int, int]] = []
    for partition, start, stop in runs:
        if partition in owners:
            key = owners[partition]
        else:
            key = owners[partition] = book.owner(topic, partition)
            if key is not None and key[:2] not in book.first:  # the generation's first message
                book.first[key[:2]] = int(messages[start].offset() or 0)
        if key is None:
            continue  # taken just before its partition was revoked: the new owner reads them
        end[key] = int(messages[stop - 1].offset() or 0) + 1  # a partition's messages arrive in offset order
        kept.append((start, stop))
    if not kept:
        return None
    if len(kept) < len(runs):
        messages = [m for start, stop in kept for m in messages[start:stop]]
    values = list(map(type(messages[0]).value, messages))
    return _finish(messages, values, end, reader)


def _each(messages: Sequence[Message], reader: MessageReader, *, payloads: bool) -> KafkaBatch | None:
    """The batch of a poll, message by message (error events, several topics, or records to build)."""
    book = reader.book
    kept: list[Message] = []
    values: list[bytes | None] = []
    records: list[Record] = []
    end: dict[AckKey, int] = {}
    owners: dict[tuple[str | None, int | None], AckKey | None] = {}  # per partition, looked up once per batch
    for msg in messages:
        if msg.error() is not None:
            reader.position(msg)  # logs it, or raises when the source cannot go on
            continue
        tp = (msg.topic(), msg.partition())
        if tp in owners:
            key = owners[tp]
        else:
            key = owners[tp] = book.owner(str(tp[0]), int(tp[1] or 0))
            if key is not None and key[:2] not in book.first:  # the generation's first message
                book.first[key[:2]] = int(msg.offset() or 0)
        if key is None:
            continue  # taken just before its partition was revoked: the new owner reads it
        offset = int(msg.offset() or 0)
        kept.append(msg)
        end[key] = offset + 1  # messages of a partition arrive in offset order
        if payloads:
            values.append(msg.value())
        else:
            record = reader.read_at(msg, key, offset)
            if record is not None:
                records.append(record)
    if not kept:
        return None
    if payloads:
        return _finish(kept, values, end, reader)
    # Acknowledged per record: no ends to report.
    return KafkaBatch(kept, None, reader, payloads=None, records=records, checkpoint=_mirror(reader, end))


def _finish(
    kept: Sequence[Message], values: list[bytes | None], end: dict[AckKey, int], reader: MessageReader
) -> KafkaBatch:
    counts = reader.counts
    counts["records"] += len(kept)
    if not all(values):  # (all() alone is the cheap check: a tombstone is rare)
        counts["tombstones"] += values.count(None)  # skipped on either path: nothing to apply or dead-letter
    return KafkaBatch(kept, end, reader, payloads=values, checkpoint=_mirror(reader, end))


def _mirror(reader: MessageReader, end: dict[AckKey, int]) -> dict[str, int]:
    """Note ``end`` as handed out, and return the batch's checkpoint.

    The checkpoint mirrors, per partition, the end of everything handed out so far: once this
    batch is durable, so is all of that (the runtime reports batches in order), and a store
    that keeps it inside the same unit lets a restart resume exactly there."""
    handed = reader.book.handed
    for (topic, partition, _gen), offset in end.items():
        handed[(topic, partition)] = offset
    return mirror_of(handed)
