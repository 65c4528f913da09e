"""A counting SQLite store: the real ``sqlite`` store, plus how many merges and state-key writes it did.

``until`` (live scenarios): once the merged deltas add up to that total, ``done_at`` is stamped
and ``stop`` set, so a live run is timed to the moment its last record is durably applied.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from murmur import Unit
from murmur.adapters.sqlite import SqliteStore


class CountingSqliteStore(SqliteStore):
    def __init__(self, path: str, *, until: int | None = None, stop: threading.Event | None = None) -> None:
        super().__init__(path)
        self.merges = 0
        self.key_writes = 0
        self.applied = 0
        self.until = until
        self.stop = stop
        self.done_at: float | None = None

    def merge(self, unit: Unit) -> None:
        super().merge(unit)
        if unit.writes:
            self.merges += 1
            self.key_writes += len(unit.writes)
            self.applied += sum(unit.writes.values())
        if self.until is not None and self.done_at is None and self.applied >= self.until:
            self.done_at = time.perf_counter()
            if self.stop is not None:
                self.stop.set()

    def total(self, pipeline: str) -> tuple[Any, int]:
        """(sum of all values, number of keys) of ``pipeline``."""
        with self.db.reading() as conn:
            row = conn.execute("SELECT sum(v), count(*) FROM murmur_state WHERE pipeline = ?", (pipeline,)).fetchone()
        return row[0], row[1]
