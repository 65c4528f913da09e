"""Helpers for the tests: plain tables filled the way a user's application fills them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def put_items(endpoint: dict[str, Any], table: str, items: list[dict[str, Any]]) -> None:
    """Write plain items with boto3's resource layer (as a user's application would)."""
    import boto3  # type: ignore[import-untyped, unused-ignore]

    resource = boto3.resource("dynamodb", endpoint_url=endpoint["endpoint_url"], region_name=endpoint["region"])
    with resource.Table(table).batch_writer() as writer:
        for item in items:
            writer.put_item(Item=item)


def create_plain_table(
    endpoint: dict[str, Any], table: str, *, sort_key: str | None = None, hash_type: str = "S"
) -> None:
    import boto3  # type: ignore[import-untyped, unused-ignore]

    client = boto3.client("dynamodb", endpoint_url=endpoint["endpoint_url"], region_name=endpoint["region"])
    keys = [{"AttributeName": "id", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "id", "AttributeType": hash_type}]
    if sort_key is not None:
        keys.append({"AttributeName": sort_key, "KeyType": "RANGE"})
        attrs.append({"AttributeName": sort_key, "AttributeType": "N"})
    client.create_table(TableName=table, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST")
    client.close()


def together(work: Callable[[int], None], workers: int) -> None:
    """Run ``work(0) … work(workers - 1)`` on threads released at once; re-raise the first failure."""
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run(w: int) -> None:
        try:
            barrier.wait()
            work(w)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
