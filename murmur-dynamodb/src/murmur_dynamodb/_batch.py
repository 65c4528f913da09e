"""BatchGetItem / BatchWriteItem within DynamoDB's limits, retrying what comes back unprocessed.

DynamoDB may answer a batch with part of it unprocessed (throttling, size limits); that part
is sent again with backoff. If it is still unprocessed after the budget, that is a transient
failure. The item limits (100 keys a read, 25 writes a call) are enforced here, since some
endpoints (moto) do not enforce them and real DynamoDB rejects the call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from murmur import StoreError, TransientError

from murmur_dynamodb._codec import Item, backoff
from murmur_dynamodb._errors import call

GET_LIMIT = 100
WRITE_LIMIT = 25
ATTEMPTS = 8


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def batch_get(
    client: Any,
    table: str,
    keys: Sequence[Item],
    *,
    consistent: bool,
    what: str,
    permanent: type[Exception] = StoreError,
) -> list[Item]:
    """The stored items among ``keys`` (unordered; keys must be distinct)."""
    found: list[Item] = []
    for chunk in _chunks(keys, GET_LIMIT):
        pending: dict[str, Any] = {table: {"Keys": list(chunk), "ConsistentRead": consistent}}
        for attempt in range(ATTEMPTS):
            response = call(what, client.batch_get_item, permanent=permanent, RequestItems=pending)
            found.extend(response.get("Responses", {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            backoff(attempt, base=0.05, cap=2.0)
        else:
            left = len(pending.get(table, {}).get("Keys", []))
            raise TransientError(f"{what}: {left} key(s) still unprocessed after {ATTEMPTS} BatchGetItem attempts")
    return found


def batch_write(
    client: Any,
    table: str,
    requests: Sequence[dict[str, Any]],
    *,
    what: str,
    permanent: type[Exception] = StoreError,
) -> None:
    """Run ``PutRequest``/``DeleteRequest`` entries, 25 a call (never two on one key in a call)."""
    for chunk in _chunks(requests, WRITE_LIMIT):
        pending: dict[str, Any] = {table: list(chunk)}
        for attempt in range(ATTEMPTS):
            response = call(what, client.batch_write_item, permanent=permanent, RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                break
            backoff(attempt, base=0.05, cap=2.0)
        else:
            left = len(pending.get(table, []))
            raise TransientError(f"{what}: {left} write(s) still unprocessed after {ATTEMPTS} BatchWriteItem attempts")
