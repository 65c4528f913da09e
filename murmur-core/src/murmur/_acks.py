"""Contiguous-prefix acknowledgement per partition (SPEC §6 **(fix)**).

Records finish out of order when applied concurrently; a source may only commit past a record
once it and everything delivered before it in its partition is acked. Offsets need not be
dense (Kafka compaction and transaction markers leave gaps): we follow delivered offsets.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable


class _Partition:
    __slots__ = ("acked", "delivered", "next_commit")

    def __init__(self, next_commit: int) -> None:
        self.delivered: deque[int] = deque()
        self.acked: set[int] = set()
        self.next_commit = next_commit


class ContiguousAcks:
    """Thread-safe tracker: ``track`` each delivered offset in order, ``ack`` in any order,
    and read ``committable`` (the offset to commit: one past the acked prefix)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[Hashable, _Partition] = {}

    def reset(self, partition: Hashable, next_offset: int) -> None:
        """Start (or restart, after a seek or reassignment) a partition at ``next_offset``."""
        with self._lock:
            self._parts[partition] = _Partition(next_offset)

    def forget(self, partition: Hashable) -> None:
        """Stop tracking a partition (revoked); late acks for it are ignored."""
        with self._lock:
            self._parts.pop(partition, None)

    def track(self, partition: Hashable, offset: int) -> None:
        with self._lock:
            part = self._parts.get(partition)
            if part is None:
                part = self._parts[partition] = _Partition(offset)
            part.delivered.append(offset)

    def ack(self, partition: Hashable, offset: int) -> None:
        with self._lock:
            part = self._parts.get(partition)
            if part is None:
                return
            part.acked.add(offset)
            while part.delivered and part.delivered[0] in part.acked:
                done = part.delivered.popleft()
                part.acked.discard(done)
                part.next_commit = done + 1

    def committable(self, partition: Hashable) -> int | None:
        """One past the last offset of the acked prefix (Kafka's commit convention)."""
        with self._lock:
            part = self._parts.get(partition)
            return None if part is None else part.next_commit

    def pending(self, partition: Hashable) -> int:
        """How many delivered records of the partition are not yet in the acked prefix."""
        with self._lock:
            part = self._parts.get(partition)
            return 0 if part is None else len(part.delivered)

    def partitions(self) -> list[Hashable]:
        with self._lock:
            return list(self._parts)
