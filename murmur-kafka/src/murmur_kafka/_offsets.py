"""Commit bookkeeping: which offsets were applied, per partition and assignment generation, and
committing the contiguous applied prefix (never past a record that was not applied).

Every delivered message is tracked per (topic, partition, generation) in a
:class:`murmur.ContiguousAcks`; a partition assigned again starts a new generation, so late acks
of a revoked assignment are ignored. A failed commit is counted and retried at the next chance;
nothing is marked committed until the broker said so. Applied prefixes whose commit was refused
while their partition moved (``carried``) are committed if the partition comes back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from murmur import ContiguousAcks

from murmur_kafka._config import kafka
from murmur_kafka._handoff import TP, Warn

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaError, TopicPartition

__all__ = ["REVOKE_WAIT", "AckKey", "OffsetBook"]

#: How long a revoke waits for the batches already handed out of its partitions to become durable
#: (the runtime merges at least once per ``flush_interval``, 1 s by default), so that their offsets
#: are committed before the partitions move and no one applies them again; past it, they are
#: delivered again (exact with a deduper or in changelog mode, as after any crash). The source
#: caps it at half the group's session timeout (``revoke_wait``): a member that sits in its
#: rebalance callback longer stalls the group's rebalance (measured on the mock broker).
REVOKE_WAIT = 10.0

#: (topic, partition, generation): what acks are tracked under.
AckKey = tuple[str, int, int]


class OffsetBook:
    """Assigned partitions, delivered and applied offsets, and what the broker has committed.

    Thread-safe: acks may come from any thread; commits run on the consumer's thread.
    """

    def __init__(self, warn: Warn) -> None:
        self._warn = warn
        self._acks = ContiguousAcks()
        self._lock = threading.Lock()  # guards the fields below
        self._gen: dict[TP, int] = {}
        self._assigned: set[TP] = set()
        self._committed: dict[TP, int] = {}
        self._carried: dict[TP, int] = {}
        # Batch path: the offset after the newest batch the runtime reported durable, per
        # partition of the current generation (contiguous by the runtime's construction).
        self._durable: dict[TP, int] = {}
        # Batch path: the offset after the last message handed out per partition (consumer's
        # thread only), mirrored into each batch's checkpoint.
        self.handed: dict[TP, int] = {}
        # Batch path: the offset of the first message handed out in the current generation
        # (where the group's committed offset put us when the partition was assigned).
        self.first: dict[TP, int] = {}
        self.counts = dict.fromkeys(("commits", "commit_errors", "rebalances"), 0)
        #: Set when the source closes: in-flight batches will not become durable any more.
        self.closing = False
        self.revoke_wait = REVOKE_WAIT
        self.clock: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], None] = time.sleep
        #: Commit metadata naming the handoff this run continues (``_handoff.handoff_stamp``), so
        #: that a run of a later bootstrap of the pipeline knows these offsets are not its own.
        self.stamp: str | None = None

    # -- assignment

    def assign(self, keys: Iterable[TP]) -> None:
        """Partitions given to this member: a new generation each."""
        with self._lock:
            keys = set(keys)
            for key in keys:
                self._gen[key] = self._gen.get(key, 0) + 1
                self._assigned.add(key)
            # A carried prefix is only worth committing on a partition that came back to us.
            self._carried = {k: v for k, v in self._carried.items() if k in keys}
            self.counts["rebalances"] += 1

    def revoke(self, consumer: Consumer, keys: Sequence[TP], *, wait: float | None = None) -> None:
        """Partitions taken away in an orderly rebalance: let what was handed out of them become
        durable (up to ``wait`` seconds), commit their applied prefix while the generation is
        still ours, then forget them (carrying what could not be committed).

        Without the wait, a unit of work still merging when the group rebalances would commit
        after the partitions moved: its offsets would not be committed, and whoever gets the
        partitions next (this member too) would apply those records a second time."""
        if not self.closing:
            self.settle(keys, self.revoke_wait if wait is None else wait)
        failed = self.commit(consumer, keys)
        self.forget(keys)
        with self._lock:
            self._carried.update(failed)

    def settle(self, keys: Sequence[TP], wait: float) -> bool:
        """Wait up to ``wait`` seconds until everything handed out of ``keys`` is applied; True if it is."""
        deadline = self.clock() + wait
        while True:
            with self._lock:
                behind = [k for k in keys if k in self.handed and (self._applied_locked(k) or -1) < self.handed[k]]
            if not behind:
                return True
            if self.clock() >= deadline:
                return False
            self.sleep(0.01)

    def lose(self, keys: Sequence[TP]) -> None:
        """Partitions lost (session timeout): they may already belong to another member, so a
        commit would be refused. What was applied stays applied: carry it to a later assignment."""
        with self._lock:
            for key in keys:
                upto = self._applied_locked(key)
                if upto is not None and upto > max(self._committed.get(key, -1), self._carried.get(key, -1)):
                    self._carried[key] = upto
        self.forget(keys)

    def forget(self, keys: Iterable[TP]) -> None:
        with self._lock:
            for key in keys:
                self._acks.forget((*key, self._gen.get(key, 0)))
                self._assigned.discard(key)
                self._committed.pop(key, None)
                self._durable.pop(key, None)
                self.handed.pop(key, None)
                self.first.pop(key, None)

    def assigned(self) -> list[TP]:
        with self._lock:
            return sorted(self._assigned)

    @property
    def rebalances(self) -> int:
        with self._lock:
            return self.counts["rebalances"]

    @property
    def carrying(self) -> bool:
        return bool(self._carried)

    # -- delivery and acks

    def track(self, topic: str, partition: int, offset: int) -> AckKey | None:
        """Record a delivered message; None if its partition is not ours (taken just before a revoke)."""
        tp = (topic, partition)
        if tp not in self._assigned:
            return None
        key = (topic, partition, self._gen.get(tp, 0))
        self._acks.track(key, offset)
        return key

    def ack(self, key: AckKey, offset: int) -> None:
        self._acks.ack(key, offset)

    def owner(self, topic: str, partition: int) -> AckKey | None:
        """The batch path's key of a delivered message (no per-message tracking), or None if its
        partition is not ours (taken just before a revoke)."""
        tp = (topic, partition)
        if tp not in self._assigned:
            return None
        return (topic, partition, self._gen.get(tp, 0))

    def durable(self, positions: Mapping[Any, Any]) -> None:
        """The runtime's report (batch path): for each ``(topic, partition, generation)``, the
        offset after the newest batch that is durably applied with everything before it.

        A position of an earlier generation (the partition was revoked meanwhile) counts only if
        the partition is ours again and the position is past the first offset handed out in the
        current generation: that is where the group's committed offset stood when it came back,
        so committing the position skips nothing unapplied and moves no one's commit backwards.
        Otherwise it is ignored, and the records are delivered again to whoever owns the partition.
        (Without this, a group that rebalances more often than units commit would redo the same
        work over and over.)"""
        with self._lock:
            for key, offset in positions.items():
                try:
                    topic, partition, gen = key
                except (TypeError, ValueError):
                    continue  # not a position this source handed out
                tp = (topic, partition)
                if tp not in self._assigned or offset <= self._durable.get(tp, -1):
                    continue
                if self._gen.get(tp) == gen or (tp in self.first and offset > self.first[tp]):
                    self._durable[tp] = int(offset)

    def applied_from(self, offsets: Mapping[TP, int]) -> None:
        """Partitions of the current generation that start at ``offsets``, known to be applied
        before them (offsets mirrored in the store): committable as they are."""
        with self._lock:
            for tp, offset in offsets.items():
                if tp in self._assigned and offset > self._durable.get(tp, -1):
                    self._durable[tp] = offset

    def _applied_locked(self, key: TP) -> int | None:
        upto = self._acks.committable((*key, self._gen.get(key, 0)))
        done = self._durable.get(key)
        if upto is None:
            return done
        return upto if done is None else max(upto, done)

    def applied(self, key: TP) -> int | None:
        """The offset after the applied prefix (else the committed offset), or None if unknown."""
        with self._lock:
            done = self._applied_locked(key)
            return done if done is not None else self._committed.get(key)

    # -- commits

    def commit(self, consumer: Consumer, keys: Sequence[TP] | None = None) -> dict[TP, int]:
        """Commit the applied prefix of ``keys`` (default: every assigned partition) synchronously.

        Returns the offsets that could not be committed (empty when all went through).
        """
        ck = kafka()
        wanted: dict[TP, int] = {}
        with self._lock:
            for key in sorted(self._assigned) if keys is None else keys:
                upto = self._applied_locked(key)
                # Both are applied prefixes (this generation's, or one carried over a failed
                # revoke), so the larger one is safe to commit.
                best = max(upto if upto is not None else -1, self._carried.get(key, -1))
                if best >= 0 and best > self._committed.get(key, -1):
                    wanted[key] = best
        if not wanted:
            return {}
        try:
            result = consumer.commit(
                offsets=[self._partition(t, p, off) for (t, p), off in wanted.items()], asynchronous=False
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
                    self.counts["commit_errors"] += 1
                    self._warn(
                        f"commit:{tp.topic}", logging.WARNING, "kafka: commit of %s[%d] failed: %s", *key, tp.error
                    )
                else:
                    self._committed[key] = tp.offset
                    if self._carried.get(key, -1) <= tp.offset:
                        self._carried.pop(key, None)
            self.counts["commits"] += 1
        return failed

    def _partition(self, topic: str, partition: int, offset: int) -> TopicPartition:
        """The offset to commit, stamped with the handoff this run continues (``None`` is refused)."""
        ck = kafka()
        tp: TopicPartition = (
            ck.TopicPartition(topic, partition, offset)
            if self.stamp is None
            else ck.TopicPartition(topic, partition, offset, metadata=self.stamp)
        )
        return tp

    def _commit_failed(self, err: KafkaError) -> None:
        ck = kafka()
        with self._lock:
            self.counts["commit_errors"] += 1
        # Nothing is marked committed: the same prefix is committed again at the next chance (or,
        # if the partition moved, redelivered to its new owner — a duplicate, never a gap).
        level = (
            logging.INFO
            if err.code() in (ck.KafkaError.REBALANCE_IN_PROGRESS, ck.KafkaError.ILLEGAL_GENERATION)
            else logging.WARNING
        )
        self._warn(f"commit:{err.code()}", level, "kafka: commit failed, will retry: %s", err.str())

    def stats(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = dict(self.counts)
            out["assigned"] = len(self._assigned)
            out["committed"] = {f"{t}:{p}": off for (t, p), off in sorted(self._committed.items())}
        return out
