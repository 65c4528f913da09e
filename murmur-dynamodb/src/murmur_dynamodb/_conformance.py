"""Static checks only (mypy): the ``dynamodb`` adapters keep the core's protocols, optional ones included.

Nothing here runs; a change that breaks a protocol fails ``mypy`` instead of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__: list[str] = []

if TYPE_CHECKING:
    from murmur import Deduper, HasDefaultSegments, HasMaxUnitItems, SnapshotSource, Store

    from murmur_dynamodb.dedup import DynamoDBDeduper
    from murmur_dynamodb.source import DynamoDBSnapshotSource
    from murmur_dynamodb.store import DynamoDBStore

    def _store(store: DynamoDBStore) -> tuple[Store, HasMaxUnitItems]:
        return store, store

    def _dedup(dedup: DynamoDBDeduper) -> Deduper:
        return dedup

    def _source(source: DynamoDBSnapshotSource) -> tuple[SnapshotSource, HasDefaultSegments]:
        return source, source
