"""Helpers for murmur-kafka tests, on the real Kafka-protocol broker of murmur-test-servers.

Fixtures used from that plugin: ``kafka_broker`` (.bootstrap, .create_topic(name, partitions))
and ``unique_name``. Sources are built through the plugin registry, as the CLI builds them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import murmur
import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from murmur import live
from murmur.plugins import Registry, load
from murmur_test_servers import wait_for

#: How long a test waits for a live run to drain its topic: a deadline for a stuck run, never
#: a timing assumption (a loaded machine may take many times as long as an idle one).
DRAIN_TIMEOUT = 240.0

#: A short session timeout so that a killed or departed member's partitions move on quickly.
FAST_GROUP = {"kafka.session.timeout.ms": "2000", "kafka.heartbeat.interval.ms": "300"}


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load()


@dataclass
class Kafka:
    """One test's view of the broker: its own topics and groups, and ways to produce and inspect."""

    bootstrap: str
    broker: Any
    names: Callable[[str], str]
    registry: Registry
    opened: list[Any] = field(default_factory=list)
    partitions: dict[str, int] = field(default_factory=dict)
    _producer: Producer | None = None

    def topic(self, partitions: int = 1, prefix: str = "t") -> str:
        name = self.names(prefix)
        self.broker.create_topic(name, partitions)
        self.partitions[name] = partitions
        return name

    def group(self) -> str:
        return self.names("g")

    def source(self, topic: str, *, pipeline: str = "p", **options: Any) -> Any:
        """A kafka live source built from ``-S``-style options (an option given as None is left out)."""
        given = {"brokers": self.bootstrap, "topic": topic, **FAST_GROUP, **options}
        given = {k: v for k, v in given.items() if v is not None}
        src = self.registry.build("live", "kafka", given, pipeline=pipeline)
        self.opened.append(src)
        return src

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        return self._producer

    def produce(
        self,
        topic: str,
        values: Sequence[Any],
        *,
        keys: Sequence[str | bytes | None] | None = None,
        partition: int | Callable[[int], int] | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        timestamps: Sequence[int] | None = None,
    ) -> None:
        """Produce values (dicts become JSON, bytes/str go as they are, None is a tombstone), in order.

        ``timestamps``: each message's CreateTime in epoch milliseconds (default: now)."""
        for i, value in enumerate(values):
            payload = value if value is None or isinstance(value, (bytes, str)) else orjson.dumps(value)
            kwargs: dict[str, Any] = {}
            if keys is not None and keys[i] is not None:
                kwargs["key"] = keys[i]
            if partition is not None:
                kwargs["partition"] = partition(i) if callable(partition) else partition
            if headers is not None:
                kwargs["headers"] = headers
            if timestamps is not None:
                kwargs["timestamp"] = timestamps[i]
            while True:
                try:
                    self.producer.produce(topic, value=payload, **kwargs)
                    break
                except BufferError:
                    self.producer.poll(0.1)
        left = self.producer.flush(30)
        assert left == 0, f"{left} messages not delivered"

    def committed(self, group: str, topic: str, partitions: int = 1) -> dict[int, int]:
        """The group's committed offset per partition (-1001 when none), read by a separate consumer."""
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        try:
            got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        finally:
            c.close()
        return {tp.partition: tp.offset for tp in got}

    def end_offsets(self, topic: str, partitions: int = 1) -> dict[int, int]:
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.names("peek")})
        try:
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
        finally:
            c.close()

    def drained(self, group: str, topic: str) -> Callable[[], bool]:
        """A check that ``group`` has committed every message of ``topic`` as it ends now (the
        end offsets are read once, here: produce first)."""
        n = self.partitions[topic]
        end = self.end_offsets(topic, n)
        return lambda: self.committed(group, topic, n) == end

    def run_live(
        self,
        pipeline: murmur.Pipeline,
        sources: Any | Sequence[Any],
        store: Any,
        *,
        ready: Callable[[], bool] | None = None,
        **options: Any,
    ) -> list[murmur.RunStatus]:
        """``live.run`` of each source (one thread each) until their group has committed every
        message of their topic (and their lag reads 0); then the runs are stopped as SIGTERM
        stops the CLI (flush, commit, close) and their statuses returned (re-raising what a run
        raised).

        Not ``until_idle``: an idle window races a loaded machine, where the first fetch after
        the group join (or a rebalance) can take longer than the window, and the run would end
        early with a wrong total. Give the sources a short ``commit_interval`` (the wait is on
        the broker's commits). ``ready``: called until it returns True before the topic's end is
        read (e.g. it produces once every member was assigned)."""
        members = list(sources) if isinstance(sources, (list, tuple)) else [sources]
        assert all(s.commit_interval <= 1 for s in members), "give the sources a short commit_interval"
        stop = threading.Event()
        results: dict[int, Any] = {}

        def work(i: int, src: Any) -> None:
            try:
                results[i] = live.run(pipeline, src, store, stop=stop, **options)
            except BaseException as exc:  # noqa: BLE001 — re-raised below, in the test's thread
                results[i] = exc

        threads = [threading.Thread(target=work, args=(i, s), name=f"live-{i}") for i, s in enumerate(members)]
        for t in threads:
            t.start()
        try:
            if ready is not None:
                wait_for(lambda: results or ready(), DRAIN_TIMEOUT, 0.1, lambda: f"not ready: {self._stats(members)}")
            done = self.drained(members[0].group, members[0].topics[0])

            def drained() -> bool:  # committed, and the sources' own lag (refreshed each second) says so too
                return done() and all(s.stats()["lag_total"] == 0 for s in members)

            wait_for(lambda: results or drained(), DRAIN_TIMEOUT, 0.2, lambda: f"not drained: {self._stats(members)}")
        finally:
            stop.set()
            for t in threads:
                t.join(DRAIN_TIMEOUT)
        assert not any(t.is_alive() for t in threads), "a live run did not stop"
        for value in results.values():
            if isinstance(value, BaseException):
                raise value
        assert len(results) == len(members)
        return [results[i] for i in range(len(members))]

    @staticmethod
    def _stats(sources: Sequence[Any]) -> list[dict[str, Any]]:
        return [s.stats() for s in sources]

    def read_all(self, topic: str, count: int, timeout: float = 120.0) -> list[Any]:
        """``count`` messages of ``topic`` from the beginning (a throwaway group), as Message objects."""
        c = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": self.names("read"), "auto.offset.reset": "earliest"}
        )
        c.subscribe([topic])
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < count:
                assert time.monotonic() < deadline, f"read {len(out)} of {count} messages from {topic}"
                msg = c.poll(0.2)
                if msg is not None and msg.error() is None:
                    out.append(msg)
        finally:
            c.close()
        return out


@pytest.fixture
def kafka(kafka_broker: Any, unique_name: Callable[[str], str], registry: Registry) -> Iterator[Kafka]:
    k = Kafka(kafka_broker.bootstrap, kafka_broker, unique_name, registry)
    yield k
    for src in k.opened:
        with contextlib.suppress(Exception):  # a broken source under test must not hide the test's outcome
            src.close()


def take(source: Any, n: int, timeout: float = 120.0) -> list[murmur.Record]:
    """Poll until ``n`` records arrived (fails after ``timeout``)."""
    got: list[murmur.Record] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        assert time.monotonic() < deadline, f"got {len(got)} of {n} records"
        got.extend(source.poll(n - len(got), 0.2))
    return got


def drain(source: Any, at_least: int = 1, quiet: float = 1.5, timeout: float = 120.0) -> list[murmur.Record]:
    """Poll until at least ``at_least`` records came and then nothing new for ``quiet`` seconds.

    The quiet window only gives unexpected extra records a chance to show up: ``at_least`` must
    be every record the test expects, or a slow machine ends the drain before they all came."""
    got: list[murmur.Record] = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while len(got) < at_least or time.monotonic() - last < quiet:
        assert time.monotonic() < deadline, "source kept delivering"
        batch = source.poll(500, 0.2)
        if batch:
            got.extend(batch)
            last = time.monotonic()
    return got
