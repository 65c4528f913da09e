"""Murmur: streaming aggregation with the snapshot-then-stream pattern.

Define a :class:`Pipeline`, fold a source of truth into a store with :func:`bootstrap.run`,
then keep it current with :func:`live.run` from the returned :class:`HandoffToken`.
"""

from __future__ import annotations

from murmur._acks import ContiguousAcks
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
from murmur._records import Change, HandoffToken, Record, Version, document_event_id, render_id
from murmur._status import RunStatus
from murmur._unit import Contribution, ContributionWrite, StateKey, Unit
from murmur._windows import Window, parse_duration
from murmur.monoids import (
    Count,
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

__version__ = "0.1.0"

__all__ = [
    "Aborted",
    "AdapterContext",
    "AdapterSpec",
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
    "DeadLetter",
    "DeadLetterSink",
    "DecodeError",
    "Decoder",
    "Deduper",
    "FieldError",
    "First",
    "Group",
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
    "TransientError",
    "Tuple",
    "Unit",
    "Version",
    "Window",
    "__version__",
    "document_event_id",
    "field_getter",
    "hookimpl",
    "is_transient",
    "parse_duration",
    "parse_monoid",
    "render_id",
]
