"""MongoDB for Murmur: the ``mongo`` collection-scan snapshot source (with a change-stream
handoff) and the ``mongo-changes`` live source that continues from it.

Both are registered as plugins (``murmur plugins list``); the classes are importable for
embedding::

    from murmur_mongo import MongoSnapshotSource, MongoChangeSource
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["MongoChangeSource", "MongoSnapshotSource", "id_from_json", "id_to_json"]

if TYPE_CHECKING:
    from murmur_mongo._ids import id_from_json, id_to_json
    from murmur_mongo.changes import MongoChangeSource
    from murmur_mongo.source import MongoSnapshotSource


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the package (the plugin loader does) does not import pymongo.
    if name == "MongoSnapshotSource":
        from murmur_mongo.source import MongoSnapshotSource

        return MongoSnapshotSource
    if name == "MongoChangeSource":
        from murmur_mongo.changes import MongoChangeSource

        return MongoChangeSource
    if name in ("id_from_json", "id_to_json"):
        from murmur_mongo import _ids

        return getattr(_ids, name)
    raise AttributeError(f"module 'murmur_mongo' has no attribute {name!r}")
