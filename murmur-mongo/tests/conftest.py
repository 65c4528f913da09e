"""Fixtures for murmur-mongo's tests: collections on the session's real MongoDB-protocol server.

The server (nx-27017) and ``unique_name`` come from the ``murmur-test-servers`` pytest plugin
(dev-only, /work/main/tests/servers): install it and they are there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pymongo
import pytest
from pymongo.collection import Collection


@pytest.fixture(scope="session")
def client(mongo_uri: str) -> Iterator[pymongo.MongoClient[dict[str, Any]]]:
    c: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        mongo_uri, uuidRepresentation="standard", tz_aware=True
    )
    try:
        yield c
    finally:
        c.close()


@dataclass
class Coll:
    """A fresh collection of the test server, and what a source needs to reach it."""

    uri: str
    database: str
    name: str
    handle: Collection[dict[str, Any]]

    @property
    def namespace(self) -> str:
        return f"{self.database}.{self.name}"

    @property
    def options(self) -> dict[str, Any]:
        return {"uri": self.uri, "database": self.database, "collection": self.name}


@pytest.fixture
def coll(mongo_uri: str, client: pymongo.MongoClient[dict[str, Any]], unique_name: Callable[[str], str]) -> Coll:
    database, name = unique_name("db"), unique_name("orders")
    return Coll(mongo_uri, database, name, client[database][name])


@pytest.fixture
def make_coll(
    mongo_uri: str, client: pymongo.MongoClient[dict[str, Any]], unique_name: Callable[[str], str]
) -> Callable[[], Coll]:
    def make() -> Coll:
        database, name = unique_name("db"), unique_name("orders")
        return Coll(mongo_uri, database, name, client[database][name])

    return make
