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
    generation)`` to the offset after the batch's last message of that partition."""

    __slots__ = ("_messages", "_reader")

    def __init__(
        self,
        messages: Sequence[Message],
        end: dict[AckKey, int],
        reader: MessageReader,
        *,
        payloads: Sequence[bytes | None] | None,
        checkpoint: Any = None,
    ) -> None:
        super().__init__(len(messages), end, make=self._build, payloads=payloads, checkpoint=checkpoint)
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
    out), or None when none is left. ``payloads``: hand the raw values over for decoding in one
    pass (only when each value's JSON document *is* the record, as the decoder would give it).

    This runs once per message of every poll: a few accessor calls and dict look-ups each."""
    book = reader.book
    kept: list[Message] = []
    values: list[bytes | None] = []
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
        if key is None:
            continue  # taken just before its partition was revoked: the new owner reads it
        kept.append(msg)
        values.append(msg.value())
        end[key] = int(msg.offset() or 0) + 1  # messages of a partition arrive in offset order
    if not kept:
        return None
    handed = book.handed
    for (topic, partition, _gen), offset in end.items():
        handed[(topic, partition)] = offset
    counts = reader.counts
    counts["records"] += len(kept)
    counts["tombstones"] += values.count(None)  # skipped on either path: nothing to apply or dead-letter
    # The checkpoint mirrors, per partition, the end of everything handed out so far: once this
    # batch is durable, so is all of that (the runtime reports batches in order), and a store
    # that keeps it inside the same unit lets a restart resume exactly there.
    return KafkaBatch(kept, end, reader, payloads=values if payloads else None, checkpoint=mirror_of(handed))
