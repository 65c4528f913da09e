"""The live runtime: apply an unbounded source to a store, in order per key, acking per batch (SPEC §6).

One pump thread polls the source for batches (``murmur._batch``; a per-record source is
wrapped). A run that folds (no deduper, not changelog mode) has one lane: the pump folds each
batch straight into the lane's pending unit — decoded in one call for a field-path pipeline over
a ``block`` or ``payloads``, else record by record — and the lane takes the whole unit when it is
time to merge, every ``flush_interval`` or at a bound on keys (``murmur._fold_lane``). A run with
a deduper or in changelog mode keeps its records until the merge, since its units resolve claims
and contributions record by record; it routes each batch's records, by a hash of the key (of the
document in changelog mode), to one of a few lanes that merge in parallel.

A lane merges what it holds as one unit of work and only then reports which batches it
finished. A batch is durable once every lane holding part of it has merged; the runtime then
tells the source, once, the end positions of the newest batch before which everything is durable
(``source.commit(positions)``): contiguous by construction, with no per-record bookkeeping (a
per-record source's records are acked then). With one lane the source's checkpoint
(``batch.checkpoint``) rides inside the unit, as a bootstrap's does: a folding run always, and a
run that keeps records on a single-writer store (SQLite). With several lanes it is written as
soon as it is durable: one checkpoint item in every lane's transaction would make the lanes
conflict with each other (DynamoDB cancels concurrent transactions on one item), and one lane's
unit cannot vouch for the others' batches; those runs have a deduper's claims (or changelog
contributions) in every unit, which keep a replay after a crash from counting twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from murmur._apply import Applier, ApplyConfig, Item
from murmur._batch import Batch, LiveBatches, live_batches
from murmur._checkpoint import Checkpoints, live_name
from murmur._errors import Cancelled, is_transient
from murmur._fold_lane import FoldLane
from murmur._options import RunOptions, resolve
from murmur._pipeline import Pipeline
from murmur._protocols import DeadLetterSink, Deduper, HasDeadLetter, HasStats, LiveSource, Recorder, Store
from murmur._records import HandoffToken, Record, utcnow
from murmur._status import RunStatus
from murmur.metrics import Fanout

__all__ = ["run"]

log = logging.getLogger("murmur")
_STOP = object()
_CAUGHT_UP = object()  # the source had nothing new: merge now if the last merge is an interval old
POLL_BATCH = 500
#: How long a poll waits for records: also how soon a stream that went quiet is noticed (and merged).
POLL_TIMEOUT = 0.05
#: A lane whose folded deltas hold this many keys merges early (memory: one delta per key).
MAX_FOLD_KEYS = 100_000


def run(
    pipeline: Pipeline,
    source: LiveSource | Any,
    store: Store,
    *,
    dedup: Deduper | None = None,
    handoff: HandoffToken | None = None,
    retry_backoff: tuple[float, float] = (0.05, 5.0),
    metrics: Recorder | None = None,
    dead_letters: DeadLetterSink | None = None,
    status: RunStatus | None = None,
    stop: threading.Event | None = None,
    until_idle: float | None = None,
    lanes: int = 4,
    flush_interval: float = 1.0,
    flush_records: int = 5000,
    batch_tick: float = 1.0,
    dedup_fail_closed: bool = False,
    lease: float = 30.0,
    options: RunOptions | None = None,
) -> RunStatus:
    """Run until ``stop`` is set (the CLI sets it on SIGINT/SIGTERM) or, with ``until_idle``,
    until that many seconds pass without a new record; then flush, commit and close.

    ``source`` is a ``LiveSource`` or a ``BatchLiveSource`` (``murmur._batch``). A lane merges
    what it holds every ``flush_interval`` seconds, or sooner once it holds ``MAX_FOLD_KEYS``
    keys, or ``flush_records`` records where records are kept until the merge (a deduper's claims,
    changelog mode: only those runs use ``lanes`` lanes; one that folds has one, see above).
    Transient store errors pause and retry without dead-lettering; poison records go to the
    source's dead-letter destination (``source.dead_letter``) if it has one, else to
    ``dead_letters``. ``metrics`` and ``status`` observe the run as one (a
    :class:`~murmur.RunObserver` among them gets the progress too; ``status`` is just one more,
    created if not given). ``options``: a :class:`~murmur.RunOptions` instead of the knob keywords
    (validated through it either way). Returns the status with the run's counts.
    """
    o = resolve(
        run,
        options,
        {
            "dedup": dedup,
            "retry_backoff": retry_backoff,
            "metrics": metrics,
            "dead_letters": dead_letters,
            "until_idle": until_idle,
            "lanes": lanes,
            "flush_interval": flush_interval,
            "flush_records": flush_records,
            "batch_tick": batch_tick,
            "dedup_fail_closed": dedup_fail_closed,
            "lease": lease,
        },
    )  # validated once, by RunOptions
    dedup, retry_backoff, metrics, dead_letters, until_idle = (
        o.dedup,
        o.retry_backoff,
        o.metrics,
        o.dead_letters,
        o.until_idle,
    )
    lanes, flush_interval, flush_records, batch_tick = o.lanes, o.flush_interval, o.flush_records, o.batch_tick
    dedup_fail_closed, lease = o.dedup_fail_closed, o.lease
    status = status or RunStatus(pipeline.name, "live")
    stop = stop or threading.Event()
    recorder = Fanout(metrics, status)  # the run's one observer: everything below reports to it
    src = live_batches(source)
    mode = pipeline.mode or src.default_mode
    Checkpoints(store, pipeline.name).ensure_pipeline(pipeline)
    position_name = live_name(src.name)
    saved = store.read_meta(pipeline.name, position_name)
    recorder.run_started(handoff)
    src.start(handoff, saved.get("position") if saved else None)

    # Capabilities of the source itself: on 3.12+ isinstance() does not see what src forwards.
    source_dead_letter = source.dead_letter if isinstance(source, HasDeadLetter) else None
    applier = Applier(
        pipeline,
        store,
        recorder,
        mode=mode,
        dedup=dedup,
        sink=dead_letters,
        source_dead_letter=source_dead_letter if callable(source_dead_letter) else None,
        config=ApplyConfig(
            max_attempts=None,  # live mode waits out outages instead of dead-lettering (SPEC §4.8)
            backoff=retry_backoff,
            lease=lease,
            fail_closed=dedup_fail_closed,
            mode_name="live",
            source_name=src.name,
            stop=stop,
            batch_tick=batch_tick,
        ),
    )
    fatal = threading.Event()
    # A run that folds merges from one lane, so its unit carries the source's checkpoint as a
    # bootstrap's does: one delta per key an interval, whose writes the store spreads itself
    # (DynamoDB: in parallel). Lanes are for runs that keep records (claims, contributions).
    count = 1 if applier.folds_records else max(1, min(lanes, getattr(store, "max_concurrency", lanes)))
    durable = _Durable(src, store, pipeline.name, position_name, saved, ride=count == 1)
    # The one lane of a run that folds: the pump folds each batch into its pending unit
    # (murmur._fold_lane), with the same bound on batches held while it merges as a lane's queue.
    single: FoldLane | None = None
    queued: list[_Lane] = []
    if applier.folds_records:
        depth = _depth(flush_records)
        single = FoldLane(_fold, applier, flush_interval, depth, MAX_FOLD_KEYS, recorder, pipeline.name, durable, fatal)
    else:
        queued = [
            _Lane(i, applier, flush_interval, flush_records, recorder, pipeline.name, durable, fatal)
            for i in range(count)
        ]
    workers: list[_Lane | FoldLane] = [single] if single is not None else list(queued)
    for w in workers:
        w.start()
    per_record = isinstance(src, LiveBatches)
    stats = source.stats if isinstance(source, HasStats) else None
    clock = time.monotonic
    last_record = clock()
    last_stats = 0.0
    seq = 0
    seen_merges = 0
    try:
        backoff = retry_backoff[0]
        held: list[Batch] = []  # batches a keep-alive poll returned after all: handled next

        def keepalive() -> None:
            got = src.poll_batch(0, 0.0)
            if got is not None:
                held.append(got)

        while not stop.is_set() and not fatal.is_set():
            try:
                batch = held.pop(0) if held else src.poll_batch(POLL_BATCH, POLL_TIMEOUT)
                backoff = retry_backoff[0]
                recorder.event(f"{pipeline.name}:poll")  # the loop turns and the source answers (/healthz, /readyz)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # The source is unreachable for now: wait it out, as for the store (SPEC §4.8).
                recorder.event(f"{pipeline.name}:retry")
                recorder.error(f"{pipeline.name}:source", exc)
                log.warning("%s: %s; retrying in %.2fs", src.name, exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, retry_backoff[1])
                continue
            now = clock()
            if batch is not None and (batch.size or batch.end or batch.checkpoint is not None):
                # (a batch of only tombstones, or only a new resume token, still moves the position)
                if batch.size:
                    last_record = now
                seq += 1
                if single is not None:
                    if not single.fold(seq, batch, stop, keepalive):
                        break
                else:
                    parts, acks = _route(applier, batch, count)
                    durable.polled(seq, len(parts), batch.end, batch.checkpoint, acks)
                    for index, work in parts.items():  # one hand-over per lane and batch, not per record
                        if not queued[index].put((seq, work), stop, keepalive):
                            break
            else:
                # Caught up: what is folded need not wait out the interval (merges stay at most
                # one per interval per lane), so a quiet stream is durable soon after it settles.
                for w in workers:
                    w.caught_up()
                if until_idle is not None and now - last_record >= until_idle and all(w.idle for w in workers):
                    break
            if per_record and durable.merges != seen_merges:
                seen_merges = durable.merges
                durable.save_checkpoint()
            if callable(stats) and now - last_stats >= 1.0:
                last_stats = now
                recorder.source_stats_updated(stats())
    finally:
        for w in workers:
            w.finish()
        for w in workers:
            w.join()
        applier.flush_ticker()
        try:
            if per_record:
                durable.save_checkpoint()
        finally:
            if callable(stats):
                recorder.source_stats_updated(stats())
            src.close()
            recorder.run_ended()
    for w in workers:
        if w.error is not None:
            raise w.error
    return status


def _depth(flush_records: int) -> int:
    """How many batches a lane may hold while it merges: beyond, the pump waits (back-pressure)."""
    return max(4, 2 * flush_records // POLL_BATCH)


def _fold(applier: Applier, batch: Batch, writes: dict[Any, Any], acks: list[Record]) -> tuple[int, int]:
    """Fold one batch into ``writes``: decoded in one call by the field plan where it has a
    ``block`` or ``payloads``, else record by record. Returns (records, dead letters)."""
    if applier.plan is not None and (batch.block is not None or batch.payloads is not None):
        return applier.fold_batch(batch, writes)  # dead letters are written here
    return applier.fold_items(applier.prepare_many(batch.records()), writes, acks)


#: What a lane receives for one batch: its records (a deduper's claims, changelog mode).
_Work = list[Item]


def _route(applier: Applier, batch: Batch, lanes: int) -> tuple[dict[int, _Work], list[Record]]:
    """Split one batch's records between lanes by key (document) hash: each key keeps one lane.
    (The records ack with their unit: the second value, batch acks, is for folded runs.)"""
    out: dict[int, _Work] = {}
    for item in applier.prepare_many(batch.records()):
        route = item.route
        out.setdefault(hash(route) % lanes if route is not None else 0, []).append(item)
    return out, []


class _Durable:
    """Which polled batches are durable; tells the source once per advance (contiguous prefix).

    ``polled(seq, parts, …)`` registers batch ``seq`` split into ``parts`` lane shares;
    ``merged(seqs)`` counts shares a lane has merged. Whenever the oldest outstanding batches
    are complete, their end positions (newest per partition) go to ``source.commit`` and their
    checkpoint to the store, under one lock, so both only move forward.
    """

    def __init__(
        self, source: Any, store: Store, pipeline: str, name: str, saved: dict[str, Any] | None, *, ride: bool
    ) -> None:
        self.source = source
        self.store = store
        self.pipeline = pipeline
        self.name = name
        self.ride = ride  # one lane: checkpoints ride inside its units (see the module docstring)
        self.saved = saved.get("position") if saved else None
        self._lock = threading.Lock()
        #: seq ⇒ [shares left, end, checkpoint, records to ack], in seq order
        self._open: dict[int, list[Any]] = {}
        self._next = 1  # the oldest batch not yet reported
        self.merges = 0  # advances so far (a per-record source's checkpoint is read after each)

    def polled(self, seq: int, parts: int, end: Any, checkpoint: Any, acks: list[Record] | None = None) -> None:
        with self._lock:
            self._open[seq] = [parts, end, checkpoint, acks]
        if not parts:  # nothing to write (all dead letters, or no keys): durable already
            self.merged(Counter())

    def checkpoint_through(self, seqs: Counter[int]) -> Any:
        """The checkpoint a unit holding the shares ``seqs`` carries (one lane only): that of the
        newest batch such that it and every batch before it are durable or complete with this unit."""
        if not self.ride:
            return None
        found = None
        with self._lock:
            s = self._next
            while (entry := self._open.get(s)) is not None and entry[0] <= seqs.get(s, 0):
                if entry[2] is not None:
                    found = entry[2]
                s += 1
        return found

    def merged(self, seqs: Counter[int], carried: Any = None) -> None:
        """A lane merged shares of ``seqs`` (its unit carried checkpoint ``carried``, if any)."""
        positions: dict[Hashable, Any] = {}
        checkpoint: Any = None
        with self._lock:
            for s, n in seqs.items():
                entry = self._open.get(s)
                if entry is not None:
                    entry[0] -= n
            while (entry := self._open.get(self._next)) is not None and entry[0] <= 0:
                del self._open[self._next]
                self._next += 1
                for record in entry[3] or ():
                    record.ack()  # a per-record source's records: all of their batch is durable
                if isinstance(entry[1], Mapping):
                    positions.update(entry[1])
                if entry[2] is not None:
                    checkpoint = entry[2]
            self.merges += 1
            if positions:
                self.source.commit(positions)
            if checkpoint is not None and checkpoint != carried:  # not in the unit: write it now
                self._write(checkpoint)

    def save_checkpoint(self) -> None:
        """A per-record source's own ``checkpoint()`` (its records were acked one by one)."""
        position = self.source.checkpoint()
        if position is not None and position != self.saved:
            with self._lock:
                self._write(position)

    def _write(self, position: Any) -> None:
        try:
            self.store.write_meta(self.pipeline, self.name, {"position": position, "updated": utcnow().isoformat()})
            self.saved = position
        except Exception as exc:  # the next advance tries again; the records stay applied
            log.warning("could not save the %s position: %s", self.name, exc)


class _Lane(threading.Thread):
    """Merges the work routed to it, folding it for ``interval`` seconds or up to a bound."""

    def __init__(
        self,
        index: int,
        applier: Applier,
        interval: float,
        limit: int,
        recorder: Recorder,
        pipeline: str,
        durable: _Durable,
        fatal: threading.Event,
    ) -> None:
        super().__init__(name=f"murmur-lane-{index}", daemon=True)
        self.applier = applier
        self.interval = interval
        self.limit = limit
        self.recorder = recorder
        self.pipeline = pipeline
        self.durable = durable
        self.fatal = fatal
        # One entry per batch: bounded so a slow lane holds back the pump (back-pressure).
        self.queue: queue.Queue[object] = queue.Queue(maxsize=_depth(limit))
        self.buffer: list[Item] = []
        self.seqs: Counter[int] = Counter()
        self.busy = False
        self.nudged = False  # a caught-up nudge is in the queue
        self.error: BaseException | None = None
        self.clock: Callable[[], float] = time.monotonic
        self.last_flush = float("-inf")

    @property
    def idle(self) -> bool:
        return not self.busy and not self.seqs and self.queue.empty()

    def put(self, work: tuple[int, _Work], stop: threading.Event, keepalive: Callable[[], None]) -> bool:
        """Queue one batch's share, waiting while the lane is full; False if the run is stopping.

        While it waits (a store outage fills the lanes) ``keepalive`` runs about once a second,
        so the source can keep its session alive (a Kafka consumer must poll, or the group
        evicts it and rebalances).
        """
        waited = 0
        while not (stop.is_set() or self.fatal.is_set()):
            try:
                self.queue.put(work, timeout=0.1)
                return True
            except queue.Full:
                waited += 1
                if waited % 10 == 0:
                    keepalive()
        return False

    def caught_up(self) -> None:
        """The source has nothing new: flush what is folded if no merge happened for an interval.

        The nudge queues behind the work already queued (at most one is outstanding), so the
        merge follows the last batch at once instead of at the next poll's nudge."""
        if self.nudged or not (self.seqs or not self.queue.empty()):  # (unlocked reads: at worst a nudge late)
            return
        self.nudged = True  # before the put: the lane clears it when it takes the nudge
        try:
            self.queue.put_nowait(_CAUGHT_UP)
        except queue.Full:
            self.nudged = False

    def finish(self) -> None:
        """Flush what is queued, then end (the sentinel queues behind everything already put)."""
        while self.is_alive():
            try:
                self.queue.put(_STOP, timeout=0.1)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        first_at: float | None = None
        try:
            while True:
                timeout = None if first_at is None else max(0.0, first_at + self.interval - self.clock())
                try:
                    got = self.queue.get(timeout=timeout)
                except queue.Empty:
                    got = None
                if got is _STOP:
                    self._flush()
                    return
                if got is _CAUGHT_UP:
                    self.nudged = False
                    if self.seqs and self.clock() - self.last_flush >= self.interval:
                        self._flush()
                        first_at = None
                    self.busy = bool(self.seqs)
                    continue
                if got is not None:
                    self.busy = True
                    self._take(got)  # type: ignore[arg-type]
                    if first_at is None:
                        first_at = self.clock()
                if self.seqs and (len(self.buffer) >= self.limit or self.clock() - (first_at or 0) >= self.interval):
                    self._flush()
                    first_at = None
                self.busy = bool(self.seqs)
        except Cancelled:
            log.debug("%s: shutdown abandoned %d in-flight record(s) (not acked)", self.name, len(self.buffer))
        except BaseException as exc:
            self.error = exc
            self.fatal.set()
        finally:
            self.busy = False

    def _take(self, got: tuple[int, _Work]) -> None:
        seq, work = got
        self.seqs[seq] += 1
        self.buffer.extend(work)

    def _flush(self) -> None:
        if not self.seqs:
            return
        self.busy = True
        self.last_flush = self.clock()
        checkpoint = self.durable.checkpoint_through(self.seqs)
        meta = {self.durable.name: {"position": checkpoint, "updated": utcnow().isoformat()}} if checkpoint else None
        self.applier.apply_items(self.buffer, meta)
        self.buffer = []
        seqs, self.seqs = self.seqs, Counter()
        self.recorder.event(f"{self.pipeline}:flush")
        self.durable.merged(seqs, checkpoint)
