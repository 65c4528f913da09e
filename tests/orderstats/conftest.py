"""Fixtures for the orderstats end-to-end tests (servers from the murmur-test-servers plugin)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from orderstats_helpers import Orderstats


@pytest.fixture
def orderstats(
    mongo_uri: str,
    kafka_broker: Any,
    dynamodb_endpoint: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> Iterator[Orderstats]:
    from murmur_dynamodb import ensure_tables

    world = Orderstats(
        mongo_uri=mongo_uri,
        brokers=kafka_broker.bootstrap,
        dynamodb=dynamodb_endpoint,
        database=unique_name("shop"),
        topic=unique_name("orders.cdc"),
        table=unique_name("orderstats"),
        pipeline=unique_name("orders"),
        workdir=tmp_path,
    )
    kafka_broker.create_topic(world.topic, 3)
    ensure_tables(world.table, endpoint_url=dynamodb_endpoint, region="us-east-1")
    try:
        yield world
    finally:
        world.close()
