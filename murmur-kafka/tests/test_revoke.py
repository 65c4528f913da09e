"""A revoke lets in-flight batches become durable before it commits (no consumer needed: a stub).

Without the wait, a unit of work still merging when the group rebalances commits after its
partitions moved: its offsets are never committed, and the partition's next owner (this member
too) applies those records again — a double count in append mode without a deduper."""

from __future__ import annotations

from typing import Any

from murmur_kafka._offsets import OffsetBook


class Committer:
    """What ``OffsetBook.commit`` needs of a consumer: a synchronous ``commit(offsets=...)``."""

    def __init__(self) -> None:
        self.committed: dict[tuple[str, int], int] = {}

    def commit(self, offsets: list[Any], asynchronous: bool) -> list[Any]:
        for tp in offsets:
            self.committed[(tp.topic, tp.partition)] = tp.offset
        return offsets


class Clock:
    """Time that moves only when the book sleeps; ``on_sleep`` runs at a chosen sleep (a lane merging)."""

    def __init__(self, on_sleep: dict[int, Any] | None = None) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.on_sleep = on_sleep or {}

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds
        if self.sleeps in self.on_sleep:
            self.on_sleep[self.sleeps]()


def book_with(clock: Clock) -> OffsetBook:
    book = OffsetBook(lambda *args: None)
    book.clock, book.sleep = (lambda: clock.now), clock.sleep
    book.assign([("t", 0), ("t", 1)])
    book.handed.update({("t", 0): 50, ("t", 1): 30})  # two batches handed out, in flight
    book.durable({("t", 1, 1): 30})  # partition 1's batch is durable already
    return book


def test_a_revoke_waits_for_the_in_flight_batch_then_commits_its_end() -> None:
    clock = Clock()
    book = book_with(clock)
    clock.on_sleep[25] = lambda: book.durable({("t", 0, 1): 50})  # the lane's merge lands 0.25 s in
    consumer = Committer()
    book.revoke(consumer, [("t", 0), ("t", 1)], wait=10.0)  # type: ignore[arg-type]
    assert consumer.committed == {("t", 0): 50, ("t", 1): 30}
    assert clock.sleeps == 25  # it waited for the merge, and no longer
    assert book.assigned() == []


def test_a_revoke_gives_up_after_its_wait_and_commits_what_is_durable() -> None:
    clock = Clock()
    book = book_with(clock)
    consumer = Committer()
    book.revoke(consumer, [("t", 0), ("t", 1)], wait=2.0)  # type: ignore[arg-type]
    assert consumer.committed == {("t", 1): 30}  # partition 0's batch is delivered again
    assert 1.99 <= clock.now <= 2.02


def test_a_closing_source_does_not_wait() -> None:
    clock = Clock()
    book = book_with(clock)
    book.closing = True  # the runtime finished: what is not durable now never will be
    consumer = Committer()
    book.revoke(consumer, [("t", 0), ("t", 1)])  # type: ignore[arg-type]
    assert clock.sleeps == 0 and consumer.committed == {("t", 1): 30}
