"""Throttling, 5xx and dropped connections surface as murmur.TransientError (SPEC §4.8)."""

from __future__ import annotations

from typing import Any

import pytest
from murmur import StateKey, Sum, TransientError, Unit

from murmur_dynamodb import DynamoDBDeduper, DynamoDBSnapshotSource, DynamoDBStore


def _error_code(exc: BaseException) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None


@pytest.mark.parametrize("transactional", [False, True], ids=["at-least-once", "transactional"])
@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttling_is_transient_then_heals(
    dynamodb_faults: Any, tables: tuple[str, str], code: str, transactional: bool
) -> None:
    store = DynamoDBStore(tables[0], endpoint_url=dynamodb_faults.url, region="us-east-1", transactional=transactional)
    m = Sum()
    dynamodb_faults.throttle(code=code)
    with pytest.raises(TransientError, match=code) as info:
        store.merge(Unit("p", m, {StateKey("k"): 1}))
    assert _error_code(info.value) == code  # the botocore error is kept as the cause
    assert dynamodb_faults.stats()["throttled"] == 1  # no botocore retry: Murmur's policy is the one (--retry-for)
    dynamodb_faults.heal()
    store.merge(Unit("p", m, {StateKey("k"): 1}))
    assert store.get_many("p", [StateKey("k")], m) == [1]
    store.close()


def test_server_errors_and_dropped_connections_are_transient(dynamodb_faults: Any, tables: tuple[str, str]) -> None:
    store = DynamoDBStore(tables[0], endpoint_url=dynamodb_faults.url, region="us-east-1")
    deduper = DynamoDBDeduper(tables[1], endpoint_url=dynamodb_faults.url, region="us-east-1")
    dynamodb_faults.fail_5xx(status=503)
    with pytest.raises(TransientError):
        store.get_many("p", [StateKey("k")], Sum())
    with pytest.raises(TransientError):
        deduper.claim(["e"], 30)
    dynamodb_faults.drop_connections()
    with pytest.raises(TransientError):
        store.write_meta("p", "x", {})
    dynamodb_faults.heal()
    assert deduper.claim(["e"], 30)["e"].value == "granted"
    store.close()
    deduper.close()


def test_scan_rides_out_a_short_throttle(dynamodb_faults: Any, tables: tuple[str, str], dynamodb_endpoint: str) -> None:
    store = DynamoDBStore(tables[0], endpoint_url=dynamodb_endpoint, region="us-east-1")
    store.merge(Unit("p", Sum(), {StateKey(f"k{i}"): i for i in range(5)}))
    source = DynamoDBSnapshotSource(tables[0], endpoint_url=dynamodb_faults.url, region="us-east-1")
    source.capture_handoff()
    dynamodb_faults.throttle(n=3, operations=["Scan"])
    # The store's own items: state ("p#k0") and its key index ("p|keys").
    assert len([r for batch in source.scan(None, None) for r in batch if "#" in r.value["pk"]]) == 5
    dynamodb_faults.throttle(operations=["Scan"])
    with pytest.raises(TransientError, match="ProvisionedThroughputExceeded"):
        list(source.scan(None, None))
    source.close()
    store.close()
