"""The bootstrap runtime: fold a snapshot source into a store, then hand off (SPEC §5).

Order: validate ⇒ (live position) ⇒ capture the handoff token ⇒ scan ⇒ apply ⇒ return the token.
Each segment checkpoints the position of its applied prefix with every batch, in the same unit
of work as the state (so a transactional store resumes exactly, even without a deduper).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from murmur import _foldahead
from murmur._apply import Applier, ApplyConfig, Item
from murmur._batch import Batch, snapshot_batches
from murmur._checkpoint import Checkpoints, SegmentCheckpoint, segment_name
from murmur._decode import Folded
from murmur._errors import Cancelled, ConfigError, MurmurError, SourceError
from murmur._options import RunOptions, resolve
from murmur._pipeline import Pipeline
from murmur._prefetch import Inline, Prefetch
from murmur._protocols import (
    DeadLetterSink,
    Deduper,
    HasDefaultSegments,
    LiveSource,
    Recorder,
    RunObserver,
    SnapshotSource,
    Store,
)
from murmur._records import HandoffToken, Record, utcnow
from murmur._status import RunStatus
from murmur.metrics import Fanout

__all__ = ["CheckpointPolicy", "run"]

CheckpointPolicy = Literal["refuse", "resume", "restart"]
log = logging.getLogger("murmur")
#: A folded unit is written at least this often, so checkpoints stay a few seconds fresh (SPEC §5).
FOLD_SECONDS = 1.0
#: A fold holding this many keys is merged early (memory: one delta per key).
MAX_FOLD_KEYS = 100_000
#: A deduper's claims and changelog contributions are resolved record by record when the unit
#: commits (a conflict drops or re-reads just those records), so that path keeps each record,
#: about 1 KB of memory, until then: this bounds the memory it holds, 20 MB or so.
MAX_HELD_RECORDS = 20_000


def run(
    pipeline: Pipeline,
    source: SnapshotSource,
    store: Store,
    *,
    dedup: Deduper | None = None,
    max_attempts: int = 3,
    retry_backoff: tuple[float, float] = (0.05, 5.0),
    fail_on_error: bool = False,
    batch_tick: float = 1.0,
    metrics: Recorder | None = None,
    checkpoints: CheckpointPolicy = "refuse",
    segments: int | None = None,
    segment: int | None = None,
    handoff_to: LiveSource | None = None,
    dead_letters: DeadLetterSink | None = None,
    status: RunStatus | None = None,
    stop: threading.Event | None = None,
    dedup_fail_closed: bool = False,
    lease: float = 30.0,
    handoff: bool = True,
    fold_records: int | None = None,
    flush_interval: float = FOLD_SECONDS,
    max_fold_keys: int = MAX_FOLD_KEYS,
    fold_helper: bool | None = None,
    options: RunOptions | None = None,
) -> HandoffToken:
    """Validate, capture the handoff (after ``handoff_to.capture_position()``), scan, apply; return the token.

    - ``checkpoints``: with existing checkpoints for this pipeline, ``refuse`` raises
      CheckpointExists, ``resume`` continues each segment after its checkpoint with the
      original handoff token (a finished run does nothing; ``status.already_finished``),
      ``restart`` drops the checkpoints and starts over (safe with a deduper or in changelog mode).
    - ``segments``/``segment``: split the source into ``segments`` parts run concurrently, or
      run only part ``segment`` (0-based) of them, e.g. in separate processes. ``None`` takes
      the source's ``default_segments`` (its own ``segments`` option), else 1.
    - ``handoff=False`` skips ``capture_handoff()`` (a one-off snapshot; the token is ``None``).
    - ``flush_interval`` (seconds): how often the folded state of each segment is merged into the
      store as one unit of work (writes + claims + checkpoint); also merged when the fold holds
      ``max_fold_keys`` keys, or ``fold_records`` records if given (1 writes each source batch on
      its own). Records fold into deltas per key as they come; only a run with a deduper or in
      changelog mode keeps its records until the merge, at most ``MAX_HELD_RECORDS`` of them.
    - ``fold_helper``: a second process folds every other block of a big file (``murmur._foldahead``):
      ``None`` decides (a ``sum`` or ``count`` field-path pipeline, one segment, two usable CPUs, a
      file of more than a few blocks; it leaves if the run goes no faster with it), ``True`` uses
      one from the first block to the last where it can run, ``False`` never. A source whose
      ``local_reads`` attribute is ``True`` (plain local files) is then read on the segment's own
      thread instead of a reading thread.
    - ``metrics`` and ``status`` observe the run as one (a :class:`~murmur.RunObserver` among them
      gets the progress too; ``status``, a :class:`RunStatus`, is just one more); ``stop``
      abandons the run (Cancelled).
    - ``options``: a :class:`~murmur.RunOptions` instead of the knob keywords above (its
      ``checkpoints=None`` means ``refuse``); the keywords are validated through it either way.
    Raises SourceError (scan failed; checkpoint kept), Aborted (fail_on_error), HandoffError.
    """
    o = resolve(
        run,
        options,
        {
            "dedup": dedup,
            "max_attempts": max_attempts,
            "retry_backoff": retry_backoff,
            "fail_on_error": fail_on_error,
            "batch_tick": batch_tick,
            "metrics": metrics,
            "checkpoints": checkpoints,
            "segments": segments,
            "segment": segment,
            "dead_letters": dead_letters,
            "dedup_fail_closed": dedup_fail_closed,
            "lease": lease,
            "handoff": handoff,
            "fold_records": fold_records,
            "flush_interval": flush_interval,
            "max_fold_keys": max_fold_keys,
            "fold_helper": fold_helper,
        },
    )  # validated once, by RunOptions
    dedup, max_attempts, retry_backoff, fail_on_error = o.dedup, o.max_attempts, o.retry_backoff, o.fail_on_error
    batch_tick, metrics, checkpoints, segments, segment = (
        o.batch_tick,
        o.metrics,
        o.checkpoints or "refuse",
        o.segments,
        o.segment,
    )
    dead_letters, dedup_fail_closed, lease, handoff = o.dead_letters, o.dedup_fail_closed, o.lease, o.handoff
    fold_records, flush_interval, max_fold_keys = o.fold_records, o.flush_interval, o.max_fold_keys
    fold_helper = o.fold_helper
    if segments is None:
        segments = int((source.default_segments if isinstance(source, HasDefaultSegments) else None) or 1)
    if segment is not None and not 0 <= segment < segments:
        raise ConfigError(f"segment must be between 0 and {segments - 1}, not {segment}", option="segment")
    stop = stop or threading.Event()
    recorder = Fanout(metrics, status)  # the run's one observer: everything below reports to it
    mode = pipeline.mode or source.default_mode

    cps = Checkpoints(store, pipeline.name)
    resumed = cps.apply_policy(checkpoints, [segment_name(segment, segments)] if segment is not None else None)
    cps.ensure_pipeline(pipeline)

    token = cps.handoff()
    if token is None:
        token = cps.share_handoff(_capture(source, handoff_to, handoff))
    recorder.run_started(token, resumed=resumed)

    plan = cps.stored_plan() or cps.share_plan(list(source.segments(segments)))
    if len(plan) != segments:
        raise ConfigError(
            f"pipeline {pipeline.name!r} was started with {len(plan)} segment(s), not {segments}; "
            f"pass --segments {len(plan)} or --restart",
            option="segments",
        )
    chosen = [segment] if segment is not None else list(range(len(plan)))

    todo: list[tuple[int, SegmentCheckpoint]] = []
    left = 0  # records the segments still to do hold, as far as the source can tell
    for index in chosen:
        cp = cps.segment(index, len(plan))
        name = _label(index, len(plan))
        estimate = _estimate(source, plan[index], len(plan))
        recorder.segment_started(name, estimate, cp.done, finished=cp.finished)
        if not cp.finished:
            todo.append((index, cp))
            left += max(0, (estimate or 0) - cp.done)
    if not todo:
        recorder.run_ended(already_finished=True)
        return token

    applier = Applier(
        pipeline,
        store,
        recorder,
        mode=mode,
        dedup=dedup,
        sink=dead_letters,
        config=ApplyConfig(
            max_attempts=max_attempts,
            backoff=retry_backoff,
            lease=lease,
            fail_closed=dedup_fail_closed,
            fail_on_error=fail_on_error,
            mode_name="bootstrap",
            source_name=source.name,
            stop=stop,
            batch_tick=batch_tick,
        ),
    )
    helper = fold_helper is not False and len(todo) == 1 and _foldahead.usable(asked=bool(fold_helper))
    # (a big file starts its helper at once; one whose size the source cannot tell, after a few blocks)
    at_once = fold_helper or left >= _foldahead.AUTO_RECORDS
    helper_after = None if not helper else 0 if at_once else _foldahead.AUTO_AFTER
    bounds = _Bounds(flush_interval, fold_records, max_fold_keys, helper_after, bool(fold_helper))
    halt = threading.Event()  # one segment failed: the others stop at their next batch

    def work(index: int, cp: SegmentCheckpoint) -> None:
        _run_segment(bounds, source, plan[index], index, len(plan), cp, applier, cps, recorder, halt, stop)

    try:
        if len(todo) == 1:
            work(*todo[0])
        else:
            with ThreadPoolExecutor(max_workers=len(todo), thread_name_prefix="murmur-segment") as pool:
                futures = [pool.submit(work, index, cp) for index, cp in todo]
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                if any(f.exception() is not None for f in done):
                    halt.set()
                wait(futures)
                for f in futures:
                    exc = f.exception()
                    if exc is not None:
                        raise exc
    finally:
        applier.flush_ticker()
        recorder.run_ended()
    return token


def _capture(source: SnapshotSource, handoff_to: LiveSource | None, handoff: bool) -> HandoffToken:
    """The live source's position first, then the snapshot's token (SPEC §7), so nothing falls between."""
    live_position = handoff_to.capture_position() if handoff_to is not None else None
    token = source.capture_handoff() if handoff else HandoffToken(source.name, None, utcnow())
    if handoff_to is not None:
        token = token.with_live(handoff_to.name, live_position)
    return token


def _label(index: int, count: int) -> str:
    return "scan" if count == 1 else f"segment {index + 1}/{count}"


def _estimate(source: SnapshotSource, descriptor: Any, count: int) -> int | None:
    try:
        return source.estimated_total(descriptor if count > 1 else None)
    except Exception as exc:  # an estimate is a nicety: never fail a run for it
        log.debug("estimated_total failed: %s", exc)
        return None


def _run_segment(
    bounds: _Bounds,
    source: SnapshotSource,
    descriptor: Any,
    index: int,
    count: int,
    cp: SegmentCheckpoint,
    applier: Applier,
    cps: Checkpoints,
    observer: RunObserver,
    halt: threading.Event,
    stop: threading.Event,
) -> None:
    """Scan one segment in batches, fold them, and merge one unit (state + checkpoint) per
    ``flush_interval`` or when a bound is reached."""
    name = segment_name(index, count)
    label = _label(index, count)
    scan = _scan(source, descriptor, cp.position, label)
    # A local file whose blocks a helper shares needs no reading thread (see Inline).
    local = bounds.helper_after == 0 and getattr(source, "local_reads", False) is True
    batches: Prefetch[Any] | Inline[Any] = Inline(scan) if local else Prefetch(scan, name=f"murmur-scan-{index}")
    plan = applier.plan
    acks: list[Record] = []  # folded records whose source wants an ack once they are merged
    writes: dict[Any, Any] = {}  # folded deltas per key (rendered, or a StateKey on the general path)
    pending: list[Item] = []  # records kept until the merge (a deduper's claims, changelog)
    folded = 0  # records in the fold, not yet merged
    applied = 0  # of which folded into writes (the rest were dead letters)
    blocks = 0  # batches folded into writes
    block_dead = 0  # dead letters of folded batches, not yet in a checkpoint
    since = time.monotonic()
    interval = bounds.flush_interval
    # Records per unit: unbounded where records fold into deltas as they come (one delta per key,
    # bounded by max_keys); where they are kept until the merge, bounded (memory). A store whose
    # merge is one capped transaction gets each batch of kept records on its own.
    folds = applier.folds_records
    if bounds.fold_records is not None:
        limit: int | None = bounds.fold_records
    elif folds:
        limit = None
    else:
        limit = 1 if applier.unit_limit is not None else MAX_HELD_RECORDS
    # A second process for every other block (sum and count plans: see murmur._foldahead).
    helper_after = bounds.helper_after if plan is not None and plan.kind in ("sum", "count") else None
    helper: _foldahead.FoldHelper | None = None  # started with the first block (or a few blocks in)
    seen = 0  # bytes of blocks read, for when to start the helper

    # Blocks folded (or handed to the helper) but not yet accounted, in the order read: a block's
    # records join the count and its end becomes the position only after every older block's.
    queue: deque[tuple[Batch, Folded | None]] = deque()  # (None: the helper has it)

    def account(batch: Batch, n: int, dead: int) -> None:
        """A folded batch: its records are in ``writes`` (or dead letters), its end the position."""
        nonlocal folded, applied, blocks, block_dead
        applied += n - dead
        block_dead += dead
        blocks += 1
        cp.position = batch.end
        cp.done += n
        folded += n

    def settle(wait: bool) -> None:
        """Account the queued blocks that are done, oldest first; with ``wait``, all of them."""
        while queue:
            batch, result = queue[0]
            if result is None:
                assert helper is not None and plan is not None
                if not (wait or len(queue) > _foldahead.HELD or helper.replied()):
                    return
                batch, rows = helper.collect()
                # (a block the helper's typed decode refused is folded here, dead letters and all)
                result = plan.fold(batch, writes) if rows is None else (rows, [])
            queue.popleft()
            account(batch, *applier.settle_batch(batch, *result))

    def leave() -> None:
        """The helper goes (its blocks accounted, its deltas in the fold); reading goes back to a thread."""
        nonlocal helper, helper_after, batches
        assert helper is not None
        settle(wait=True)
        helper.drain(writes)
        helper.close()
        helper = helper_after = None
        if isinstance(batches, Inline):
            batches = batches.ahead(f"murmur-scan-{index}")

    def flush() -> bool:
        """Merge the fold; True if its checkpoint surely committed (the block path raises on failure,
        where the record path may drop it with a record that fails on its own)."""
        nonlocal pending, folded, applied, blocks, block_dead, since
        settle(wait=True)
        if helper is not None:
            helper.drain(writes)
        merged = bool(blocks)
        if folded or blocks:
            cp.dead_letters += block_dead  # (murmur status shows them)
            meta = {name: cp.to_doc()}
            if pending or not blocks:  # (sources hand over blocks or records, not both: one unit)
                outcome = applier.apply_items(pending, None if blocks else meta)
                cp.dead_letters += outcome.dead  # known after the merge: stored with the next checkpoint
                pending = []
            if blocks:
                applier.commit_writes(writes, applied, meta)
                writes.clear()
                for record in acks:  # (a snapshot source's records rarely want acks)
                    record.ack()
                acks.clear()
            observer.segment_advanced(label, folded)
            folded = applied = blocks = block_dead = 0
        since = time.monotonic()
        return merged

    try:
        while True:
            busy = folded or queue
            try:  # wake up when the source is slow, so what was read does not wait for more
                batch = batches.next_within(max(0.0, since + interval - time.monotonic()) if busy else None)
            except StopIteration:
                break
            if stop.is_set():
                raise Cancelled("bootstrap stopped")
            if halt.is_set():
                return
            if batch is not None:
                if plan is not None and (batch.block is not None or batch.payloads is not None):
                    if helper_after is not None and batch.block is not None:
                        seen += len(batch.block)
                        if helper is None and seen > helper_after:
                            helper = _foldahead.FoldHelper.start(plan.spec, wait=bounds.helper_asked)
                            helper_after = None if helper is None else helper_after  # (failed: not again)
                        if helper is not None and helper.offer(batch):
                            queue.append((batch, None))  # folded there while the next is folded here
                            settle(wait=False)
                            continue
                    if queue:
                        assert helper is not None
                        queue.append((batch, helper.fold_here(plan.fold, batch, writes)))
                        settle(wait=False)
                        if not bounds.helper_asked and not helper.helps():  # no core to spare: fold alone
                            leave()
                    else:
                        account(batch, *applier.fold_batch(batch, writes))
                elif folds:
                    settle(wait=True)  # (a source that mixes blocks and records: keep the order)
                    account(batch, *applier.fold_items(applier.prepare_many(batch.records()), writes, acks))
                else:
                    settle(wait=True)
                    records = batch.records()
                    pending.extend(applier.prepare_many(records))
                    n = len(records)
                    cp.position = batch.end
                    cp.done += n
                    folded += n
            elif queue:
                settle(wait=True)  # the source is slow: what the helper holds need not wait for more
            if (
                time.monotonic() - since >= interval
                or (limit is not None and folded >= limit)
                or len(writes) >= bounds.max_keys
            ):
                flush()
        cp.finished = True  # the last unit says so itself: one transaction less, and atomic
        finished = flush()
    except SourceError:
        flush()  # what was read before the failure is applied, so the checkpoint covers it
        raise
    finally:
        batches.close()
        if helper is not None:
            helper.close()
    if not finished:
        cps.finish(index, count, cp)
    observer.segment_finished(label)


@dataclass(frozen=True)
class _Bounds:
    flush_interval: float
    fold_records: int | None
    max_keys: int
    #: Bytes of blocks folded before a fold helper starts; ``None``: no helper.
    helper_after: int | None = None
    helper_asked: bool = False  # (fold_helper=True: wait for it to start)


def _scan(source: SnapshotSource, descriptor: Any, after: Any, label: str) -> Any:
    """The source's batches, with its failures put in context (the checkpoint stays as it was)."""
    try:
        yield from snapshot_batches(source, descriptor, after)
    except MurmurError:
        raise
    except Exception as exc:
        raise SourceError(f"{source.name} ({label}): read failed: {type(exc).__name__}: {exc}") from exc
