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
    "check_monoid_laws",
]
