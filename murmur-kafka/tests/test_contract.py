"""The ``kafka`` live source keeps the core's whole live-source contract, on the real mock broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer
from conftest import Kafka
from murmur import LiveSource
from murmur.testing import LiveSourceContract


class TestKafkaContract(LiveSourceContract):
    """Three partitions, one consumer group, a dead-letter topic: Kafka commits its own offsets."""

    # An abandoned consumer's client keeps heartbeating: its partitions move only after
    # max.poll.interval.ms. Killed worker processes are tested in tests/orderstats/test_crashes.py.
    crash_restarts = False

    @pytest.fixture
    def stream(self, kafka: Kafka) -> tuple[str, str, str]:
        return kafka.topic(3), kafka.group(), kafka.topic(1, prefix="dlq")

    @pytest.fixture
    def make_source(self, kafka: Kafka, stream: tuple[str, str, str]) -> Callable[[], LiveSource]:
        topic, group, dlq = stream
        return lambda: kafka.source(topic, group=group, dlq_topic=dlq)

    @pytest.fixture
    def produce(self, kafka: Kafka, stream: tuple[str, str, str]) -> Callable[[list[dict[str, Any]]], None]:
        topic = stream[0]
        return lambda values: kafka.produce(topic, values, partition=lambda i: i % 3)

    @pytest.fixture
    def read_dead_letters(self, kafka: Kafka, stream: tuple[str, str, str]) -> Iterator[Callable[[], list[str]]]:
        """The ``x-murmur-error`` header of each message on the dead-letter topic so far."""
        consumer = Consumer(
            {"bootstrap.servers": kafka.bootstrap, "group.id": kafka.group(), "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([stream[2]])
        errors: list[str] = []

        def read() -> list[str]:
            msg = consumer.poll(0.5)
            while msg is not None:
                if msg.error() is None:
                    errors.append(dict(msg.headers() or [])["x-murmur-error"].decode())
                msg = consumer.poll(0.1)
            return list(errors)

        yield read
        consumer.close()
