"""Scenario 2: Mongo → DynamoDB bootstrap, Sum of ``amount`` by ``user`` (100 keys), on the test servers
(nx-27017 and moto in its own process; moto answers one request at a time, ~150–180 UpdateItem/s).

- murmur: ``murmur.bootstrap.run`` with the ``mongo`` source and the ``dynamodb`` store, in the
  source's default changelog mode (each document's contribution is stored too, so later
  updates/deletes can be retracted), and again in append mode (state only).
- limit: the slower of a raw pymongo scan of the collection and raw DynamoDB writes (one
  ``UpdateItem ADD`` per document) from 16 threads — the store's own concurrency.
- naive: a ``find()`` loop with one ``update_item`` per document.
Each run writes to a new table; totals are checked after the clock stops. "writes" counts write
requests (UpdateItem, PutItem, BatchWriteItem, TransactWriteItems) on the wire.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from benchmarks._data import event, expected_total
from benchmarks._harness import Context, Plan, Target, Variant

KEYS = 100
THREADS = 16  # DynamoDBStore's default max_pool_connections (its worker pool size)
WRITE_OPS = {"UpdateItem", "PutItem", "BatchWriteItem", "TransactWriteItems", "DeleteItem"}


def murmur(uri: str, endpoint: str, n: int, mode: str | None = None) -> dict[str, Any]:
    from murmur import Pipeline, Sum, bootstrap
    from murmur_dynamodb import DynamoDBStore
    from murmur_mongo import MongoSnapshotSource

    table = _table(endpoint)
    store = DynamoDBStore(table, endpoint_url=endpoint)
    calls = _count_calls(store.client)
    source = MongoSnapshotSource(uri=uri, database="bench", collection="orders")
    pipeline = Pipeline("bench", Sum(), key="user", value="amount", mode=mode)  # type: ignore[arg-type]
    started = time.perf_counter()
    bootstrap.run(pipeline, source, store)
    seconds = time.perf_counter() - started
    source.close()
    _check(endpoint, table, n)
    writes = sum(v for k, v in calls.items() if k in WRITE_OPS)
    note = "requests: " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
    return {"seconds": seconds, "records": n, "writes": writes, "note": note}


def limit(uri: str, endpoint: str, n: int) -> dict[str, Any]:
    from pymongo import MongoClient

    with MongoClient[dict[str, Any]](uri) as mongo:
        started = time.perf_counter()
        docs = list(mongo.bench.orders.find({}, batch_size=1000))
        scan = time.perf_counter() - started
    assert len(docs) == n
    table = _table(endpoint)
    client = _client(endpoint)
    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda doc: _add(client, table, doc), docs))
    write = time.perf_counter() - started
    _check(endpoint, table, n)
    slower = "scan" if scan > write else "writes"
    note = f"limit = {slower}: scan {n / scan:,.0f} rec/s, UpdateItem×{THREADS} threads {n / write:,.0f} rec/s"
    return {"seconds": max(scan, write), "records": n, "writes": n, "note": note}


def naive(uri: str, endpoint: str, n: int) -> dict[str, Any]:
    from pymongo import MongoClient

    table = _table(endpoint)
    client = _client(endpoint)
    with MongoClient[dict[str, Any]](uri) as mongo:
        started = time.perf_counter()
        for doc in mongo.bench.orders.find():
            _add(client, table, doc)
        seconds = time.perf_counter() - started
    _check(endpoint, table, n)
    return {"seconds": seconds, "records": n, "writes": n}


# --------------------------------------------------------------------------- helpers


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", endpoint_url=endpoint, config=Config(max_pool_connections=THREADS))


def _add(client: Any, table: str, doc: dict[str, Any]) -> None:
    client.update_item(
        TableName=table,
        Key={"pk": {"S": f"bench#{doc['user']}"}, "sk": {"N": "0"}},
        UpdateExpression="ADD v :d",
        ExpressionAttributeValues={":d": {"N": str(doc["amount"])}},
    )


def _table(endpoint: str) -> str:
    """A new table in the ``dynamodb`` store's layout (set-up: before the clock starts)."""
    from murmur_dynamodb import ensure_tables

    name = f"bench_{uuid.uuid4().hex[:8]}"
    ensure_tables(name, endpoint_url=endpoint)
    return name


def _count_calls(client: Any) -> Counter[str]:
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    return calls


def _check(endpoint: str, table: str, n: int) -> None:
    client = _client(endpoint)
    total, keys = 0, 0
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            if item["pk"]["S"].startswith("bench#"):
                total += int(item["v"]["N"])
                keys += 1
    if total != expected_total(n) or keys != min(n, KEYS):
        raise AssertionError(f"{table}: total {total} over {keys} keys, expected {expected_total(n)}")


@contextmanager
def setup(ctx: Context) -> Iterator[Plan]:
    from pymongo import MongoClient

    from murmur_test_servers.dynamodb import DynamoDBServer
    from murmur_test_servers.mongo import MongoServer

    n = ctx.size(500, 2_000)
    saved = dict(os.environ)
    with MongoServer() as mongo, DynamoDBServer(in_process=False) as ddb:
        os.environ.update(ddb.env())  # dummy credentials and region, inherited by the children
        try:
            with MongoClient[dict[str, Any]](mongo.uri) as client:
                client.bench.orders.insert_many([{"_id": i, **event(i, KEYS)} for i in range(n)])
            kwargs = {"uri": mongo.uri, "endpoint": ddb.endpoint, "n": n}
            yield Plan(
                f"2 mongo→dynamodb {n:,}",
                [
                    Variant("murmur bootstrap (changelog)", "murmur", f"{__name__}:murmur", kwargs),
                    Variant("murmur bootstrap (append)", "info", f"{__name__}:murmur", {**kwargs, "mode": "append"}),
                    Variant("limit: slower of scan, writes", "limit", f"{__name__}:limit", kwargs),
                    Variant("find + update_item/doc", "naive", f"{__name__}:naive", kwargs),
                ],
                [
                    Target("murmur bootstrap (changelog)", "ratio_limit", ">=", 0.8),
                    Target("murmur bootstrap (changelog)", "ratio_naive", ">=", 5),
                    Target("murmur bootstrap (append)", "ratio_limit", ">=", 0.8),
                    Target("murmur bootstrap (append)", "ratio_naive", ">=", 5),
                ],
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)
