"""The bootstrap runtime: fold a snapshot source into a store, then hand off (SPEC §5).

Order: validate ⇒ (live position) ⇒ capture the handoff token ⇒ scan ⇒ apply ⇒ return the token.
Each segment checkpoints the position of its applied prefix with every batch, in the same unit
of work as the state (so a transactional store resumes exactly, even without a deduper).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from murmur._apply import Applier, ApplyConfig, Item
from murmur._batch import snapshot_batches
from murmur._checkpoint import Checkpoints, SegmentCheckpoint, segment_name
from murmur._errors import Cancelled, ConfigError, MurmurError, SourceError
from murmur._pipeline import Pipeline
from murmur._prefetch import Prefetch
from murmur._protocols import DeadLetterSink, Deduper, LiveSource, Recorder, SnapshotSource, Store
from murmur._records import HandoffToken, utcnow
from murmur._status import RunStatus
from murmur.metrics import BatchTicker, Fanout

__all__ = ["CheckpointPolicy", "run"]

CheckpointPolicy = Literal["refuse", "resume", "restart"]
log = logging.getLogger("murmur")
#: A folded unit is written at least this often, so checkpoints stay a few seconds fresh (SPEC §5).
FOLD_SECONDS = 1.0
#: A fold holding this many keys is merged early (memory: one delta per key).
MAX_FOLD_KEYS = 100_000
#: The general path keeps every record until the merge: at most this many.
GENERAL_FOLD_RECORDS = 20_000


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
      its own; the general path, which keeps every record until the merge, defaults to 20 000).
    - ``status`` receives progress and counts; ``stop`` abandons the run (Cancelled).
    Raises SourceError (scan failed; checkpoint kept), Aborted (fail_on_error), HandoffError.
    """
    if segments is None:
        segments = int(getattr(source, "default_segments", None) or 1)
    if fold_records is not None and fold_records < 1:
        raise ConfigError("fold_records must be at least 1", option="fold-records")
    if flush_interval < 0 or max_fold_keys < 1:
        raise ConfigError("flush_interval must not be negative, max_fold_keys at least 1", option="flush-interval")
    if max_attempts < 1:
        raise ConfigError("max_attempts must be at least 1", option="max-attempts")
    if segments < 1:
        raise ConfigError("segments must be at least 1", option="segments")
    if segment is not None and not 0 <= segment < segments:
        raise ConfigError(f"segment must be between 0 and {segments - 1}, not {segment}", option="segment")
    status = status or RunStatus(pipeline.name, "bootstrap")
    stop = stop or threading.Event()
    recorder = Fanout(metrics, status)
    mode = pipeline.mode or source.default_mode

    cps = Checkpoints(store, pipeline.name)
    status.resumed = cps.apply_policy(checkpoints, [segment_name(segment, segments)] if segment is not None else None)
    cps.ensure_pipeline(pipeline)

    token = cps.handoff()
    if token is None:
        token = cps.share_handoff(_capture(source, handoff_to, handoff))
    status.handoff = token

    plan = cps.stored_plan() or cps.share_plan(list(source.segments(segments)))
    if len(plan) != segments:
        raise ConfigError(
            f"pipeline {pipeline.name!r} was started with {len(plan)} segment(s), not {segments}; "
            f"pass --segments {len(plan)} or --restart",
            option="segments",
        )
    chosen = [segment] if segment is not None else list(range(len(plan)))

    todo: list[tuple[int, SegmentCheckpoint]] = []
    for index in chosen:
        cp = cps.segment(index, len(plan))
        name = _label(index, len(plan))
        seg = status.segment(name, _estimate(source, plan[index], len(plan)), cp.done)
        if cp.finished:
            seg.finished = True
        else:
            todo.append((index, cp))
    if not todo:
        status.already_finished = True
        status.end()
        return token

    ticker = BatchTicker(recorder, "bootstrap", batch_tick)
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
        ),
        on_written=status.keys_written,
        on_dead_letter=status.dead_letter_sample,
        ticker=ticker,
    )
    bounds = _Bounds(flush_interval, fold_records, max_fold_keys)
    halt = threading.Event()  # one segment failed: the others stop at their next batch

    def work(index: int, cp: SegmentCheckpoint) -> None:
        _run_segment(bounds, source, plan[index], index, len(plan), cp, applier, cps, status, halt, stop)

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
        ticker.flush()
        status.end()
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
    status: RunStatus,
    halt: threading.Event,
    stop: threading.Event,
) -> None:
    """Scan one segment in batches, fold them, and merge one unit (state + checkpoint) per
    ``flush_interval`` or when a bound is reached."""
    name = segment_name(index, count)
    label = _label(index, count)
    batches = Prefetch(_scan(source, descriptor, cp.position, label), name=f"murmur-scan-{index}")
    plan = applier.plan
    writes: dict[str, Any] = {}  # the block path: deltas per rendered key
    pending: list[Item] = []  # the general path: prepared records
    folded = 0  # records in the fold, not yet merged
    applied = 0  # of which folded into writes (the rest were dead letters)
    blocks = 0  # batches folded on the block path
    since = time.monotonic()
    interval = bounds.flush_interval
    # Records per unit: unbounded on the block path (its fold holds one delta per key, bounded by
    # max_keys), but the general path holds every record, so it is bounded. A store whose merge is
    # one capped transaction gets each batch on its own.
    if bounds.fold_records is not None:
        limit: int | None = bounds.fold_records
    elif plan is not None:
        limit = None
    else:
        limit = 1 if applier.unit_limit is not None else GENERAL_FOLD_RECORDS

    def flush() -> None:
        nonlocal pending, folded, applied, blocks, since
        if folded or blocks:
            meta = {name: cp.to_doc()}
            if pending or not blocks:  # (sources hand over blocks or records, not both: one unit)
                applier.apply_items(pending, None if blocks else meta)
                pending = []
            if blocks:
                applier.commit_writes(writes, applied, meta)
                writes.clear()
            status.advance(label, folded)
            folded = applied = blocks = 0
        since = time.monotonic()

    try:
        while True:
            try:  # wake up when the source is slow, so what was read does not wait for more
                batch = batches.next_within(max(0.0, since + interval - time.monotonic()) if folded else None)
            except StopIteration:
                break
            if stop.is_set():
                raise Cancelled("bootstrap stopped")
            if halt.is_set():
                return
            if batch is not None:
                if plan is not None and (batch.block is not None or batch.payloads is not None):
                    n, dead = applier.fold_batch(batch, writes)
                    applied += n - dead
                    blocks += 1
                else:
                    records = batch.records()
                    pending.extend(applier.prepare_many(records))
                    n = len(records)
                cp.position = batch.end
                cp.done += n
                folded += n
            if (
                time.monotonic() - since >= interval
                or (limit is not None and folded >= limit)
                or len(writes) >= bounds.max_keys
            ):
                flush()
        flush()
    except SourceError:
        flush()  # what was read before the failure is applied, so the checkpoint covers it
        raise
    finally:
        batches.close()
    cps.finish(index, count, cp)
    status.finish_segment(label)


@dataclass(frozen=True)
class _Bounds:
    flush_interval: float
    fold_records: int | None
    max_keys: int


def _scan(source: SnapshotSource, descriptor: Any, after: Any, label: str) -> Any:
    """The source's batches, with its failures put in context (the checkpoint stays as it was)."""
    try:
        yield from snapshot_batches(source, descriptor, after)
    except MurmurError:
        raise
    except Exception as exc:
        raise SourceError(f"{source.name} ({label}): read failed: {type(exc).__name__}: {exc}") from exc
