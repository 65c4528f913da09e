"""In-memory store, deduper and sources: test doubles shipped with the library (like httpx's).

They keep the same contracts as the real adapters, and let tests inject faults:
``MemoryStore.fail_next(n, exc)`` makes the next ``n`` merges raise, and
``MemoryStore(transactional=False, crash_after="writes")`` shows what a crash between the
steps of a non-transactional merge leaves behind.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from murmur._acks import ContiguousAcks
from murmur._errors import ClaimConflict, ConfigError, ContributionConflict, TransientError
from murmur._protocols import ClaimStatus, Deduper, Mode
from murmur._records import HandoffToken, Record, utcnow
from murmur._unit import Contribution, StateKey, Unit
from murmur.monoids import Monoid


class Crash(BaseException):
    """Raised by a fault-injected store to stand in for the process dying mid-merge.

    A ``BaseException`` so that no retry or dead-letter path catches it, as none would run.
    """


class MemoryStore:
    """State in a dict. Transactional by default; absorbs a :class:`MemoryDeduper` made by :meth:`deduper`."""

    name = "memory"
    max_concurrency = 8

    def __init__(
        self, *, transactional: bool = True, crash_after: str | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.transactional = transactional
        self.crash_after = crash_after  # "writes" | "contributions" | "claims": non-transactional crash points
        self.clock = clock
        self.state: dict[tuple[str, StateKey], Any] = {}
        self.expiry: dict[tuple[str, StateKey], int] = {}
        self.contributions: dict[tuple[str, str], Contribution] = {}
        self.meta: dict[tuple[str, str], dict[str, Any]] = {}
        self.merges = 0  # successful merges that wrote state (for coalescing tests)
        self.key_writes = 0  # state keys written over all merges
        self._faults: list[BaseException] = []
        self._lock = threading.RLock()
        self._dedupers: list[MemoryDeduper] = []

    # ------------------------------------------------------------------ test controls

    def fail_next(self, times: int, exc: BaseException | None = None) -> None:
        """Make the next ``times`` merges raise ``exc`` (a TransientError by default) before writing."""
        with self._lock:
            self._faults.extend([exc or TransientError("injected store failure")] * times)

    def deduper(self) -> MemoryDeduper:
        """A deduper whose claims this store commits inside ``merge`` (claim+apply in one step)."""
        d = MemoryDeduper()
        self._dedupers.append(d)
        return d

    def value(self, pipeline: str, entity: str, bucket: int = 0) -> Any:
        """The stored state of one key (``None`` if absent), without a monoid to decode."""
        return self.state.get((pipeline, StateKey(entity, bucket)))

    def totals(self, pipeline: str) -> dict[str, Any]:
        """All-time state of every entity of a pipeline, for assertions."""
        return {k.entity: v for (p, k), v in self.state.items() if p == pipeline and k.bucket == 0}

    # ------------------------------------------------------------------ Store protocol

    def absorbs(self, deduper: Deduper) -> bool:
        return self.transactional and any(d is deduper for d in self._dedupers)

    def merge(self, unit: Unit) -> None:
        with self._lock:
            if self._faults:
                raise self._faults.pop(0)
            p, m = unit.pipeline, unit.monoid
            if self.transactional:
                self._check(unit)
                snapshot = (copy.copy(self.state), copy.copy(self.contributions), copy.copy(self.meta))
                try:
                    self._write_all(unit, p, m)
                except BaseException:
                    self.state, self.contributions, self.meta = snapshot
                    raise
                return
            self._write_state(unit, p, m)
            self._maybe_crash("writes")
            for doc_id, cw in unit.contributions.items():
                self.contributions[(p, doc_id)] = cw.new
            self._maybe_crash("contributions")
            for d in self._dedupers:
                d.commit(unit.claims)
            self._maybe_crash("claims")
            for name, doc in unit.meta.items():
                self.meta[(p, name)] = copy.deepcopy(doc)

    def _check(self, unit: Unit) -> None:
        if unit.claims:
            taken = {i for d in self._dedupers for i in unit.claims if i in d.committed}
            if taken:
                raise ClaimConflict(taken)
        stale = [
            doc_id
            for doc_id, cw in unit.contributions.items()
            if self.contributions.get((unit.pipeline, doc_id)) != cw.expected
        ]
        if stale:
            raise ContributionConflict(stale)

    def _write_all(self, unit: Unit, p: str, m: Monoid[Any]) -> None:
        self._write_state(unit, p, m)
        for doc_id, cw in unit.contributions.items():
            self.contributions[(p, doc_id)] = cw.new
        for d in self._dedupers:
            d.commit(unit.claims)
        for name, doc in unit.meta.items():
            self.meta[(p, name)] = copy.deepcopy(doc)

    def _write_state(self, unit: Unit, p: str, m: Monoid[Any]) -> None:
        for key, delta in unit.writes.items():
            slot = (p, key)
            old = self._live(slot)
            self.state[slot] = delta if old is None else m.combine(old, delta)
            if key in unit.expiry:
                self.expiry[slot] = unit.expiry[key]
        if unit.writes:
            self.merges += 1
            self.key_writes += len(unit.writes)

    def _maybe_crash(self, step: str) -> None:
        if self.crash_after == step:
            self.crash_after = None
            raise Crash(f"crashed after {step}")

    def _live(self, slot: tuple[str, StateKey]) -> Any:
        exp = self.expiry.get(slot)
        if exp is not None and exp <= self.clock():
            return None
        return self.state.get(slot)

    def get_many(self, pipeline: str, keys: Sequence[StateKey], monoid: Monoid[Any]) -> list[Any]:
        with self._lock:
            return [self._live((pipeline, k)) for k in keys]

    def get_contributions(self, pipeline: str, doc_ids: Sequence[str], monoid: Monoid[Any]) -> dict[str, Contribution]:
        with self._lock:
            return {d: c for d in doc_ids if (c := self.contributions.get((pipeline, d))) is not None}

    def read_meta(self, pipeline: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            doc = self.meta.get((pipeline, name))
            return copy.deepcopy(doc) if doc is not None else None

    def list_meta(self, pipeline: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {n: copy.deepcopy(d) for (p, n), d in self.meta.items() if p == pipeline}

    def pipelines(self) -> list[str]:
        """The pipelines with checkpoint documents here (``murmur status`` lists them)."""
        with self._lock:
            return sorted({p for p, _ in self.meta})

    def write_meta(
        self, pipeline: str, name: str, doc: dict[str, Any], *, only_if_absent: bool = False
    ) -> dict[str, Any]:
        with self._lock:
            if only_if_absent and (pipeline, name) in self.meta:
                return copy.deepcopy(self.meta[(pipeline, name)])
            self.meta[(pipeline, name)] = copy.deepcopy(doc)
            return copy.deepcopy(doc)

    def delete_meta(self, pipeline: str) -> None:
        with self._lock:
            for slot in [s for s in self.meta if s[0] == pipeline]:
                del self.meta[slot]

    def scan(
        self,
        pipeline: str,
        monoid: Monoid[Any],
        *,
        prefix: str | None = None,
        after: str | None = None,
        limit: int = 1000,
    ) -> tuple[list[tuple[StateKey, Any]], str | None]:
        """One page of live keys in (entity, bucket) order; the next page's cursor or None."""
        with self._lock:
            keys = sorted(
                (k.entity, k.bucket)
                for (p, k) in self.state
                if p == pipeline and (not prefix or k.entity.startswith(prefix))
            )
            if after is not None:
                entity, bucket = json.loads(after)
                keys = [k for k in keys if k > (entity, int(bucket))]
            page = keys[:limit]
            out = [(StateKey(*k), v) for k in page if (v := self._live((pipeline, StateKey(*k)))) is not None]
        return out, json.dumps(list(page[-1])) if len(page) == limit and len(keys) > limit else None

    def clear(self, pipeline: str) -> dict[str, int]:
        """Remove the pipeline's state, contributions, checkpoints and absorbed claims."""
        with self._lock:
            counts = {"keys": 0, "contributions": 0, "checkpoints": 0, "claims": 0}
            tables: list[tuple[str, dict[Any, Any]]] = [
                ("keys", self.state),
                ("contributions", self.contributions),
                ("checkpoints", self.meta),
            ]
            for name, table in tables:
                for slot in [s for s in table if s[0] == pipeline]:
                    del table[slot]
                    counts[name] += 1
            for slot in [s for s in self.expiry if s[0] == pipeline]:
                del self.expiry[slot]
            for d in self._dedupers:
                counts["claims"] += d.clear(pipeline)["claims"]
            return counts

    def close(self) -> None:
        pass


class MemoryDeduper:
    """Event-id claims in a dict, with leases; ``fail_next`` injects backend failures."""

    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.committed: set[str] = set()
        self.pending: dict[str, float] = {}  # id ⇒ lease expiry
        self._faults: list[BaseException] = []
        self._lock = threading.Lock()

    def fail_next(self, times: int, exc: BaseException | None = None) -> None:
        with self._lock:
            self._faults.extend([exc or TransientError("injected deduper failure")] * times)

    def _fault(self) -> None:
        if self._faults:
            raise self._faults.pop(0)

    def contains(self, ids: Sequence[str]) -> set[str]:
        with self._lock:
            self._fault()
            return {i for i in ids if i in self.committed}

    def claim(self, ids: Sequence[str], lease: float) -> dict[str, ClaimStatus]:
        with self._lock:
            self._fault()
            now = self.clock()
            out: dict[str, ClaimStatus] = {}
            for i in ids:
                if i in self.committed:
                    out[i] = ClaimStatus.DUPLICATE
                elif self.pending.get(i, 0.0) > now:
                    out[i] = ClaimStatus.BUSY
                else:
                    self.pending[i] = now + lease
                    out[i] = ClaimStatus.GRANTED
            return out

    def commit(self, ids: Sequence[str]) -> None:
        with self._lock:
            self._fault()
            for i in ids:
                self.pending.pop(i, None)
                self.committed.add(i)

    def release(self, ids: Sequence[str]) -> None:
        with self._lock:
            for i in ids:
                self.pending.pop(i, None)

    def clear(self, pipeline: str) -> dict[str, int]:
        """Forget every claim of ``pipeline`` (ids ``<pipeline>|…``)."""
        prefix = pipeline + "|"
        with self._lock:
            gone = [i for i in self.committed if i.startswith(prefix)]
            self.committed.difference_update(gone)
            for i in [i for i in self.pending if i.startswith(prefix)]:
                del self.pending[i]
            return {"claims": len(gone)}

    def close(self) -> None:
        pass


@dataclass
class MemorySnapshotSource:
    """A snapshot over a list of values (or records), splittable into contiguous segments.

    ``fail_capture`` makes ``capture_handoff`` raise; ``fail_after`` raises ``SourceError``
    after that many records have been yielded (once), to test resume. ``log`` records calls.
    """

    items: Sequence[Any]
    name: str = "memory"
    batch_size: int = 100
    default_mode: Mode = "append"
    token: Any = "memory-token"
    fail_capture: BaseException | None = None
    fail_after: int | None = None
    log: list[str] = field(default_factory=list)
    _yielded: int = 0

    def _record(self, i: int) -> Record:
        item = self.items[i]
        if isinstance(item, Record):
            return Record(item.value, item.event_id, item.event_time, item.partition_key, i, item.change)
        return Record(item, event_id=f"{self.name}/{i}", position=i)

    def capture_handoff(self) -> HandoffToken:
        self.log.append("capture")
        if self.fail_capture is not None:
            raise self.fail_capture
        return HandoffToken(self.name, self.token, utcnow())

    def segments(self, count: int) -> list[Any]:
        n = len(self.items)
        return [[n * i // count, n * (i + 1) // count] for i in range(count)]

    def estimated_total(self, segment: Any | None = None) -> int | None:
        if segment is None:
            return len(self.items)
        return int(segment[1] - segment[0])

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        from murmur._errors import SourceError

        self.log.append(f"scan {segment} after {after}")
        lo, hi = (0, len(self.items)) if segment is None else segment
        start = lo if after is None else int(after) + 1
        for begin in range(start, hi, self.batch_size):
            batch: list[Record] = []
            for i in range(begin, min(begin + self.batch_size, hi)):
                if self.fail_after is not None and self._yielded >= self.fail_after:
                    self.fail_after = None
                    if batch:
                        yield batch
                    raise SourceError(f"{self.name}: injected read failure at item {i}")
                self._yielded += 1
                batch.append(self._record(i))
            yield batch

    def close(self) -> None:
        self.log.append("close")


class MemoryLiveSource:
    """A partitioned in-memory log with committed offsets, like a one-topic Kafka.

    ``append(partition, value, ...)`` adds a record; records of a partition are delivered in
    order; the committed offset of each partition advances only over a contiguous acked
    prefix (SPEC §6). After ``close()`` a new source over the same ``log`` resumes from the
    committed offsets, delivering again whatever was not acked.
    """

    name = "memory-live"

    def __init__(self, log: MemoryLog | None = None, *, default_mode: Mode = "append") -> None:
        self.log = log or MemoryLog()
        self.default_mode = default_mode
        self._next: dict[int, int] = {}
        self._acks = ContiguousAcks()
        self._started = False

    def capture_position(self) -> Any:
        return {str(p): len(entries) for p, entries in self.log.partitions.items()}

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None:
        pos: dict[str, int] = {}
        if handoff is not None and handoff.live and handoff.live.get("source") == self.name:
            pos = {str(k): int(v) for k, v in handoff.live["position"].items()}
        for p in self.log.partitions:
            committed = self.log.committed.get(p)
            self._next[p] = committed if committed is not None else pos.get(str(p), 0)
            self._acks.reset(p, self._next[p])
        self._started = True

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        if not self._started:
            raise ConfigError("memory-live: start() was not called")
        out: list[Record] = []
        for p, entries in sorted(self.log.partitions.items()):
            self._next.setdefault(p, self.log.committed.get(p, 0))
            if p not in self._acks.partitions():
                self._acks.reset(p, self._next[p])
            while self._next[p] < len(entries) and len(out) < max_records:
                off = self._next[p]
                self._next[p] += 1
                out.append(self._make(p, off, entries[off]))
        if not out and timeout > 0:
            self.log.wait(timeout)
        return out

    def _make(self, partition: int, offset: int, item: Any) -> Record:
        self._acks.track(partition, offset)
        base = item if isinstance(item, Record) else Record(item, event_id=f"{self.name}:{partition}:{offset}")
        return Record(
            base.value,
            base.event_id,
            base.event_time,
            base.partition_key,
            {"partition": partition, "offset": offset},
            base.change,
            on_ack=lambda: self._acks.ack(partition, offset),
        )

    def checkpoint(self) -> Any | None:
        return None

    def commit(self) -> None:
        for p in self._acks.partitions():
            upto = self._acks.committable(p)
            if upto is not None:
                self.log.committed[p] = upto

    def close(self) -> None:
        self.commit()


class MemoryLog:
    """The shared partitions of :class:`MemoryLiveSource`, surviving a source's close()."""

    def __init__(self, partitions: int = 1) -> None:
        self.partitions: dict[int, list[Any]] = {p: [] for p in range(partitions)}
        self.committed: dict[Hashable, int] = {}
        self._cond = threading.Condition()

    def append(self, value: Any, *, partition: int = 0) -> None:
        with self._cond:
            self.partitions.setdefault(partition, []).append(value)
            self._cond.notify_all()

    def extend(self, values: Iterable[Any], *, partition: int = 0) -> None:
        for v in values:
            self.append(v, partition=partition)

    def wait(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait(timeout)
