"""Murmur: streaming aggregation with the snapshot-then-stream pattern.

Define a :class:`Pipeline`, fold a source of truth into a store with :func:`bootstrap.run`,
then keep it current with :func:`live.run` from the returned :class:`HandoffToken`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: `import murmur` must not pay for importing typing
if TYPE_CHECKING:
    from typing import Any

    from murmur import bootstrap, live
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
    from murmur.monoids.sketches import HLL, Bloom, TopK
    from murmur.plugins import AdapterContext, AdapterSpec, Option, hookimpl


__version__ = "0.1.0"

#: Public name -> the module that defines it. Nothing is imported with `import murmur`: the CLI
#: (`murmur plugins list`, `murmur --help`) must start in a few tens of milliseconds, and the
#: runtimes, sketches (datasketches) and plugin host (pluggy) load on first use.
_EXPORTS = {
    "ContiguousAcks": "murmur._acks",
    "Aborted": "murmur._errors",
    "Cancelled": "murmur._errors",
    "CheckpointExists": "murmur._errors",
    "ClaimConflict": "murmur._errors",
    "ConfigError": "murmur._errors",
    "ContributionConflict": "murmur._errors",
    "DecodeError": "murmur._errors",
    "FieldError": "murmur._errors",
    "HandoffError": "murmur._errors",
    "MurmurError": "murmur._errors",
    "PermanentError": "murmur._errors",
    "PipelineError": "murmur._errors",
    "SourceError": "murmur._errors",
    "StoreError": "murmur._errors",
    "TransientError": "murmur._errors",
    "is_transient": "murmur._errors",
    "Pipeline": "murmur._pipeline",
    "field_getter": "murmur._pipeline",
    "ClaimStatus": "murmur._protocols",
    "DeadLetter": "murmur._protocols",
    "DeadLetterSink": "murmur._protocols",
    "Decoder": "murmur._protocols",
    "Deduper": "murmur._protocols",
    "LiveSource": "murmur._protocols",
    "Recorder": "murmur._protocols",
    "SnapshotSource": "murmur._protocols",
    "Store": "murmur._protocols",
    "Reader": "murmur._read",
    "Change": "murmur._records",
    "HandoffToken": "murmur._records",
    "Poison": "murmur._records",
    "Record": "murmur._records",
    "Version": "murmur._records",
    "document_event_id": "murmur._records",
    "render_id": "murmur._records",
    "RunStatus": "murmur._status",
    "Contribution": "murmur._unit",
    "ContributionWrite": "murmur._unit",
    "StateKey": "murmur._unit",
    "Unit": "murmur._unit",
    "Window": "murmur._windows",
    "parse_duration": "murmur._windows",
    "parse_event_time": "murmur._windows",
    "Count": "murmur.monoids",
    "DecayedSum": "murmur.monoids",
    "First": "murmur.monoids",
    "Group": "murmur.monoids",
    "Last": "murmur.monoids",
    "MapMerge": "murmur.monoids",
    "Max": "murmur.monoids",
    "Min": "murmur.monoids",
    "Monoid": "murmur.monoids",
    "Set": "murmur.monoids",
    "Sum": "murmur.monoids",
    "Tuple": "murmur.monoids",
    "parse_monoid": "murmur.monoids",
    "AdapterContext": "murmur.plugins",
    "AdapterSpec": "murmur.plugins",
    "Option": "murmur.plugins",
    "hookimpl": "murmur.plugins",
    "HLL": "murmur.monoids",
    "TopK": "murmur.monoids",
    "Bloom": "murmur.monoids",
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
