"""The ``dynamodb`` deduper: event-id claims as conditional puts (SPEC §4).

Table layout (``murmur dynamodb create-tables --dedup T`` makes it): ``pk`` (S, hash) = the
event id, ``st`` = ``pending`` | ``committed``, ``lease`` = epoch seconds until which a
pending claim is held, ``own`` = the holder (one random token per deduper object), ``ttl``
= epoch seconds after which the id is forgotten (DynamoDB's TTL deletes it some time later;
reads treat it as gone at once).

- ``claim``: one consistent BatchGetItem answers the ids already committed (DUPLICATE) or
  held (BUSY); each remaining id is a conditional put that succeeds only if the id is
  absent, forgotten, or held by an expired lease — so of concurrent claims exactly one wins.
- ``commit``: the claims become ``committed`` with the long ``ttl``.
- ``release``: a conditional delete of *our own* pending claim, so a redelivery is applied.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from murmur import ClaimStatus

from murmur_dynamodb._batch import batch_get, batch_write
from murmur_dynamodb._clear import scan_prefixed
from murmur_dynamodb._client import Connection, Workers, close_client, where
from murmur_dynamodb._codec import Item, now, number
from murmur_dynamodb._errors import ConditionFailed, call

PENDING = "pending"
COMMITTED = "committed"
DEFAULT_TTL = 7 * 86400.0

#: True when an id may be claimed: absent, forgotten (ttl passed), or a pending claim whose lease ran out.
CLAIMABLE = "attribute_not_exists(pk) OR #ttl <= :now OR (#st = :pending AND #lease <= :now)"


class DynamoDBDeduper:
    """Claims on event ids in a DynamoDB table; see the module docstring for the layout."""

    name = "dynamodb"

    def __init__(
        self,
        table: str = "murmur_dedup",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        ttl: float = DEFAULT_TTL,
        max_pool_connections: int = 16,
        clock: Callable[[], float] = now,
    ) -> None:
        """``clock`` gives epoch seconds for leases and TTLs (tests pass a fake one; every worker must
        agree on it, as real workers agree on the wall clock)."""
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.table = table
        self.ttl = float(ttl)
        self._clock = clock
        self.connection = Connection(endpoint_url, region, max_pool_connections)
        self.what = f"dynamodb deduper (table {table!r})"
        self.client = self.connection.client(self.what)
        self._owner = uuid.uuid4().hex
        self._workers = Workers(max_pool_connections, "murmur-ddb-dedup")

    @property
    def location(self) -> tuple[str, str]:
        """(endpoint, region) this deduper writes to; a store on the same one can absorb it."""
        return where(self.client)

    # ---------------------------------------------------------------- reading

    def _read(self, ids: Sequence[str]) -> dict[str, Item]:
        keys = [{"pk": {"S": i}} for i in ids]
        items = batch_get(self.client, self.table, keys, consistent=True, what=self.what)
        return {item["pk"]["S"]: item for item in items}

    @staticmethod
    def _status(item: Item | None, at: float) -> ClaimStatus | None:
        """What a stored item means now: DUPLICATE, BUSY, or None (free to claim)."""
        if item is None or ("ttl" in item and float(item["ttl"]["N"]) <= at):
            return None
        state = item.get("st", {}).get("S")
        if state == COMMITTED:
            return ClaimStatus.DUPLICATE
        if state == PENDING and float(item.get("lease", {}).get("N", "0")) > at:
            return ClaimStatus.BUSY
        return None

    def contains(self, ids: Sequence[str]) -> set[str]:
        unique = list(dict.fromkeys(ids))
        at = self._clock()
        return {i for i, item in self._read(unique).items() if self._status(item, at) is ClaimStatus.DUPLICATE}

    # ---------------------------------------------------------------- claims

    def claim(self, ids: Sequence[str], lease: float) -> dict[str, ClaimStatus]:
        unique = list(dict.fromkeys(ids))
        at = self._clock()
        stored = self._read(unique)
        out: dict[str, ClaimStatus] = {}
        free: list[str] = []
        for i in unique:
            status = self._status(stored.get(i), at)
            if status is None:
                free.append(i)
            else:
                out[i] = status
        for i, status in zip(free, self._workers.map(lambda i: self._claim_one(i, lease), free), strict=True):
            out[i] = status
        return out

    def _claim_one(self, event_id: str, lease: float) -> ClaimStatus:
        at = self._clock()
        item = {
            "pk": {"S": event_id},
            "st": {"S": PENDING},
            "lease": number(round(at + lease, 3)),
            "own": {"S": self._owner},
            "ttl": number(math.ceil(at + max(lease, self.ttl))),
        }
        try:
            call(
                self.what,
                self.client.put_item,
                TableName=self.table,
                Item=item,
                ConditionExpression=CLAIMABLE,
                ExpressionAttributeNames={"#st": "st", "#lease": "lease", "#ttl": "ttl"},
                ExpressionAttributeValues={":now": number(round(at, 3)), ":pending": {"S": PENDING}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as lost:
            return self._status(lost.item, at) or ClaimStatus.BUSY
        return ClaimStatus.GRANTED

    def commit(self, ids: Sequence[str]) -> None:
        expires = number(math.ceil(self._clock() + self.ttl))
        puts = [
            {"PutRequest": {"Item": {"pk": {"S": i}, "st": {"S": COMMITTED}, "ttl": expires}}}
            for i in dict.fromkeys(ids)
        ]
        batch_write(self.client, self.table, puts, what=self.what)

    def release(self, ids: Sequence[str]) -> None:
        self._workers.map(self._release_one, list(dict.fromkeys(ids)))

    def _release_one(self, event_id: str) -> None:
        with contextlib.suppress(ConditionFailed):  # not ours any more, or committed: leave it
            call(
                self.what,
                self.client.delete_item,
                TableName=self.table,
                Key={"pk": {"S": event_id}},
                ConditionExpression="#st = :pending AND #own = :me",
                ExpressionAttributeNames={"#st": "st", "#own": "own"},
                ExpressionAttributeValues={":pending": {"S": PENDING}, ":me": {"S": self._owner}},
            )

    # ---------------------------------------------------------------- for the transactional store

    def claim_action(self, event_id: str, at: float) -> dict[str, Any]:
        """A TransactWriteItems ``Put`` that records ``event_id`` as committed if it is claimable."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": {"pk": {"S": event_id}, "st": {"S": COMMITTED}, "ttl": number(math.ceil(at + self.ttl))},
                "ConditionExpression": CLAIMABLE,
                "ExpressionAttributeNames": {"#st": "st", "#lease": "lease", "#ttl": "ttl"},
                "ExpressionAttributeValues": {":now": number(round(at, 3)), ":pending": {"S": PENDING}},
            }
        }

    def clear(self, pipeline: str) -> dict[str, int]:
        """Delete every claim of ``pipeline`` (ids ``<pipeline>|…``): a filtered Scan of this table."""
        items = scan_prefixed(self.client, self.table, (f"{pipeline}|",), self.what)
        keys = [{"DeleteRequest": {"Key": {"pk": i["pk"]}}} for i in items]
        batch_write(self.client, self.table, keys, what=self.what)
        return {"claims": len(items)}

    def close(self) -> None:
        self._workers.close()
        close_client(self.client)
