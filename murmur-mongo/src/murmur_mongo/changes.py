"""The ``mongo-changes`` live source: a collection's change stream, continued from a handoff.

- ``start(handoff, checkpoint)`` opens the stream after the checkpointed resume token, else
  after the handoff token (``startAfter``), else at the current end of the stream.
- Records are changelog records (SPEC §5b): ``value`` is the document's new state
  (``fullDocument=updateLookup``), ``change.doc_id`` is ``<db>.<collection>/<id>`` as in the
  scan, a delete carries ``deleted=True``. Inserts have the scan's event id; updates,
  replaces and deletes add ``@<t>:<i>`` (cluster time), or ``@<resume token data>`` on servers
  whose events carry no cluster timestamp (nx-27017).
- Positions, batch path (``murmur.BatchLiveSource``, what ``murmur.live`` uses): one read of
  the stream is one ``Batch`` whose ``checkpoint`` is the resume token after its last event;
  the runtime stores it inside the unit of work that applies the batch (meta
  ``live/mongo-changes``) and passes it back to ``start``. ``commit`` has nothing to do.
- Positions, per-record path (``LiveSource``: ``poll``/``checkpoint``, kept for callers that
  drive the source directly): the stream is one ordered partition; ``checkpoint()`` is the
  resume token of the last record of the acked prefix. Both write the same JSON shape.
- With a ``filter``, documents that no longer match count as deleted: membership is checked
  against the collection (one query per poll), since an update event cannot say whether the
  document matched before.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from murmur import (
    Batch,
    Change,
    ConfigError,
    ContiguousAcks,
    HandoffError,
    HandoffToken,
    Poison,
    Record,
    SourceError,
    TransientError,
    document_event_id,
)

from murmur_mongo._client import REBOOTSTRAP, Closing, Target, retrying, translate
from murmur_mongo._codec import (
    decode,
    fix_nx_object_ids,
    has_nx_object_ids,
    is_missing,
    parse_query,
    rewrite_for_change_events,
    salvage_id,
    token_from_json,
    token_to_json,
)

if TYPE_CHECKING:
    from bson.raw_bson import RawBSONDocument
    from pymongo import MongoClient
    from pymongo.change_stream import CollectionChangeStream

__all__ = ["MongoChangeSource"]

log = logging.getLogger("murmur.mongo")

#: How long to wait between empty reads when the server answers at once (nx-27017 ignores maxAwaitTimeMS).
IDLE_SLEEP = 0.05
#: At most how often the batch path hands over an idle stream's advancing resume token (one store write each).
IDLE_CHECKPOINT_EVERY = 10.0
_DOCUMENT_OPS = ("insert", "update", "replace", "delete")
_ENDING_OPS = ("drop", "rename", "dropDatabase", "invalidate")
_PARTITION = 0


@dataclass
class _Event:
    seq: int
    token: dict[str, Any]
    op: str
    record: Record | None = None  # None: nothing to apply (other operation, or filtered out)
    lookup_id: Any = None  # the _id whose filter membership decides the record


#: Change-stream operationType ⇒ Change.op (replace is an update of the whole document).
_OP = {"insert": "insert", "update": "update", "replace": "update", "delete": "delete"}


class MongoChangeSource(Closing):
    """Follows one collection's change stream."""

    name = "mongo-changes"
    default_mode: Literal["append", "changelog"] = "changelog"
    #: Snapshot sources whose handoff token is a position of this stream (the CLI's default start).
    handoff_sources = ("mongo",)
    #: Where a stream starts without a handoff or a stored position (the CLI says so).
    start_description = "the current end of the change stream (changes from now on)"

    def __init__(
        self,
        *,
        uri: str,
        database: str,
        collection: str,
        filter: Any = None,
        batch_size: int = 1000,
        max_await_ms: int = 250,
        server_filter: bool = False,
        client: MongoClient[Any] | None = None,
    ) -> None:
        if max_await_ms < 0:
            raise ConfigError(f"mongo-changes: max_await_ms must be >= 0, got {max_await_ms}", option="max_await_ms")
        target = Target(
            "mongo-changes", uri=uri, database=database, collection=collection, batch_size=batch_size, client=client
        )
        self._target = target
        self.namespace = target.namespace
        self.what = f"the change stream of collection {self.namespace}"
        self.batch_size = batch_size
        self.max_await_ms = max_await_ms
        self.filter = parse_query(filter, "filter")
        self.server_filter = server_filter
        self._pipeline: list[dict[str, Any]] = []
        if self.filter and server_filter:
            # Only inserts may be dropped on the server: an update or delete of a document that
            # matched before must still reach us, to take its contribution back.
            rewritten = rewrite_for_change_events(self.filter)
            self._pipeline = [{"$match": {"$or": [{"operationType": {"$ne": "insert"}}, rewritten]}}]
        self._redact = target.redact
        self._coll = target.coll
        self._stream: CollectionChangeStream[RawBSONDocument] | None = None
        self._acks = ContiguousAcks()
        self._lock = threading.Lock()
        self._tokens: dict[int, dict[str, Any]] = {}
        self._next_seq = 0
        self._last_token: dict[str, Any] | None = None  # of the last event consumed: where a reopen continues
        self._batch_token: dict[str, Any] | None = None  # the last checkpoint poll_batch handed over
        self._idle_checkpoint_at = float("-inf")
        self._pending_error: BaseException | None = None
        self._failures = 0
        self._started = False
        self._closed = False
        self._counts: Counter[str] = Counter()
        self._last_event_time: dt.datetime | None = None

    # ------------------------------------------------------------------ positions

    def capture_position(self) -> dict[str, Any]:
        """The stream's current resume token, for a bootstrap handing off to this source."""
        return self._target.stream_position(f"mongo-changes: capturing the position of {self.namespace}")

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None:
        if checkpoint is not None:
            token: dict[str, Any] | None = self._token_of(checkpoint, "stored checkpoint")
        elif handoff is not None:
            token = self._token_from_handoff(handoff)
        else:
            token = None
        self._open(token)
        assert self._stream is not None
        base = token
        if base is None:
            now = self._stream.resume_token
            base = token_to_json(now) if now is not None else None
        with self._lock:
            self._acks.reset(_PARTITION, 0)
            self._tokens = {-1: base} if base is not None else {}
            self._next_seq = 0
            self._last_token = base
        self._batch_token = base
        self._started = True

    def _token_from_handoff(self, handoff: HandoffToken) -> dict[str, Any]:
        live = handoff.live
        if live is not None and live.get("source") == self.name:
            doc, origin = live.get("position"), "handoff file's live position"
        elif handoff.source == "mongo":
            doc, origin = handoff.token, "handoff token"
        else:
            raise HandoffError(
                f"mongo-changes: the handoff file was written by source {handoff.source!r}; mongo-changes continues "
                "from a bootstrap of the `mongo` snapshot source (or one run with --handoff-to mongo-changes)"
            )
        if doc is None:
            raise HandoffError(
                "mongo-changes: the handoff file has no resume token (the bootstrap ran with --no-handoff); "
                "bootstrap again without --no-handoff, on a replica set"
            )
        return self._token_of(doc, origin)

    def _token_of(self, doc: Any, origin: str) -> dict[str, Any]:
        if not isinstance(doc, Mapping) or not isinstance(doc.get("resume_token"), Mapping):
            raise HandoffError(f"mongo-changes: the {origin} holds no Mongo resume token ({doc!r}); {REBOOTSTRAP}")
        namespace = doc.get("namespace")
        if namespace != self.namespace:
            raise HandoffError(
                f"mongo-changes: the {origin} is for collection {namespace!r}, but this source reads "
                f"{self.namespace!r}; start from a handoff of {self.namespace!r}, or set database/collection"
            )
        try:
            token_from_json(doc["resume_token"])
        except ValueError as exc:
            raise HandoffError(f"mongo-changes: the {origin} is not usable ({exc}); {REBOOTSTRAP}") from None
        return dict(doc["resume_token"])

    def _open(self, token: dict[str, Any] | None) -> None:
        what = f"mongo-changes: opening the change stream of {self.namespace}"
        self._stream = retrying(lambda: self._watch(token), what, self._redact, live=True)

    def _watch(self, token: dict[str, Any] | None) -> CollectionChangeStream[RawBSONDocument]:
        kwargs: dict[str, Any] = {
            "full_document": "updateLookup",
            "batch_size": self.batch_size,
            "max_await_time_ms": self.max_await_ms,
        }
        if token is not None:
            kwargs["start_after"] = token_from_json(token)
        return self._coll.watch(self._pipeline or None, **kwargs)

    # ------------------------------------------------------------------ reading

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """The per-record path (``LiveSource``): records acked one by one, ``checkpoint()`` after."""
        if max_records <= 0:  # a keep-alive poll (LiveSource contract): a change stream needs none
            self._check_ready()
            return []
        return self._records(self._read(max_records, timeout, self._idle_advance))

    def poll_batch(self, max_records: int, timeout: float) -> Batch | None:
        """The batch path (``BatchLiveSource``): one change-stream read is one batch.

        Its ``checkpoint`` is the resume token after its last event (skipped events included),
        which the runtime stores inside the unit of work that applies the batch; ``end`` is
        empty: a change stream has nothing to commit on its own. With nothing new, the batch
        carries only a newer idle resume token (at most every ``IDLE_CHECKPOINT_EVERY``), so
        the stored position stays inside the oplog window on a quiet or filtered stream.
        """
        if max_records <= 0:  # keep-alive: a change stream needs none
            self._check_ready()
            return None
        return self._batch(self._read(max_records, timeout, None))

    def _batch(self, raws: list[RawBSONDocument]) -> Batch | None:
        """One read's events as one batch (skipped events still move its checkpoint)."""
        events = self._events(raws, tracked=False)
        if not events:
            token = self._idle_token()
            if token is None:
                return None
            return Batch(0, {}, records=[], checkpoint=self._position(token))
        records: list[Record] = []
        for ev in events:
            if ev.record is None:
                self._counts["skipped"] += 1
            else:
                records.append(ev.record)
        last = events[-1].token
        self._last_token = last
        self._batch_token = last
        return Batch(len(records), {}, records=records, checkpoint=self._position(last))

    def commit(self, positions: Mapping[Hashable, Any]) -> None:
        """Nothing to do: the runtime keeps each batch's ``checkpoint`` (resume token) in the store."""

    def _position(self, token: dict[str, Any]) -> dict[str, Any]:
        """A stored position, as ``checkpoint()`` has always written it (``start`` reads it back)."""
        return {"resume_token": token, "namespace": self.namespace}

    def _idle_token(self) -> dict[str, Any] | None:
        """The stream's resume token if it moved past the last checkpoint handed over, at most
        once per ``IDLE_CHECKPOINT_EVERY`` (each one is a store write)."""
        if self._stream is None:
            return None
        now = time.monotonic()
        if now - self._idle_checkpoint_at < IDLE_CHECKPOINT_EVERY:
            return None
        current = self._stream.resume_token
        if current is None:
            return None
        token = token_to_json(current)
        if token == self._batch_token:
            return None
        self._idle_checkpoint_at = now
        self._last_token = token
        self._batch_token = token
        return token

    def _check_ready(self) -> None:
        if not self._started:
            raise ConfigError("mongo-changes: start() was not called")
        if self._pending_error is not None:
            err, self._pending_error = self._pending_error, None
            raise err

    def _read(self, max_records: int, timeout: float, on_idle: Callable[[], None] | None) -> list[RawBSONDocument]:
        """Up to ``max_records`` raw change events, waiting at most ``timeout`` for the first."""
        self._check_ready()
        deadline = time.monotonic() + max(timeout, 0.0)
        raws: list[RawBSONDocument] = []
        while len(raws) < max_records:
            try:
                if self._stream is None:
                    self._stream = self._watch(self._last_token)
                assert self._stream is not None
                raw = self._stream.try_next()
            except Exception as exc:
                err = translate(
                    exc, f"mongo-changes: reading the change stream of {self.namespace}", self._redact, live=True
                )
                if not isinstance(err, TransientError):
                    if not raws:
                        raise err from exc
                    self._pending_error = err  # after the events already read
                    break
                # A lost connection or a failover: the runtime does not retry poll(), so pause
                # here and reopen after the last event we kept on the next call.
                self._drop_stream()
                self._failures += 1
                self._counts["reconnects"] += 1
                if self._failures == 1 or self._failures % 20 == 0:
                    log.warning("%s (retrying, attempt %d)", err, self._failures)
                if not raws:
                    pause = min(IDLE_SLEEP * 2 ** min(self._failures, 8), 5.0, max(0.0, deadline - time.monotonic()))
                    time.sleep(pause)
                break
            self._failures = 0
            if raw is None:
                if raws or time.monotonic() >= deadline:
                    break
                if on_idle is not None:
                    on_idle()
                time.sleep(max(0.0, min(IDLE_SLEEP, deadline - time.monotonic())))
                continue
            raws.append(raw)
            if raw.get("operationType") in _ENDING_OPS:
                break
        return raws

    def _events(self, raws: list[RawBSONDocument], *, tracked: bool) -> list[_Event] | None:
        """The raw events as records (``tracked``: each acked one by one); ``None``: read them again."""
        events = []
        for raw in raws:
            event = self._event(raw, tracked)
            if event is None:
                break
            events.append(event)
        if self.filter:
            try:
                self._apply_filter(events)
            except TransientError as exc:
                # The events are read again after the last kept one, once the server is back.
                self._drop_stream()
                self._counts["reconnects"] += 1
                log.warning("%s (retrying)", exc)
                return None
        return events

    def _records(self, raws: list[RawBSONDocument]) -> list[Record]:
        """The per-record path's records, each tracked until acked."""
        events = self._events(raws, tracked=True)
        return [] if events is None else self._track(events)

    def _track(self, events: list[_Event]) -> list[Record]:
        out: list[Record] = []
        with self._lock:
            for ev in events:
                self._tokens[ev.seq] = ev.token
                self._acks.track(_PARTITION, ev.seq)
                if ev.record is None:
                    self._counts["skipped"] += 1
                    self._acks.ack(_PARTITION, ev.seq)  # nothing to apply: done already
                else:
                    out.append(ev.record)
                self._last_token = ev.token
        return out

    def _event(self, raw: RawBSONDocument, tracked: bool) -> _Event | None:
        """One change event as a record (or a poison record); ``None`` once the stream ended."""
        op = str(raw.get("operationType"))
        token = token_to_json(raw["_id"])
        if op in _ENDING_OPS:
            self._pending_error = SourceError(
                f"mongo-changes: the change stream of {self.namespace} ended ({op} event): the collection was dropped "
                f"or renamed; {REBOOTSTRAP}"
            )
            self._drop_stream()
            return None
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
        self._counts["events"] += 1
        event = _Event(seq, token, op)
        if op not in _DOCUMENT_OPS:
            return event  # an index build or similar: nothing to apply
        self._counts[op] += 1
        cluster_time = raw.get("clusterTime")
        version, position = _version_and_position(cluster_time, token)
        event_time = _event_time(raw.get("wallTime"), cluster_time)
        if event_time is not None:
            self._last_event_time = event_time
        on_ack = self._acker(seq) if tracked else None  # the batch path acks per batch, not per record
        try:
            key_raw = raw["documentKey"].raw
            full_raw = raw.get("fullDocument")
            key = _fix(decode(key_raw), key_raw).get("_id")
            full = None if full_raw is None else _fix(decode(full_raw.raw), full_raw.raw)
        except Exception as exc:
            _id = salvage_id(raw.raw, "documentKey._id")
            shown = "?" if is_missing(_id) else document_event_id(self.namespace, _id)
            self._counts["poison"] += 1
            event.record = Record(
                Poison(f"{shown}: cannot decode {op} event: {type(exc).__name__}: {exc}", bytes(raw.raw)),
                event_id=None if is_missing(_id) else document_event_id(self.namespace, _id, position),
                event_time=event_time,
                partition_key=None if is_missing(_id) else shown,
                position=token,
                on_ack=on_ack,
            )
            return event
        # nx-27017 sends an int documentKey._id as a string: fullDocument keeps the real type.
        _id = full["_id"] if full is not None and "_id" in full else key
        doc_id = document_event_id(self.namespace, _id)
        event_id = doc_id if op == "insert" else document_event_id(self.namespace, _id, position)
        deleted = op == "delete" or full is None  # an update whose document is gone by lookup time
        event.record = Record(
            full if full is not None else {"_id": _id},
            event_id=event_id,
            event_time=event_time,
            partition_key=doc_id,
            position=token,
            change=Change(doc_id, version, deleted=deleted, op="delete" if deleted else _OP.get(op, "update")),
            on_ack=on_ack,
        )
        if not deleted:
            event.lookup_id = _id
        return event

    def _apply_filter(self, events: list[_Event]) -> None:
        """Documents that do not match the filter now count as deleted (inserts: skipped)."""
        assert self.filter is not None
        ids = [ev.lookup_id for ev in events if ev.lookup_id is not None]
        if not ids:
            return
        query = {"$and": [self.filter, {"_id": {"$in": ids}}]}
        try:
            found = [decode(r.raw)["_id"] for r in self._coll.find(query, {"_id": 1})]
        except Exception as exc:
            err = translate(exc, f"mongo-changes: checking the filter on {self.namespace}", self._redact)
            raise err from exc
        matching = {document_event_id(self.namespace, i) for i in found}
        for ev in events:
            rec = ev.record
            if ev.lookup_id is None or rec is None or rec.change is None or rec.change.doc_id in matching:
                continue
            if ev.op == "insert":
                ev.record = None
            else:
                rec.change = Change(rec.change.doc_id, rec.change.version, deleted=True, op="delete")

    def _idle_advance(self) -> None:
        """With every record acked and nothing new, move the checkpoint to the stream's resume
        token: on MongoDB it advances on an idle or filtered stream, keeping the checkpoint
        inside the oplog window."""
        if self._stream is None or self._acks.pending(_PARTITION):
            return
        now = self._stream.resume_token
        if now is None:
            return
        token = token_to_json(now)
        with self._lock:
            if token == self._last_token:
                return
            seq = self._next_seq
            self._next_seq += 1
            self._tokens[seq] = token
            self._acks.track(_PARTITION, seq)
            self._acks.ack(_PARTITION, seq)
            self._last_token = token

    def _acker(self, seq: int) -> Any:
        def ack() -> None:
            self._acks.ack(_PARTITION, seq)

        return ack

    # ------------------------------------------------------------------ progress

    def checkpoint(self) -> dict[str, Any] | None:
        """``{"resume_token", "namespace"}`` through which every record is acked."""
        with self._lock:
            upto = self._acks.committable(_PARTITION)
            if upto is None:
                return None
            last = upto - 1
            token = self._tokens.get(last)
            for seq in [s for s in self._tokens if s < last]:
                del self._tokens[seq]
        if token is None:
            return None
        return {"resume_token": token, "namespace": self.namespace}

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self._counts)
        out["pending"] = self._acks.pending(_PARTITION)
        if self._last_event_time is not None:
            out["last_event_time"] = self._last_event_time.isoformat()
            out["lag_seconds"] = round((dt.datetime.now(dt.UTC) - self._last_event_time).total_seconds(), 3)
        return out

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception:  # a broken connection: nothing left to release
                log.debug("mongo-changes: closing a failed change stream", exc_info=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._drop_stream()
        self._target.close()

    def __repr__(self) -> str:
        return f"MongoChangeSource({self.namespace!r})"


def _fix(doc: dict[str, Any], raw: bytes | memoryview) -> dict[str, Any]:
    fixed: dict[str, Any] = fix_nx_object_ids(doc) if has_nx_object_ids(raw) else doc
    return fixed


def _version_and_position(cluster_time: Any, token: Mapping[str, Any]) -> tuple[tuple[int, int] | None, str]:
    from bson import Timestamp

    if isinstance(cluster_time, Timestamp):
        return (cluster_time.time, cluster_time.inc), f"{cluster_time.time}:{cluster_time.inc}"
    # nx-27017 gives a millisecond datetime that many events share: not an order. Its resume
    # token ("nx:<n>") is unique per event, so it names the change instead.
    data = token.get("_data")
    return None, str(data) if data is not None else repr(sorted(token.items()))


def _event_time(wall_time: Any, cluster_time: Any) -> dt.datetime | None:
    from bson import Timestamp

    when = wall_time if isinstance(wall_time, dt.datetime) else None
    if when is None and isinstance(cluster_time, Timestamp):
        when = cluster_time.as_datetime()
    if when is None and isinstance(cluster_time, dt.datetime):
        when = cluster_time
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when
