"""The ``kafka`` live source: a consumer group that commits only what the runtime applied (SPEC §6, §7).

Offsets: auto-commit and auto offset store are off. The source commits the end of the contiguous
applied prefix of each partition (``_offsets``), periodically (``commit_interval``, from ``poll``),
when partitions are revoked (``_rebalance``) and on ``close``. So after a crash or a rebalance
every record that was not applied is delivered again, and nothing applied is skipped.

The parts: ``_options`` (this source's options), ``_config`` (librdkafka settings and clients),
``_handoff`` (snapshot-to-live offsets), ``_rebalance`` (group callbacks), ``_fetch`` (taking
messages, pausing), ``_message`` (message → record), ``_offsets`` (commit bookkeeping), ``_lag``,
and ``dlq`` (the dead-letter topic).

All consumer calls happen on the thread that calls ``start``/``poll``/``close`` (rebalance
callbacks run inside ``poll``); ``Record.ack`` may be called from any thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from murmur import Batch, ConfigError, Decoder, HandoffToken, Poison, Record, SourceError

from murmur_kafka._batch import make_batch
from murmur_kafka._config import RateLimitedLog, check_settings, kafka, kafka_error_text, librdkafka_log, make_client
from murmur_kafka._config import topic_partitions as _topic_partitions
from murmur_kafka._fetch import Fetcher
from murmur_kafka._handoff import capture_position, check_retention, handoff_stamp, parse_mirror, resolve_handoff
from murmur_kafka._lag import LagMeter
from murmur_kafka._message import KafkaRecord, MessageReader
from murmur_kafka._offsets import REVOKE_WAIT, OffsetBook
from murmur_kafka._options import START_CHOICES, parse_seconds, parse_topics
from murmur_kafka._rebalance import Rebalancer
from murmur_kafka.decoders import CountsEventIdFallbacks, JsonDecoder
from murmur_kafka.dlq import DeadLetterProducer, dead_letter_headers

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaError

__all__ = ["START_CHOICES", "KafkaRecord", "KafkaSource"]


class KafkaSource:
    """Reads one or more topics in a consumer group and decodes each message with ``decoder``.

    ``start`` decides where partitions *without a committed offset* begin: ``committed`` (the
    default: librdkafka's ``auto.offset.reset``, which Murmur sets to earliest), ``earliest``,
    ``latest``, or ``handoff`` (the offsets a bootstrap recorded with ``capture_position``; a
    handoff token given to :meth:`start` implies it). Committed offsets (or offsets mirrored in
    the store, whichever is further: see :meth:`start`) always win, so a restart never replays
    what was committed and never skips what was not. To re-read a topic, use a new ``group`` and
    a new pipeline.

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
        self.topics = parse_topics(topic)
        self._topic = self.topics[0] if len(self.topics) == 1 else None  # every message's topic, if one
        self.what = f"topic {', '.join(self.topics)}"  # for the CLI's "no records from …" warning
        self.decoder = decoder
        self.default_mode = decoder.default_mode
        self.group = group or (f"murmur.{pipeline}" if pipeline else None)
        self.dlq_topic = dlq_topic or None
        self.start_mode = start
        self.max_poll = int(poll_batch)  # the poll_batch option (poll_batch() is the batch protocol)
        self.commit_interval = parse_seconds(commit_interval, "commit_interval")
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
        cooperative = self.settings.get("group.protocol") == "consumer" or "cooperative" in self.settings.get(
            "partition.assignment.strategy", ""
        )
        self._consumer: Consumer | None = None
        self._dlq: DeadLetterProducer | None = None
        self._dlq_timeout = float(dlq_timeout)
        self.close_timeout = float(close_timeout)
        if self.dlq_topic:
            self.dead_letter = self._dead_letter
        self._warn = RateLimitedLog()
        self._book = OffsetBook(self._warn)
        self._fetcher = Fetcher()
        self._lag = LagMeter()
        self._rebalancer = Rebalancer(
            self._book, self._fetcher, self._lag, cooperative=cooperative, timeout=self.timeout, warn=self._warn
        )
        self._reader = MessageReader(decoder, self._book, settings=self.settings, warn=self._warn)
        # One decoder either way: a batch hands over raw payloads only where the json decoder
        # would give each document as it is (so the runtime's batch decoding gives the same).
        self._payloads = isinstance(decoder, JsonDecoder) and decoder.document_only
        self._dead_letters = 0  # dead letters may come from several worker threads
        self._dl_lock = threading.Lock()
        self._started = False
        self._closed = False
        self._fatal: str | None = None
        self._last_commit = time.monotonic()
        self._last_watermarks = 0.0

    # ------------------------------------------------------------------ clients

    def _consumer_conf(self, group: str) -> dict[str, Any]:
        return {
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
        return _topic_partitions(
            consumer,
            topic,
            brokers=self.brokers,
            timeout=self.timeout,
            settings=self.settings,
            purpose=purpose,
            option=option,
        )

    # ------------------------------------------------------------------ handoff

    def capture_position(self) -> dict[str, Any]:
        """The end offsets (high watermarks) of every partition: ``{"topic": T, "partitions": {"0": n}}``,
        or ``{"topics": [...]}`` of such entries when reading several topics."""
        return capture_position(
            self._client(), self.topics, brokers=self.brokers, timeout=self.timeout, settings=self.settings
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None:
        """Subscribe.

        ``checkpoint`` is what the runtime kept in the store from batches' checkpoints: the
        offsets mirrored inside the store's units (``{"topic:partition": offset}``). A partition
        starts there when that is past its committed offset, so a run killed after a unit and
        before the broker commit replays nothing (exact without a deduper where the store keeps
        the checkpoint in the unit). Otherwise committed offsets win, then the handoff."""
        if self._started:
            raise ConfigError("kafka: the source was already started")
        if not self.group:
            raise ConfigError("kafka: give a consumer group (-S group=NAME)", option="group")
        offsets = resolve_handoff(handoff, start_mode=self.start_mode, topics=self.topics)
        consumer = self._client()
        for topic in self.topics:
            self._partitions(consumer, topic, purpose="start reading")
        if self.dlq_topic:
            # Looked up by the consumer: a producer's metadata request may auto-create the topic.
            self._partitions(consumer, self.dlq_topic, purpose="check the dead-letter topic", option="dlq_topic")
            self._dlq = DeadLetterProducer(self.brokers, self.dlq_topic, self.settings, timeout=self._dlq_timeout)
        if offsets:
            check_retention(consumer, offsets, timeout=self.timeout, warn=self._warn)
        self._rebalancer.handoff = offsets
        self._rebalancer.mirror = parse_mirror(checkpoint, self.topics) or None
        self._rebalancer.stamp = self._book.stamp = handoff_stamp(handoff)
        rb = self._rebalancer
        consumer.subscribe(self.topics, on_assign=rb.on_assign, on_revoke=rb.on_revoke, on_lost=rb.on_lost)
        self._started = True
        session = float(self.settings.get("session.timeout.ms", 45_000)) / 1000
        self._book.revoke_wait = min(REVOKE_WAIT, session / 2)
        rb.await_assignment(consumer, session=session, group=self.group)
        self._last_commit = time.monotonic()

    # ------------------------------------------------------------------ polling

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records (the ``poll_batch`` option at most), waiting up to ``timeout`` for the first.

        The per-record path: each record is acked on its own (``Record.ack``) and the contiguous
        acked prefix is committed. ``poll(0, t)`` takes no records but still serves the group
        (rebalance callbacks, periodic commits): a runtime that must hold back should keep
        calling it, or the group stalls.
        """
        consumer = self._ready("poll")
        if max_records <= 0:
            self._fetcher.hold_back(consumer, timeout)
            self._maintain(consumer)
            return []
        messages = self._fetcher.take(consumer, min(max_records, self.max_poll), timeout)
        out: list[Record] = [r for r in map(self._reader.read, messages) if r is not None]
        self._maintain(consumer)
        return out

    def poll_batch(self, max_records: int, timeout: float) -> Batch | None:
        """One poll (up to ``max_records``, the ``poll_batch`` option at most) as one batch, or None when
        nothing arrived within ``timeout`` (the batch path, ``murmur.BatchLiveSource``).

        With the plain ``json`` decoder the batch carries the raw payloads, which a field-path
        pipeline decodes in one pass; otherwise its records are built when asked for. Its
        ``end`` maps ``(topic, partition, generation)`` to the offset after its last message of
        that partition: the runtime hands those back through :meth:`commit` once the batch is
        durable, and nothing is acked per record. ``poll_batch(0, t)`` is the keep-alive poll: it
        serves the group and periodic commits without taking messages, and returns None.
        """
        consumer = self._ready("poll_batch")
        if max_records <= 0:
            self._fetcher.hold_back(consumer, timeout)
            self._maintain(consumer)
            return None
        messages = self._fetcher.take(consumer, min(max_records, self.max_poll), timeout, assigned=self._book.assigned)
        batch = make_batch(messages, self._reader, payloads=self._payloads, topic=self._topic) if messages else None
        self._maintain(consumer)
        return batch

    def _ready(self, call: str) -> Consumer:
        consumer = self._consumer
        if not self._started or consumer is None:
            raise ConfigError(f"kafka: {call}() before start()")
        if self._closed:
            raise ConfigError(f"kafka: {call}() after close()")
        if self._fatal:
            raise SourceError(f"kafka: fatal client error: {self._fatal}")
        return consumer

    def _maintain(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._last_commit >= self.commit_interval:
            self._book.commit(consumer)
            self._last_commit = now
        if now - self._last_watermarks >= 1.0:
            self._lag.refresh(consumer, self._book)
            self._last_watermarks = now

    # ------------------------------------------------------------------ commits

    def commit(self, positions: Mapping[Any, Any] | None = None) -> bool:
        """Without ``positions``: commit the applied prefix of every assigned partition now (on
        the consumer's thread); True if nothing is left uncommitted.

        With ``positions`` (the batch path's ``BatchLiveSource.commit``, called by the runtime
        from any thread once per durable unit): note that everything before those ends is
        applied. The broker commit follows on the consumer's thread, at the next periodic
        commit in ``poll``/``poll_batch``, when a partition is revoked, or at ``close``.
        Positions of a partition revoked meanwhile are ignored. Returns False (not committed yet).
        """
        if positions is not None:
            self._book.durable(positions)
            return False
        if self._consumer is None or not self._started or self._closed:
            return True
        return not self._book.commit(self._consumer)

    # ------------------------------------------------------------------ progress

    def stats(self) -> dict[str, Any]:
        """Counts and lag per partition (``"topic:partition"`` ⇒ records not yet applied, from the
        high watermark, refreshed about once a second); cheap, safe from any thread."""
        out: dict[str, Any] = dict(self._reader.counts)
        out["dead_letters"] = self._dead_letters
        decoder = self.decoder
        out["event_id_fallback"] = decoder.event_id_fallbacks if isinstance(decoder, CountsEventIdFallbacks) else 0
        out.update(self._book.stats())
        lag = self._lag.snapshot()
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
            raw = poison.raw if poison is not None else msgspec.json.encode(record.value, enc_hook=str)
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
        with self._dl_lock:
            self._dead_letters += 1

    # ------------------------------------------------------------------ checkpoint / close

    def checkpoint(self) -> Any | None:
        # The per-record protocol's checkpoint: Kafka keeps the committed offsets. (On the batch
        # path each batch carries its mirrored offsets instead.)
        return None

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
        self._book.closing = True  # the runtime is done: the revoke below waits for nothing more
        try:
            if consumer is not None and self._started:
                deadline = time.monotonic() + self.close_timeout
                while (self._book.commit(consumer) or self._book.carrying) and time.monotonic() < deadline:
                    # Lets the rebalance finish (callbacks run in here): a carried prefix is committed
                    # if its partition comes back, dropped if it went to another member. Messages
                    # fetched now are never handed out, so they are not tracked or committed past.
                    consumer.poll(0.1)
            if consumer is not None:
                consumer.close()  # runs on_revoke for the remaining assignment
        finally:
            self._closed = True
            self._consumer = None
            if self._dlq is not None:
                self._dlq.close()
