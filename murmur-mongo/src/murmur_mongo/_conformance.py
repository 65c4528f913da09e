"""Static checks only (mypy): the ``mongo`` sources keep the core's protocols, optional ones included.

Nothing here runs; a change that breaks a protocol fails ``mypy`` instead of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__: list[str] = []

if TYPE_CHECKING:
    from murmur import HasDefaultSegments, HasStats, LiveSource, SnapshotSource

    from murmur_mongo.changes import MongoChangeSource
    from murmur_mongo.source import MongoSnapshotSource

    def _snapshot(source: MongoSnapshotSource) -> tuple[SnapshotSource, HasDefaultSegments]:
        return source, source

    def _changes(source: MongoChangeSource) -> tuple[LiveSource, HasStats]:
        return source, source
