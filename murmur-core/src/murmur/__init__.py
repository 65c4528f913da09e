"""Murmur: streaming aggregation with the snapshot-then-stream pattern.

Define a :class:`Pipeline`, then :func:`snapshot_then_stream` folds a source of truth into a
store and keeps it current from a live source. The two phases are also there on their own:
:func:`bootstrap.run` returns a :class:`HandoffToken`, :func:`live.run` continues from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from murmur._acks import ContiguousAcks
from murmur._batch import Batch, BatchLiveSource, BatchSnapshotSource
from murmur._errors import (
    Aborted,
    Cancelled,
    CheckpointExists,
    ClaimConflict,
    ConfigError,
    ContributionConflict,
    DecodeError,
    FieldError,
    HandoffError,
    MurmurError,
    PermanentError,
    PipelineError,
    SourceError,
    StoreError,
    TransientError,
    is_transient,
)
from murmur._options import CheckpointPolicy, RunOptions
from murmur._pipeline import KeySpec, KeysSpec, Pipeline, ValueSpec, field_getter
from murmur._protocols import (
    ClaimStatus,
    DeadLetter,
    DeadLetterSink,
    Decoder,
    Deduper,
    HasDeadLetter,
    HasDefaultSegments,
    HasMaxUnitItems,
    HasStats,
    LiveSource,
    Mode,
    Recorder,
    RunObserver,
    SnapshotSource,
    Store,
)
from murmur._read import Reader, Span
from murmur._records import Change, HandoffToken, Poison, Record, Version, document_event_id, render_id
from murmur._status import RunStatus, SegmentProgress
from murmur._then import snapshot_then_stream
from murmur._unit import Contribution, ContributionWrite, StateKey, Unit
from murmur._windows import Window, parse_duration, parse_event_time
from murmur.monoids import (
    Count,
    DecayedSum,
    First,
    Group,
    Last,
    MapMerge,
    Max,
    Min,
    Monoid,
    Set,
    Sum,
    Tuple,
    parse_monoid,
)
from murmur.plugins import AdapterContext, AdapterSpec, Option, hookimpl

if TYPE_CHECKING:
    from murmur import bootstrap, live
    from murmur.monoids.sketches import HLL, Bloom, TopK

__version__ = "0.1.0"

_LAZY_SKETCHES = {"HLL", "TopK", "Bloom"}
_LAZY_MODULES = {"bootstrap", "live"}


def __getattr__(name: str) -> Any:
    # Loaded on first use, not with `import murmur`: sketches need datasketches (~160 ms) and the
    # runtimes tenacity (~100 ms), and `murmur --help` should not wait for either.
    if name in _LAZY_SKETCHES:
        import murmur.monoids

        return getattr(murmur.monoids, name)
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"murmur.{name}")
    raise AttributeError(f"module 'murmur' has no attribute {name!r}")


__all__ = [
    "Aborted",
    "AdapterContext",
    "AdapterSpec",
    "Batch",
    "BatchLiveSource",
    "BatchSnapshotSource",
    "Bloom",
    "Cancelled",
    "Change",
    "CheckpointExists",
    "CheckpointPolicy",
    "ClaimConflict",
    "ClaimStatus",
    "ConfigError",
    "ContiguousAcks",
    "Contribution",
    "ContributionConflict",
    "ContributionWrite",
    "Count",
    "DecayedSum",
    "DeadLetter",
    "DeadLetterSink",
    "DecodeError",
    "Decoder",
    "Deduper",
    "FieldError",
    "First",
    "Group",
    "HLL",
    "HandoffError",
    "HandoffToken",
    "HasDeadLetter",
    "HasDefaultSegments",
    "HasMaxUnitItems",
    "HasStats",
    "KeySpec",
    "KeysSpec",
    "Last",
    "LiveSource",
    "MapMerge",
    "Mode",
    "Max",
    "Min",
    "Monoid",
    "MurmurError",
    "Option",
    "PermanentError",
    "Pipeline",
    "PipelineError",
    "Poison",
    "Reader",
    "Record",
    "Recorder",
    "RunObserver",
    "RunOptions",
    "RunStatus",
    "SegmentProgress",
    "Set",
    "SnapshotSource",
    "SourceError",
    "Span",
    "StateKey",
    "Store",
    "StoreError",
    "Sum",
    "TopK",
    "TransientError",
    "Tuple",
    "Unit",
    "ValueSpec",
    "Version",
    "Window",
    "__version__",
    "bootstrap",
    "document_event_id",
    "field_getter",
    "hookimpl",
    "is_transient",
    "live",
    "parse_duration",
    "parse_event_time",
    "parse_monoid",
    "render_id",
    "snapshot_then_stream",
]
