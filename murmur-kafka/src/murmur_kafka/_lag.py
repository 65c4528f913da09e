"""Consumer lag per partition: records between the applied prefix and the high watermark."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from murmur_kafka._config import kafka
from murmur_kafka._handoff import TP
from murmur_kafka._offsets import OffsetBook

if TYPE_CHECKING:
    from confluent_kafka import Consumer

__all__ = ["LagMeter"]


class LagMeter:
    """Refreshed from the consumer's cached watermarks (no broker round trip); read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lag: dict[str, int] = {}

    def refresh(self, consumer: Consumer, book: OffsetBook) -> None:
        ck = kafka()
        lag: dict[str, int] = {}
        for key in book.assigned():
            try:
                marks = consumer.get_watermark_offsets(ck.TopicPartition(*key), cached=True)
            except ck.KafkaException:
                continue
            if not marks or marks[1] < 0:
                continue
            done = book.applied(key)
            if done is not None:
                lag[f"{key[0]}:{key[1]}"] = max(0, int(marks[1]) - done)
        with self._lock:
            self._lag = lag

    def forget(self, keys: list[TP]) -> None:
        with self._lock:
            for key in keys:
                self._lag.pop(f"{key[0]}:{key[1]}", None)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._lag)
