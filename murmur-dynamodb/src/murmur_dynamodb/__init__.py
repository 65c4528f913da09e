"""Murmur on DynamoDB: a state store (with an exactly-once transactional mode), a deduper,
a ParallelScan snapshot source, and ``murmur dynamodb create-tables``.

The adapters register themselves through the ``murmur`` entry point; import the classes from
here to use them from Python::

    from murmur_dynamodb import DynamoDBDeduper, DynamoDBStore
    store = DynamoDBStore("murmur_state", region="eu-west-1")
"""

from __future__ import annotations

from murmur_dynamodb._tables import SchemaMismatch, ensure_tables
from murmur_dynamodb.dedup import DynamoDBDeduper
from murmur_dynamodb.source import DynamoDBSnapshotSource
from murmur_dynamodb.store import DynamoDBStore

__all__ = ["DynamoDBDeduper", "DynamoDBSnapshotSource", "DynamoDBStore", "SchemaMismatch", "ensure_tables"]
