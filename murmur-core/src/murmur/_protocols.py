"""The extension protocols. Each is short; its docstring is the contract adapters keep.

``murmur.testing`` has a contract test suite for each that an adapter's tests subclass.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from murmur._records import HandoffToken, Record
    from murmur._unit import Contribution, StateKey, Unit
    from murmur.monoids import Monoid

Mode = Literal["append", "changelog"]


@runtime_checkable
class SnapshotSource(Protocol):
    """A source of truth read once, start to end, by a bootstrap (SPEC §5).

    - ``capture_handoff()`` returns where live mode continues. The runtime calls it once,
      before the first scan; a failure there means nothing is scanned.
    - ``segments(count)`` cuts the source into ``count`` JSON-serialisable descriptors that
      together cover every record exactly once. A source that cannot split returns ``[None]``
      for ``count == 1`` and raises ``ConfigError`` otherwise.
    - ``scan(segment, after)`` yields non-empty lists of records of that segment in a stable
      order. Each record's ``position`` is JSON; ``scan(segment, after=p)`` yields exactly the
      records after the one at ``p``. Read errors are raised (as ``SourceError`` where known).
    - ``estimated_total(segment)`` is a record count for progress, or ``None`` if unknown.
    - ``default_mode`` is ``"changelog"`` when records carry a ``Change`` (documents), else
      ``"append"``.
    - Optional ``default_segments``: how many segments to use when the caller names none
      (:class:`HasDefaultSegments`).
    """

    name: str
    default_mode: Mode

    def capture_handoff(self) -> HandoffToken: ...

    def segments(self, count: int) -> Sequence[Any]: ...

    def scan(self, segment: Any, after: Any | None) -> Iterable[list[Record]]: ...

    def estimated_total(self, segment: Any | None = None) -> int | None: ...

    def close(self) -> None: ...


@runtime_checkable
class LiveSource(Protocol):
    """An unbounded source read by the live runtime (SPEC §6).

    - ``capture_position()`` reports where the source is now (Kafka end offsets), JSON; a
      bootstrap calls it *before* it captures its own handoff token. ``None`` if unsupported.
    - ``start(handoff, checkpoint)`` positions the source: after ``checkpoint`` (what this
      source last returned from ``checkpoint()``) if given, else after ``handoff``, else at
      the source's committed or configured start. An unusable token raises ``HandoffError``
      naming the remedy.
    - ``poll(max_records, timeout)`` returns up to ``max_records`` records (maybe none);
      ``poll(0, 0)`` returns none and only keeps the source's session alive (the runtime calls it
      while its lanes are full). Each
      record's ``ack()`` marks it done; the source advances (commits) only over a contiguous
      prefix of acked records per partition, never past an unacked one.
    - ``checkpoint()`` is the JSON position through which every record is acked, for the
      runtime to keep in the store, or ``None`` when the source commits on its own (Kafka).
    - ``close()`` commits the acked prefix and releases resources; records not acked are
      delivered again after a restart. Closing again, or closing a source never started, is
      harmless.
    Optional: ``dead_letter(record, error, kind)`` writes a poison record to the source's own
    dead-letter destination and returns once it is durable (:class:`HasDeadLetter`);
    ``stats()`` returns a dict for progress, ``lag`` per partition, ... (:class:`HasStats`).
    """

    name: str
    default_mode: Mode

    def capture_position(self) -> Any: ...

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None: ...

    def poll(self, max_records: int, timeout: float) -> list[Record]: ...

    def checkpoint(self) -> Any | None: ...

    def close(self) -> None: ...


@runtime_checkable
class Store(Protocol):
    """Where state lives (SPEC §4, §7).

    - ``merge(unit)`` combines every delta of ``unit.writes`` into the stored state with
      ``unit.monoid``, stores ``unit.contributions`` and ``unit.meta``, records ``unit.claims``
      as committed, and honours ``unit.expiry``. If ``transactional`` is true it does all of it
      atomically: on any error nothing is written. A claim that is already recorded raises
      ``ClaimConflict`` (nothing written); a contribution whose ``expected`` is stale may raise
      ``ContributionConflict``. Otherwise it writes in the order writes, contributions, claims,
      meta. Retryable failures are raised as ``TransientError``.
    - ``absorbs(deduper)`` is true when the store can record that deduper's claims inside
      ``merge`` (same database): the runtime then puts claims in the unit instead of calling
      the deduper, which makes claim+apply one transaction.
    - ``get_many(pipeline, keys, monoid)`` returns states in input order, ``None`` for a
      missing or expired key.
    - ``get_contributions(pipeline, doc_ids, monoid)`` returns the stored contributions found.
    - ``read_meta``/``list_meta``/``write_meta``/``delete_meta`` keep small JSON documents
      (checkpoints) per pipeline in a key space of their own; ``write_meta(...,
      only_if_absent=True)`` keeps the first writer's document and returns what is stored.
    - ``max_concurrency`` is how many threads may merge at once (1 for a single-writer store).
    - Optional ``max_unit_items``: the most writes + contributions + claims + meta one atomic
      ``merge`` can take (DynamoDB TransactWriteItems: 100). The runtime then splits a batch
      into units that fit, the checkpoint riding with the last one (:class:`HasMaxUnitItems`).
    - Optional ``scan(pipeline, monoid, *, prefix=None, after=None, limit=1000)``: one page of the
      pipeline's live keys, ``(list of (StateKey, state), cursor)``, the cursor (a string) passed
      as ``after`` for the next page, ``None`` after the last; ``murmur get`` without keys uses it.
      It must read only that pipeline's keys (no scan of other pipelines' data).
    - Optional ``clear(pipeline)``: delete the pipeline's state, contributions, meta and the claims
      of an absorbed deduper; returns counts (``keys``, ``contributions``, ``checkpoints``,
      ``claims``). ``murmur run --restart`` uses it; a Deduper may offer ``clear(pipeline)`` too
      (claim ids are ``<pipeline>|<event id>``).
    """

    name: str
    transactional: bool
    max_concurrency: int

    def absorbs(self, deduper: Deduper) -> bool: ...

    def merge(self, unit: Unit) -> None: ...

    def get_many(self, pipeline: str, keys: Sequence[StateKey], monoid: Monoid[Any]) -> list[Any]: ...

    def get_contributions(
        self, pipeline: str, doc_ids: Sequence[str], monoid: Monoid[Any]
    ) -> dict[str, Contribution]: ...

    def read_meta(self, pipeline: str, name: str) -> dict[str, Any] | None: ...

    def list_meta(self, pipeline: str) -> dict[str, dict[str, Any]]: ...

    def write_meta(
        self, pipeline: str, name: str, doc: dict[str, Any], *, only_if_absent: bool = False
    ) -> dict[str, Any]: ...

    def delete_meta(self, pipeline: str) -> None: ...

    def close(self) -> None: ...


class ClaimStatus(enum.Enum):
    GRANTED = "granted"  # the caller holds the claim and must commit or release it
    DUPLICATE = "duplicate"  # committed before: skip the record
    BUSY = "busy"  # someone else holds an unexpired claim: try again later


@runtime_checkable
class Deduper(Protocol):
    """Remembers which event ids were applied (SPEC §4).

    - ``contains(ids)`` returns the ids already committed (a read; no claim taken).
    - ``claim(ids, lease)`` takes a pending claim on each id for ``lease`` seconds and returns
      a status per id: GRANTED, DUPLICATE (committed before) or BUSY (another holder's claim
      has not expired). Of concurrent claims on one id exactly one is GRANTED. An expired
      pending claim may be taken over.
    - ``commit(ids)`` makes granted claims permanent; ``release(ids)`` drops them so a
      redelivery is applied, not skipped.
    - Backend failures raise (``TransientError`` where retryable); the runtime decides between
      fail-open and fail-closed.
    """

    name: str

    def contains(self, ids: Sequence[str]) -> set[str]: ...

    def claim(self, ids: Sequence[str], lease: float) -> dict[str, ClaimStatus]: ...

    def commit(self, ids: Sequence[str]) -> None: ...

    def release(self, ids: Sequence[str]) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Recorder(Protocol):
    """Receives metrics (SPEC §9). Names: ``<p>``, ``<p>:retry``, ``<p>:dedup_skip``,
    ``<p>:dead_letter``, ``<p>:flush``, ``<p>:poll`` (each live poll); latency ops ``store_merge`` and ``batch_<mode>``.
    Methods must be cheap and thread-safe; they must not raise."""

    def event(self, name: str, n: int = 1) -> None: ...

    def error(self, name: str, exc: BaseException) -> None: ...

    def latency(self, op: str, seconds: float) -> None: ...

    def batch(self, mode: str, records: int, seconds: float) -> None: ...


@runtime_checkable
class RunObserver(Recorder, Protocol):
    """A :class:`Recorder` that also follows a run's progress: the one observer of a run.

    The runtimes report to one recorder (the user's ``metrics=`` and ``status=`` together); a
    recorder that has *all* of these methods (checked with ``isinstance``) gets them as well, one
    that has only the four of :class:`Recorder` keeps working and gets the metrics alone.
    :class:`~murmur.RunStatus` is one (the progress display, the ``--json`` summary and the
    Prometheus exporter read it); subclass :class:`~murmur.metrics.NoopRecorder` to override some.

    Calls come per segment, per unit of work, per poll or per dead letter, never per applied
    record; like the Recorder's, they must be cheap and thread-safe (segments and lanes call from
    their own threads) and must not raise. In the order a run makes them:

    - ``run_started(handoff, resumed=...)``: the handoff token the run captured (bootstrap;
      ``resumed`` when it continues after stored checkpoints) or starts after (live; may be None).
    - ``segment_started(name, total, done, finished=...)``: once per segment of a bootstrap, before
      any progress: the source's estimate (or None), the records done before (a resumed run), and
      whether it finished in an earlier run.
    - ``segment_advanced(name, records)``: a unit of work of that segment is durable; ``records``
      read from the source went into it (applied, dead-lettered or skipped as duplicates).
    - ``segment_finished(name)``: the segment is read to its end and all of it is durable.
    - ``keys_written(n)``: a unit of work wrote ``n`` state keys.
    - ``dead_lettered(sample)``: one record became a dead letter; ``sample`` is
      ``"<event id or position>: <reason>"`` (the ``<p>:dead_letter`` event counts it too).
    - ``source_stats_updated(stats)``: a live source's ``stats()`` (:class:`HasStats`), about once
      a second and once more at the end.
    - ``run_ended(already_finished=...)``: the run is over, whether it succeeded or raised;
      ``already_finished`` when a bootstrap found every segment finished and did nothing.
    """

    def run_started(self, handoff: HandoffToken | None, *, resumed: bool = False) -> None: ...

    def segment_started(self, name: str, total: int | None, done: int = 0, *, finished: bool = False) -> None: ...

    def segment_advanced(self, name: str, records: int) -> None: ...

    def segment_finished(self, name: str) -> None: ...

    def keys_written(self, n: int) -> None: ...

    def dead_lettered(self, sample: str) -> None: ...

    def source_stats_updated(self, stats: dict[str, Any]) -> None: ...

    def run_ended(self, *, already_finished: bool = False) -> None: ...


@runtime_checkable
class Decoder(Protocol):
    """Turns one raw payload into a record (value, event id, event time, change).

    Returns ``None`` to skip the payload (a tombstone); raises ``DecodeError`` for a payload
    that cannot be decoded, which dead-letters it. ``meta`` carries source facts such as
    ``topic``, ``partition``, ``offset`` and ``headers``. ``default_mode`` says whether the
    decoded records are changelog records.
    """

    name: str
    default_mode: Mode

    def decode(self, payload: bytes | None, *, key: bytes | None, meta: Mapping[str, Any]) -> Record | None: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be applied, with why (``kind`` is ``decode`` or ``apply``)."""

    record: Record
    error: str
    kind: str
    source: str


@runtime_checkable
class DeadLetterSink(Protocol):
    """Keeps dead letters somewhere durable; ``write`` returns once the letter is safe."""

    def write(self, letter: DeadLetter) -> None: ...


# --------------------------------------------------------------------------- optional capabilities
# An adapter has one of these by having the attribute; the runtimes check with isinstance(), so
# mypy checks the attribute's type wherever an adapter is passed as one of them.


@runtime_checkable
class HasDefaultSegments(Protocol):
    """A snapshot source that says how many segments to use when the caller names none."""

    @property
    def default_segments(self) -> int | None: ...  # read-only: an ``int`` attribute satisfies it


@runtime_checkable
class HasDeadLetter(Protocol):
    """A live source with a dead-letter destination of its own (a Kafka dead-letter topic).

    ``dead_letter(record, error, kind)`` writes the record with why (``kind`` is ``decode`` or
    ``apply``) and returns once it is durable; the runtime acks the record after that. It
    raises ``TransientError`` when the write did not happen (the record is then not acked).
    """

    def dead_letter(self, record: Record, error: BaseException | str, kind: str) -> None: ...


@runtime_checkable
class HasStats(Protocol):
    """A live source that reports progress: ``stats()`` returns a JSON-ready dict (``lag`` per
    partition, counts, ...); cheap and safe to call from any thread, about once a second."""

    def stats(self) -> dict[str, Any]: ...


@runtime_checkable
class HasMaxUnitItems(Protocol):
    """A transactional store whose atomic ``merge`` takes at most ``max_unit_items`` writes +
    contributions + claims + meta (DynamoDB: 100); the runtime sizes units to fit."""

    @property
    def max_unit_items(self) -> int: ...
