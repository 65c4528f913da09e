"""Taking messages from the consumer, noticing that it read everything there was, and holding
back (pausing) without leaving the group.

librdkafka keeps a partition paused across a rebalance that gives it back, so paused partitions
stay listed until resumed while assigned. Messages fetched while paused are held, untracked, and
handed out first when messages are wanted again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from murmur_kafka._config import kafka
from murmur_kafka._handoff import TP

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

__all__ = ["SETTLE", "Fetcher", "read_to_end"]

#: How long a take waits for more once the partitions were read to their end. Not zero: a
#: fetch response may be on its way, and the live runtime's lane should have taken the last
#: batch before the runtime hears "nothing new" (its caught-up nudge is dropped while the
#: lane's queue still holds work, and then the merge waits for the next empty poll).
SETTLE = 0.005


class Fetcher:
    """Pause state and held messages of one consumer; used only on the consumer's thread."""

    def __init__(self) -> None:
        self._paused: set[TP] = set()
        self._held: deque[Message] = deque()
        self._flowing = False  # the last take handed out messages

    def hold(self, msg: Message) -> None:
        self._held.append(msg)

    def take(
        self, consumer: Consumer, n: int, timeout: float, *, assigned: Callable[[], Iterable[TP]] | None = None
    ) -> list[Message]:
        """Up to ``n`` messages: held ones first, then what the consumer has; waits up to
        ``timeout`` for the first one only.

        With ``assigned`` (the partitions this member reads: the batch path), the first take
        that finds nothing after one that handed out messages waits only ``SETTLE`` seconds,
        not the whole ``timeout``, when every one of those partitions was read to its end
        (:func:`read_to_end`): the stream just went quiet, and the runtime can make what it
        folded durable now instead of one poll timeout later. Once per burst of messages, so a
        quiet stream still waits out each poll (no busy loop)."""
        flowing, self._flowing = self._flowing, False
        if self._paused:
            self._resume(consumer)
        messages = [self._held.popleft() for _ in range(min(n, len(self._held)))]
        if len(messages) < n:
            # consume(n, t) waits for n messages or t: take what is there, else wait for the first one only
            messages += consumer.consume(n - len(messages), 0)
            if not messages and timeout > 0:
                if flowing and assigned is not None and read_to_end(consumer, assigned()):
                    timeout = min(timeout, SETTLE)
                first = consumer.poll(timeout)
                if first is not None:
                    messages = [first, *consumer.consume(n - 1, 0)] if n > 1 else [first]
        self._flowing = bool(messages)
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


def read_to_end(consumer: Consumer, partitions: Iterable[TP]) -> bool:
    """Whether the consumer has handed out every message of ``partitions`` up to their high
    watermarks as of its latest fetch responses (cached: no broker round trip).

    False when it cannot tell (no fetch response yet, or nothing consumed from a partition that
    is not empty), and the caller waits as it would have anyway. A message produced after the
    latest fetch response is not counted: the answer is "caught up as far as we know", which
    only decides when folded work is merged, never what is committed."""
    ck = kafka()
    wanted = [ck.TopicPartition(topic, partition) for topic, partition in partitions]
    try:
        positions = consumer.position(wanted) if wanted else []
        for tp in positions:
            low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high < 0 or (tp.offset < high if tp.offset >= 0 else low != high):
                return False
    except ck.KafkaException:
        return False
    return True
