"""The ``sqlite`` store and deduper: the default, embedded, exactly-once backend.

- WAL journal; every ``merge(unit)`` is one ``BEGIN IMMEDIATE`` transaction holding the state
  writes, contributions, claims and checkpoint, so claim+apply is atomic (``transactional``).
- Integer and float sums/counts use SQLite's own arithmetic (an upsert ``v = v + excluded.v``)
  while the stored value stays within ±2**62 (floats ±1e307); beyond that (integers of any size
  stay exact, as ``monoid.encode`` bytes; a float sum that overflows is a ``StoreError``, never
  stored as infinity), for Decimals and for every other
  monoid the value is read, combined and written back as ``monoid.encode`` bytes, inside the
  same transaction.
- Windowed keys carry an expiry (epoch seconds): expired keys read as missing, merge as new,
  and are purged when the store opens and hourly after that.
- The deduper keeps claims in the same file (table ``murmur_claims``); on its own it works
  with any store and across processes (leases, ``BEGIN IMMEDIATE``).
One connection per object, serialized by a lock: safe to share between threads.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from murmur._errors import ClaimConflict, ConfigError, ContributionConflict, StoreError, TransientError
from murmur._protocols import ClaimStatus, Deduper
from murmur._unit import Contribution, StateKey, Unit
from murmur.monoids import Monoid

DEFAULT_PATH = "murmur.db"
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS murmur_state (
    pipeline TEXT NOT NULL, entity TEXT NOT NULL, bucket INTEGER NOT NULL, v, expires INTEGER,
    PRIMARY KEY (pipeline, entity, bucket)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS murmur_state_expires ON murmur_state (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS murmur_contributions (
    pipeline TEXT NOT NULL, doc_id TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (pipeline, doc_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS murmur_meta (
    pipeline TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (pipeline, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS murmur_claims (
    event_id TEXT PRIMARY KEY, committed INTEGER NOT NULL, lease_until REAL) WITHOUT ROWID;
"""
# Natively added values stay strictly within ±2**62, and so do deltas: their sum fits in int64;
# floats within ±1e307, so their sum stays finite. Beyond, Python adds (ints exactly, at any size).
_NATIVE_LIMIT = 1 << 62
_FLOAT_LIMIT = 1e307
_ADD = """
INSERT INTO murmur_state (pipeline, entity, bucket, v, expires) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (pipeline, entity, bucket) DO UPDATE SET
    v = CASE WHEN expires IS NOT NULL AND expires <= ? THEN excluded.v ELSE v + excluded.v END,
    expires = CASE WHEN expires IS NOT NULL AND expires <= ? THEN excluded.expires
                   ELSE coalesce(excluded.expires, expires) END
WHERE (typeof(v) = 'real' AND abs(v) <= 1e307)
   OR (typeof(v) = 'integer' AND v BETWEEN -4611686018427387903 AND 4611686018427387903)
"""
_PUT = "INSERT OR REPLACE INTO murmur_state (pipeline, entity, bucket, v, expires) VALUES (?, ?, ?, ?, ?)"
_GET = "SELECT v, expires FROM murmur_state WHERE pipeline = ? AND entity = ? AND bucket = ?"
_COMMIT_CLAIM = """
INSERT INTO murmur_claims (event_id, committed, lease_until) VALUES (?, 1, NULL)
ON CONFLICT (event_id) DO UPDATE SET committed = 1, lease_until = NULL
"""
_CHUNK = 500
_PURGE_EVERY = 3600.0


def _wrap(exc: sqlite3.Error, path: str) -> Exception:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return TransientError(f"sqlite {path}: {text}")
    return StoreError(f"sqlite {path}: {text}")


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class _Database:
    """One connection to a Murmur SQLite file, serialized by a lock."""

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout: float, synchronous: str, clock: Callable[[], float]
    ) -> None:
        self.path = os.fspath(path)
        self.clock = clock
        if self.path != ":memory:":
            parent = Path(self.path).expanduser().resolve().parent
            if not parent.is_dir():
                raise ConfigError(
                    f"sqlite: directory {str(parent)!r} of path {self.path!r} does not exist", option="path"
                )
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError(
                f"sqlite: synchronous must be normal, full or extra, not {synchronous!r}", option="synchronous"
            )
        self._lock = threading.RLock()
        self._closed = False
        try:
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"sqlite {self.path}: written by a newer Murmur (schema {version}); upgrade murmur-core"
                )
            with self.transaction() as conn:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception; SQLite errors come out wrapped
        (``TransientError`` for a locked database, ``StoreError`` otherwise)."""
        with self._lock:
            if self._closed:
                raise StoreError(f"sqlite {self.path}: used after close()")
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _wrap(exc, self.path) from exc

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreError(f"sqlite {self.path}: used after close()")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _wrap(exc, self.path) from exc

    def same_file(self, other: _Database) -> bool:
        if self.path == ":memory:" or other.path == ":memory:":
            return False
        return Path(self.path).expanduser().resolve() == Path(other.path).expanduser().resolve()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()


class SqliteStore:
    """State, contributions, claims and checkpoints in one SQLite file (see the module docstring)."""

    name = "sqlite"
    transactional = True
    max_concurrency = 1

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        busy_timeout: float = 30.0,
        synchronous: str = "full",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = _Database(path, busy_timeout=busy_timeout, synchronous=synchronous, clock=clock)
        self.path = self.db.path
        self._next_purge = 0.0
        self._purge()

    def deduper(self) -> SqliteDeduper:
        """A deduper on this store's file (which this store absorbs)."""
        return SqliteDeduper(self.path)

    def absorbs(self, deduper: Deduper) -> bool:
        return isinstance(deduper, SqliteDeduper) and self.db.same_file(deduper.db)

    # ------------------------------------------------------------------ writing

    def merge(self, unit: Unit) -> None:
        if unit.empty:
            return
        now = self.db.clock()
        with self.db.transaction() as conn:
            if unit.claims:
                self._claim(conn, unit.claims)
            if unit.contributions:
                self._check_contributions(conn, unit)
            if unit.writes:
                self._write(conn, unit, now)
            if unit.contributions:
                conn.executemany(
                    "INSERT OR REPLACE INTO murmur_contributions (pipeline, doc_id, body) VALUES (?, ?, ?)",
                    [(unit.pipeline, d, cw.new.dumps(unit.monoid)) for d, cw in unit.contributions.items()],
                )
            if unit.meta:
                conn.executemany(
                    "INSERT OR REPLACE INTO murmur_meta (pipeline, name, doc) VALUES (?, ?, ?)",
                    [(unit.pipeline, n, json.dumps(doc)) for n, doc in unit.meta.items()],
                )
        if now >= self._next_purge:
            self._purge()

    def _claim(self, conn: sqlite3.Connection, claims: Sequence[str]) -> None:
        taken: set[str] = set()
        for chunk in _chunks(claims):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT event_id FROM murmur_claims WHERE committed = 1 AND event_id IN ({marks})"
            taken.update(row[0] for row in conn.execute(sql, chunk))
        if taken:
            raise ClaimConflict(taken)
        conn.executemany(_COMMIT_CLAIM, [(i,) for i in claims])

    def _check_contributions(self, conn: sqlite3.Connection, unit: Unit) -> None:
        stale = []
        for doc_id, cw in unit.contributions.items():
            row = conn.execute(
                "SELECT body FROM murmur_contributions WHERE pipeline = ? AND doc_id = ?", (unit.pipeline, doc_id)
            ).fetchone()
            current = None if row is None else Contribution.loads(row[0], unit.monoid, doc_id=doc_id)
            if current != cw.expected:
                stale.append(doc_id)
        if stale:
            raise ContributionConflict(stale)

    def _write(self, conn: sqlite3.Connection, unit: Unit, now: float) -> None:
        p, m = unit.pipeline, unit.monoid
        if m.kind in ("sum", "count") and all(_native(d) for d in unit.writes.values()):
            # `now` twice: plain `?` placeholders (numbered ones bound from a sequence are deprecated).
            rows = [(p, k.entity, k.bucket, d, unit.expiry.get(k), now, now) for k, d in unit.writes.items()]
            conn.execute("SAVEPOINT murmur_add")
            before = conn.total_changes
            conn.executemany(_ADD, rows)
            if conn.total_changes - before == len(rows):
                conn.execute("RELEASE murmur_add")
                return
            # Some stored value is outside the native range (or bytes): do the whole unit in Python.
            conn.execute("ROLLBACK TO murmur_add")
            conn.execute("RELEASE murmur_add")
        rows_out = []
        for key, delta in unit.writes.items():
            row = conn.execute(_GET, (p, key.entity, key.bucket)).fetchone()
            expires = unit.expiry.get(key)
            if row is None or (row[1] is not None and row[1] <= now):
                state = delta
            else:
                state = m.combine(_decode(m, row[0], key), delta)
                if expires is None:
                    expires = row[1]
            if type(state) is float and not math.isfinite(state):
                raise StoreError(
                    f"sqlite {self.db.path}: key {key.entity!r}: the {m.spec} is {state}, beyond the float range "
                    "(±1.8e308); it cannot be kept exactly"
                )
            rows_out.append((p, key.entity, key.bucket, _encode(m, state), expires))
        conn.executemany(_PUT, rows_out)

    def _purge(self) -> None:
        now = self.db.clock()
        self._next_purge = now + _PURGE_EVERY
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM murmur_state WHERE expires IS NOT NULL AND expires <= ?", (now,))

    # ------------------------------------------------------------------ reading

    def get_many(self, pipeline: str, keys: Sequence[StateKey], monoid: Monoid[Any]) -> list[Any]:
        now = self.db.clock()
        out: list[Any] = []
        with self.db.reading() as conn:
            for key in keys:
                row = conn.execute(_GET, (pipeline, key.entity, key.bucket)).fetchone()
                if row is None or (row[1] is not None and row[1] <= now):
                    out.append(None)
                else:
                    out.append(_decode(monoid, row[0], key))
        return out

    def get_contributions(self, pipeline: str, doc_ids: Sequence[str], monoid: Monoid[Any]) -> dict[str, Contribution]:
        out: dict[str, Contribution] = {}
        with self.db.reading() as conn:
            for doc_id in doc_ids:
                row = conn.execute(
                    "SELECT body FROM murmur_contributions WHERE pipeline = ? AND doc_id = ?", (pipeline, doc_id)
                ).fetchone()
                if row is not None:
                    out[doc_id] = Contribution.loads(row[0], monoid, doc_id=doc_id)
        return out

    def read_meta(self, pipeline: str, name: str) -> dict[str, Any] | None:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT doc FROM murmur_meta WHERE pipeline = ? AND name = ?", (pipeline, name)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def list_meta(self, pipeline: str) -> dict[str, dict[str, Any]]:
        with self.db.reading() as conn:
            rows = conn.execute("SELECT name, doc FROM murmur_meta WHERE pipeline = ?", (pipeline,)).fetchall()
        return {name: json.loads(doc) for name, doc in rows}

    def write_meta(
        self, pipeline: str, name: str, doc: dict[str, Any], *, only_if_absent: bool = False
    ) -> dict[str, Any]:
        verb = "INSERT OR IGNORE" if only_if_absent else "INSERT OR REPLACE"
        with self.db.transaction() as conn:
            conn.execute(
                f"{verb} INTO murmur_meta (pipeline, name, doc) VALUES (?, ?, ?)", (pipeline, name, json.dumps(doc))
            )
            row = conn.execute(
                "SELECT doc FROM murmur_meta WHERE pipeline = ? AND name = ?", (pipeline, name)
            ).fetchone()
        return dict(json.loads(row[0]))

    def delete_meta(self, pipeline: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM murmur_meta WHERE pipeline = ?", (pipeline,))

    def close(self) -> None:
        self.db.close()


def _native(delta: Any) -> bool:
    """Whether SQLite adds this delta exactly as Python would."""
    if type(delta) is int:
        return -_NATIVE_LIMIT < delta < _NATIVE_LIMIT  # strictly: 2**62 + 2**62 would overflow int64
    return type(delta) is float and -_FLOAT_LIMIT <= delta <= _FLOAT_LIMIT


def _encode(monoid: Monoid[Any], state: Any) -> Any:
    if monoid.kind in ("sum", "count") and _native(state):
        return state
    return monoid.encode(state)


def _decode(monoid: Monoid[Any], stored: Any, key: StateKey) -> Any:
    if isinstance(stored, bytes):
        return monoid.decode(stored, key=f"{key.entity}#{key.bucket}")
    return stored


class SqliteDeduper:
    """Event-id claims with leases in a SQLite file; safe across threads and processes."""

    name = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        busy_timeout: float = 30.0,
        synchronous: str = "full",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = _Database(path, busy_timeout=busy_timeout, synchronous=synchronous, clock=clock)
        self.path = self.db.path

    def contains(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.db.reading() as conn:
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT event_id FROM murmur_claims WHERE committed = 1 AND event_id IN ({marks})"
                found.update(row[0] for row in conn.execute(sql, chunk))
        return found

    def claim(self, ids: Sequence[str], lease: float) -> dict[str, ClaimStatus]:
        out: dict[str, ClaimStatus] = {}
        with self.db.transaction() as conn:
            now = self.db.clock()
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT event_id, committed, lease_until FROM murmur_claims WHERE event_id IN ({marks})"
                held = {row[0]: (row[1], row[2]) for row in conn.execute(sql, chunk)}
                granted = []
                for i in chunk:
                    committed, until = held.get(i, (0, None))
                    if committed:
                        out[i] = ClaimStatus.DUPLICATE
                    elif until is not None and until > now:
                        out[i] = ClaimStatus.BUSY
                    else:
                        out[i] = ClaimStatus.GRANTED
                        granted.append((i, now + lease))
                conn.executemany(
                    "INSERT INTO murmur_claims (event_id, committed, lease_until) VALUES (?, 0, ?)"
                    " ON CONFLICT (event_id) DO UPDATE SET committed = 0, lease_until = excluded.lease_until",
                    granted,
                )
        return out

    def commit(self, ids: Sequence[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(_COMMIT_CLAIM, [(i,) for i in ids])

    def release(self, ids: Sequence[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM murmur_claims WHERE event_id = ? AND committed = 0", [(i,) for i in ids])

    def close(self) -> None:
        self.db.close()
