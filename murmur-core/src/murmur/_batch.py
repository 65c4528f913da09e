"""Batches: the unit of work from a source to its ack (ARCHITECTURE.md).

A source hands the runtime a :class:`Batch` — a file block, one Kafka poll, one cursor batch —
instead of one ``Record`` at a time. The runtime decodes and folds it, merges the folded unit
into the store, and only then tells the source which positions are durable. Per-record
objects exist only where a pipeline needs them (the general path, dead letters).

The batch protocols
-------------------
A source may implement either, or both, of these *in addition to* (or instead of) the
per-record ``SnapshotSource`` / ``LiveSource`` of ``murmur._protocols``. A source that
implements only the per-record protocol keeps working: :func:`snapshot_batches` and
:class:`LiveBatches` wrap it.

``BatchSnapshotSource`` (bootstrap) — a ``SnapshotSource`` that also has

- ``scan_batches(segment, after) -> Iterable[Batch]``: the segment's records after position
  ``after``, in batches, in a stable order. ``batch.end`` is the position after the batch's
  last record: ``scan_batches(segment, after=batch.end)`` (and ``scan(segment, batch.end)``)
  continues right after it. The runtime keeps ``end`` of the last applied batch in the
  segment's checkpoint, inside the same unit of work as the state.

``BatchLiveSource`` (live) — ``name``, ``default_mode``, ``capture_position()``,
``start(handoff, checkpoint)`` and ``close()`` as in ``LiveSource``, plus

- ``poll_batch(max_records, timeout) -> Batch | None``: what arrived (one Kafka poll), or
  ``None``/an empty batch when nothing did within ``timeout``. ``poll_batch(0, 0)`` only keeps
  the session alive (called while the runtime is held up by the store) and returns ``None``.
- ``batch.end`` is a ``Mapping`` from an opaque hashable *partition* (Kafka: ``(topic,
  partition, assignment generation)``) to the position to commit once the batch is durable
  (Kafka: last offset + 1). Partitions absent from a batch are simply not in its ``end``.
- ``commit(positions)``: the runtime calls it when committed units of work made more batches
  durable, at most once per unit, with ``positions`` = for each partition that advanced, the
  ``end`` of the newest batch such that it and every batch polled before it are durably applied
  (contiguous by construction: the runtime never reports a batch while an earlier one is in
  flight, however its lanes interleave). Positions only move forward per partition. A batch
  whose documents were all dead letters or tombstones is reported like any other (dead letters
  are durable before ``commit`` names them). It may be called from a runtime thread other
  than the one that polls; a source whose client is not thread-safe records the positions and
  commits them on its next ``poll_batch`` or at ``close()``. Positions of a partition the source no longer owns
  (revoked, reassigned: a new generation) must be ignored. Nothing is acked per record.
- ``batch.checkpoint`` (optional, JSON): for a source that does not commit on its own (a change
  stream), or that mirrors its offsets in the store, where to resume once this batch and all
  before it are durable. The runtime writes the latest such checkpoint *inside* the unit of work
  (meta ``live/<source name>``), exactly like a bootstrap segment checkpoint, when one lane
  writes (a single-writer store such as SQLite); with several lanes, as soon as it is durable (one
  checkpoint item in every lane's transaction would make the lanes conflict with each other).
  It passes it back to ``start(handoff, checkpoint)`` after a restart.
- Optional, as in ``LiveSource``: ``dead_letter(record, error, kind)`` and ``stats()``.

The ``Batch``
-------------
``size`` (records in the batch, for progress), ``end`` (above), ``checkpoint`` (above), and
``records()``: the batch as ``Record`` objects (built lazily, on the general path only: a
pipeline with Python callables, windows, changelog mode, dedup…). Two optional forms let a
field-path pipeline skip records entirely (see ``murmur._decode``):

- ``block``: bytes (or a ``memoryview`` of a buffer no one writes to again: a file read without a
  copy) holding one JSON document per line (a JSON-Lines file block, cut at a newline); blank
  lines are not records. Consumers that need ``bytes`` methods take ``bytes(block)``.
- ``payloads``: a sequence of raw JSON documents, one per record (a Kafka poll whose values are
  plain JSON); ``None`` items are skipped (tombstones).

Set them only when each document *is* the record's value, as the pipeline reads it. For a
document that fails to decode, ``poison(index, reason)`` returns the ``Record`` that stands for
it in the dead-letter path (its event id names where it came from, e.g. ``file:line``; a
subclass overrides it, as ``murmur.adapters.jsonl.LinesBatch`` does); ``index`` is the 0-based
line of ``block`` (blank lines counted) or the index into ``payloads``. A Kafka poll would be
``Batch(len(msgs), {(topic, partition, generation): last offset + 1, ...}, make=decode_records,
payloads=[m.value() for m in msgs])`` (``payloads`` only with a plain JSON decoder).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from murmur._records import Poison, Record

if TYPE_CHECKING:
    from murmur._protocols import LiveSource, Mode, SnapshotSource
    from murmur._records import HandoffToken

__all__ = [
    "Batch",
    "BatchLiveSource",
    "BatchSnapshotSource",
    "LiveBatches",
    "live_batches",
    "snapshot_batches",
]


class Batch:
    """Records handed over together; see the module docstring for each field's contract."""

    __slots__ = ("_make", "_records", "block", "checkpoint", "end", "payloads", "size")

    def __init__(
        self,
        size: int,
        end: Any,
        *,
        records: Sequence[Record] | None = None,
        make: Callable[[], Sequence[Record]] | None = None,
        checkpoint: Any = None,
        block: bytes | memoryview | None = None,
        payloads: Sequence[bytes | None] | None = None,
    ) -> None:
        self.size = size
        self.end = end
        self.checkpoint = checkpoint
        self.block = block
        self.payloads = payloads
        self._records = records
        self._make = make

    @classmethod
    def of(cls, records: Sequence[Record], end: Any = None, *, checkpoint: Any = None) -> Batch:
        """A batch of records already built (``end`` defaults to the last record's position)."""
        if end is None and records:
            end = records[-1].position
        return cls(len(records), end, records=records, checkpoint=checkpoint)

    def records(self) -> Sequence[Record]:
        """The batch as records, built once on first use."""
        if self._records is None:
            if self._make is None:
                raise TypeError("a Batch needs records= or make= (or a subclass that overrides records())")
            self._records = self._make()
            self._make = None
        return self._records

    def poison(self, index: int, reason: str) -> Record:
        """The record standing for document ``index`` that failed to decode (override to name it)."""
        raw: bytes | None = None
        if self.payloads is not None and index < len(self.payloads):
            raw = self.payloads[index]
        elif self.block is not None:
            lines = bytes(self.block).split(b"\n")
            raw = lines[index] if index < len(lines) else None
        return Record(Poison(reason, raw), position=self.end)

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"Batch(size={self.size}, end={self.end!r})"


@runtime_checkable
class BatchSnapshotSource(Protocol):
    """A snapshot source that hands over batches (module docstring: ``scan_batches``)."""

    name: str
    default_mode: Mode

    def scan_batches(self, segment: Any, after: Any | None) -> Iterable[Batch]: ...


@runtime_checkable
class BatchLiveSource(Protocol):
    """A live source that hands over batches and is told once per unit what is durable."""

    name: str
    default_mode: Mode

    def capture_position(self) -> Any: ...

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None: ...

    def poll_batch(self, max_records: int, timeout: float) -> Batch | None: ...

    def commit(self, positions: Mapping[Hashable, Any]) -> None: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- adapters


def snapshot_batches(source: SnapshotSource | BatchSnapshotSource, segment: Any, after: Any) -> Iterator[Batch]:
    """The source's batches: its own ``scan_batches``, or its per-record ``scan`` lists wrapped."""
    scan_batches = getattr(source, "scan_batches", None)
    if callable(scan_batches):
        yield from scan_batches(segment, after)
        return
    for records in source.scan(segment, after):  # type: ignore[union-attr]
        if records:
            yield Batch.of(records)


class LiveBatches:
    """A per-record ``LiveSource`` seen as a ``BatchLiveSource``.

    Its records keep their own ``ack()`` (the Applier acks each record once it is durable,
    and the source tracks its contiguous prefix as before), so ``commit`` has nothing to do;
    its ``checkpoint()`` is read after each commit, as that source's contract asks.
    """

    def __init__(self, source: LiveSource) -> None:
        self.source = source
        self.name = source.name
        self.default_mode = source.default_mode
        self.per_record = True

    def capture_position(self) -> Any:
        return self.source.capture_position()

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None:
        self.source.start(handoff, checkpoint)

    def poll_batch(self, max_records: int, timeout: float) -> Batch | None:
        records = self.source.poll(max_records, timeout)
        return Batch(len(records), None, records=records) if records else None

    def commit(self, positions: Mapping[Hashable, Any]) -> None:
        pass  # the records were acked one by one

    def checkpoint(self) -> Any | None:
        return self.source.checkpoint()

    def close(self) -> None:
        self.source.close()

    def __getattr__(self, name: str) -> Any:  # dead_letter, stats, ... of the wrapped source
        return getattr(self.source, name)


def live_batches(source: LiveSource | BatchLiveSource) -> BatchLiveSource | LiveBatches:
    """``source`` itself if it speaks batches (is a :class:`BatchLiveSource`), else wrapped in
    :class:`LiveBatches`. A source offering both protocols (``mongo-changes``) takes the batch path."""
    if isinstance(source, BatchLiveSource):
        return source
    return LiveBatches(source)
