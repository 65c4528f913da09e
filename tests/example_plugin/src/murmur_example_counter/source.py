"""``counter``: records ``{"i": i, "key": "k<i mod keys>"}`` for i in 0..n-1, splittable by ranges."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from murmur import HandoffToken, Record


class CounterSource:
    name = "counter"
    default_mode = "append"

    def __init__(self, n: int, keys: int, batch_size: int = 100) -> None:
        self.n, self.keys, self.batch_size = n, keys, batch_size

    def capture_handoff(self) -> HandoffToken:
        import datetime as dt

        return HandoffToken(self.name, {"n": self.n}, dt.datetime.now(dt.UTC))

    def segments(self, count: int) -> list[Any]:
        return [[self.n * i // count, self.n * (i + 1) // count] for i in range(count)]

    def estimated_total(self, segment: Any | None = None) -> int | None:
        return self.n if segment is None else int(segment[1] - segment[0])

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        lo, hi = (0, self.n) if segment is None else segment
        start = lo if after is None else int(after) + 1
        for begin in range(start, hi, self.batch_size):
            yield [
                Record({"i": i, "key": f"k{i % self.keys}"}, event_id=f"counter/{i}", position=i)
                for i in range(begin, min(begin + self.batch_size, hi))
            ]

    def close(self) -> None:
        pass


class TickerSource:
    """A live source of endless records ``{"i": i, "key": ...}``, at most ``per_poll`` per poll.

    Its checkpoint is one past the contiguous acked prefix, so a restart resumes exactly.
    """

    name = "counter-live"
    default_mode = "append"

    def __init__(self, keys: int, per_poll: int = 50) -> None:
        from murmur import ContiguousAcks

        self.keys, self.per_poll = keys, per_poll
        self.next = 0
        self.acks = ContiguousAcks()

    def capture_position(self) -> Any:
        return {"next": self.next}

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None:
        self.next = int(checkpoint) if checkpoint is not None else 0
        self.acks.reset(0, self.next)

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        import time
        from functools import partial

        time.sleep(min(timeout, 0.005))  # a gentle stream
        out = []
        for _ in range(min(max_records, self.per_poll)):
            i, self.next = self.next, self.next + 1
            self.acks.track(0, i)
            out.append(
                Record(
                    {"i": i, "key": f"k{i % self.keys}"},
                    event_id=f"ticker/{i}",
                    position=i,
                    on_ack=partial(self.acks.ack, 0, i),
                )
            )
        return out

    def checkpoint(self) -> Any | None:
        return self.acks.committable(0)

    def stats(self) -> dict[str, Any]:
        return {"lag": {"0": self.acks.pending(0)}}

    def close(self) -> None:
        pass
