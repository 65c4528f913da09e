"""``murmur dynamodb create-tables``: make the state and dedup tables, or check the ones there.

Tables are PAY_PER_REQUEST with TTL on ``ttl``. Existing tables with the right key schema are
left alone (TTL is switched on if it is off), so the command is safe to run again; a table
with another key schema is an error naming the table and the difference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from murmur import ConfigError, StoreError

from murmur_dynamodb._errors import call, error_code

TTL_ATTRIBUTE = "ttl"

#: (attribute, type, key type) of each table kind.
STATE_SCHEMA = (("pk", "S", "HASH"), ("sk", "N", "RANGE"))
DEDUP_SCHEMA = (("pk", "S", "HASH"),)


class SchemaMismatch(ConfigError):
    """A table exists with a key schema Murmur cannot use."""


@dataclass(frozen=True)
class TableResult:
    table: str
    role: str
    created: bool
    ttl_enabled_now: bool


def _render(schema: tuple[tuple[str, str, str], ...]) -> str:
    return ", ".join(f"{name} ({ty}, {key})" for name, ty, key in schema)


def _actual_schema(table: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
    keys = sorted(table.get("KeySchema", []), key=lambda k: k["KeyType"] != "HASH")
    return tuple((k["AttributeName"], types.get(k["AttributeName"], "?"), k["KeyType"]) for k in keys)


def ensure_table(
    client: Any,
    table: str,
    role: str,
    schema: tuple[tuple[str, str, str], ...],
    *,
    timeout: float = 300.0,
    progress: Callable[[str], None] = lambda message: None,
) -> TableResult:
    """Create ``table`` (or accept it if its key schema matches), wait until ACTIVE, enable TTL."""
    what = f"{role} table {table!r}"
    created = False
    try:
        description = call(what, client.describe_table, TableName=table)["Table"]
    except StoreError as exc:
        if error_code(exc.__cause__ or exc) != "ResourceNotFoundException":
            raise
        description = None
    if description is None:
        progress(f"creating {what}")
        try:
            call(
                what,
                client.create_table,
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t, _ in schema],
                KeySchema=[{"AttributeName": n, "KeyType": k} for n, _, k in schema],
            )
            created = True
        except StoreError as exc:
            if error_code(exc.__cause__ or exc) != "ResourceInUseException":  # created meanwhile by someone else
                raise
    else:
        actual = _actual_schema(description)
        if actual != schema:
            raise SchemaMismatch(
                f"{what} exists with key schema {_render(actual)}; Murmur needs {_render(schema)} "
                "(use another table name, or delete that table)",
                option="dedup" if role == "dedup" else "state",
            )
    description = _wait_active(client, table, what, timeout, progress)
    if created:
        actual = _actual_schema(description)
        if actual != schema:  # someone else created it first, differently
            raise SchemaMismatch(f"{what} exists with key schema {_render(actual)}; Murmur needs {_render(schema)}")
    return TableResult(table, role, created, _ensure_ttl(client, table, what))


def _wait_active(client: Any, table: str, what: str, timeout: float, progress: Callable[[str], None]) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        description: dict[str, Any] = call(what, client.describe_table, TableName=table)["Table"]
        if description.get("TableStatus") == "ACTIVE":
            return description
        if time.monotonic() > deadline:
            raise StoreError(f"{what} is still {description.get('TableStatus')} after {timeout:.0f}s")
        if not announced:
            progress(f"waiting for {what} to become ACTIVE (now {description.get('TableStatus')})")
            announced = True
        time.sleep(1.0)


def _ensure_ttl(client: Any, table: str, what: str) -> bool:
    """Turn TTL on for ``ttl``; True if this call turned it on. Another TTL attribute is an error."""
    current = call(what, client.describe_time_to_live, TableName=table).get("TimeToLiveDescription", {})
    status, attribute = current.get("TimeToLiveStatus"), current.get("AttributeName")
    if status in ("ENABLED", "ENABLING"):
        if attribute != TTL_ATTRIBUTE:
            raise SchemaMismatch(
                f"{what} has TTL on attribute {attribute!r}; Murmur writes expiry to {TTL_ATTRIBUTE!r}"
            )
        return False
    call(
        what,
        client.update_time_to_live,
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    return True


def ensure_tables(
    state: str = "murmur_state",
    dedup: str | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    timeout: float = 300.0,
    progress: Callable[[str], None] = lambda message: None,
) -> list[TableResult]:
    """What ``murmur dynamodb create-tables`` does, for use from Python (and tests).

    Raises SchemaMismatch (a ConfigError) for a table with another key schema.
    """
    from murmur_dynamodb._client import Connection

    if dedup is not None and dedup == state:
        raise ConfigError(f"--dedup: the dedup table needs its own name (both are {state!r})", option="dedup")
    client = Connection(
        endpoint_url, region, region_flag="--region (e.g. --region us-east-1)", endpoint_flag="--endpoint-url"
    ).client("murmur dynamodb create-tables")
    try:
        results = [ensure_table(client, state, "state", STATE_SCHEMA, timeout=timeout, progress=progress)]
        if dedup is not None:
            results.append(ensure_table(client, dedup, "dedup", DEDUP_SCHEMA, timeout=timeout, progress=progress))
        return results
    finally:
        client.close()
