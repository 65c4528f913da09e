"""Static checks only (mypy): the core's adapters and test doubles keep the protocols they stand for.

Nothing here runs; a change that breaks a protocol fails ``mypy`` instead of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__: list[str] = []

if TYPE_CHECKING:
    from murmur._protocols import DeadLetterSink, Deduper, LiveSource, SnapshotSource, Store
    from murmur.adapters.deadletters import JsonLinesDeadLetters
    from murmur.adapters.jsonl import JsonLinesSource
    from murmur.adapters.memory import (
        MemoryDeduper,
        MemoryLiveSource,
        MemorySnapshotSource,
        MemoryStore,
    )
    from murmur.adapters.sqlite import SqliteDeduper, SqliteStore
    from murmur.testing._checkpointed import CheckpointedLiveSource

    def _stores(a: SqliteStore, b: MemoryStore) -> tuple[Store, Store]:
        return a, b

    def _dedupers(a: SqliteDeduper, b: MemoryDeduper) -> tuple[Deduper, Deduper]:
        return a, b

    def _sources(
        a: JsonLinesSource, b: MemorySnapshotSource, c: MemoryLiveSource, d: CheckpointedLiveSource
    ) -> tuple[SnapshotSource, SnapshotSource, LiveSource, LiveSource]:
        return a, b, c, d

    def _sinks(a: JsonLinesDeadLetters) -> DeadLetterSink:
        return a
