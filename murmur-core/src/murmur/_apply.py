"""Applying a batch of records (SPEC §4, §5b): records → unit of work → store → acks.

Both runtimes hand the :class:`Applier` batches; it turns each into one unit of work (or a few,
when a store caps a transaction's size), commits it with retries, and acks what is durable.

Guarantees kept here:
- an ack fires only after everything the record touched is durably written;
- a record whose apply failed has its dedup claim released, so a redelivery is applied;
- on cancellation (shutdown) an in-flight record is neither acked nor dead-lettered;
- transient errors are retried with full-jitter backoff; permanent ones dead-letter only the
  records that cause them (a failing batch is split to find them).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity

from murmur._batch import Batch
from murmur._decode import Bad, FieldPlan
from murmur._errors import (
    Aborted,
    Cancelled,
    ClaimConflict,
    ContributionConflict,
    DecodeError,
    FieldError,
    PermanentError,
    TransientError,
    is_transient,
)
from murmur._pipeline import Mode, Pipeline
from murmur._protocols import (
    ClaimStatus,
    DeadLetter,
    DeadLetterSink,
    Deduper,
    HasMaxUnitItems,
    Recorder,
    RunObserver,
    Store,
)
from murmur._records import Poison, Record, Version
from murmur._unit import Contribution, ContributionWrite, StateKey, Unit
from murmur._windows import ALL_TIME
from murmur.metrics import BatchTicker, Fanout
from murmur.monoids import is_group

log = logging.getLogger("murmur")
T = TypeVar("T")


@dataclass(slots=True, eq=False)
class Item:
    """A record with its extraction done: the keys it adds to and the element it adds."""

    record: Record
    keys: tuple[StateKey, ...] = ()
    element: Any = None
    retract_keys: tuple[StateKey, ...] = ()
    retract: Any = None
    error: BaseException | None = None
    claim: str | None = None

    @property
    def route(self) -> str | None:
        """What must stay in order: the document in changelog mode, else the first key."""
        change = self.record.change
        if change is not None:
            return change.doc_id
        if self.keys:
            return self.keys[0].entity
        return self.record.partition_key


@dataclass
class Outcome:
    applied: int = 0
    skipped: int = 0
    dead: int = 0


@dataclass
class ApplyConfig:
    """The knobs of SPEC §4; ``max_attempts=None`` retries transient errors until cancelled (live mode).

    ``batch_tick``: report ``recorder.batch`` at most every that many seconds (``None``: never).
    """

    max_attempts: int | None = 3
    backoff: tuple[float, float] = (0.05, 5.0)
    lease: float = 30.0
    fail_closed: bool = False
    fail_on_error: bool = False
    mode_name: str = "bootstrap"
    source_name: str = "?"
    batch_tick: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)


class Applier:
    """Applies batches of records of one pipeline to one store. Thread-safe for concurrent batches.

    Everything it has to tell goes to ``recorder``: metrics, and, when it is a
    :class:`~murmur.RunObserver`, keys written per unit of work and each dead letter.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        store: Store,
        recorder: Recorder,
        *,
        mode: Mode,
        dedup: Deduper | None = None,
        sink: DeadLetterSink | None = None,
        source_dead_letter: Callable[[Record, BaseException, str], Any] | None = None,
        config: ApplyConfig | None = None,
    ) -> None:
        assert pipeline.monoid is not None
        self.pipeline = pipeline
        self.name = pipeline.name
        self.monoid = pipeline.monoid
        self.store = store
        # A plain Recorder is wrapped, so the progress calls below need no check each time.
        self.recorder: RunObserver = recorder if isinstance(recorder, RunObserver) else Fanout(recorder)
        self.changelog = mode == "changelog"
        self.dedup = dedup
        self.absorbed = dedup is not None and store.absorbs(dedup)
        self.sink = sink
        self.source_dead_letter = source_dead_letter
        self.config = config or ApplyConfig()
        tick = self.config.batch_tick
        self.ticker = BatchTicker(self.recorder, self.config.mode_name, tick) if tick is not None else None
        self.group = is_group(self.monoid)
        # A size cap matters only where a merge is one transaction; elsewhere bigger units coalesce more.
        # (Read after absorbs(): a store may turn transactional on when it takes over the deduper.)
        self.unit_limit = store.max_unit_items if isinstance(store, HasMaxUnitItems) and store.transactional else None
        window = pipeline.window
        self.expiry = window.expiry if window is not None and window.retention is not None else None
        self._additive = self.monoid.kind in ("sum", "count")
        self._warned_dedup = False
        #: The block path (``fold_batch``/``commit_writes``) for field-path pipelines; a deduper
        #: needs each record's event id, so it takes the general path.
        self.plan = FieldPlan.of(pipeline, mode) if dedup is None else None
        #: Records fold into deltas as they come (``fold_items``), with nothing kept per record,
        #: unless a unit must resolve conflicts record by record: a deduper's claims, or changelog
        #: contributions (``apply_items`` keeps each record until its unit commits).
        self.folds_records = dedup is None and not self.changelog

    # ---------------------------------------------------------------- extraction

    def prepare(self, record: Record) -> Item:
        """Extract keys and element; a record that cannot be extracted carries its error."""
        value = record.value
        if isinstance(value, Poison):
            return Item(record, error=DecodeError(value.error))
        try:
            change = record.change
            if self.changelog and change is None:
                raise FieldError("changelog mode needs records that name their document; use --mode append")
            item = Item(record)
            if change is None or not change.deleted:
                item.keys, item.element = self.pipeline.extract(value, record.event_time)
            if (
                not self.changelog
                and change is not None
                and change.before is None
                and change.op in ("update", "delete")
            ):
                raise FieldError(
                    f"append mode cannot take back the old state of this {change.op} (no before-image): use "
                    "changelog mode (the default for document sources) or enable before-images at the source"
                )
            if not self.changelog and change is not None and change.before is not None:
                if not self.group:
                    raise FieldError(f"monoid {self.monoid.spec} cannot retract the old state of an update")
                item.retract_keys, lifted = self.pipeline.extract(change.before, record.event_time)
                item.retract = self.monoid.inverse(lifted)  # type: ignore[attr-defined]
            return item
        except PermanentError as exc:
            return Item(record, error=exc)
        except Exception as exc:  # a user's key/value callable failing: the record is poison, not the run
            return Item(record, error=FieldError(f"{type(exc).__name__}: {exc}"))

    # ---------------------------------------------------------------- applying

    def prepare_many(self, records: Sequence[Record]) -> list[Item]:
        """``prepare`` for each record (extraction itself lives in ``Pipeline.extract``)."""
        prepare = self.prepare
        return [prepare(r) for r in records]

    def flush_ticker(self) -> None:
        """Report the records not yet in a ``recorder.batch`` call (the run is ending)."""
        if self.ticker is not None:
            self.ticker.flush()

    # ---------------------------------------------------------------- the block path

    def fold_batch(self, batch: Batch, writes: dict[str, Any]) -> tuple[int, int]:
        """Fold a batch into ``writes`` (rendered key ⇒ delta) with the field plan; dead-letter
        its bad documents. Returns (records it held, dead letters). Needs ``self.plan``."""
        assert self.plan is not None
        return self.settle_batch(batch, *self.plan.fold(batch, writes))

    def settle_batch(self, batch: Batch, count: int, bad: list[Bad]) -> tuple[int, int]:
        """What ``fold_batch`` does after the fold, for a batch folded elsewhere (``plan.fold``, or
        the fold helper): dead-letter its bad documents, count its records. (records, dead letters)"""
        if bad:
            out = Outcome()
            for index, error, value in bad:
                record = batch.poison(index, str(error))
                if value is not None:  # decoded, but not applicable: the letter keeps the value
                    record = Record(value, record.event_id, None, None, record.position)
                elif isinstance(record.value, Poison):  # its text names where it came from (file:line)
                    error = type(error)(record.value.error)
                self._dead(record, error, error.kind, out)
        if self.ticker is not None:
            self.ticker.add(count)
        return count, len(bad)

    def fold_items(self, items: Sequence[Item], writes: dict[Any, Any], acks: list[Record]) -> tuple[int, int]:
        """Fold prepared records into ``writes`` (state key ⇒ delta) as they come, keeping nothing
        per record; dead-letter the ones that failed extraction. Records whose source wants an ack
        (``on_ack``) go to ``acks``, to be acked once the unit holding them commits. Returns
        (records, dead letters). Only when ``folds_records`` (append mode, no deduper)."""
        combine = self.monoid.combine
        additive = self._additive
        dead = Outcome()
        for it in items:
            if it.error is not None:
                self._dead(it.record, it.error, getattr(it.error, "kind", "decode"), dead)
                continue
            element = it.element
            for key in it.keys:
                if key not in writes:
                    writes[key] = element
                elif additive and type(element) is int and type(writes[key]) is int:
                    writes[key] += element  # the common case, without a method call
                else:
                    writes[key] = combine(writes[key], element)
            for key in it.retract_keys:
                writes[key] = combine(writes[key], it.retract) if key in writes else it.retract
            if it.record.on_ack is not None:
                acks.append(it.record)
        if self.ticker is not None:
            self.ticker.add(len(items))
        return len(items), dead.dead

    def commit_writes(self, writes: dict[Any, Any], records: int, meta: dict[str, dict[str, Any]] | None) -> None:
        """Merge folded deltas (rendered key or :class:`StateKey` ⇒ delta, from ``fold_batch`` or
        ``fold_items``) and ``meta`` as one unit of work (or a few, when the store caps a
        transaction: the checkpoint rides with the last).

        A failure here is the run's: a folded unit has no records left to dead-letter, and a
        value the store cannot keep must stop the run loudly rather than be rounded.
        """
        started = time.perf_counter()
        monoid = self.monoid
        deltas: dict[StateKey, Any] = {}
        for name, delta in writes.items():
            if type(delta) is float and not math.isfinite(delta):
                raise PermanentError(
                    f"key {name!r}: the {monoid.spec} went beyond the float range (±1.8e308) and cannot be kept exactly"
                )
            if self._additive and delta == 0:
                continue  # a zero delta changes nothing: save the write
            key = name if type(name) is StateKey else StateKey(name, ALL_TIME)
            deltas[key] = monoid.combine(deltas[key], delta) if key in deltas else delta
        units: list[Unit] = []
        room = None if self.unit_limit is None else max(1, self.unit_limit - len(meta or ()))
        if room is None or len(deltas) <= room:
            units.append(Unit(self.name, monoid, writes=deltas))
        else:
            keys = list(deltas)
            for i in range(0, len(keys), room):
                units.append(Unit(self.name, monoid, writes={k: deltas[k] for k in keys[i : i + room]}))
        units[-1].meta = dict(meta) if meta else {}
        if self.expiry is not None:
            for unit in units:
                unit.expiry = {k: e for k in unit.writes if k.bucket and (e := self.expiry(k.bucket)) is not None}
        for unit in units:
            if not unit.empty:
                merged = time.perf_counter()
                self._retry(self.store.merge, unit)
                self.recorder.latency("store_merge", time.perf_counter() - merged)
            if unit.writes:
                self.recorder.keys_written(len(unit.writes))
        if records:
            self.recorder.event(self.name, records)
        self.recorder.latency(f"batch_{self.config.mode_name}", time.perf_counter() - started)

    def apply(self, records: Sequence[Record], meta: dict[str, dict[str, Any]] | None = None) -> Outcome:
        return self.apply_items(self.prepare_many(records), meta)

    def apply_items(self, items: Sequence[Item], meta: dict[str, dict[str, Any]] | None = None) -> Outcome:
        """Apply prepared items; ``meta`` (checkpoints) commits with the last unit of the batch."""
        started = time.perf_counter()
        out = Outcome()
        todo: list[Item] = []
        for it in items:
            if it.error is not None:
                self._dead(it.record, it.error, getattr(it.error, "kind", "decode"), out)
            elif not self.changelog and not it.keys and not it.retract_keys:
                it.record.ack()  # no keys: nothing to do (SPEC §4.1)
                out.applied += 1
            else:
                todo.append(it)
        todo = self._dedup(todo, out)
        self._commit(todo, meta, out)
        if out.applied:
            self.recorder.event(self.name, out.applied)
        self.recorder.latency(f"batch_{self.config.mode_name}", time.perf_counter() - started)
        if self.ticker is not None:
            self.ticker.add(len(items))
        return out

    # ---------------------------------------------------------------- dedup

    def _claim_id(self, it: Item) -> str | None:
        """The id claimed in the deduper: scoped by pipeline, since pipelines over one source share ids."""
        eid = it.record.event_id
        return f"{self.name}|{eid}" if eid else None

    def _dedup(self, items: list[Item], out: Outcome) -> list[Item]:
        # Changelog records are idempotent through contributions; an event id there would also
        # wrongly skip a document deleted and inserted again under the same id.
        if self.dedup is None or self.changelog:
            return items
        first: dict[str, Item] = {}
        keep: list[Item] = []
        for it in items:
            cid = self._claim_id(it)
            if cid is None:
                keep.append(it)
            elif cid in first:
                self._skip(it, out)  # the same event twice in one batch
            else:
                first[cid] = it
                keep.append(it)
        if not first:
            return keep
        ids = list(first)
        if self.absorbed:
            # The merge checks claims atomically; this read only spares a doomed transaction.
            done: set[str] = self._guarded(self.dedup.contains, ids, default=set[str]())
            for cid, it in first.items():
                if cid not in done:
                    it.claim = cid
            return self._drop_skipped(keep, done, out)
        statuses = self._claim(ids)
        if statuses is None:  # fail-open: apply without dedup
            return keep
        for cid, it in first.items():
            if statuses.get(cid) is ClaimStatus.GRANTED:
                it.claim = cid
        return self._drop_skipped(keep, {c for c, s in statuses.items() if s is ClaimStatus.DUPLICATE}, out)

    def _drop_skipped(self, items: list[Item], skip: set[str], out: Outcome) -> list[Item]:
        """Ack and count as duplicates the items whose claim id is in ``skip``."""
        if not skip:
            return items
        keep = []
        for it in items:
            if self._claim_id(it) in skip:
                self._skip(it, out)
            else:
                keep.append(it)
        return keep

    def _skip(self, it: Item, out: Outcome) -> None:
        self.recorder.event(f"{self.name}:dedup_skip")
        out.skipped += 1
        it.record.ack()

    def _claim(self, ids: list[str]) -> dict[str, ClaimStatus] | None:
        """Claim ids, waiting out other holders' leases; ``None`` if the deduper failed open."""
        assert self.dedup is not None
        result: dict[str, ClaimStatus] = {}
        pending = ids
        delay = self.config.backoff[0]
        while pending:
            got = self._guarded(self.dedup.claim, pending, self.config.lease, default=None)
            if got is None:
                if result:  # do not leave the claims we took dangling
                    self._release([i for i, s in result.items() if s is ClaimStatus.GRANTED])
                return None
            result.update({i: s for i, s in got.items() if s is not ClaimStatus.BUSY})
            pending = [i for i in pending if got.get(i) is ClaimStatus.BUSY]
            if pending:
                # Another worker holds these (or died holding them): wait for its lease to end.
                self._sleep(delay)
                delay = min(delay * 2, self.config.backoff[1])
        return result

    def _guarded(self, fn: Callable[..., T], *args: Any, default: T) -> T:
        """Call the deduper: fail-open (count, warn once, return ``default``) or fail-closed (retry)."""
        try:
            if self.config.fail_closed:
                return self._retry(fn, *args, retry_all=True)
            return fn(*args)
        except Cancelled:
            raise
        except Exception as exc:
            if self.config.fail_closed:
                raise
            self.recorder.error(f"{self.name}:dedup", exc)
            self.recorder.event(f"{self.name}:dedup_error")
            if not self._warned_dedup:
                self._warned_dedup = True
                log.warning("deduper failed (%s: %s); applying without dedup (fail-open)", type(exc).__name__, exc)
            return default

    def _release(self, ids: list[str]) -> None:
        if ids and self.dedup is not None and not self.absorbed:
            self._guarded(self.dedup.release, ids, default=None)

    # ---------------------------------------------------------------- committing

    def _commit(self, items: list[Item], meta: dict[str, dict[str, Any]] | None, out: Outcome) -> None:
        if not items and not meta:
            return
        if self.unit_limit is not None and len(items) > 1:
            chunks = self._within_limit(items, self.unit_limit - len(meta or ()))
            if len(chunks) > 1:  # cut up front: one contributions read per unit, not one per halving
                for chunk in chunks[:-1]:
                    self._commit(chunk, None, out)
                self._commit(chunks[-1], meta, out)
                return
        conflicts = 0
        while True:
            try:
                unit, rejected, applied = self._build(items, meta)
                if self.unit_limit is not None and _size(unit) > self.unit_limit:
                    self._commit_oversized(items, meta, _size(unit), out)
                    return
                if not unit.empty:
                    started = time.perf_counter()
                    self._retry(self.store.merge, unit)
                    self.recorder.latency("store_merge", time.perf_counter() - started)
            except ClaimConflict as conflict:  # committed by someone else meanwhile: duplicates
                items = self._drop_skipped(items, set(conflict.event_ids), out)
                continue
            except ContributionConflict as conflict:
                # Another writer changed these documents between our read and our write: read them
                # again, backing off under contention, and give up only within the retry budget.
                conflicts += 1
                limit = self.config.max_attempts
                if limit is not None and conflicts >= limit:
                    self._fail(items, TransientError(f"contributions kept changing under us: {conflict}"), out)
                    return
                self._sleep(min(self.config.backoff[0] * 2**conflicts, self.config.backoff[1]))
                continue
            except (Cancelled, Aborted):
                self._release([it.claim for it in items if it.claim])
                raise
            except Exception as exc:
                if not is_transient(exc) and len(items) > 1:
                    half = len(items) // 2  # a permanent failure: find the record(s) causing it
                    self._commit(items[:half], None, out)
                    self._commit(items[half:], meta, out)
                else:
                    self._fail(items, exc, out)
                return
            if unit.writes:
                self.recorder.keys_written(len(unit.writes))
            if not self.absorbed and self.dedup is not None:
                granted = [it.claim for it in applied if it.claim]
                if granted:
                    self._guarded(self.dedup.commit, granted, default=None)
            for it in applied:
                it.record.ack()
            out.applied += len(applied)
            for it, err in rejected:
                self._release([it.claim] if it.claim else [])
                self._dead(it.record, err, "apply", out)
            return

    def _within_limit(self, items: list[Item], room: int) -> list[list[Item]]:
        """Consecutive chunks whose units cannot exceed ``room`` items (counted as if no key were shared)."""
        per_key = 2 if self.changelog else 1  # changelog: the old contribution's keys, then the new ones
        chunks: list[list[Item]] = [[]]
        used = 0
        for it in items:
            size = per_key * len(it.keys) + len(it.retract_keys) + int(self.changelog) + int(it.claim is not None)
            if chunks[-1] and used + size > room:
                chunks.append([])
                used = 0
            chunks[-1].append(it)
            used += size
        return chunks

    def _commit_oversized(
        self, items: list[Item], meta: dict[str, dict[str, Any]] | None, size: int, out: Outcome
    ) -> None:
        """A unit larger than the store's transaction: halve the batch (meta goes with the last half)."""
        if len(items) > 1:
            half = len(items) // 2
            self._commit(items[:half], None, out)
            self._commit(items[half:], meta, out)
            return
        self._fail(
            items,
            PermanentError(f"record touches {size} items; store {self.store.name} commits at most {self.unit_limit}"),
            out,
        )
        if meta:
            self._commit([], meta, out)

    def _fail(self, items: list[Item], exc: BaseException, out: Outcome) -> None:
        """Retries are exhausted (or the error is permanent): release claims, dead-letter."""
        self._release([it.claim for it in items if it.claim])
        for it in items:
            self._dead(it.record, exc, "apply", out)

    def _build(
        self, items: list[Item], meta: dict[str, dict[str, Any]] | None
    ) -> tuple[Unit, list[tuple[Item, BaseException]], list[Item]]:
        """Fold items into one unit; returns (unit, items rejected while folding, items in the unit)."""
        monoid = self.monoid
        unit = Unit(self.name, monoid, meta=dict(meta) if meta else {})
        writes = unit.writes
        combine = monoid.combine
        rejected: list[tuple[Item, BaseException]] = []
        applied: list[Item] = []

        def add(key: StateKey, delta: Any) -> None:
            writes[key] = combine(writes[key], delta) if key in writes else delta

        if self.changelog:
            docs = list(dict.fromkeys(it.record.change.doc_id for it in items if it.record.change))
            stored = self._retry(self.store.get_contributions, self.name, docs, monoid) if docs else {}
            current: dict[str, Contribution] = dict(stored)
            touched: set[str] = set()
            for it in items:
                change = it.record.change
                assert change is not None
                prev = current.get(change.doc_id)
                applied.append(it)
                if _not_newer(change.version, prev.version if prev is not None else None):
                    continue  # not newer than what is stored: a replay (SPEC §5b)
                if change.deleted:
                    new = Contribution((), None, change.version, deleted=True)
                else:
                    new = Contribution(it.keys, it.element, change.version)
                live_prev = prev if prev is not None and not prev.deleted else None
                if live_prev is not None and (live_prev.keys, live_prev.value) == (new.keys, new.value):
                    current[change.doc_id] = new if new.version is not None else live_prev
                    touched.add(change.doc_id)
                    continue  # same contribution again: delta 0
                if live_prev is not None and not self.group:
                    applied.pop()
                    rejected.append(
                        (
                            it,
                            PermanentError(
                                f"monoid {monoid.spec} cannot take back a document's old value; changelog mode "
                                f"accepts only inserts for it (update/delete of {change.doc_id})"
                            ),
                        )
                    )
                    continue
                if live_prev is not None:
                    negated = monoid.inverse(live_prev.value)  # type: ignore[attr-defined]
                    for key in live_prev.keys:
                        add(key, negated)
                for key in new.keys:
                    add(key, new.value)
                current[change.doc_id] = new
                touched.add(change.doc_id)
            unit.contributions = {d: ContributionWrite(current[d], stored.get(d)) for d in touched}
        else:
            applied = list(items)
            try:
                if not self._additive:
                    raise TypeError
                for it in items:  # the hot path: plain additions, no method calls
                    element = it.element
                    for key in it.keys:
                        writes[key] = writes.get(key, 0) + element
                    for key in it.retract_keys:
                        writes[key] = writes.get(key, 0) + it.retract
            except TypeError:  # not additive, or Decimal meeting float: fold with the monoid
                writes.clear()
                for it in items:
                    for key in it.keys:
                        add(key, it.element)
                    for key in it.retract_keys:
                        add(key, it.retract)
        if self._additive:
            for key in [k for k, v in writes.items() if v == 0]:
                del writes[key]  # a zero delta changes nothing: save the write
        if self.absorbed:
            unit.claims = [it.claim for it in applied if it.claim]
        if self.expiry is not None:
            unit.expiry = {k: exp for k in writes if k.bucket and (exp := self.expiry(k.bucket)) is not None}
        return unit, rejected, applied

    # ---------------------------------------------------------------- retries, dead letters

    def _retry(self, fn: Callable[..., T], *args: Any, retry_all: bool = False) -> T:
        base, cap = self.config.backoff
        attempts = self.config.max_attempts
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts) if attempts else tenacity.stop_never,
            wait=tenacity.wait_random_exponential(multiplier=base, max=cap),  # full jitter
            retry=tenacity.retry_if_exception(lambda e: retry_all or is_transient(e)),
            sleep=self._sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        return retrying(fn, *args)

    def _count_retry(self, state: tenacity.RetryCallState) -> None:
        self.recorder.event(f"{self.name}:retry")
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None:
            self.recorder.error(f"{self.name}:retry", exc)
            log.debug("retrying after %s: %s", type(exc).__name__, exc)

    def _sleep(self, seconds: float) -> None:
        if self.config.stop.wait(seconds):
            raise Cancelled("shutting down")

    def _dead(self, record: Record, exc: BaseException, kind: str, out: Outcome) -> None:
        letter = DeadLetter(
            record, f"{type(exc).__name__}: {exc}" if kind == "apply" else str(exc), kind, self.config.source_name
        )
        if self.source_dead_letter is not None:
            try:
                self._retry(self.source_dead_letter, record, exc, kind)
            except Exception as refused:
                if is_transient(refused) or self.sink is None:
                    raise  # not acked: delivered again after a restart
                # The source's dead-letter destination refuses it for good: keep it in our sink.
                log.warning(
                    "dead-letter destination refused %s (%s); writing it to the dead-letter file",
                    record.event_id,
                    refused,
                )
                self._retry(self.sink.write, letter)
        elif self.sink is not None:
            self._retry(self.sink.write, letter)
        else:
            log.warning("dead letter (%s) %s: %s", kind, record.event_id or record.position, letter.error)
        self.recorder.event(f"{self.name}:dead_letter")
        self.recorder.error(f"{self.name}:dead_letter", exc)
        self.recorder.dead_lettered(f"{record.event_id or record.position}: {letter.error}")
        out.dead += 1
        record.ack()
        if self.config.fail_on_error:
            raise Aborted(f"stopped at a dead letter ({record.event_id or record.position}): {letter.error}")


def _size(unit: Unit) -> int:
    return len(unit.writes) + len(unit.contributions) + len(unit.claims) + len(unit.meta)


def _not_newer(incoming: Version | None, stored: Version | None) -> bool:
    """Both versioned and the incoming one is not after the stored one (a snapshot read is never stale)."""
    return incoming is not None and stored is not None and tuple(incoming) <= tuple(stored)
