"""The ``dynamodb`` store (SPEC §4, §7).

Table layout (``murmur dynamodb create-tables --state T`` makes it): ``pk`` (S, hash), ``sk``
(N, range), TTL on ``ttl``. Pipeline names never contain ``#`` or ``|``, so the first of those
characters in ``pk`` says what an item is:

====================================  ==============  =============================================
``pk``                                ``sk``          item
====================================  ==============  =============================================
``<pipeline>#<entity>``               bucket          state: ``v`` value, ``ttl``, ``ver``, ``vt``
``<pipeline>|doc|<doc id>``           0               changelog contribution: ``c`` (JSON text)
``<pipeline>|meta``                   hash of name    checkpoint: ``name``, ``doc`` (JSON text)
``<pipeline>|keys``                   hash of key     key index: ``e`` entity, ``b`` bucket
====================================  ==============  =============================================

The key index lets ``scan`` (``murmur get --all``) list a pipeline's keys with a Query on one
partition, never a Scan of the table; it is written (idempotently) the first time this process
writes a key. ``clear`` (``murmur run --restart``) deletes a pipeline's items with a paged Scan
filtered on the pipeline's prefixes: it reads the table but deletes only that pipeline.

How a delta is written depends on the monoid's kind (the builders live in ``_writes.py``):

- ``sum``/``count``: ``UpdateItem ADD`` — atomic, exact (ints and Decimals; floats by their
  shortest decimal text), negative deltas for retractions. ``vt`` remembers a float or Decimal
  sum so it reads back as one; integral sums read back as ``int``.
- ``min``/``max``: a conditional ``SET`` that only lands when the new value is lower/higher
  (equal is a no-op). Numbers and strings compare natively; datetimes are kept as epoch
  microseconds (``vt = "dt"``; naive ones are taken as UTC).
- anything else: compare-and-swap on ``ver``: read, ``monoid.combine``, conditional write of
  ``monoid.encode(state)`` as binary; a lost race backs off and retries, up to ``cas_attempts``.

An expired item (``ttl`` passed but not yet deleted — DynamoDB deletes lazily) reads as
missing and is started over by the next write, as if it were gone.

Non-transactional merges write state (keys in parallel), then contributions, then meta, so a
crash re-applies rather than loses (at-least-once). Transactional merges put the whole unit —
state updates, contributions (conditioned on the version read), claims on the absorbed
deduper's table and meta — in one ``TransactWriteItems``: all or nothing, so with claims every
record counts exactly once, for every monoid. DynamoDB allows 100 actions per transaction,
hence ``max_unit_items``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Sequence
from typing import Any

from murmur import (
    ClaimConflict,
    ConfigError,
    Contribution,
    ContributionConflict,
    Deduper,
    Monoid,
    StateKey,
    StoreError,
    TransientError,
    Unit,
)

from murmur_dynamodb._batch import batch_get, batch_write
from murmur_dynamodb._clear import scan_prefixed
from murmur_dynamodb._client import Connection, Workers, close_client, where
from murmur_dynamodb._codec import Item, backoff, name_hash, now, number
from murmur_dynamodb._errors import TRANSIENT_REASONS, ConditionFailed, TransactionCancelled, call
from murmur_dynamodb._writes import (
    ADDITIVE,
    EXTREMES,
    Write,
    add,
    cas,
    decode,
    describe_key,
    extreme,
    extreme_needed,
)
from murmur_dynamodb.dedup import DynamoDBDeduper

#: DynamoDB's limit of actions in one TransactWriteItems.
TRANSACTION_LIMIT = 100
#: Contribution texts remembered from reads (for the conditional write that follows the read).
READ_TEXTS_KEPT = 100_000


class DynamoDBStore:
    """State, contributions and checkpoints in one DynamoDB table (see the module docstring).

    ``transactional``: ``True`` or ``False`` fixes the mode; ``None`` (the default) turns it on
    when :meth:`absorbs` accepts a ``dynamodb`` deduper on the same endpoint and region.
    """

    name = "dynamodb"
    max_concurrency = 8
    #: Most writes + contributions + claims + meta one unit may hold (one TransactWriteItems).
    max_unit_items = TRANSACTION_LIMIT

    def __init__(
        self,
        table: str = "murmur_state",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        consistent_reads: bool = True,
        max_pool_connections: int = 16,
        transactional: bool | None = None,
        cas_attempts: int = 10,
    ) -> None:
        if cas_attempts < 1:
            raise ConfigError("dynamodb store: cas_attempts must be at least 1", option="cas_attempts")
        self.table = table
        self.consistent_reads = consistent_reads
        self.cas_attempts = cas_attempts
        self.transactional_option = transactional
        self.transactional = bool(transactional)
        self.connection = Connection(endpoint_url, region, max_pool_connections)
        self.what = f"dynamodb store (table {table!r})"
        self.client = self.connection.client(self.what)
        self._dedup: DynamoDBDeduper | None = None
        self._workers = Workers(max_pool_connections, "murmur-ddb-store")
        self._pipelines: set[str] = set()
        # The exact text of each contribution read, so that the "unchanged since read" condition
        # compares what is stored byte for byte rather than a re-serialisation of it.
        self._read_texts: dict[tuple[str, str], tuple[Contribution, str]] = {}
        self._texts_lock = threading.Lock()
        self._indexed: set[tuple[str, StateKey]] = set()  # keys whose index item this process wrote

    # ------------------------------------------------------------------ keys

    def _check_pipeline(self, pipeline: str) -> str:
        if pipeline not in self._pipelines:
            if not pipeline or "#" in pipeline or "|" in pipeline:
                raise ConfigError(
                    f"{self.what}: pipeline name {pipeline!r} may not be empty or contain '#' or '|'", option="name"
                )
            self._pipelines.add(pipeline)
        return pipeline

    def _state_key(self, pipeline: str, key: StateKey) -> Item:
        return {"pk": {"S": f"{pipeline}#{key.entity}"}, "sk": {"N": str(int(key.bucket))}}

    @staticmethod
    def _doc_key(pipeline: str, doc_id: str) -> Item:
        return {"pk": {"S": f"{pipeline}|doc|{doc_id}"}, "sk": {"N": "0"}}

    @staticmethod
    def _meta_key(pipeline: str, name: str) -> Item:
        return {"pk": {"S": f"{pipeline}|meta"}, "sk": {"N": str(name_hash(name))}}

    def _describe_key(self, av_key: Item) -> str:
        return describe_key(self.table, av_key)

    # ------------------------------------------------------------------ dedup absorption

    @property
    def location(self) -> tuple[str, str]:
        return where(self.client)

    def absorbs(self, deduper: Deduper) -> bool:
        """True for a ``dynamodb`` deduper on the same endpoint and region, unless transactional=false.

        Absorbing turns the transactional mode on: claims then commit with the state.
        """
        if self.transactional_option is False or not isinstance(deduper, DynamoDBDeduper):
            return False
        if deduper.location != self.location:
            return False
        if deduper.table == self.table:
            raise ConfigError(
                f"{self.what}: the deduper needs a table of its own (both use {self.table!r}); "
                "create one with `murmur dynamodb create-tables --dedup NAME`",
                option="table",
            )
        self._dedup = deduper
        self.transactional = True
        return True

    # ------------------------------------------------------------------ reading state

    def _decode(self, item: Item | None, monoid: Monoid[Any], at: float) -> Any:
        return decode(item, monoid, at, table=self.table, what=self.what)

    def _read(self, keys: Sequence[Item], *, consistent: bool) -> dict[tuple[str, str], Item]:
        items = batch_get(self.client, self.table, keys, consistent=consistent, what=self.what)
        return {(i["pk"]["S"], i["sk"]["N"]): i for i in items}

    @staticmethod
    def _ref(av_key: Item) -> tuple[str, str]:
        return (av_key["pk"]["S"], av_key["sk"]["N"])

    def get_many(self, pipeline: str, keys: Sequence[StateKey], monoid: Monoid[Any]) -> list[Any]:
        self._check_pipeline(pipeline)
        av_keys = [self._state_key(pipeline, k) for k in keys]
        unique = list({self._ref(k): k for k in av_keys}.values())
        found = self._read(unique, consistent=self.consistent_reads)
        at = now()
        return [self._decode(found.get(self._ref(k)), monoid, at) for k in av_keys]

    def get_contributions(self, pipeline: str, doc_ids: Sequence[str], monoid: Monoid[Any]) -> dict[str, Contribution]:
        self._check_pipeline(pipeline)
        unique = list(dict.fromkeys(doc_ids))
        found = self._read([self._doc_key(pipeline, d) for d in unique], consistent=True)
        out: dict[str, Contribution] = {}
        for doc_id in unique:
            item = found.get(self._ref(self._doc_key(pipeline, doc_id)))
            if item is not None:
                text = item["c"]["S"]
                out[doc_id] = contribution = Contribution.loads(text, monoid, doc_id=doc_id)
                self._remember(pipeline, doc_id, contribution, text)
        return out

    def _remember(self, pipeline: str, doc_id: str, contribution: Contribution, text: str) -> None:
        with self._texts_lock:
            self._read_texts.pop((pipeline, doc_id), None)
            self._read_texts[(pipeline, doc_id)] = (contribution, text)
            while len(self._read_texts) > READ_TEXTS_KEPT:  # oldest first
                del self._read_texts[next(iter(self._read_texts))]

    def _expected_text(self, pipeline: str, doc_id: str, expected: Contribution, monoid: Monoid[Any]) -> str:
        with self._texts_lock:
            seen = self._read_texts.get((pipeline, doc_id))
        if seen is not None and seen[0] == expected:
            return seen[1]
        return expected.dumps(monoid)

    # ------------------------------------------------------------------ building writes

    def _writes(self, unit: Unit, at: float, stored: dict[tuple[str, str], Item] | None) -> list[Write]:
        """The state updates of a unit; ``stored`` holds the items read for CAS (and, in a transaction, min/max)."""
        kind = unit.monoid.kind
        out = []
        for key, delta in unit.writes.items():
            av_key = self._state_key(unit.pipeline, key)
            expiry = unit.expiry.get(key)
            if kind in ADDITIVE:
                out.append(add(av_key, key, delta, expiry, at))
            elif kind in EXTREMES:
                out.append(extreme(av_key, key, kind, delta, expiry, at, table=self.table))
            else:
                item = None if stored is None else stored.get(self._ref(av_key))
                out.append(cas(av_key, key, unit.monoid, delta, item, expiry, at, table=self.table, what=self.what))
        return out

    # ------------------------------------------------------------------ merge

    def merge(self, unit: Unit) -> None:
        self._check_pipeline(unit.pipeline)
        if unit.empty:
            return
        if unit.claims and self._dedup is None:
            raise StoreError(f"{self.what}: the unit carries claims but this store absorbed no deduper")
        self._index_keys(unit)
        if self.transactional:
            self._merge_transaction(unit)
            return
        self._write_state(unit)
        if unit.contributions:
            puts = [
                {"PutRequest": {"Item": {**self._doc_key(unit.pipeline, d), "c": {"S": cw.new.dumps(unit.monoid)}}}}
                for d, cw in unit.contributions.items()
            ]
            batch_write(self.client, self.table, puts, what=self.what)
        if unit.meta:
            puts = [{"PutRequest": {"Item": self._meta_item(unit.pipeline, n, d)}} for n, d in unit.meta.items()]
            batch_write(self.client, self.table, puts, what=self.what)

    def _write_state(self, unit: Unit) -> None:
        if not unit.writes:
            return
        at = now()
        stored = None
        if unit.monoid.kind not in ADDITIVE and unit.monoid.kind not in EXTREMES:
            stored = self._read([self._state_key(unit.pipeline, k) for k in unit.writes], consistent=True)
        writes = self._writes(unit, at, stored)
        self._workers.map(lambda w: self._write_one(unit, w), writes)

    def _write_one(self, unit: Unit, write: Write) -> None:
        kind = unit.monoid.kind
        for attempt in range(self.cas_attempts):
            try:
                call(
                    self.what,
                    self.client.update_item,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **write.params(self.table),
                )
                return
            except ConditionFailed as failed:
                stored = failed.item
            at = now()
            if kind in EXTREMES:
                if stored is not None and write.on_conflict is not None:
                    write.on_conflict(stored)
                    return
            elif kind in ADDITIVE:
                self._drop_expired([write.av_key])
            else:  # lost a compare-and-swap race: combine with what is there now
                backoff(attempt)
                stored = self._read([write.av_key], consistent=True).get(self._ref(write.av_key))
                write = cas(
                    write.av_key,
                    write.key,
                    unit.monoid,
                    unit.writes[write.key],
                    stored,
                    unit.expiry.get(write.key),
                    at,
                    table=self.table,
                    what=self.what,
                )
        raise TransientError(
            f"{self.what}: key {self._describe_key(write.av_key)} changed under {self.cas_attempts} attempts "
            "to update it (heavy contention; raise cas_attempts or retry)"
        )

    def _drop_expired(self, av_keys: Sequence[Item]) -> None:
        """Delete items whose ttl passed (they read as missing already), so writes start them over."""

        def drop(av_key: Item) -> None:
            with contextlib.suppress(ConditionFailed):  # someone else started it over already
                call(
                    self.what,
                    self.client.delete_item,
                    TableName=self.table,
                    Key=av_key,
                    ConditionExpression="#ttl <= :now",
                    ExpressionAttributeNames={"#ttl": "ttl"},
                    ExpressionAttributeValues={":now": number(int(now()))},
                )

        self._workers.map(drop, av_keys)

    def _meta_item(self, pipeline: str, name: str, doc: dict[str, Any]) -> Item:
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        return {**self._meta_key(pipeline, name), "name": {"S": name}, "doc": {"S": text}}

    # ------------------------------------------------------------------ transactional merge

    def _merge_transaction(self, unit: Unit) -> None:
        claims = list(dict.fromkeys(unit.claims))
        size = len(unit.writes) + len(unit.contributions) + len(claims) + len(unit.meta)
        if size > TRANSACTION_LIMIT:
            raise StoreError(
                f"{self.what}: a unit of {size} items (writes {len(unit.writes)}, contributions "
                f"{len(unit.contributions)}, claims {len(claims)}, meta {len(unit.meta)}) does not fit one "
                f"TransactWriteItems (at most {TRANSACTION_LIMIT}); the runtime must size units by max_unit_items"
            )
        kind = unit.monoid.kind
        needs_read = kind not in ADDITIVE
        for attempt in range(self.cas_attempts):
            at = now()
            stored = None
            if needs_read and unit.writes:
                stored = self._read([self._state_key(unit.pipeline, k) for k in unit.writes], consistent=True)
            writes = self._writes(unit, at, stored)
            if kind in EXTREMES and stored is not None:
                writes = [w for w in writes if extreme_needed(w, stored.get(self._ref(w.av_key)), at)]
            actions: list[dict[str, Any]] = [{"Update": w.params(self.table)} for w in writes]
            docs = list(unit.contributions)
            for doc_id in docs:
                actions.append({"Put": self._contribution_put(unit, doc_id)})
            first_claim = len(actions)
            assert self._dedup is not None or not claims
            for event_id in claims:
                actions.append(self._dedup.claim_action(event_id, at))  # type: ignore[union-attr]
            for name, doc in unit.meta.items():
                actions.append({"Put": {"TableName": self.table, "Item": self._meta_item(unit.pipeline, name, doc)}})
            if not actions:
                return
            try:
                call(self.what, self.client.transact_write_items, TransactItems=actions)
                return
            except TransactionCancelled as cancelled:
                expired = self._cancelled(cancelled, unit, writes, docs, claims, first_claim)
            if expired:
                self._drop_expired(expired)
            backoff(attempt)
        raise TransientError(
            f"{self.what}: TransactWriteItems of {size} items cancelled {self.cas_attempts} times by concurrent "
            "changes (heavy contention; raise cas_attempts or retry)"
        )

    def _contribution_put(self, unit: Unit, doc_id: str) -> dict[str, Any]:
        cw = unit.contributions[doc_id]
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": {**self._doc_key(unit.pipeline, doc_id), "c": {"S": cw.new.dumps(unit.monoid)}},
        }
        if cw.expected is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#c = :expected"
            put["ExpressionAttributeNames"] = {"#c": "c"}
            text = self._expected_text(unit.pipeline, doc_id, cw.expected, unit.monoid)
            put["ExpressionAttributeValues"] = {":expected": {"S": text}}
        return put

    def _cancelled(
        self,
        cancelled: TransactionCancelled,
        unit: Unit,
        writes: list[Write],
        docs: list[str],
        claims: list[str],
        first_claim: int,
    ) -> list[Item]:
        """Turn a cancellation into ClaimConflict / ContributionConflict / a permanent error,
        or return the expired state keys to start over before the transaction is retried."""
        reasons = cancelled.reasons
        if not reasons:  # an endpoint that gives no reasons: ask the dedup table which claims lost
            taken = self._dedup.contains(claims) if claims and self._dedup is not None else set()
            if taken:
                raise ClaimConflict(taken) from None
            return []
        codes = [str(r.get("Code") or "None") for r in reasons]
        failed = [(i, c) for i, c in enumerate(codes) if c not in ("None", "ConditionalCheckFailed")]
        permanent = [(i, c) for i, c in failed if c not in TRANSIENT_REASONS]
        if permanent:
            detail = "; ".join(f"action {i}: {c} {reasons[i].get('Message', '')}".strip() for i, c in permanent)
            raise StoreError(f"{self.what}: TransactWriteItems refused: {detail}")
        lost = {i for i, c in enumerate(codes) if c == "ConditionalCheckFailed"}
        taken = {claims[i - first_claim] for i in lost if first_claim <= i < first_claim + len(claims)}
        if taken:
            raise ClaimConflict(taken) from None
        n_writes = len(writes)
        stale = {docs[i - n_writes] for i in lost if n_writes <= i < n_writes + len(docs)}
        if stale:
            raise ContributionConflict(stale) from None
        if unit.monoid.kind in ADDITIVE:  # an ADD's only condition is "not expired"
            return [writes[i].av_key for i in lost if i < n_writes]
        return []

    # ------------------------------------------------------------------ meta

    def read_meta(self, pipeline: str, name: str) -> dict[str, Any] | None:
        self._check_pipeline(pipeline)
        response = call(
            self.what,
            self.client.get_item,
            TableName=self.table,
            Key=self._meta_key(pipeline, name),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None or item.get("name", {}).get("S") != name:
            return None
        return dict(json.loads(item["doc"]["S"]))

    def _meta_items(self, pipeline: str) -> list[Item]:
        items: list[Item] = []
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"{pipeline}|meta"}},
            "ConsistentRead": True,
        }
        while True:
            response = call(self.what, self.client.query, **params)
            items.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return items
            params["ExclusiveStartKey"] = last

    def list_meta(self, pipeline: str) -> dict[str, dict[str, Any]]:
        self._check_pipeline(pipeline)
        return {i["name"]["S"]: dict(json.loads(i["doc"]["S"])) for i in self._meta_items(pipeline)}

    def write_meta(
        self, pipeline: str, name: str, doc: dict[str, Any], *, only_if_absent: bool = False
    ) -> dict[str, Any]:
        self._check_pipeline(pipeline)
        params: dict[str, Any] = {"TableName": self.table, "Item": self._meta_item(pipeline, name, doc)}
        if only_if_absent:
            params["ConditionExpression"] = "attribute_not_exists(pk)"
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            call(self.what, self.client.put_item, **params)
        except ConditionFailed as first:
            if first.item is not None:
                return dict(json.loads(first.item["doc"]["S"]))
            stored = self.read_meta(pipeline, name)
            if stored is None:
                raise TransientError(f"{self.what}: meta {name!r} vanished while written") from None
            return stored
        return json.loads(json.dumps(doc))  # type: ignore[no-any-return]

    def pipelines(self) -> list[str]:
        """The pipelines whose description (meta ``pipeline``) is in the table, for ``murmur status``.

        A filtered Scan of the whole table: an operator's command, not something to run in a loop.
        """
        names: set[str] = set()
        params: dict[str, Any] = {
            "TableName": self.table,
            "ProjectionExpression": "pk",
            "FilterExpression": "#n = :description",
            "ExpressionAttributeNames": {"#n": "name"},
            "ExpressionAttributeValues": {":description": {"S": "pipeline"}},
            "ConsistentRead": True,
        }
        while True:
            response = call(self.what, self.client.scan, **params)
            for item in response.get("Items", []):
                pk = item["pk"]["S"]
                if pk.endswith("|meta"):
                    names.add(pk[: -len("|meta")])
            last = response.get("LastEvaluatedKey")
            if not last:
                return sorted(names)
            params["ExclusiveStartKey"] = last

    def delete_meta(self, pipeline: str) -> None:
        self._check_pipeline(pipeline)
        deletes = [{"DeleteRequest": {"Key": {"pk": i["pk"], "sk": i["sk"]}}} for i in self._meta_items(pipeline)]
        batch_write(self.client, self.table, deletes, what=self.what)

    # ------------------------------------------------------------------ key index, listing, clearing

    @staticmethod
    def _index_key(pipeline: str, key: StateKey) -> Item:
        return {"pk": {"S": f"{pipeline}|keys"}, "sk": {"N": str(name_hash(f"{key.entity}\x00{key.bucket}"))}}

    def _index_keys(self, unit: Unit) -> None:
        """Index the unit's keys not indexed by this process yet (before the state: an index item
        whose state is missing lists nothing, a state without one would be unlisted)."""
        new = [k for k in unit.writes if (unit.pipeline, k) not in self._indexed]
        if not new:
            return
        puts = [
            {
                "PutRequest": {
                    "Item": {
                        **self._index_key(unit.pipeline, k),
                        "e": {"S": k.entity},
                        "b": {"N": str(int(k.bucket))},
                    }
                }
            }
            for k in new
        ]
        batch_write(self.client, self.table, puts, what=self.what)
        if len(self._indexed) > 1_000_000:
            self._indexed.clear()
        self._indexed.update((unit.pipeline, k) for k in new)

    def scan(
        self,
        pipeline: str,
        monoid: Monoid[Any],
        *,
        prefix: str | None = None,
        after: str | None = None,
        limit: int = 1000,
    ) -> tuple[list[tuple[StateKey, Any]], str | None]:
        """One page of the pipeline's live keys (in index order: by a hash of the key), read with a
        Query on the key index partition; the cursor of the next page, or None after the last."""
        self._check_pipeline(pipeline)
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"{pipeline}|keys"}},
            "Limit": limit,
            "ConsistentRead": self.consistent_reads,
        }
        if prefix:
            params["FilterExpression"] = "begins_with(e, :prefix)"
            params["ExpressionAttributeValues"][":prefix"] = {"S": prefix}
        if after is not None:
            params["ExclusiveStartKey"] = {"pk": {"S": f"{pipeline}|keys"}, "sk": {"N": str(json.loads(after))}}
        response = call(self.what, self.client.query, **params)
        keys = [StateKey(i["e"]["S"], int(i["b"]["N"])) for i in response.get("Items", [])]
        states = self.get_many(pipeline, keys, monoid) if keys else []
        out = [(k, v) for k, v in zip(keys, states, strict=True) if v is not None]
        last = response.get("LastEvaluatedKey")
        return out, json.dumps(int(last["sk"]["N"])) if last else None

    def clear(self, pipeline: str) -> dict[str, int]:
        """Delete every item of ``pipeline`` (state, key index, contributions, checkpoints) and, with
        an absorbed deduper, its claims; other pipelines' items are read by the Scan, never touched."""
        self._check_pipeline(pipeline)
        counts = {"keys": 0, "contributions": 0, "checkpoints": 0}
        keys: list[Item] = []
        for item in scan_prefixed(self.client, self.table, (f"{pipeline}#", f"{pipeline}|"), self.what):
            pk = item["pk"]["S"]
            keys.append({"pk": item["pk"], "sk": item["sk"]})
            if pk.startswith(f"{pipeline}#"):
                counts["keys"] += 1
            elif pk.startswith(f"{pipeline}|doc|"):
                counts["contributions"] += 1
            elif pk == f"{pipeline}|meta":
                counts["checkpoints"] += 1
        batch_write(self.client, self.table, [{"DeleteRequest": {"Key": k}} for k in keys], what=self.what)
        self._indexed = {s for s in self._indexed if s[0] != pipeline}
        if self._dedup is not None:
            counts.update(self._dedup.clear(pipeline))
        return counts

    def close(self) -> None:
        self._workers.close()
        close_client(self.client)
