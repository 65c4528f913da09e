"""Finding one pipeline's items for ``clear`` (``murmur run --restart``).

State, contributions and claims each live under a partition key of their own
(``<pipeline>#<entity>``, ``<pipeline>|doc|<id>``, ``<pipeline>|<event id>``), so no Query
finds them all: a paged Scan filtered on the pipeline's prefixes does. It reads the whole table
but returns, and so deletes, only that pipeline's items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from murmur_dynamodb._codec import Item
from murmur_dynamodb._errors import call

__all__ = ["scan_prefixed"]


def scan_prefixed(client: Any, table: str, prefixes: Sequence[str], what: str) -> list[Item]:
    """Keys of the items whose ``pk`` starts with one of ``prefixes`` (a paged, filtered Scan)."""
    names = [f":p{i}" for i in range(len(prefixes))]
    params: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": " OR ".join(f"begins_with(pk, {n})" for n in names),
        "ExpressionAttributeValues": {n: {"S": p} for n, p in zip(names, prefixes, strict=True)},
        "ProjectionExpression": "pk, sk",
        "ConsistentRead": True,
    }
    items: list[Item] = []
    while True:
        response = call(what, client.scan, **params)
        items.extend(response.get("Items", []))
        last = response.get("LastEvaluatedKey")
        if not last:
            return items
        params["ExclusiveStartKey"] = last
