"""One poll as one :class:`murmur.Batch`: the raw payloads for the runtime's one-pass decoding,
records built only if the pipeline needs them, the end offset per partition to commit once the
batch is durable (no per-record acknowledgement), and the offsets mirrored as its checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
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
        super().__init__(
            len(messages),
            end,
            records=records,
            make=None if records is not None else self._build,
            payloads=payloads,
            checkpoint=checkpoint,
        )
        self._messages = messages
        self._reader = reader

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


def make_batch(messages: Sequence[Message], reader: MessageReader, *, payloads: bool) -> KafkaBatch | None:
    """The batch of ``messages`` (error events and messages of partitions no longer ours left
    out), or None when none is left.

    ``payloads`` (the plain json decoder): the raw values go to the runtime for decoding in one
    pass, the batch's ``end`` offsets are acknowledged once per batch, and records are built
    only if the runtime asks. Otherwise (decoders with field paths, debezium, raw) the records
    are built here and acknowledged one by one as the runtime applies them, as ``poll`` does:
    measured on a changelog topic into a slow store under frequent rebalances, per-batch ends
    (durable only once every lane merged its share, in poll order) committed far less often
    than per-partition record acks, and the group fell behind.

    This runs once per message of every poll: a few accessor calls and dict look-ups each."""
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
    handed = book.handed
    for (topic, partition, _gen), offset in end.items():
        handed[(topic, partition)] = offset
    # The checkpoint mirrors, per partition, the end of everything handed out so far: once this
    # batch is durable, so is all of that (the runtime reports batches in order), and a store
    # that keeps it inside the same unit lets a restart resume exactly there.
    checkpoint = mirror_of(handed)
    if not payloads:  # acknowledged per record: no ends to report
        return KafkaBatch(kept, None, reader, payloads=None, records=records, checkpoint=checkpoint)
    counts = reader.counts
    counts["records"] += len(kept)
    counts["tombstones"] += values.count(None)  # skipped on either path: nothing to apply or dead-letter
    return KafkaBatch(kept, end, reader, payloads=values, checkpoint=checkpoint)
