"""Murmur: streaming aggregation with the snapshot-then-stream pattern.

Define a :class:`Pipeline`, fold a source of truth into a store with :func:`bootstrap.run`,
then keep it current with :func:`live.run` from the returned :class:`HandoffToken`.
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
from murmur._pipeline import Pipeline, field_getter
from murmur._protocols import (
    ClaimStatus,
    DeadLetter,
    DeadLetterSink,
    Decoder,
    Deduper,
    LiveSource,
    Recorder,
    SnapshotSource,
    Store,
)
from murmur._read import Reader
from murmur._records import Change, HandoffToken, Poison, Record, Version, document_event_id, render_id
from murmur._status import RunStatus
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
    "Last",
    "LiveSource",
    "MapMerge",
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
    "RunStatus",
    "Set",
    "SnapshotSource",
    "SourceError",
    "StateKey",
    "Store",
    "StoreError",
    "Sum",
    "TopK",
    "TransientError",
    "Tuple",
    "Unit",
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
]
