"""One Kafka message to one record: the decoder, the default event id and event time, tombstones,
poison payloads, and the message's original bytes kept for the dead-letter topic."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from murmur import Decoder, Poison, Record, SourceError

from murmur_kafka._config import kafka, kafka_error_text
from murmur_kafka._handoff import Warn
from murmur_kafka._offsets import OffsetBook

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message

__all__ = ["KafkaRecord", "MessageReader", "message_time"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(slots=True, eq=False)
class KafkaRecord(Record):
    """A record from Kafka, keeping the message's original bytes for the dead-letter topic."""

    raw_key: bytes | None = None
    raw_value: bytes | None = None
    raw_headers: list[tuple[str, bytes | None]] | None = None


def message_time(timestamp: tuple[int, int] | None) -> dt.datetime | None:
    """The message's own time (CreateTime or LogAppendTime) from ``Message.timestamp()``, or None
    when the broker gave none (``TIMESTAMP_NOT_AVAILABLE``, or a negative time)."""
    if not timestamp or timestamp[0] == 0 or timestamp[1] < 0:
        return None
    return _EPOCH + dt.timedelta(milliseconds=timestamp[1])


class MessageReader:
    """Decodes messages into :class:`KafkaRecord` s and tracks each delivered offset in ``book``.

    A decoder that gives no event id gets ``<topic>:<partition>:<offset>``.

    Without an event time from the decoder (no ``event_time=`` path), a record's event time is
    the message timestamp, so windows follow when events happened rather than when they were read.
    Counts are written only by the consumer's thread; readers take a copy.
    """

    def __init__(self, decoder: Decoder, book: OffsetBook, *, settings: Mapping[str, Any], warn: Warn) -> None:
        self.decoder = decoder
        self.book = book
        self._settings = settings
        self._warn = warn
        self.counts = dict.fromkeys(("records", "tombstones", "skipped", "poison"), 0)

    def read(self, msg: Message) -> KafkaRecord | None:
        """The record of ``msg`` (per-record path: acked one by one through ``book``); None for a
        tombstone, a skipped payload, an error event, or a message of a partition no longer ours
        (those that are tracked are acked at once)."""
        where = self.position(msg)
        if where is None:
            return None
        topic, partition, offset = where
        akey = self.book.track(topic, partition, offset)
        if akey is None:
            return None  # taken just before its partition was revoked: the new owner reads it
        return self._acked(msg, akey, offset)

    def read_at(self, msg: Message, key: tuple[str, int, int], offset: int) -> KafkaRecord | None:
        """As :meth:`read`, for a message whose ownership ``key`` the caller already knows."""
        self.book.track(key[0], key[1], offset)
        return self._acked(msg, key, offset)

    def _acked(self, msg: Message, akey: tuple[str, int, int], offset: int) -> KafkaRecord | None:
        self.counts["records"] += 1
        record = self.decode(msg, akey[0], akey[1], offset)
        if record is None:
            self.book.ack(akey, offset)  # nothing to apply, nothing to dead-letter
        else:
            record.on_ack = _acker(self.book, akey, offset)
        return record

    def position(self, msg: Message) -> tuple[str, int, int] | None:
        """(topic, partition, offset) of a message, or None for an error event (which is logged,
        or raised as ``SourceError`` when the source cannot go on)."""
        err = msg.error()
        if err is not None:
            self._message_error(err)
            return None
        return str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0)

    def decode(self, msg: Message, topic: str, partition: int, offset: int) -> KafkaRecord | None:
        """The record of a message at a known position, without acknowledgement (the caller
        handles that); None for a tombstone or a payload the decoder skips."""
        counts = self.counts
        value, key = msg.value(), msg.key()
        if value is None:  # tombstone (log compaction marker): nothing to apply, nothing to dead-letter
            counts["tombstones"] += 1
            return None
        headers = cast("list[tuple[str, bytes | None]] | None", msg.headers())
        timestamp = msg.timestamp()
        meta = {"topic": topic, "partition": partition, "offset": offset, "headers": headers, "timestamp": timestamp}
        decoded: Record | None
        try:
            decoded = self.decoder.decode(value, key=key, meta=meta)
        except Exception as exc:  # noqa: BLE001 — whatever the decoder chokes on is this payload's problem
            text = str(exc) if getattr(exc, "kind", None) else f"{self.decoder.name}: {type(exc).__name__}: {exc}"
            decoded = Record(Poison(text, raw=value))
        if decoded is None:
            counts["skipped"] += 1
            return None
        if isinstance(decoded.value, Poison):
            counts["poison"] += 1
        event_id = decoded.event_id if decoded.event_id is not None else f"{topic}:{partition}:{offset}"
        if decoded.partition_key is not None:
            partition_key: str | None = decoded.partition_key
        elif key is not None:
            partition_key = key.decode("utf-8", "backslashreplace")
        else:
            partition_key = None
        return KafkaRecord(
            decoded.value,
            event_id,
            decoded.event_time if decoded.event_time is not None else message_time(timestamp),
            partition_key,
            {"topic": topic, "partition": partition, "offset": offset},
            decoded.change,
            raw_key=key,
            raw_value=value,
            raw_headers=headers,
        )

    def poison(self, msg: Message, reason: str) -> KafkaRecord:
        """The dead-letter record of a message whose payload failed to decode elsewhere (the
        runtime's batch decoding): original bytes, position, and the position id."""
        self.counts["poison"] += 1
        topic, partition, offset = str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0)
        key, value = msg.key(), msg.value()
        return KafkaRecord(
            Poison(reason, raw=value),
            f"{topic}:{partition}:{offset}",
            message_time(msg.timestamp()),
            None if key is None else key.decode("utf-8", "backslashreplace"),
            {"topic": topic, "partition": partition, "offset": offset},
            None,
            raw_key=key,
            raw_value=value,
            raw_headers=cast("list[tuple[str, bytes | None]] | None", msg.headers()),
        )

    def _message_error(self, err: KafkaError) -> None:
        ck = kafka()
        code = err.code()
        if code == ck.KafkaError._PARTITION_EOF:
            return
        text = kafka_error_text(ck.KafkaException(err), self._settings)
        if err.fatal() or code in (
            ck.KafkaError.UNKNOWN_TOPIC_OR_PART,
            ck.KafkaError._UNKNOWN_TOPIC,
            ck.KafkaError.TOPIC_AUTHORIZATION_FAILED,
            ck.KafkaError.GROUP_AUTHORIZATION_FAILED,
        ):
            raise SourceError(f"kafka: {text}")
        self._warn(f"consume:{code}", logging.WARNING, "kafka: %s", text)


def _acker(book: OffsetBook, akey: tuple[str, int, int], offset: int) -> Callable[[], None]:
    return lambda: book.ack(akey, offset)
