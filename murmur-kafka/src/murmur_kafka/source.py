"""The ``kafka`` live source: a consumer group that commits only what the runtime applied (SPEC §6, §7).

Offsets: auto-commit and auto offset store are off. Every delivered message is tracked per
(topic, partition, assignment generation) in a :class:`murmur.ContiguousAcks`; the source commits
``commit(offsets=...)`` the end of the contiguous acked prefix, periodically (``commit_interval``,
from ``poll``), when partitions are revoked (synchronously, then it forgets them: late acks of a
lost partition are ignored) and on ``close``. A failed commit (``REBALANCE_IN_PROGRESS``, a broker
outage) is counted and retried at the next opportunity; nothing is marked committed until the
broker said so. So after a crash or a rebalance every record that was not applied is delivered
again, and nothing applied is skipped.

All consumer calls happen on the thread that calls ``start``/``poll``/``close`` (rebalance
callbacks run inside ``poll``); ``Record.ack`` may be called from any thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import orjson
from murmur import (
    ConfigError,
    ContiguousAcks,
    Decoder,
    HandoffError,
    HandoffToken,
    Poison,
    Record,
    SourceError,
    parse_duration,
)

from murmur_kafka._config import (
    RateLimitedLog,
    check_settings,
    kafka,
    kafka_error_text,
    librdkafka_log,
    log,
    make_client,
)
from murmur_kafka._plugin import START_CHOICES
from murmur_kafka.decoders import JsonDecoder
from murmur_kafka.dlq import DeadLetterProducer, dead_letter_headers

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

__all__ = ["START_CHOICES", "KafkaRecord", "KafkaSource"]

_OFFSET_INVALID = -1001  # librdkafka's "no offset" (no committed offset for the partition)

TP = tuple[str, int]


@dataclass(slots=True, eq=False)
class KafkaRecord(Record):
    """A record from Kafka, keeping the message's original bytes for the dead-letter topic."""

    raw_key: bytes | None = None
    raw_value: bytes | None = None
    raw_headers: list[tuple[str, bytes | None]] | None = None


def _seconds(value: Any, option: str) -> float:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return parse_duration(value, option=option).total_seconds()
    raise ConfigError(f"{option}: expected a duration such as 5s, got {value!r}", option=option)


def _topics(value: str | Sequence[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    topics = [t.strip() for t in items if t and t.strip()]
    if not topics:
        raise ConfigError("kafka: give the topic to read (-S topic=NAME, or a comma list)", option="topic")
    if len(set(topics)) != len(topics):
        raise ConfigError(f"kafka: topic lists {', '.join(topics)} with a repeat", option="topic")
    return topics


class KafkaSource:
    """Reads one or more topics in a consumer group and decodes each message with ``decoder``.

    ``start`` decides where partitions *without a committed offset* begin: ``committed`` (the
    default: librdkafka's ``auto.offset.reset``, which Murmur sets to earliest), ``earliest``,
    ``latest``, or ``handoff`` (the offsets a bootstrap recorded with ``capture_position``; a
    handoff token given to :meth:`start` implies it). Committed offsets always win, so a restart
    never replays what was committed and never skips what was not. To re-read a topic, use a
    new ``group``.

    ``dead_letter`` exists only when ``dlq_topic`` is set.
    """

    name = "kafka"
    #: Present (bound in ``__init__``) only when a dead-letter topic is configured.
    dead_letter: Callable[[Record, BaseException | str, str], None]

    def __init__(
        self,
        *,
        brokers: str,
        topic: str | Sequence[str],
        decoder: Decoder,
        group: str | None = None,
        dlq_topic: str | None = None,
        start: str = "committed",
        poll_batch: int = 500,
        commit_interval: float | str | dt.timedelta = 5.0,
        settings: Mapping[str, Any] | None = None,
        pipeline: str | None = None,
        timeout: float = 10.0,
        dlq_timeout: float = 30.0,
        close_timeout: float = 10.0,
    ) -> None:
        if not brokers or not str(brokers).strip():
            raise ConfigError("kafka: give the brokers (-S brokers=host:port[,host:port])", option="brokers")
        if start not in START_CHOICES:
            raise ConfigError(f"kafka: start={start!r}: expected one of {', '.join(START_CHOICES)}", option="start")
        if int(poll_batch) < 1:
            raise ConfigError(f"kafka: poll_batch must be at least 1, got {poll_batch}", option="poll_batch")
        self.brokers = str(brokers).strip()
        self.topics = _topics(topic)
        self.what = f"topic {', '.join(self.topics)}"  # for the CLI's "no records from …" warning
        self.decoder = decoder
        self.default_mode = decoder.default_mode
        self.group = group or (f"murmur.{pipeline}" if pipeline else None)
        self.dlq_topic = dlq_topic or None
        self.start_mode = start
        self.poll_batch = int(poll_batch)
        self.commit_interval = _seconds(commit_interval, "commit_interval")
        if self.commit_interval < 0:
            raise ConfigError("kafka: commit_interval must not be negative", option="commit_interval")
        self.pipeline = pipeline
        self.timeout = float(timeout)
        self.settings = check_settings(settings or {})
        if start != "committed" and "auto.offset.reset" in self.settings:
            raise ConfigError(
                f"kafka: start={start} and kafka.auto.offset.reset both say where to begin; keep one",
                option="kafka.auto.offset.reset",
            )
        self._cooperative = self.settings.get("group.protocol") == "consumer" or "cooperative" in self.settings.get(
            "partition.assignment.strategy", ""
        )
        self._consumer: Consumer | None = None
        self._dlq: DeadLetterProducer | None = None
        self._dlq_timeout = float(dlq_timeout)
        self.close_timeout = float(close_timeout)
        if self.dlq_topic:
            self.dead_letter = self._dead_letter
        self._acks = ContiguousAcks()
        self._lock = threading.Lock()  # guards the fields below that stats() and dead_letter read
        self._gen: dict[TP, int] = {}
        self._assigned: set[TP] = set()
        self._committed: dict[TP, int] = {}
        # Applied prefixes whose commit failed when their partition was revoked (a commit during a
        # rebalance is refused): committed under the next generation if the partition comes back.
        self._carried: dict[TP, int] = {}
        self._handoff: dict[TP, int] | None = None
        self._started = False
        self._closed = False
        # Partitions paused by poll(0, t). librdkafka keeps a partition paused across a rebalance
        # that gives it back, so they stay listed until resumed while assigned.
        self._paused: set[TP] = set()
        self._held: deque[Message] = deque()  # messages taken while paused, handed out first
        self._fatal: str | None = None
        self._last_commit = time.monotonic()
        self._last_watermarks = 0.0
        self._lag: dict[str, int] = {}
        self._records = 0
        # The plain json decoder (no field paths) is inlined in _record.
        self._plain_json = isinstance(decoder, JsonDecoder) and decoder.plain
        self._counts = dict.fromkeys(
            ("records", "tombstones", "skipped", "poison", "dead_letters", "commits", "commit_errors", "rebalances"), 0
        )
        self._warn = RateLimitedLog()

    # ------------------------------------------------------------------ clients

    def _consumer_conf(self, group: str) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "client.id": "murmur-kafka",
            "auto.offset.reset": "latest" if self.start_mode == "latest" else "earliest",
            **self.settings,
            "bootstrap.servers": self.brokers,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "logger": librdkafka_log,
            "error_cb": self._on_error,
        }
        return conf

    def _client(self) -> Consumer:
        if self._consumer is None:
            # A consumer that has not subscribed serves metadata lookups (capture_position) too.
            self._consumer = make_client(
                "consumer", self._consumer_conf(self.group or "murmur-kafka-metadata"), self.settings
            )
        return self._consumer

    def _on_error(self, err: KafkaError) -> None:
        text = kafka_error_text(kafka().KafkaException(err), self.settings)
        if err.fatal():
            self._fatal = text
        self._warn(f"error:{err.code()}", logging.WARNING, "kafka: %s", text)

    def _partitions(self, consumer: Consumer, topic: str, *, purpose: str, option: str = "topic") -> list[int]:
        ck = kafka()
        try:
            meta = consumer.list_topics(topic, timeout=self.timeout)
        except ck.KafkaException as exc:
            raise SourceError(
                f"kafka: cannot reach brokers {self.brokers} to {purpose}: {kafka_error_text(exc, self.settings)}"
            ) from None
        info = meta.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            what = "dlq_topic" if option == "dlq_topic" else "topic"
            raise ConfigError(f"kafka: {what} {topic!r} does not exist on brokers {self.brokers}", option=option)
        return sorted(info.partitions)

    # ------------------------------------------------------------------ handoff

    def capture_position(self) -> dict[str, Any]:
        """The end offsets (high watermarks) of every partition: ``{"topic": T, "partitions": {"0": n}}``,
        or ``{"topics": [...]}`` of such entries when reading several topics."""
        ck = kafka()
        consumer = self._client()
        entries = []
        for topic in self.topics:
            try:
                partitions = self._partitions(consumer, topic, purpose="capture the handoff position")
            except (ConfigError, SourceError) as exc:
                raise HandoffError(f"{exc}; cannot capture the handoff position") from None
            offsets: dict[str, int] = {}
            for p in partitions:
                try:
                    marks = consumer.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=self.timeout)
                except ck.KafkaException as exc:
                    raise HandoffError(
                        f"kafka: cannot read the end offset of {topic}[{p}]: {kafka_error_text(exc, self.settings)}"
                    ) from None
                if marks is None:
                    raise HandoffError(f"kafka: no answer for the end offset of {topic}[{p}] within {self.timeout}s")
                offsets[str(p)] = int(marks[1])
            entries.append({"topic": topic, "partitions": offsets})
        return entries[0] if len(entries) == 1 else {"topics": entries}

    def _resolve_handoff(self, handoff: HandoffToken | None) -> dict[TP, int] | None:
        """Handoff offsets per partition ({} = start partitions without committed offsets at the earliest)."""
        if handoff is None:
            if self.start_mode == "handoff":
                raise ConfigError(
                    "kafka: start=handoff needs the handoff file of a bootstrap (--from-handoff FILE)", option="start"
                )
            return None
        if self.start_mode == "latest":
            raise ConfigError(
                "kafka: start=latest cannot be combined with a handoff (records after the snapshot would be "
                "skipped); use start=handoff",
                option="start",
            )
        live = handoff.live
        if not live:
            log.info(
                "kafka: the handoff has no Kafka offsets; partitions without committed offsets start at the earliest"
            )
            return {}
        source = live.get("source")
        if source != self.name:
            raise HandoffError(
                f"kafka: the handoff was captured for live source {source!r}, not 'kafka'; re-run the bootstrap "
                f"with --handoff-to kafka -H topic={','.join(self.topics)}"
            )
        position = live.get("position")
        if isinstance(position, Mapping) and "topics" in position:
            entries = position["topics"]
        elif isinstance(position, Mapping) and "topic" in position:
            entries = [position]
        else:
            raise HandoffError("kafka: the handoff's Kafka position is malformed (expected topic and partitions)")
        out: dict[TP, int] = {}
        for entry in entries if isinstance(entries, list) else ():
            topic = entry.get("topic") if isinstance(entry, Mapping) else None
            if topic not in self.topics:
                raise HandoffError(
                    f"kafka: the handoff holds offsets of topic {topic!r}, but this source reads "
                    f"{', '.join(self.topics)}; use the handoff file of a bootstrap run with "
                    f"--handoff-to kafka -H topic={','.join(self.topics)}"
                )
            partitions = entry.get("partitions")
            if not isinstance(partitions, Mapping):
                raise HandoffError(f"kafka: the handoff's offsets of topic {topic!r} are malformed")
            for p, off in partitions.items():
                try:
                    out[(str(topic), int(p))] = int(off)
                except (TypeError, ValueError):
                    raise HandoffError(
                        f"kafka: the handoff's offset of {topic}[{p}] is not an integer: {off!r}"
                    ) from None
        return out

    def _check_handoff_retention(self, consumer: Consumer) -> None:
        """A handoff older than the topic's retention would skip deleted records: refuse it."""
        ck = kafka()
        assert self._handoff is not None
        parts = [ck.TopicPartition(t, p) for (t, p) in sorted(self._handoff)]
        if not parts:
            return
        try:
            committed = consumer.committed(parts, timeout=self.timeout)
        except ck.KafkaException as exc:
            self._warn("committed", logging.WARNING, "kafka: cannot read committed offsets (%s)", exc)
            return
        for tp in committed:
            if tp.offset >= 0:
                continue  # a committed offset wins over the handoff
            wanted = self._handoff[(tp.topic, tp.partition)]
            try:
                marks = consumer.get_watermark_offsets(ck.TopicPartition(tp.topic, tp.partition), timeout=self.timeout)
            except ck.KafkaException as exc:  # cannot tell: start anyway, librdkafka resets to the earliest
                self._warn("watermarks", logging.WARNING, "kafka: cannot read the start offsets (%s)", exc)
                return
            if marks is not None and marks[0] > wanted:
                raise HandoffError(
                    f"kafka: the handoff starts {tp.topic}[{tp.partition}] at offset {wanted}, but the topic now "
                    f"begins at {marks[0]}: records in between were deleted by retention; run the bootstrap again"
                )

    # ------------------------------------------------------------------ lifecycle

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None:
        """Subscribe. ``checkpoint`` is ignored: Kafka keeps the committed offsets (``checkpoint()`` is None)."""
        if self._started:
            raise ConfigError("kafka: the source was already started")
        if not self.group:
            raise ConfigError("kafka: give a consumer group (-S group=NAME)", option="group")
        self._handoff = self._resolve_handoff(handoff)
        consumer = self._client()
        for topic in self.topics:
            self._partitions(consumer, topic, purpose="start reading")
        if self.dlq_topic:
            # Looked up by the consumer: a producer's metadata request may auto-create the topic.
            self._partitions(consumer, self.dlq_topic, purpose="check the dead-letter topic", option="dlq_topic")
            self._dlq = DeadLetterProducer(self.brokers, self.dlq_topic, self.settings, timeout=self._dlq_timeout)
        if self._handoff:
            self._check_handoff_retention(consumer)
        consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        self._started = True
        self._await_assignment(consumer)
        self._last_commit = time.monotonic()

    def _await_assignment(self, consumer: Consumer) -> None:
        """Return once the group gave this member its partitions (maybe none), so that the time a
        join takes (a crashed member must first time out of the group) does not look like an idle
        topic to ``--until-idle``. Messages that arrive meanwhile are handed out by ``poll``."""
        session = float(self.settings.get("session.timeout.ms", 45_000)) / 1000
        deadline = time.monotonic() + session + self.timeout
        while self._rebalances() == 0 and time.monotonic() < deadline:
            msg = consumer.poll(0.1)  # runs the assignment callback
            if msg is not None:
                self._held.append(msg)
        if self._rebalances() == 0:
            log.warning("kafka: group %r assigned no partitions within %.0fs; reading on", self.group, session)

    def _rebalances(self) -> int:
        with self._lock:
            return self._counts["rebalances"]

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._lock:
            keys = {(tp.topic, tp.partition) for tp in partitions}
            for key in keys:
                self._gen[key] = self._gen.get(key, 0) + 1
                self._assigned.add(key)
            # A carried prefix is only worth committing on a partition that came back to us.
            self._carried = {k: v for k, v in self._carried.items() if k in keys}
            self._counts["rebalances"] += 1
        if not self._handoff:
            return  # committed offsets, else auto.offset.reset: librdkafka assigns as usual
        ck = kafka()
        wanted = [tp for tp in partitions if (tp.topic, tp.partition) in self._handoff]
        if not wanted:
            return
        try:
            committed = consumer.committed(
                [ck.TopicPartition(tp.topic, tp.partition) for tp in wanted], timeout=self.timeout
            )
        except ck.KafkaException as exc:
            # Without committed offsets we keep librdkafka's choice (committed, else earliest): slower, never a skip.
            self._warn("committed", logging.WARNING, "kafka: cannot read committed offsets on assignment (%s)", exc)
            return
        fresh = {(c.topic, c.partition) for c in committed if c.offset == _OFFSET_INVALID and c.error is None}
        if not fresh:
            return
        for tp in partitions:
            if (tp.topic, tp.partition) in fresh:
                tp.offset = self._handoff[(tp.topic, tp.partition)]
        self._assign(consumer, partitions)

    def _assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        ck = kafka()
        first, second = (
            (consumer.incremental_assign, consumer.assign)
            if self._cooperative
            else (consumer.assign, consumer.incremental_assign)
        )
        try:
            first(partitions)
        except ck.KafkaException as exc:
            if exc.args[0].code() != ck.KafkaError._STATE:
                raise
            second(partitions)  # the group's protocol differs from what the settings suggested

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        failed = self._commit(keys)  # the acked prefix, synchronously, while the generation is still ours
        self._forget(keys)
        with self._lock:
            self._carried.update(failed)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost partitions may already belong to another member: committing now would be refused.
        # What was applied stays applied, so it is carried to a later assignment of the partition.
        keys = [(tp.topic, tp.partition) for tp in partitions]
        with self._lock:
            for key in keys:
                upto = self._acks.committable((*key, self._gen.get(key, 0)))
                if upto is not None and upto > max(self._committed.get(key, -1), self._carried.get(key, -1)):
                    self._carried[key] = upto
        self._forget(keys)

    def _forget(self, keys: list[TP]) -> None:
        gone = set(keys)
        # Held messages of a partition that moved were never handed out: its new owner reads them.
        self._held = deque(m for m in self._held if (m.topic(), m.partition()) not in gone)
        with self._lock:
            for key in keys:
                self._acks.forget((*key, self._gen.get(key, 0)))
                self._assigned.discard(key)
                self._committed.pop(key, None)
                self._lag.pop(f"{key[0]}:{key[1]}", None)

    # ------------------------------------------------------------------ polling

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records (``poll_batch`` at most), waiting up to ``timeout`` for the first.

        ``poll(0, t)`` takes no records but still serves the group (rebalance callbacks, periodic
        commits): a runtime that must hold back should keep calling it, or the group stalls.
        """
        consumer = self._consumer
        if not self._started or consumer is None:
            raise ConfigError("kafka: poll() before start()")
        if self._closed:
            raise ConfigError("kafka: poll() after close()")
        if self._fatal:
            raise SourceError(f"kafka: fatal client error: {self._fatal}")
        if max_records <= 0:
            self._hold_back(consumer, timeout)
            self._maintain(consumer)
            return []
        if self._paused:
            self._resume(consumer)
        n = min(max_records, self.poll_batch)
        messages = [self._held.popleft() for _ in range(min(n, len(self._held)))]
        if len(messages) < n:
            # consume(n, t) waits for n messages or t: take what is there, else wait for the first one only
            messages += consumer.consume(n - len(messages), 0)
            if not messages and timeout > 0:
                first = consumer.poll(timeout)
                if first is not None:
                    messages = [first, *consumer.consume(n - 1, 0)] if n > 1 else [first]
        out: list[Record] = [r for r in map(self._record, messages) if r is not None]
        self._maintain(consumer)
        return out

    def _hold_back(self, consumer: Consumer, timeout: float) -> None:
        """Serve the group without handing out records: pause fetching, then poll for callbacks.

        A message that still arrives (fetched before the pause) is held, untracked, and handed
        out first when records are wanted again.
        """
        fresh = [tp for tp in consumer.assignment() if (tp.topic, tp.partition) not in self._paused]
        if fresh:
            consumer.pause(fresh)
            self._paused.update((tp.topic, tp.partition) for tp in fresh)
        msg = consumer.poll(max(timeout, 0))
        if msg is not None:
            self._held.append(msg)

    def _resume(self, consumer: Consumer) -> None:
        back = [tp for tp in consumer.assignment() if (tp.topic, tp.partition) in self._paused]
        if back:
            consumer.resume(back)  # fetching continues after the last message taken
            self._paused.difference_update((tp.topic, tp.partition) for tp in back)

    def _record(self, msg: Message) -> KafkaRecord | None:
        err = msg.error()
        if err is not None:
            self._message_error(err)
            return None
        topic, partition, offset = str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0)
        tp = (topic, partition)
        if tp not in self._assigned:
            return None  # taken just before its partition was revoked: the new owner reads it
        akey = (topic, partition, self._gen.get(tp, 0))
        self._acks.track(akey, offset)
        value, key = msg.value(), msg.key()
        self._records += 1  # only this (polling) thread writes it: no lock per message
        if value is None:  # tombstone (log compaction marker): nothing to apply, nothing to dead-letter
            self._acks.ack(akey, offset)
            with self._lock:
                self._counts["tombstones"] += 1
            return None
        headers = cast("list[tuple[str, bytes | None]] | None", msg.headers())
        if self._plain_json:
            # The commonest decoder, inlined: one Record per message and no meta dict (it shows in profiles).
            try:
                doc: Any = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                doc = Poison(f"json: payload is not JSON ({exc})", raw=value)
                with self._lock:
                    self._counts["poison"] += 1
            return KafkaRecord(
                doc,
                f"{topic}:{partition}:{offset}",
                None,
                None if key is None else key.decode("utf-8", "backslashreplace"),
                {"topic": topic, "partition": partition, "offset": offset},
                None,
                on_ack=lambda: self._acks.ack(akey, offset),
                raw_key=key,
                raw_value=value,
                raw_headers=headers,
            )
        meta = {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "headers": headers,
            "timestamp": msg.timestamp(),
        }
        try:
            decoded = self.decoder.decode(value, key=key, meta=meta)
        except Exception as exc:  # noqa: BLE001 — whatever the decoder chokes on is this payload's problem
            text = str(exc) if getattr(exc, "kind", None) else f"{self.decoder.name}: {type(exc).__name__}: {exc}"
            decoded = Record(Poison(text, raw=value))
        if decoded is None:
            self._acks.ack(akey, offset)
            with self._lock:
                self._counts["skipped"] += 1
            return None
        if isinstance(decoded.value, Poison):
            with self._lock:
                self._counts["poison"] += 1
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
            decoded.event_time,
            partition_key,
            {"topic": topic, "partition": partition, "offset": offset},
            decoded.change,
            on_ack=lambda: self._acks.ack(akey, offset),
            raw_key=key,
            raw_value=value,
            raw_headers=headers,
        )

    def _message_error(self, err: KafkaError) -> None:
        ck = kafka()
        code = err.code()
        if code == ck.KafkaError._PARTITION_EOF:
            return
        text = kafka_error_text(ck.KafkaException(err), self.settings)
        if err.fatal() or code in (
            ck.KafkaError.UNKNOWN_TOPIC_OR_PART,
            ck.KafkaError._UNKNOWN_TOPIC,
            ck.KafkaError.TOPIC_AUTHORIZATION_FAILED,
            ck.KafkaError.GROUP_AUTHORIZATION_FAILED,
        ):
            raise SourceError(f"kafka: {text}")
        self._warn(f"consume:{code}", logging.WARNING, "kafka: %s", text)

    def _maintain(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._last_commit >= self.commit_interval:
            self._commit(None)
            self._last_commit = now
        if now - self._last_watermarks >= 1.0:
            self._refresh_lag(consumer)
            self._last_watermarks = now

    # ------------------------------------------------------------------ commits

    def commit(self) -> bool:
        """Commit the acked prefix of every assigned partition now; True if nothing is left uncommitted."""
        if self._consumer is None or not self._started or self._closed:
            return True
        return not self._commit(None)

    def _commit(self, keys: Sequence[TP] | None) -> dict[TP, int]:
        """Commit the applied prefix of ``keys`` (default: every assigned partition) synchronously.

        Returns the offsets that could not be committed (empty when all went through).
        """
        consumer = self._consumer
        if consumer is None:
            return {}
        ck = kafka()
        wanted: dict[TP, int] = {}
        with self._lock:
            for key in sorted(self._assigned) if keys is None else keys:
                upto = self._acks.committable((*key, self._gen.get(key, 0)))
                # Both are applied prefixes (this generation's, or one carried over a failed
                # revoke), so the larger one is safe to commit.
                best = max(upto if upto is not None else -1, self._carried.get(key, -1))
                if best >= 0 and best > self._committed.get(key, -1):
                    wanted[key] = best
        if not wanted:
            return {}
        try:
            result = consumer.commit(
                offsets=[ck.TopicPartition(t, p, off) for (t, p), off in wanted.items()], asynchronous=False
            )
        except ck.KafkaException as exc:
            self._commit_failed(exc.args[0])
            return wanted
        failed: dict[TP, int] = {}
        with self._lock:
            for tp in result or ():
                key = (tp.topic, tp.partition)
                if tp.error is not None:
                    failed[key] = wanted[key]
                    self._counts["commit_errors"] += 1
                    self._warn(
                        f"commit:{tp.topic}", logging.WARNING, "kafka: commit of %s[%d] failed: %s", *key, tp.error
                    )
                else:
                    self._committed[key] = tp.offset
                    if self._carried.get(key, -1) <= tp.offset:
                        self._carried.pop(key, None)
            self._counts["commits"] += 1
        return failed

    def _commit_failed(self, err: KafkaError) -> None:
        ck = kafka()
        with self._lock:
            self._counts["commit_errors"] += 1
        # Nothing is marked committed: the same prefix is committed again at the next chance (or,
        # if the partition moved, redelivered to its new owner — a duplicate, never a gap).
        level = (
            logging.INFO
            if err.code() in (ck.KafkaError.REBALANCE_IN_PROGRESS, ck.KafkaError.ILLEGAL_GENERATION)
            else logging.WARNING
        )
        self._warn(f"commit:{err.code()}", level, "kafka: commit failed, will retry: %s", err.str())

    # ------------------------------------------------------------------ progress

    def _refresh_lag(self, consumer: Consumer) -> None:
        ck = kafka()
        with self._lock:
            assigned = sorted(self._assigned)
        lag: dict[str, int] = {}
        for key in assigned:
            try:
                marks = consumer.get_watermark_offsets(ck.TopicPartition(*key), cached=True)
            except ck.KafkaException:
                continue
            if not marks or marks[1] < 0:
                continue
            with self._lock:
                done = self._acks.committable((*key, self._gen.get(key, 0)))
                if done is None:
                    done = self._committed.get(key)
            if done is not None:
                lag[f"{key[0]}:{key[1]}"] = max(0, int(marks[1]) - done)
        with self._lock:
            self._lag = lag

    def stats(self) -> dict[str, Any]:
        """Counts and lag per partition (``"topic:partition"`` ⇒ records not yet applied, from the
        high watermark, refreshed about once a second); cheap, safe from any thread."""
        with self._lock:
            lag = dict(self._lag)
            out: dict[str, Any] = dict(self._counts)
            out["records"] = self._records
            out["assigned"] = len(self._assigned)
            out["committed"] = {f"{t}:{p}": off for (t, p), off in sorted(self._committed.items())}
        out["lag"] = lag
        out["lag_total"] = sum(lag.values())
        return out

    # ------------------------------------------------------------------ dead letters

    def _dead_letter(self, record: Record, error: BaseException | str, kind: str) -> None:
        """Write ``record``'s original message to ``dlq_topic`` with the ``x-murmur-*`` headers, and
        return once the broker acknowledged it. Raises ``TransientError`` if it was not (then do
        not ack the record), ``SourceError`` if the broker refused it for good."""
        dlq = self._dlq
        if dlq is None:
            raise ConfigError("kafka: dead_letter() before start()")
        position = record.position if isinstance(record.position, Mapping) else {}
        try:
            topic, partition, offset = str(position["topic"]), int(position["partition"]), int(position["offset"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"kafka: dead_letter() got a record this source did not deliver: {record!r}") from None
        if isinstance(record, KafkaRecord):
            key, value, original = record.raw_key, record.raw_value, record.raw_headers
        else:  # a copy made by someone else: rebuild what we can
            poison = record.value if isinstance(record.value, Poison) else None
            raw = poison.raw if poison is not None else orjson.dumps(record.value, default=str)
            key = record.partition_key.encode() if record.partition_key is not None else None
            value, original = raw.encode() if isinstance(raw, str) else raw, None
        if isinstance(error, str):
            text = error
        else:  # the same wording as the runtime's own dead-letter sink
            text = f"{type(error).__name__}: {error}" if kind == "apply" else (str(error) or type(error).__name__)
        extra = {"x-murmur-group": self.group or ""}
        if self.pipeline:
            extra["x-murmur-pipeline"] = self.pipeline
        headers = dead_letter_headers(
            topic=topic,
            partition=partition,
            offset=offset,
            source_name=self.name,
            error=text,
            kind=kind,
            original=original,
            extra=extra,
        )
        dlq.write(key, value, headers)
        with self._lock:
            self._counts["dead_letters"] += 1

    # ------------------------------------------------------------------ checkpoint / close

    def checkpoint(self) -> Any | None:
        return None  # Kafka keeps the committed offsets

    def close(self) -> None:
        """Commit the acked prefix, leave the group (its revoke callback commits once more), flush
        the dead-letter producer. Records not acked are delivered again after a restart.

        A commit refused because the group is rebalancing (another member joining or leaving at
        the same moment) is retried for up to ``close_timeout`` seconds, serving the rebalance in
        between, so a clean shutdown does not leave applied records to be delivered again.
        """
        if self._closed:
            return
        consumer = self._consumer
        try:
            if consumer is not None and self._started:
                deadline = time.monotonic() + self.close_timeout
                while (self._commit(None) or self._carried) and time.monotonic() < deadline:
                    # Lets the rebalance finish (callbacks run in here): a carried prefix is committed
                    # if its partition comes back, dropped if it went to another member. Messages
                    # fetched now are never handed out, so they are not tracked or committed past.
                    consumer.poll(0.1)
            if consumer is not None:
                consumer.close()  # runs _on_revoke for the remaining assignment
        finally:
            self._closed = True
            self._consumer = None
            if self._dlq is not None:
                self._dlq.close()
