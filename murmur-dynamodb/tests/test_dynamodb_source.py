"""What is special to the ParallelScan source: ids, values, positions, segments, resume."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from dynamodb_helpers import create_plain_table, put_items
from murmur import ConfigError, Record, SourceError, StateKey, Sum, Unit

from murmur_dynamodb import DynamoDBSnapshotSource, DynamoDBStore


def records(source: DynamoDBSnapshotSource, segment: Any = None, after: Any = None) -> list[Record]:
    return [r for batch in source.scan(segment, after) for r in batch]


@pytest.fixture
def orders(endpoint: dict[str, Any], unique_name: Callable[[str], str]) -> tuple[str, list[dict[str, Any]]]:
    table = unique_name("orders")
    create_plain_table(endpoint, table)
    items = [{"id": f"o{i:03d}", "customer": f"c{i % 9}", "amount": i, "cents": Decimal(i) / 4} for i in range(200)]
    put_items(endpoint, table, items)
    return table, items


def test_values_are_plain_python(endpoint: dict[str, Any], unique_name: Callable[[str], str]) -> None:
    table = unique_name("kinds")
    create_plain_table(endpoint, table)
    item = {
        "id": "a",
        "int": 12,
        "big": 2**70,
        "dec": Decimal("1.25"),
        "neg": -3,
        "flag": True,
        "none": None,
        "bin": b"\x00\x01",
        "tags": {"x", "y"},
        "nums": {1, Decimal("2.5")},
        "nested": {"list": [1, "two", {"three": Decimal("3.0")}]},
    }
    put_items(endpoint, table, [item])
    source = DynamoDBSnapshotSource(table, **endpoint)
    (record,) = records(source)
    value = record.value
    assert value == item
    assert type(value["int"]) is int
    assert type(value["big"]) is int
    assert type(value["dec"]) is Decimal
    assert type(value["nested"]["list"][2]["three"]) is int  # integral numbers are ints
    source.close()


def test_event_ids_come_from_the_key_and_never_collide(
    endpoint: dict[str, Any], unique_name: Callable[[str], str]
) -> None:
    numeric, composite = unique_name("num"), unique_name("comp")
    create_plain_table(endpoint, numeric, hash_type="N")
    put_items(endpoint, numeric, [{"id": 5}, {"id": Decimal("2.5")}])
    create_plain_table(endpoint, composite, sort_key="n")
    put_items(
        endpoint, composite, [{"id": "5", "n": 1}, {"id": "a/b", "n": 1}, {"id": "a", "n": 2}, {"id": "%", "n": 3}]
    )
    num_ids = {r.event_id for r in records(DynamoDBSnapshotSource(numeric, **endpoint))}
    assert num_ids == {f"{numeric}/5", f"{numeric}/~dec:2.5"}
    comp_ids = {r.event_id for r in records(DynamoDBSnapshotSource(composite, **endpoint))}
    assert comp_ids == {f"{composite}/~s:5/1", f"{composite}/a%2Fb/1", f"{composite}/a/2", f"{composite}/%25/3"}


def test_binary_keys_resume_from_json_positions(endpoint: dict[str, Any], unique_name: Callable[[str], str]) -> None:
    table = unique_name("bin")
    create_plain_table(endpoint, table, hash_type="B")
    put_items(endpoint, table, [{"id": bytes([i, 255 - i]), "i": i} for i in range(20)])
    source = DynamoDBSnapshotSource(table, page_size=7, **endpoint)
    everything = records(source)
    position = json.loads(json.dumps(everything[9].position))  # survives a checkpoint file
    rest = records(source, None, position)
    assert [r.value["i"] for r in rest] == [r.value["i"] for r in everything[10:]]
    assert everything[0].event_id == f"{table}/~bin:{everything[0].value['id'].hex()}"


def test_four_segments_give_exact_per_key_sums(
    endpoint: dict[str, Any], orders: tuple[str, list[dict[str, Any]]], make_store: Callable[..., DynamoDBStore]
) -> None:
    """Protocol level: each segment folded on its own into the store gives the exact totals."""
    table, items = orders
    source, store, m = DynamoDBSnapshotSource(table, page_size=30, **endpoint), make_store(transactional=False), Sum()
    segments = source.segments(4)
    assert segments == [{"segment": i, "total": 4} for i in range(4)]
    counts = []
    for segment in segments:
        seen = 0
        for batch in source.scan(segment, None):
            writes: Counter[str] = Counter()
            for r in batch:
                writes[r.value["customer"]] += r.value["amount"]
            store.merge(Unit("p", m, {StateKey(k): v for k, v in writes.items()}))
            seen += len(batch)
        counts.append(seen)
    assert sum(counts) == 200
    assert all(counts)
    expected: Counter[str] = Counter()
    for item in items:
        expected[item["customer"]] += item["amount"]
    keys = sorted(expected)
    assert store.get_many("p", [StateKey(k) for k in keys], m) == [expected[k] for k in keys]
    assert sum(source.estimated_total(s) or 0 for s in segments) == source.estimated_total(None) == 200


def test_an_interrupted_segment_resumes_with_exactly_the_rest(
    endpoint: dict[str, Any], orders: tuple[str, list[dict[str, Any]]]
) -> None:
    table, _ = orders
    source = DynamoDBSnapshotSource(table, page_size=16, **endpoint)
    for segment in source.segments(3):
        whole = records(source, segment)
        half = len(whole) // 2 + 3  # mid-page (pages are 16 records)
        taken: list[Record] = []
        for batch in source.scan(segment, None):  # the run dies after applying `half` records
            taken.extend(batch[: half - len(taken)])
            if len(taken) == half:
                break
        rest = records(source, segment, taken[-1].position)
        assert [r.event_id for r in taken + rest] == [r.event_id for r in whole]
        assert records(source, segment, whole[-1].position) == []


def test_a_missing_table_fails_capture_clearly(endpoint: dict[str, Any], unique_name: Callable[[str], str]) -> None:
    name = unique_name("missing")
    source = DynamoDBSnapshotSource(name, **endpoint)
    with pytest.raises(SourceError, match=name):
        source.capture_handoff()


def test_capture_notes_the_table_and_its_stream(endpoint: dict[str, Any], unique_name: Callable[[str], str]) -> None:
    table = unique_name("streamed")
    client = boto3.client("dynamodb", endpoint_url=endpoint["endpoint_url"], region_name=endpoint["region"])
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    token = DynamoDBSnapshotSource(table, **endpoint).capture_handoff()
    assert token.source == "dynamodb"
    assert token.token["table"] == table
    assert "stream" in str(token.token["stream_arn"])
    json.dumps(token.to_json())


def test_bad_options_and_segments_are_config_errors(orders: tuple[str, Any], endpoint: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="table"):
        DynamoDBSnapshotSource("", **endpoint)
    with pytest.raises(ConfigError, match="page_size"):
        DynamoDBSnapshotSource(orders[0], page_size=0, **endpoint)
    source = DynamoDBSnapshotSource(orders[0], **endpoint)
    with pytest.raises(ConfigError):
        source.segments(0)
    with pytest.raises(ConfigError, match="outside"):
        records(source, {"segment": 4, "total": 4})
