"""The ``mongo`` snapshot source: a collection scan in ``_id`` order, with a change-stream handoff.

- ``capture_handoff()`` opens a change stream on the collection, takes its resume token without
  reading an event, and closes it. The live source ``mongo-changes`` continues after it.
- ``scan(segment, after)`` pages with ``{_id: {$gt: last}}`` inside each BSON type bracket
  (see ``_ids``), ``batch_size`` documents a query, so a scan never holds a cursor open and
  ``after`` (the last ``_id`` as extended JSON) resumes exactly after that document.
- ``segments(n)`` cuts the ``_id`` space at ``$bucketAuto`` boundaries into ``n`` ranges
  ``{"lo", "hi"}`` (``lo`` exclusive, ``hi`` inclusive, ``null`` open) covering every
  document once.
- Records are changelog records: ``value`` is the document, ``change.doc_id`` and the event id
  are ``<db>.<collection>/<id>``, as in the change stream and the Debezium decoder.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from murmur import Change, ConfigError, HandoffToken, Poison, Record, SourceError, document_event_id

from murmur_mongo._client import Closing, Target, retrying, translate
from murmur_mongo._codec import decode, is_missing, parse_query, salvage_id
from murmur_mongo._ids import BRACKETS, bracket_of, id_from_json, id_to_json, order_boundaries

if TYPE_CHECKING:
    from bson.raw_bson import RawBSONDocument
    from pymongo import MongoClient

__all__ = ["MongoSnapshotSource"]

log = logging.getLogger("murmur.mongo")

#: Documents sampled per segment to place the segment boundaries.
SAMPLE_PER_SEGMENT = 256


class MongoSnapshotSource(Closing):
    """Scans one collection (optionally filtered and projected) for a bootstrap."""

    name = "mongo"
    default_mode: Literal["append", "changelog"] = "changelog"

    def __init__(
        self,
        *,
        uri: str,
        database: str,
        collection: str,
        filter: Any = None,
        projection: Any = None,
        batch_size: int = 1000,
        segments: int = 1,
        no_handoff: bool = False,
        client: MongoClient[Any] | None = None,
    ) -> None:
        if segments < 1:
            raise ConfigError(f"mongo: segments must be at least 1, got {segments}", option="segments")
        target = Target(
            "mongo", uri=uri, database=database, collection=collection, batch_size=batch_size, client=client
        )
        self._target = target
        self.namespace = target.namespace
        self.what = f"collection {self.namespace}"  # for "… is empty or does not exist" warnings
        self.batch_size = batch_size
        #: How many ranges a bootstrap should cut the scan into when not told otherwise.
        self.default_segments = segments
        self.no_handoff = no_handoff
        self.filter = parse_query(filter, "filter")
        self.projection = _keep_id(parse_query(projection, "projection"))
        self._redact = target.redact
        #: Set when counting found no server: the scan fails with it at once instead of waiting again.
        self._unreachable: BaseException | None = None
        self._coll = target.coll
        self._present: list[int] | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ handoff

    def capture_handoff(self) -> HandoffToken:
        """The change stream's resume token *now*: every later change comes after it."""
        now = dt.datetime.now(dt.UTC)
        if self.no_handoff:
            return HandoffToken(self.name, None, now)
        position = self._target.stream_position(f"mongo: capturing the handoff token of {self.namespace}")
        return HandoffToken(self.name, position, now)

    # ------------------------------------------------------------------ splitting

    def segments(self, count: int) -> list[dict[str, Any]]:
        """``count`` ranges ``{"lo", "hi"}`` of ``_id`` (extended JSON, ``null`` = open) that
        cover every document once, with an ``estimate`` of their size for progress. Too few
        distinct ids ⇒ some ranges are empty."""
        if count < 1:
            raise ConfigError(f"mongo: segments must be at least 1, got {count}", option="segments")
        if count == 1:
            return [{"lo": None, "hi": None}]
        cuts, sizes = self._cut_points(count)
        if not cuts:
            return [{"lo": None, "hi": None}] + [{"empty": True} for _ in range(count - 1)]
        pad = count - 1 - len(cuts)
        cuts += [cuts[-1]] * pad
        sizes = sizes[:-1] + [0] * pad + sizes[-1:]
        total, counted = self.estimated_total(None), sum(sizes)
        scale = total / counted if total is not None and counted else 1.0  # sampled counts ⇒ documents
        edges: list[dict[str, Any] | None] = [None, *(id_to_json(c) for c in cuts), None]
        return [{"lo": edges[i], "hi": edges[i + 1], "estimate": round(sizes[i] * scale)} for i in range(count)]

    def _cut_points(self, count: int) -> tuple[list[Any], list[int]]:
        """Up to ``count - 1`` ``_id`` values in scan order that split the documents evenly,
        and the (sampled) number of documents between them."""
        rows = self._buckets(count, None)
        if rows is None:
            # nx-27017's $bucketAuto cannot compare ids of different types: bucket each bracket.
            rows = []
            for index in self._present_brackets():
                got = self._buckets(count, index)
                if got is None:
                    log.warning("mongo: %s: $bucketAuto failed; the scan is not split", self.namespace)
                    return [], []
                rows.extend(got)
        return _even_cuts(rows, count)

    def _buckets(self, count: int, bracket: int | None) -> list[tuple[Any, int]] | None:
        """``$bucketAuto`` of the ``_id`` values (of one bracket): (max, count) in scan order,
        or ``None`` if the server could not bucket them."""
        if bracket is None:
            match = [{"$match": self.filter}] if self.filter else []
        else:
            match = [{"$match": self._query(BRACKETS[bracket].every)}]
        bucket = {"$bucketAuto": {"groupBy": "$_id", "buckets": count}}
        what = f"mongo: splitting {self.namespace}"
        # Sampling keeps this cheap on a large collection. nx-27017 drops the stages after
        # $sample; then the rows are documents, not buckets, and we bucket all the documents.
        for pipeline in ([*match, {"$sample": {"size": SAMPLE_PER_SEGMENT * count}}, bucket], [*match, bucket]):

            def run(p: list[dict[str, Any]] = pipeline) -> list[dict[str, Any]]:
                return [decode(r.raw) for r in self._coll.aggregate(p, allowDiskUse=True)]

            try:
                rows = retrying(run, what, self._redact)
            except SourceError as exc:
                log.debug("%s: %s", what, exc)
                return None
            if all(_is_bucket(r) for r in rows):
                return order_boundaries([(r["_id"]["max"], int(r["count"])) for r in rows])
        return None

    # ------------------------------------------------------------------ scanning

    def estimated_total(self, segment: Any | None = None) -> int | None:
        """Documents in the segment (or the collection); ``None`` if counting failed."""
        try:
            lo, hi, empty = _parse_segment(segment)
            if empty:
                return 0
            if isinstance(segment, Mapping) and isinstance(segment.get("estimate"), int):
                return int(segment["estimate"])  # from segments(): counting ranges is slow (and wrong on nx)
            if lo is _OPEN and hi is _OPEN:
                if self.filter:
                    return int(self._coll.count_documents(self.filter))
                return int(self._coll.estimated_document_count())
            clauses = [self._query(c) for c in self._clauses(lo, hi)]
            if not clauses:
                return 0
            return int(self._coll.count_documents(clauses[0] if len(clauses) == 1 else {"$or": clauses}))
        except Exception as exc:  # progress only: never fail the run for it...
            from pymongo.errors import ServerSelectionTimeoutError

            err = translate(exc, f"mongo: counting {self.namespace}", self._redact)
            if isinstance(err, ConfigError) or isinstance(exc, ServerSelectionTimeoutError):
                # ...unless the server cannot be reached or refuses us: the scan would fail alike,
                # after waiting as long again (the runtime ignores a failed estimate).
                self._unreachable = err
                raise err from exc
            log.warning("mongo: could not count %s: %s", self.namespace, self._redact(str(exc)))
            return None

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        lo, hi, empty = _parse_segment(segment)
        if empty:
            return
        if after is not None:
            try:
                lo = id_from_json(after, what="mongo: resume position")
            except ValueError as exc:
                raise SourceError(str(exc)) from None
        what = f"mongo: reading {self.namespace}"
        if self._unreachable is not None:
            raise self._unreachable
        for index in self._bracket_range(lo, hi):
            bracket = BRACKETS[index]
            gt = lo if lo is not _OPEN and bracket_of(lo) == index else _OPEN
            lte = hi if hi is not _OPEN and bracket_of(hi) == index else _OPEN
            if not bracket.pageable and gt is not _OPEN:
                continue  # the bracket's only value was read already
            while True:
                query = self._query(bracket.clause(gt, lte, has_gt=gt is not _OPEN, has_lte=lte is not _OPEN))
                page = retrying(partial(self._page, query), what, self._redact)
                if not page:
                    break
                records = [self._record(raw) for raw in page]
                yield records
                if len(page) < self.batch_size or not bracket.pageable:
                    break
                gt = id_from_json(records[-1].position)

    def _page(self, query: Mapping[str, Any]) -> list[RawBSONDocument]:
        # The hint keeps MongoDB on the _id index whatever the filter: each page is one index
        # seek plus a walk, never an in-memory sort of every match.
        cursor = (
            self._coll.find(query, self.projection)
            .sort("_id", 1)
            .hint([("_id", 1)])
            .limit(self.batch_size)
            .batch_size(self.batch_size)
        )
        return list(cursor)

    def _record(self, raw: RawBSONDocument) -> Record:
        try:
            doc = decode(raw.raw)
        except Exception as exc:
            _id = salvage_id(raw.raw)
            if is_missing(_id):
                raise SourceError(f"mongo: {self.namespace}: a document without a readable _id ({exc})") from exc
            doc_id = document_event_id(self.namespace, _id)
            return Record(
                Poison(f"{doc_id}: cannot decode document _id={_id!r}: {type(exc).__name__}: {exc}", bytes(raw.raw)),
                event_id=doc_id,
                partition_key=doc_id,
                position=id_to_json(_id),
            )
        _id = doc["_id"]
        doc_id = document_event_id(self.namespace, _id)
        return Record(doc, event_id=doc_id, partition_key=doc_id, position=id_to_json(_id), change=Change(doc_id, None))

    def _query(self, id_condition: Mapping[str, Any]) -> dict[str, Any]:
        """The user's filter and a condition on ``_id``, as one query."""
        if not self.filter:
            return {"_id": dict(id_condition)}
        if "_id" in self.filter:
            return {"$and": [self.filter, {"_id": dict(id_condition)}]}
        return {**self.filter, "_id": dict(id_condition)}

    def _clauses(self, lo: Any, hi: Any) -> list[dict[str, Any]]:
        out = []
        for index in self._bracket_range(lo, hi):
            bracket = BRACKETS[index]
            has_gt = lo is not _OPEN and bracket_of(lo) == index
            has_lte = hi is not _OPEN and bracket_of(hi) == index
            if not bracket.pageable and has_gt:
                continue
            out.append(bracket.clause(lo, hi, has_gt=has_gt, has_lte=has_lte))
        return out

    def _bracket_range(self, lo: Any, hi: Any) -> list[int]:
        first = 0 if lo is _OPEN else _bracket_or_fail(lo)
        last = len(BRACKETS) - 1 if hi is _OPEN else _bracket_or_fail(hi)
        return [i for i in self._present_brackets() if first <= i <= last]

    def _present_brackets(self) -> list[int]:
        """The type brackets worth querying: the one of the smallest and largest ``_id`` if they
        agree (nearly every collection), else all. Probed once, at the first scan, which the
        runtime starts after the handoff capture, so any id inserted later is in the stream."""
        with self._lock:
            if self._present is None:
                self._present = self._probe()
            return self._present

    def _probe(self) -> list[int]:
        from bson import MinKey

        what = f"mongo: reading {self.namespace}"

        def edge(direction: int) -> list[RawBSONDocument]:
            cursor = self._coll.find({"_id": {"$gt": MinKey()}}, {"_id": 1}).sort("_id", direction).limit(1)
            return list(cursor)

        first = retrying(lambda: edge(1), what, self._redact)
        if not first:
            return []
        last = retrying(lambda: edge(-1), what, self._redact) or first
        brackets = {_bracket_or_fail(decode(doc[0].raw)["_id"]) for doc in (first, last)}  # a null id counts
        return sorted(brackets) if len(brackets) == 1 else list(range(len(BRACKETS)))

    def close(self) -> None:
        self._target.close()

    def __repr__(self) -> str:
        return f"MongoSnapshotSource({self.namespace!r})"


class _Open:
    def __repr__(self) -> str:
        return "OPEN"


#: An open end of a range (``None`` is a valid ``_id``).
_OPEN: Any = _Open()


def _parse_segment(segment: Any) -> tuple[Any, Any, bool]:
    if segment is None:
        return _OPEN, _OPEN, False
    if not isinstance(segment, Mapping):
        raise SourceError(f"mongo: not a segment of this source: {segment!r}")
    if segment.get("empty"):
        return _OPEN, _OPEN, True
    try:
        lo = _OPEN if segment.get("lo") is None else id_from_json(segment["lo"], what="segment lo")
        hi = _OPEN if segment.get("hi") is None else id_from_json(segment["hi"], what="segment hi")
    except ValueError as exc:
        raise SourceError(f"mongo: {exc}") from None
    return lo, hi, False


def _bracket_or_fail(value: Any) -> int:
    index = bracket_of(value)
    if index is None:
        names = ", ".join(b.name for b in BRACKETS)
        raise SourceError(f"mongo: cannot page over _id {value!r} of type {type(value).__name__} (supported: {names})")
    return index


def _even_cuts(rows: list[tuple[Any, int]], count: int) -> tuple[list[Any], list[int]]:
    """Bucket maxima nearest each ``k/count`` of the total, and the count of each resulting range
    (one more than there are cuts).

    A cut goes after bucket i when the running count, plus half of the next bucket, reaches the
    next mark: that is where cutting lands closer to the mark than cutting one bucket later. (Cutting
    only once the count itself passes the mark made no cut at all for two buckets of 250 and 251.)
    """
    total = sum(n for _, n in rows)
    cuts: list[Any] = []
    sizes = [0]
    for i, (value, n) in enumerate(rows):
        sizes[-1] += n
        if i == len(rows) - 1:
            break  # a cut after the very last id would only make an empty segment
        seen = sum(sizes)
        following = rows[i + 1][1]
        if len(cuts) < count - 1 and (2 * seen + following) * count >= 2 * total * (len(cuts) + 1):
            cuts.append(value)
            sizes.append(0)
    return cuts, sizes


def _is_bucket(row: Any) -> bool:
    return (
        isinstance(row, Mapping)
        and set(row) == {"_id", "count"}
        and isinstance(row["_id"], Mapping)
        and set(row["_id"]) == {"min", "max"}
    )


def _keep_id(projection: dict[str, Any] | None) -> dict[str, Any] | None:
    """The scan pages and names documents by ``_id``, so a projection never drops it."""
    if projection is None:
        return None
    kept = {k: v for k, v in projection.items() if not (k == "_id" and not v)}
    return kept or None
