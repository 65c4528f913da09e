"""What adapter authors and users' tests need: the monoid law checker, in-memory fakes, and
the contract suites every adapter's tests subclass."""

from __future__ import annotations

from murmur.adapters.memory import (
    Crash,
    MemoryDeduper,
    MemoryLiveSource,
    MemoryLog,
    MemorySnapshotSource,
    MemoryStore,
)
from murmur.testing._checkpointed import CheckpointedLiveSource, CheckpointShelf
from murmur.testing._contracts import DeduperContract, LiveSourceContract, SnapshotSourceContract, StoreContract
from murmur.testing._laws import check_monoid_laws
from murmur.testing._status import build_status_scenario, check_status_scenario

__all__ = [
    "CheckpointShelf",
    "CheckpointedLiveSource",
    "Crash",
    "DeduperContract",
    "LiveSourceContract",
    "SnapshotSourceContract",
    "StoreContract",
    "MemoryDeduper",
    "MemoryLiveSource",
    "MemoryLog",
    "MemorySnapshotSource",
    "MemoryStore",
    "build_status_scenario",
    "check_monoid_laws",
    "check_status_scenario",
]
