"""Registers ``mongo`` (snapshot source) and ``mongo-changes`` (live source).

Nothing here imports pymongo: the factories import the adapters when a run builds them, so
``murmur --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from murmur import AdapterContext, AdapterSpec, Option, hookimpl

_CONNECTION = (
    Option(
        "uri",
        help="MongoDB connection string, e.g. mongodb://user:pass@host:27017/?replicaSet=rs0",
        env="MURMUR_MONGO_URI",
        secret=True,
        required=True,
    ),
    Option("database", help="database name", required=True),
    Option("collection", help="collection name", required=True),
    Option(
        "server_selection_timeout_ms",
        "int",
        5000,
        help="how long to look for a usable server before failing (the uri's serverSelectionTimeoutMS wins)",
    ),
    Option(
        "connect_timeout_ms",
        "int",
        5000,
        help="how long one connection attempt may take (the uri's connectTimeoutMS wins)",
    ),
)


def _uri(options: Mapping[str, Any]) -> str:
    """The uri with the timeout options as URI parameters (parameters the uri sets itself win)."""
    from murmur_mongo._client import with_uri_options

    return with_uri_options(
        str(options["uri"]),
        {
            "serverSelectionTimeoutMS": options.get("server_selection_timeout_ms"),
            "connectTimeoutMS": options.get("connect_timeout_ms"),
        },
    )


def _snapshot(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur_mongo.source import MongoSnapshotSource

    return MongoSnapshotSource(
        uri=_uri(options),
        database=options["database"],
        collection=options["collection"],
        filter=options.get("filter"),
        projection=options.get("projection"),
        batch_size=int(options.get("batch_size") or 1000),
        segments=int(options.get("segments") or 1),
        no_handoff=bool(options.get("no_handoff")),
    )


def _changes(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur_mongo.changes import MongoChangeSource

    return MongoChangeSource(
        uri=_uri(options),
        database=options["database"],
        collection=options["collection"],
        filter=options.get("filter"),
        batch_size=int(options.get("batch_size") or 1000),
        max_await_ms=int(options["max_await_ms"] if options.get("max_await_ms") is not None else 250),
        server_filter=bool(options.get("server_filter")),
    )


SNAPSHOT = AdapterSpec(
    name="mongo",
    kind="source",
    description="MongoDB collection scan in _id order; hands off to mongo-changes with a change-stream resume token.",
    factory=_snapshot,
    options=(
        *_CONNECTION,
        Option("filter", "json", help='only documents matching this query, e.g. {"status": "paid"} (extended JSON)'),
        Option("projection", "json", help='only these fields, e.g. {"customer": 1, "amount": 1} (_id is always kept)'),
        Option("batch_size", "int", 1000, help="documents per query (and per applied batch)"),
        Option("segments", "int", 1, help="_id ranges to scan in parallel when --segments is not given"),
        Option(
            "no_handoff",
            "bool",
            False,
            help="do not open a change stream (standalone servers): a one-off snapshot with an empty handoff token",
        ),
    ),
    guarantees=("resumable", "splittable", "changelog", "handoff: change-stream resume token"),
)

CHANGES = AdapterSpec(
    name="mongo-changes",
    kind="live",
    description="MongoDB change stream of one collection (fullDocument=updateLookup), continued from a mongo handoff.",
    factory=_changes,
    options=(
        *_CONNECTION,
        Option(
            "filter",
            "json",
            help="only documents matching this query (as for `mongo`); documents that stop matching count as deleted",
        ),
        Option("batch_size", "int", 1000, help="change events per server round trip"),
        Option("max_await_ms", "int", 250, help="how long the server may wait for new events per read (ms)"),
        Option(
            "server_filter",
            "bool",
            False,
            help="also drop non-matching inserts on the server ($match on fullDocument.<field>); needs MongoDB, "
            "not supported by nx-27017",
        ),
    ),
    guarantees=(
        "resumable (resume token of the acked prefix checkpointed after each applied batch)",
        "ordered",
        "changelog: re-deliveries converge to exact totals (group monoids)",
    ),
)


@hookimpl
def murmur_register(register: Callable[[AdapterSpec], None]) -> None:
    register(SNAPSHOT)
    register(CHANGES)
