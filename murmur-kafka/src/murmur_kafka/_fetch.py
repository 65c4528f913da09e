"""Taking messages from the consumer, and holding back (pausing) without leaving the group.

librdkafka keeps a partition paused across a rebalance that gives it back, so paused partitions
stay listed until resumed while assigned. Messages fetched while paused are held, untracked, and
handed out first when messages are wanted again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from murmur_kafka._handoff import TP

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

__all__ = ["Fetcher"]


class Fetcher:
    """Pause state and held messages of one consumer; used only on the consumer's thread."""

    def __init__(self) -> None:
        self._paused: set[TP] = set()
        self._held: deque[Message] = deque()

    def hold(self, msg: Message) -> None:
        self._held.append(msg)

    def take(self, consumer: Consumer, n: int, timeout: float) -> list[Message]:
        """Up to ``n`` messages: held ones first, then what the consumer has; waits up to
        ``timeout`` for the first one only."""
        if self._paused:
            self._resume(consumer)
        messages = [self._held.popleft() for _ in range(min(n, len(self._held)))]
        if len(messages) < n:
            # consume(n, t) waits for n messages or t: take what is there, else wait for the first one only
            messages += consumer.consume(n - len(messages), 0)
            if not messages and timeout > 0:
                first = consumer.poll(timeout)
                if first is not None:
                    messages = [first, *consumer.consume(n - 1, 0)] if n > 1 else [first]
        return messages

    def hold_back(self, consumer: Consumer, timeout: float) -> None:
        """Serve the group (rebalance callbacks run in ``poll``) without handing out messages."""
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

    def drop(self, keys: Iterable[TP]) -> None:
        """Forget held messages of partitions that moved: they were never handed out, the new owner reads them."""
        gone = set(keys)
        self._held = deque(m for m in self._held if (m.topic(), m.partition()) not in gone)
