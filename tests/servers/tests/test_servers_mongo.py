"""nx-27017 through the mongo fixtures, with a real pymongo client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pymongo
import pytest
from pymongo.collection import Collection

from murmur_test_servers import wait_for
from murmur_test_servers.mongo import MongoServer


@pytest.fixture
def collection(mongo_uri: str, unique_name: Callable[[str], str]) -> Iterator[Collection[dict[str, Any]]]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    try:
        yield client[unique_name("db")]["items"]
    finally:
        client.close()


def read_until(stream: Any, last_id: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Collect change events up to and including the one whose fullDocument._id is last_id."""
    events: list[dict[str, Any]] = []

    def reached() -> bool:
        event = stream.try_next()
        if event is not None:
            events.append(event)
        return bool(events) and events[-1]["fullDocument"]["_id"] == last_id

    wait_for(reached, timeout=timeout, interval=0.01, message=lambda: f"no event for _id={last_id!r}; got {events}")
    return events


def test_fixture_shape(mongo_server: MongoServer, mongo_uri: str) -> None:
    assert mongo_server.host == "127.0.0.1"
    assert mongo_uri == f"mongodb://127.0.0.1:{mongo_server.port}/?directConnection=true" == mongo_server.uri
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000) as client:
        assert client.admin.command("ping")["ok"] == 1


@pytest.mark.parametrize("resume_kw", ["start_after", "resume_after"])
def test_resume_token_before_insert_yields_exactly_later_changes(
    collection: Collection[dict[str, Any]], resume_kw: str
) -> None:
    collection.insert_many([{"_id": i, "phase": "snapshot"} for i in range(5)])
    with collection.watch() as stream:
        assert stream.try_next() is None
        token = stream.resume_token
    assert token is not None

    later = [{"_id": 100 + i, "phase": "live"} for i in range(5)]
    collection.insert_many(later)
    collection.update_one({"_id": 100}, {"$inc": {"n": 1}})
    # A sentinel written last: everything read before it is exactly what happened after the token.
    collection.insert_one({"_id": "sentinel"})

    with collection.watch(**{resume_kw: token}) as stream:  # type: ignore[arg-type]
        events = read_until(stream, "sentinel")

    seen = [(e["operationType"], e["fullDocument"]["_id"]) for e in events]
    assert seen == [("insert", d["_id"]) for d in later] + [("update", 100), ("insert", "sentinel")]


def test_change_event_shapes(collection: Collection[dict[str, Any]]) -> None:
    """Pins the nx-27017 quirks the README documents for the Mongo adapter."""
    with collection.watch() as stream:
        stream.try_next()
        collection.insert_one({"_id": 7, "v": 1})
        collection.update_one({"_id": 7}, {"$set": {"v": 2}})
        collection.replace_one({"_id": 7}, {"w": 1})
        collection.delete_one({"_id": 7})
        collection.insert_one({"_id": "end"})
        events = read_until(stream, "end")

    assert [e["operationType"] for e in events] == ["insert", "update", "update", "delete", "insert"]  # replace->update
    assert [e["documentKey"]["_id"] for e in events[:4]] == ["7"] * 4  # int _id arrives as a string
    assert events[1]["updateDescription"] is None
    assert events[1]["fullDocument"] == {"_id": 7, "v": 2}  # full document even without updateLookup
    assert events[3]["fullDocument"] == {"_id": 7, "w": 1}  # delete carries the last image
    assert events[0]["_id"]["_data"].startswith("nx:")


def test_int_id_sorts_as_text_unless_ranged(collection: Collection[dict[str, Any]]) -> None:
    collection.insert_many([{"_id": i} for i in (1, 2, 10, 11, 3)])
    assert [d["_id"] for d in collection.find().sort("_id", 1)] == [1, 10, 11, 2, 3]
    ranged = collection.find({"_id": {"$gt": 1}}).sort("_id", 1).limit(3)
    assert [d["_id"] for d in ranged] == [2, 3, 10]
