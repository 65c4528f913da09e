"""Murmur: streaming aggregation with the snapshot-then-stream pattern.

Define a :class:`Pipeline`, then :func:`snapshot_then_stream` folds a source of truth into a
store and keeps it current from a live source. The two phases are also there on their own:
:func:`bootstrap.run` returns a :class:`HandoffToken`, :func:`live.run` continues from it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: `import murmur` must not pay for importing typing
if TYPE_CHECKING:
    from typing import Any

    from murmur import bootstrap, live
    from murmur._acks import (
        ContiguousAcks,
    )
    from murmur._batch import (
        Batch,
        BatchLiveSource,
        BatchSnapshotSource,
    )
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
    from murmur._options import (
        CheckpointPolicy,
        RunOptions,
    )
    from murmur._pipeline import (
        KeySpec,
        KeysSpec,
        Pipeline,
        ValueSpec,
        field_getter,
    )
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
    from murmur._read import (
        Reader,
        Span,
    )
    from murmur._records import (
        Change,
        HandoffToken,
        Poison,
        Record,
        Version,
        document_event_id,
        render_id,
    )
    from murmur._status import (
        RunStatus,
        SegmentProgress,
    )
    from murmur._then import (
        snapshot_then_stream,
    )
    from murmur._unit import (
        Contribution,
        ContributionWrite,
        StateKey,
        Unit,
    )
    from murmur._windows import (
        Window,
        parse_duration,
        parse_event_time,
    )
    from murmur.monoids import (
        HLL,
        Bloom,
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
        TopK,
        Tuple,
        parse_monoid,
    )
    from murmur.plugins import (
        AdapterContext,
        AdapterSpec,
        Option,
        hookimpl,
    )

__version__ = "0.1.0"

#: Public name -> the module that defines it. Nothing is imported with `import murmur`: the CLI
#: (`murmur plugins list`, `murmur --help`) must start in a few tens of milliseconds, and the
#: runtimes, sketches (datasketches) and plugin host (pluggy) load on first use.
_EXPORTS = {
    "Aborted": "murmur._errors",
    "AdapterContext": "murmur.plugins",
    "AdapterSpec": "murmur.plugins",
    "Batch": "murmur._batch",
    "BatchLiveSource": "murmur._batch",
    "BatchSnapshotSource": "murmur._batch",
    "Bloom": "murmur.monoids",
    "Cancelled": "murmur._errors",
    "Change": "murmur._records",
    "CheckpointExists": "murmur._errors",
    "CheckpointPolicy": "murmur._options",
    "ClaimConflict": "murmur._errors",
    "ClaimStatus": "murmur._protocols",
    "ConfigError": "murmur._errors",
    "ContiguousAcks": "murmur._acks",
    "Contribution": "murmur._unit",
    "ContributionConflict": "murmur._errors",
    "ContributionWrite": "murmur._unit",
    "Count": "murmur.monoids",
    "DecayedSum": "murmur.monoids",
    "DeadLetter": "murmur._protocols",
    "DeadLetterSink": "murmur._protocols",
    "DecodeError": "murmur._errors",
    "Decoder": "murmur._protocols",
    "Deduper": "murmur._protocols",
    "FieldError": "murmur._errors",
    "First": "murmur.monoids",
    "Group": "murmur.monoids",
    "HLL": "murmur.monoids",
    "HandoffError": "murmur._errors",
    "HandoffToken": "murmur._records",
    "HasDeadLetter": "murmur._protocols",
    "HasDefaultSegments": "murmur._protocols",
    "HasMaxUnitItems": "murmur._protocols",
    "HasStats": "murmur._protocols",
    "KeySpec": "murmur._pipeline",
    "KeysSpec": "murmur._pipeline",
    "Last": "murmur.monoids",
    "LiveSource": "murmur._protocols",
    "MapMerge": "murmur.monoids",
    "Mode": "murmur._protocols",
    "Max": "murmur.monoids",
    "Min": "murmur.monoids",
    "Monoid": "murmur.monoids",
    "MurmurError": "murmur._errors",
    "Option": "murmur.plugins",
    "PermanentError": "murmur._errors",
    "Pipeline": "murmur._pipeline",
    "PipelineError": "murmur._errors",
    "Poison": "murmur._records",
    "Reader": "murmur._read",
    "Record": "murmur._records",
    "Recorder": "murmur._protocols",
    "RunObserver": "murmur._protocols",
    "RunOptions": "murmur._options",
    "RunStatus": "murmur._status",
    "SegmentProgress": "murmur._status",
    "Set": "murmur.monoids",
    "SnapshotSource": "murmur._protocols",
    "SourceError": "murmur._errors",
    "Span": "murmur._read",
    "StateKey": "murmur._unit",
    "Store": "murmur._protocols",
    "StoreError": "murmur._errors",
    "Sum": "murmur.monoids",
    "TopK": "murmur.monoids",
    "TransientError": "murmur._errors",
    "Tuple": "murmur.monoids",
    "Unit": "murmur._unit",
    "ValueSpec": "murmur._pipeline",
    "Version": "murmur._records",
    "Window": "murmur._windows",
    "document_event_id": "murmur._records",
    "field_getter": "murmur._pipeline",
    "hookimpl": "murmur.plugins",
    "is_transient": "murmur._errors",
    "parse_duration": "murmur._windows",
    "parse_event_time": "murmur._windows",
    "parse_monoid": "murmur.monoids",
    "render_id": "murmur._records",
    "snapshot_then_stream": "murmur._then",
}
_MODULES = {"bootstrap", "live"}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _MODULES:
        return importlib.import_module(f"murmur.{name}")
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'murmur' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
