"""The live runtime: apply an unbounded source to a store, in order per key, acking safely (SPEC §6).

One pump thread polls the source and routes each record, by a hash of its key (of its document
in changelog mode), to one of a few lanes. A lane coalesces what it receives for a short
window — deltas per key are folded in memory — then writes them as one unit of work and acks
the records only after that write. The source commits only the contiguous acked prefix of each
partition, so nothing is skipped after a crash however the lanes interleave.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from murmur._apply import Applier, ApplyConfig, Item
from murmur._checkpoint import Checkpoints, live_name
from murmur._errors import Cancelled, ConfigError, is_transient
from murmur._pipeline import Pipeline
from murmur._protocols import DeadLetterSink, Deduper, HasDeadLetter, HasStats, LiveSource, Recorder, Store
from murmur._records import HandoffToken, Record, utcnow
from murmur._status import RunStatus
from murmur.metrics import BatchTicker, Fanout

__all__ = ["run"]

log = logging.getLogger("murmur")
_STOP = object()
POLL_BATCH = 500


def run(
    pipeline: Pipeline,
    source: LiveSource,
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
) -> RunStatus:
    """Run until ``stop`` is set (the CLI sets it on SIGINT/SIGTERM) or, with ``until_idle``,
    until that many seconds pass without a new record; then flush, commit and close.

    Transient store errors pause and retry without dead-lettering; poison records go to the
    source's dead-letter destination (``source.dead_letter``) if it has one, else to
    ``dead_letters``. Returns the status with the run's counts.
    """
    if lanes < 1 or flush_records < 1 or flush_interval < 0:
        raise ConfigError("lanes and flush_records must be at least 1, flush_interval not negative", option="lanes")
    status = status or RunStatus(pipeline.name, "live")
    stop = stop or threading.Event()
    recorder = Fanout(metrics, status)
    mode = pipeline.mode or source.default_mode
    Checkpoints(store, pipeline.name).ensure_pipeline(pipeline)
    position_name = live_name(source.name)
    saved = store.read_meta(pipeline.name, position_name)
    status.handoff = handoff
    source.start(handoff, saved.get("position") if saved else None)

    ticker = BatchTicker(recorder, "live", batch_tick)
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
            source_name=source.name,
            stop=stop,
        ),
        on_written=status.keys_written,
        on_dead_letter=status.dead_letter_sample,
        ticker=ticker,
    )
    fatal = threading.Event()
    flushed = _Counter()
    count = max(1, min(lanes, getattr(store, "max_concurrency", lanes)))
    workers = [
        _Lane(i, applier, flush_interval, flush_records, recorder, pipeline.name, flushed, fatal) for i in range(count)
    ]
    for w in workers:
        w.start()
    keeper = _PositionKeeper(source, store, pipeline.name, position_name, saved)
    stats = source.stats if isinstance(source, HasStats) else None
    clock = time.monotonic
    last_record = clock()
    last_stats = 0.0
    seen_flushes = 0
    try:
        backoff = retry_backoff[0]
        held: list[Record] = []  # records a keep-alive poll returned after all: handled next

        def keepalive() -> None:
            held.extend(source.poll(0, 0.0))

        while not stop.is_set() and not fatal.is_set():
            try:
                if held:
                    records, held = held, []
                else:
                    records = source.poll(POLL_BATCH, 0.2)
                backoff = retry_backoff[0]
                recorder.event(f"{pipeline.name}:poll")  # the loop turns and the source answers (/healthz, /readyz)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # The source is unreachable for now: wait it out, as for the store (SPEC §4.8).
                recorder.event(f"{pipeline.name}:retry")
                recorder.error(f"{pipeline.name}:source", exc)
                log.warning("%s: %s; retrying in %.2fs", source.name, exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, retry_backoff[1])
                continue
            now = clock()
            if records:
                last_record = now
                routed: dict[int, list[Item]] = {}
                for item in applier.prepare_many(records):
                    route = item.route
                    routed.setdefault(hash(route) % count if route is not None else 0, []).append(item)
                for index, items in routed.items():  # one hand-over per lane and poll, not per record
                    if not workers[index].put(items, stop, keepalive):
                        break
            elif until_idle is not None and now - last_record >= until_idle and all(w.idle for w in workers):
                break
            if flushed.value != seen_flushes:
                seen_flushes = flushed.value
                keeper.save()
            if callable(stats) and now - last_stats >= 1.0:
                last_stats = now
                status.source_stats = stats()
    finally:
        for w in workers:
            w.finish()
        for w in workers:
            w.join()
        ticker.flush()
        try:
            keeper.save()
        finally:
            if callable(stats):
                status.source_stats = stats()
            source.close()
            status.end()
    for w in workers:
        if w.error is not None:
            raise w.error
    return status


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.value += 1


class _Lane(threading.Thread):
    """Applies the items routed to it, coalescing them for ``interval`` seconds or ``limit`` records."""

    def __init__(
        self,
        index: int,
        applier: Applier,
        interval: float,
        limit: int,
        recorder: Recorder,
        pipeline: str,
        flushed: _Counter,
        fatal: threading.Event,
    ) -> None:
        super().__init__(name=f"murmur-lane-{index}", daemon=True)
        self.applier = applier
        self.interval = interval
        self.limit = limit
        self.recorder = recorder
        self.pipeline = pipeline
        self.flushed = flushed
        self.fatal = fatal
        # Lists of items, one per poll: bounded so a slow lane holds back the pump (back-pressure).
        self.queue: queue.Queue[object] = queue.Queue(maxsize=max(4, 2 * limit // POLL_BATCH))
        self.buffer: list[Item] = []
        self.busy = False
        self.error: BaseException | None = None
        self.clock: Callable[[], float] = time.monotonic

    @property
    def idle(self) -> bool:
        return not self.busy and not self.buffer and self.queue.empty()

    def put(self, items: list[Item], stop: threading.Event, keepalive: Callable[[], None]) -> bool:
        """Queue items, waiting while the lane is full; False if the run is stopping.

        While it waits (a store outage fills the lanes) ``keepalive`` runs about once a second,
        so the source can keep its session alive (a Kafka consumer must poll, or the group
        evicts it and rebalances).
        """
        waited = 0
        while not (stop.is_set() or self.fatal.is_set()):
            try:
                self.queue.put(items, timeout=0.1)
                return True
            except queue.Full:
                waited += 1
                if waited % 10 == 0:
                    keepalive()
        return False

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
                if got is not None:
                    self.busy = True
                    self.buffer.extend(got)  # type: ignore[arg-type]
                    if first_at is None:
                        first_at = self.clock()
                if self.buffer and (len(self.buffer) >= self.limit or self.clock() - (first_at or 0) >= self.interval):
                    self._flush()
                    first_at = None
                self.busy = bool(self.buffer)
        except Cancelled:
            log.debug("%s: shutdown abandoned %d in-flight record(s) (not acked)", self.name, len(self.buffer))
        except BaseException as exc:
            self.error = exc
            self.fatal.set()
        finally:
            self.busy = False

    def _flush(self) -> None:
        if not self.buffer:
            return
        self.busy = True
        items = self.buffer
        self.applier.apply_items(items)
        self.buffer = []
        self.recorder.event(f"{self.pipeline}:flush")
        self.flushed.bump()


class _PositionKeeper:
    """Stores the source's acked position (sources that do not commit on their own, e.g. change streams)."""

    def __init__(
        self, source: LiveSource, store: Store, pipeline: str, name: str, saved: dict[str, Any] | None
    ) -> None:
        self.source = source
        self.store = store
        self.pipeline = pipeline
        self.name = name
        self.last = saved.get("position") if saved else None

    def save(self) -> None:
        position = self.source.checkpoint()
        if position is None or position == self.last:
            return
        try:
            self.store.write_meta(self.pipeline, self.name, {"position": position, "updated": utcnow().isoformat()})
            self.last = position
        except Exception as exc:  # the next flush tries again; the records stay applied
            log.warning("could not save the %s position: %s", self.name, exc)
