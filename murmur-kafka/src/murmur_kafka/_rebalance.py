"""The consumer-group callbacks: what happens to offsets, held messages and lag when partitions
are assigned, revoked or lost. They run inside ``Consumer.poll`` on the consumer's thread."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from murmur_kafka._config import kafka, log
from murmur_kafka._fetch import Fetcher
from murmur_kafka._handoff import TP, Warn, start_offsets
from murmur_kafka._lag import LagMeter
from murmur_kafka._offsets import OffsetBook

if TYPE_CHECKING:
    from confluent_kafka import Consumer, TopicPartition

__all__ = ["Rebalancer"]


class Rebalancer:
    """``on_assign``/``on_revoke``/``on_lost`` for ``Consumer.subscribe``.

    ``mirror`` (offsets the store kept inside its units) is where a newly assigned partition
    begins when that is past its committed offset; ``handoff`` (offsets per partition) is where
    partitions without either begin; without them librdkafka's ``auto.offset.reset`` decides. ``cooperative`` says
    which assign call the group protocol wants (a wrong guess is corrected on the fly).
    """

    def __init__(
        self,
        book: OffsetBook,
        fetcher: Fetcher,
        lag: LagMeter,
        *,
        cooperative: bool,
        timeout: float,
        warn: Warn,
    ) -> None:
        self.book = book
        self.fetcher = fetcher
        self.lag = lag
        self.cooperative = cooperative
        self.timeout = timeout
        self.warn = warn
        self.handoff: Mapping[TP, int] | None = None
        self.mirror: Mapping[TP, int] | None = None
        self.stamp: str | None = None  # the handoff this run continues (commit metadata)

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.book.assign((tp.topic, tp.partition) for tp in partitions)
        if not (self.handoff or self.mirror):
            return
        mirrored = start_offsets(
            consumer,
            partitions,
            handoff=self.handoff,
            mirror=self.mirror,
            timeout=self.timeout,
            warn=self.warn,
            stamp=self.stamp,
        )
        if mirrored is not None:
            self._assign(consumer, partitions)
            # A mirrored start is an applied prefix: committed at the next chance, even if no
            # new message ever arrives on the partition.
            self.book.applied_from(mirrored)
        # else committed offsets, else auto.offset.reset: librdkafka assigns as usual

    def _assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        ck = kafka()
        first, second = (
            (consumer.incremental_assign, consumer.assign)
            if self.cooperative
            else (consumer.assign, consumer.incremental_assign)
        )
        try:
            first(partitions)
        except ck.KafkaException as exc:
            if exc.args[0].code() != ck.KafkaError._STATE:
                raise
            second(partitions)  # the group's protocol differs from what the settings suggested

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self.book.revoke(consumer, keys)
        self._forget(keys)

    def on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self.book.lose(keys)
        self._forget(keys)

    def _forget(self, keys: list[TP]) -> None:
        self.fetcher.drop(keys)
        self.lag.forget(keys)

    def await_assignment(self, consumer: Consumer, *, session: float, group: str | None) -> None:
        """Return once the group gave this member its partitions (maybe none), so that the time a
        join takes (a crashed member must first time out of the group) does not look like an idle
        topic to ``--until-idle``. Messages that arrive meanwhile are held for ``poll``."""
        deadline = time.monotonic() + session + self.timeout
        while self.book.rebalances == 0 and time.monotonic() < deadline:
            msg = consumer.poll(0.1)  # runs the assignment callback
            if msg is not None:
                self.fetcher.hold(msg)
        if self.book.rebalances == 0:
            log.warning("kafka: group %r assigned no partitions within %.0fs; reading on", group, session)
