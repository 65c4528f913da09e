"""The ``dynamodb`` snapshot source: a (parallel) Scan of a table (SPEC §5, §7).

- ``segments(n)`` ⇒ ``[{"segment": i, "total": n}, ...]``: DynamoDB's Segment/TotalSegments,
  which cover every item exactly once and may run in separate processes.
- ``scan(segment, after)`` yields one batch per Scan page (``page_size`` items at most). Each
  record's ``position`` is its own primary key (JSON; binary parts base64): DynamoDB's
  ``LastEvaluatedKey`` is the key of the last item evaluated, so ``ExclusiveStartKey`` = a
  record's key resumes exactly after that record, within its segment.
- ``event_id`` is ``<table>/<pk>[/<sk>]`` with each part rendered by ``murmur.render_id`` (so
  number 5 and string "5" differ); on tables with a sort key, ``%`` and ``/`` in the partition
  key are written ``%25`` and ``%2F`` so that the two parts cannot run together.
- ``value`` is the item as plain Python (numbers: int when integral, else Decimal; sets; bytes).
- ``estimated_total`` comes from DescribeTable's ItemCount (DynamoDB refreshes it about every
  six hours, so it is an estimate).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from murmur import ConfigError, HandoffToken, Record, SourceError, TransientError, render_id

from murmur_dynamodb._client import Connection, close_client
from murmur_dynamodb._codec import Item, backoff, key_from_json, key_to_json, plain, plain_item
from murmur_dynamodb._errors import call

#: Attempts per Scan page on throttling or connection failures before the scan gives up.
PAGE_ATTEMPTS = 6


class DynamoDBSnapshotSource:
    """Scan ``table``; see the module docstring for segments, positions and event ids."""

    name = "dynamodb"
    default_mode: Literal["append", "changelog"] = "append"

    def __init__(
        self,
        table: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        page_size: int = 500,
        consistent_read: bool = False,
        segments: int = 1,
        max_pool_connections: int = 16,
    ) -> None:
        if not table:
            raise ConfigError("dynamodb source: the table option is required (-S table=NAME)", option="table")
        if page_size < 1:
            raise ConfigError("dynamodb source: page_size must be at least 1", option="page_size")
        if segments < 1:
            raise ConfigError("dynamodb source: segments must be at least 1", option="segments")
        self.table = table
        self.what = f"table {table}"  # for "… is empty or does not exist" warnings
        self.page_size = page_size
        self.consistent_read = consistent_read
        #: The segment count this source suggests when the run does not choose one.
        self.default_segments = segments
        self.what = f"dynamodb source (table {table!r})"
        self.client = Connection(endpoint_url, region, max_pool_connections).client(self.what)
        self._description: dict[str, Any] | None = None

    # ------------------------------------------------------------------ table facts

    def _describe(self, *, fresh: bool = False) -> dict[str, Any]:
        if self._description is None or fresh:
            response = call(self.what, self.client.describe_table, permanent=SourceError, TableName=self.table)
            self._description = dict(response["Table"])
        return self._description

    def _key_names(self) -> tuple[str, str | None]:
        schema = self._describe()["KeySchema"]
        hash_key = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
        range_key = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
        return hash_key, range_key

    # ------------------------------------------------------------------ SnapshotSource

    def capture_handoff(self) -> HandoffToken:
        """Check the table is there and note its stream, if any, for a live source to continue from."""
        table = self._describe(fresh=True)
        token = {"table": self.table, "stream_arn": table.get("LatestStreamArn")}
        return HandoffToken(self.name, token, dt.datetime.now(dt.UTC))

    def segments(self, count: int) -> Sequence[Any]:
        if count < 1:
            raise ConfigError(f"{self.what}: segments must be at least 1 (got {count})", option="segments")
        return [{"segment": i, "total": count} for i in range(count)]

    def estimated_total(self, segment: Any | None = None) -> int | None:
        count = self._describe(fresh=segment is None).get("ItemCount")
        if count is None:
            return None
        if segment is None:
            return int(count)
        i, n = self._segment(segment)
        return int(count) * (i + 1) // n - int(count) * i // n

    def _segment(self, segment: Any) -> tuple[int, int]:
        if segment is None:
            return 0, 1
        try:
            i, n = int(segment["segment"]), int(segment["total"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{self.what}: bad segment {segment!r} (expected {{'segment': i, 'total': n}})") from None
        if not 0 <= i < n:
            raise ConfigError(f"{self.what}: segment {i} is outside 0..{n - 1}", option="segment")
        return i, n

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        i, n = self._segment(segment)
        hash_key, range_key = self._key_names()
        params: dict[str, Any] = {
            "TableName": self.table,
            "Limit": self.page_size,
            "ConsistentRead": self.consistent_read,
        }
        if n > 1:
            params["Segment"], params["TotalSegments"] = i, n
        if after is not None:
            try:
                params["ExclusiveStartKey"] = key_from_json(after)
            except (AttributeError, TypeError, ValueError):
                raise ConfigError(f"{self.what}: checkpoint {after!r:.80} is not a key of this table") from None
        while True:
            response = self._page(params)
            items = response.get("Items", [])
            batch = [self._record(item, hash_key, range_key) for item in items]
            if batch:
                yield batch
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    def _page(self, params: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(PAGE_ATTEMPTS):
            try:
                return dict(call(self.what, self.client.scan, permanent=SourceError, **params))
            except TransientError:
                if attempt == PAGE_ATTEMPTS - 1:
                    raise
                backoff(attempt, base=0.1, cap=5.0)
        raise AssertionError("unreachable")

    def _record(self, item: Item, hash_key: str, range_key: str | None) -> Record:
        key = {hash_key: item[hash_key]}
        if range_key is not None:
            key[range_key] = item[range_key]
        return Record(
            plain_item(item),
            event_id=self.event_id(key, hash_key, range_key),
            position=key_to_json(key),
        )

    def event_id(self, key: Item, hash_key: str, range_key: str | None) -> str:
        """``<table>/<pk>[/<sk>]``, stable across runs (see the module docstring)."""
        pk = render_id(plain(key[hash_key]))
        if range_key is None:
            return f"{self.table}/{pk}"
        pk = pk.replace("%", "%25").replace("/", "%2F")
        return f"{self.table}/{pk}/{render_id(plain(key[range_key]))}"

    def close(self) -> None:
        close_client(self.client)
