"""Registers the ``dynamodb`` store, deduper and snapshot source, and ``murmur dynamodb``.

Nothing heavy is imported here: boto3 loads when a factory runs, typer when the CLI asks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from murmur import AdapterContext, AdapterSpec, ConfigError, Option, hookimpl, parse_duration

if TYPE_CHECKING:
    import typer

_ENDPOINT = Option(
    "endpoint_url",
    help="DynamoDB endpoint URL (DynamoDB Local, a test server); default: AWS, or $AWS_ENDPOINT_URL_DYNAMODB",
)
_REGION = Option("region", help="AWS region; default: $AWS_DEFAULT_REGION, ~/.aws/config, $AWS_REGION")
_POOL = Option("max_pool_connections", "int", 16, help="HTTP connections to DynamoDB (parallel key writes and claims)")

STORE_OPTIONS = (
    Option("table", default="murmur_state", help="state table (make it: `murmur dynamodb create-tables --state NAME`)"),
    _ENDPOINT,
    _REGION,
    Option("consistent_reads", "bool", True, help="strongly consistent reads for `get` (compare-and-swap always is)"),
    _POOL,
    Option(
        "transactional",
        "bool",
        None,
        help="commit each unit in one TransactWriteItems (≤100 items); default: on when the dynamodb deduper "
        "is on the same endpoint and region (exactly-once), else off (at-least-once, faster)",
    ),
    Option("cas_attempts", "int", 10, help="attempts of a compare-and-swap or transaction under contention"),
)

DEDUP_OPTIONS = (
    Option("table", default="murmur_dedup", help="dedup table (make it: `murmur dynamodb create-tables --dedup NAME`)"),
    _ENDPOINT,
    _REGION,
    Option("ttl", "duration", "7d", help="how long applied event ids are remembered (DynamoDB TTL)"),
    _POOL,
)

SOURCE_OPTIONS = (
    Option("table", required=True, help="table to scan"),
    _ENDPOINT,
    _REGION,
    Option("segments", "int", 1, help="parallel Scan segments when the run gives no --segments"),
    Option("page_size", "int", 500, help="items per Scan page (one batch each)"),
    Option("consistent_read", "bool", False, help="strongly consistent Scan (twice the read cost)"),
)

STORE_GUARANTEES = (
    "exactly-once with the dynamodb deduper (claim+apply in one TransactWriteItems, any monoid)",
    "at-least-once with transactional=false or another deduper",
    "atomic ADD for sum/count, conditional SET for min/max, compare-and-swap otherwise",
    "resumable",
)
DEDUP_GUARANTEES = (
    "one winner per event id (conditional puts, leases)",
    "exactly-once when absorbed by the dynamodb store",
)
SOURCE_GUARANTEES = ("resumable per segment", "splittable (ParallelScan)", "estimated total")


def _get(options: Mapping[str, Any], name: str, default: Any) -> Any:
    value = options.get(name)
    return default if value is None else value


def _seconds(value: Any, option: str) -> float:
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        seconds = parse_duration(str(value), option=option).total_seconds()
    if seconds <= 0:
        raise ConfigError(f"{option}: must be a positive duration (got {value!r})", option=option)
    return seconds


def make_store(options: Mapping[str, Any], context: AdapterContext | None = None) -> Any:
    from murmur_dynamodb.store import DynamoDBStore

    transactional = options.get("transactional")
    return DynamoDBStore(
        str(_get(options, "table", "murmur_state")),
        endpoint_url=options.get("endpoint_url") or None,
        region=options.get("region") or None,
        consistent_reads=bool(_get(options, "consistent_reads", True)),
        max_pool_connections=int(_get(options, "max_pool_connections", 16)),
        transactional=None if transactional is None else bool(transactional),
        cas_attempts=int(_get(options, "cas_attempts", 10)),
    )


def make_deduper(options: Mapping[str, Any], context: AdapterContext | None = None) -> Any:
    from murmur_dynamodb.dedup import DynamoDBDeduper

    return DynamoDBDeduper(
        str(_get(options, "table", "murmur_dedup")),
        endpoint_url=options.get("endpoint_url") or None,
        region=options.get("region") or None,
        ttl=_seconds(_get(options, "ttl", "7d"), "ttl"),
        max_pool_connections=int(_get(options, "max_pool_connections", 16)),
    )


def make_source(options: Mapping[str, Any], context: AdapterContext | None = None) -> Any:
    from murmur_dynamodb.source import DynamoDBSnapshotSource

    return DynamoDBSnapshotSource(
        str(options.get("table") or ""),
        endpoint_url=options.get("endpoint_url") or None,
        region=options.get("region") or None,
        page_size=int(_get(options, "page_size", 500)),
        consistent_read=bool(_get(options, "consistent_read", False)),
        segments=int(_get(options, "segments", 1)),
    )


@hookimpl
def murmur_register(register: Callable[[AdapterSpec], None]) -> None:
    register(
        AdapterSpec(
            "dynamodb",
            "store",
            "State in a DynamoDB table: atomic ADD, conditional min/max, compare-and-swap; TransactWriteItems mode",
            make_store,
            STORE_OPTIONS,
            STORE_GUARANTEES,
        )
    )
    register(
        AdapterSpec(
            "dynamodb",
            "dedup",
            "Event-id claims in a DynamoDB table (conditional puts with leases and TTL)",
            make_deduper,
            DEDUP_OPTIONS,
            DEDUP_GUARANTEES,
        )
    )
    register(
        AdapterSpec(
            "dynamodb",
            "source",
            "Snapshot of a DynamoDB table by (parallel) Scan",
            make_source,
            SOURCE_OPTIONS,
            SOURCE_GUARANTEES,
        )
    )


@hookimpl
def murmur_cli(app: typer.Typer) -> None:
    from murmur_dynamodb._cli import make_app

    app.add_typer(make_app(), name="dynamodb")
