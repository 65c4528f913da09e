"""librdkafka mock cluster through the kafka fixtures, with real confluent-kafka clients."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from murmur_test_servers import wait_for
from murmur_test_servers.kafka import KafkaBroker, KafkaHolderError


def test_fixture_shape(kafka_broker: KafkaBroker, kafka_bootstrap: str) -> None:
    host, _, port = kafka_bootstrap.partition(":")
    assert kafka_bootstrap == kafka_broker.bootstrap
    assert host == "127.0.0.1"
    assert int(port) > 0


def test_create_topic_exact_partitions_and_duplicate(
    kafka_broker: KafkaBroker, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("t")
    kafka_broker.create_topic(topic, 5)
    metadata = AdminClient({"bootstrap.servers": kafka_broker.bootstrap}).list_topics(topic=topic, timeout=10)
    assert sorted(metadata.topics[topic].partitions) == [0, 1, 2, 3, 4]
    with pytest.raises(KafkaHolderError, match="already exists"):
        kafka_broker.create_topic(topic, 5)
    with pytest.raises(KafkaHolderError, match="partitions"):
        kafka_broker.create_topic(unique_name("t"), 0)
    with pytest.raises(ValueError, match="invalid Kafka topic name"):
        kafka_broker.create_topic("evil\ntopic other 1", 1)
    kafka_broker.create_topic(unique_name("after"), 1)  # the pipe is still in step


def test_create_topic_is_thread_safe(kafka_broker: KafkaBroker, unique_name: Callable[[str], str]) -> None:
    topics = [unique_name("par") for _ in range(16)]
    errors: list[BaseException] = []

    def create(name: str) -> None:
        try:
            kafka_broker.create_topic(name, 2)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(t,)) for t in topics]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    metadata = AdminClient({"bootstrap.servers": kafka_broker.bootstrap}).list_topics(timeout=10)
    assert all(len(metadata.topics[t].partitions) == 2 for t in topics)


def test_group_consume_store_commit_committed(kafka_broker: KafkaBroker, unique_name: Callable[[str], str]) -> None:
    topic, group = unique_name("orders"), unique_name("group")
    kafka_broker.create_topic(topic, 3)

    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    for i in range(30):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    assert producer.flush(10) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_broker.bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            # get_watermark_offsets queues behind the consumer's long-poll Fetch: keep it short.
            "fetch.wait.max.ms": 50,
        }
    )
    try:
        consumer.subscribe([topic])
        received: list[Message] = []

        def poll_all() -> bool:
            message = consumer.poll(0.1)
            if message is not None:
                assert message.error() is None, message.error()
                received.append(message)
                consumer.store_offsets(message)  # "applied": only stored offsets get committed
            return len(received) == 30

        wait_for(poll_all, timeout=20, interval=0, message=lambda: f"consumed {len(received)}/30")
        consumer.commit(asynchronous=False)

        partitions = [TopicPartition(topic, p) for p in range(3)]
        high = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in partitions}
        per_partition = {p: sum(1 for m in received if m.partition() == p) for p in range(3)}
        assert high == per_partition
        assert sum(high.values()) == 30

        committed = {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=10)}
        assert committed == high  # committed offset = next offset to read
    finally:
        consumer.close()
