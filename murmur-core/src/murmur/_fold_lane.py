"""One lane: the pump folds each batch straight into the lane's pending unit (``murmur.live``).

With one lane (a single-writer store such as SQLite) and a pipeline that folds (no deduper, not
changelog mode), handing each batch over as its own dict of deltas costs a queue put/get and a
second pass over every key on the lane thread, which competes with the pump for the GIL. Here
the pump folds each polled batch into the pending unit itself, under a lock, and records the
batch there (its seq, its applied records). The lane thread sleeps until it is time to merge —
``interval`` after the first batch of the unit, at most once per ``interval`` on a caught-up
nudge, at once when the unit holds ``max_keys`` keys or the run stops — then takes the whole
unit by swapping it for an empty one under the lock and merges it outside the lock while the
pump goes on folding into the next.

Exactness rests on three rules:

- A batch is registered with the durable tracker and counted in the unit in the same critical
  section as its fold, so a swap never splits a batch between two units.
- A fold that raises halfway (an integer too large to add to a float, say) leaves part of a
  batch in the shared unit. The whole pending unit is then dropped, never merged: none of its
  batches is reported durable, so the source delivers them again after the restart. (The
  field plan's own ``TypeError`` redo paths cannot double-count on a shared dict: for ``sum``
  and ``count`` every value the dict holds is an ``int`` or ``float`` — the typed decode's,
  or ``Sum.lift``'s of a JSON number — and adding those raises no ``TypeError``, so the redo
  is never taken; for ``min``/``max`` redoing a row is idempotent.)
- Back-pressure: while the lane merges, the pump folds at most ``depth`` batches (or
  ``max_keys`` keys) ahead, then waits, calling ``keepalive`` about once a second so the
  source keeps its session (a Kafka consumer must poll).

A batch without documents (tombstones, a newer resume token) is not counted in the unit: it
is reported as soon as every batch before it is durable, as with queued lanes. A batch whose
documents were all dead letters is counted, and waits for the next merge (its fold may have
touched the unit: a ``min`` of one key of a multi-key line before the line failed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from murmur._apply import Applier
from murmur._batch import Batch
from murmur._errors import Cancelled
from murmur._protocols import Recorder
from murmur._records import Record, utcnow

if TYPE_CHECKING:
    from murmur.live import _Durable

__all__ = ["FoldLane", "Fold"]

log = logging.getLogger("murmur")

#: Folds one batch into a dict of deltas, appending records that want an ack once durable;
#: returns (records, dead letters). ``murmur.live._fold``.
Fold = Callable[[Applier, Batch, dict[Any, Any], list[Record]], tuple[int, int]]


class FoldLane(threading.Thread):
    """The single lane whose pending unit the pump folds into (see the module docstring)."""

    def __init__(
        self,
        fold: Fold,
        applier: Applier,
        interval: float,
        depth: int,
        max_keys: int,
        recorder: Recorder,
        pipeline: str,
        durable: _Durable,
        fatal: threading.Event,
    ) -> None:
        super().__init__(name="murmur-lane-0", daemon=True)
        self._fold_batch = fold
        self.applier = applier
        self.interval = interval
        self.depth = depth
        self.max_keys = max_keys
        self.recorder = recorder
        self.pipeline = pipeline
        self.durable = durable
        self.fatal = fatal
        self.error: BaseException | None = None
        self.clock: Callable[[], float] = time.monotonic
        self.last_flush = float("-inf")
        self._cond = threading.Condition()
        # The pending unit, guarded by _cond: deltas per key, records applied, and the batches
        # (seq ⇒ 1) it holds; how many batches, and when its first one came (the merge timer).
        self._writes: dict[Any, Any] = {}
        self._applied = 0
        self._seqs: Counter[int] = Counter()
        self._first_at = 0.0
        self._merging = False  # the lane holds a unit taken from the pump, not merged yet
        self._nudged = False  # the source is caught up: merge if the last merge is an interval old
        self._stopping = False

    @property
    def idle(self) -> bool:
        with self._cond:  # (the swap sets both fields: read them together)
            return not self._merging and not self._seqs

    # ------------------------------------------------------------------ the pump's side

    def fold(self, seq: int, batch: Batch, stop: threading.Event, keepalive: Callable[[], None]) -> bool:
        """Fold batch ``seq`` into the pending unit, first waiting while the lane is merging
        and the unit is full (back-pressure); False, without folding, if the run is stopping."""
        cond = self._cond
        kept_alive = self.clock()
        while True:
            with cond:
                if stop.is_set() or self.fatal.is_set():
                    return False
                if not (self._merging and (len(self._seqs) >= self.depth or len(self._writes) >= self.max_keys)):
                    self._fold(seq, batch)
                    return True
                cond.wait(0.1)
            if self.clock() - kept_alive >= 1.0:  # outside the lock: the lane may finish meanwhile
                kept_alive = self.clock()
                keepalive()

    def _fold(self, seq: int, batch: Batch) -> None:
        """Under the lock: fold, register the batch as durable-when-merged, count it in the unit."""
        writes = self._writes
        acks: list[Record] = []
        try:
            records, dead = self._fold_batch(self.applier, batch, writes, acks)
            self.durable.polled(seq, 1 if records else 0, batch.end, batch.checkpoint, acks)
        except BaseException:
            # Part of this batch may be in the unit, and it cannot be taken out: drop the unit,
            # so none of its batches is ever reported durable (the run is failing anyway).
            self._writes, self._applied, self._seqs = {}, 0, Counter()
            raise
        self._applied += records - dead
        if not records:
            return  # no documents: nothing in the unit, durable once every earlier batch is
        if not self._seqs:
            self._first_at = self.clock()
            self._cond.notify()  # the lane starts its interval
        self._seqs[seq] += 1
        if len(writes) >= self.max_keys:
            self._cond.notify()  # merge early: memory is one delta per key

    def caught_up(self) -> None:
        """The source has nothing new: merge now if the last merge is an interval old."""
        with self._cond:
            if self._seqs and not self._nudged:
                self._nudged = True
                self._cond.notify()

    def finish(self) -> None:
        """Merge what is pending, then end."""
        with self._cond:
            self._stopping = True
            self._cond.notify()

    # ------------------------------------------------------------------ the lane's side

    def run(self) -> None:
        try:
            while True:
                with self._cond:
                    stopping = self._wait()
                    writes, applied, seqs = self._writes, self._applied, self._seqs
                    self._writes, self._applied, self._seqs = {}, 0, Counter()
                    self._merging = bool(seqs)
                    if seqs:
                        self.last_flush = self.clock()
                try:
                    if seqs:
                        self._merge(writes, applied, seqs)
                finally:
                    with self._cond:
                        self._merging = False
                        self._cond.notify_all()  # a pump held back by back-pressure
                if stopping:
                    return
        except Cancelled:
            log.debug("%s: shutdown abandoned an in-flight unit (not acked)", self.name)
        except BaseException as exc:
            self.error = exc
            self.fatal.set()

    def _wait(self) -> bool:
        """Under the lock: wait until the pending unit is due; True if the run is stopping."""
        while not self._stopping:
            if not self._seqs:
                self._nudged = False
                self._cond.wait()  # the pump notifies with the unit's first batch
                continue
            now = self.clock()
            if len(self._writes) >= self.max_keys:
                return False
            if self._nudged:
                self._nudged = False
                if now - self.last_flush >= self.interval:
                    return False
            left = self._first_at + self.interval - now
            if left <= 0:
                return False
            self._cond.wait(left)
        return True

    def _merge(self, writes: dict[Any, Any], applied: int, seqs: Counter[int]) -> None:
        """One unit of work: the deltas, and the checkpoint of the batches it makes durable."""
        checkpoint = self.durable.checkpoint_through(seqs)
        meta = {self.durable.name: {"position": checkpoint, "updated": utcnow().isoformat()}} if checkpoint else None
        self.applier.commit_writes(writes, applied, meta)
        self.recorder.event(f"{self.pipeline}:flush")
        self.durable.merged(seqs, checkpoint)
