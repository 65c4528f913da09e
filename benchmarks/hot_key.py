"""Scenario 4: a hot key — every event on one key, through live mode (SPEC §6 coalescing).

- murmur: ``murmur.live.run`` reading the core's in-memory live source (``MemoryLiveSource`` over
  a ``MemoryLog`` filled before the clock starts), Count by key into the real ``sqlite`` store;
  the store counts its merges and state-key writes. Timed from ``live.run`` to the merge that
  makes the total complete (the runtime's default lanes, flush interval and flush size).
- naive: poll the same source 500 records at a time (the runtime's poll size), one SQLite upsert
  per event, commit and ack after each poll.
Target: at most 100 store writes for 100 000 events.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._harness import Context, Plan, Target, Variant
from benchmarks._stores import CountingSqliteStore
from murmur import Count, Pipeline, live
from murmur.adapters.memory import MemoryLiveSource, MemoryLog  # murmur.testing needs hypothesis


def _log(n: int) -> MemoryLog:
    log = MemoryLog()
    log.partitions[0].extend({"k": "hot", "i": i} for i in range(n))  # all at once: set-up, not timed
    return log


def murmur(n: int, workdir: str) -> dict[str, Any]:
    stop = threading.Event()
    store = CountingSqliteStore(str(Path(tempfile.mkdtemp(dir=workdir)) / "state.db"), until=n, stop=stop)
    source = MemoryLiveSource(_log(n))
    started = time.perf_counter()
    live.run(Pipeline("hot", Count(), key="k"), source, store, stop=stop)
    assert store.done_at is not None, "live.run ended before applying every event"
    total, keys = store.total("hot")
    assert (total, keys) == (n, 1), (total, keys)
    store.close()
    return {"seconds": store.done_at - started, "records": n, "writes": store.key_writes}


def naive(n: int, workdir: str) -> dict[str, Any]:
    conn = sqlite3.connect(str(Path(tempfile.mkdtemp(dir=workdir)) / "state.db"))
    conn.execute("CREATE TABLE totals (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    upsert = "INSERT INTO totals (k, v) VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET v = v + 1"
    source = MemoryLiveSource(_log(n))
    source.start(None, None)
    started = time.perf_counter()
    done = 0
    while done < n:
        records = source.poll(500, 0.2)
        for record in records:
            conn.execute(upsert, (record.value["k"],))
        conn.commit()
        for record in records:
            record.ack()
        done += len(records)
    seconds = time.perf_counter() - started
    assert conn.execute("SELECT v FROM totals").fetchone()[0] == n
    conn.close()
    return {"seconds": seconds, "records": n, "writes": n}


@contextmanager
def setup(ctx: Context) -> Iterator[Plan]:
    n = 100_000  # the size in both modes: the point is the write count at this volume
    kwargs = {"n": n, "workdir": str(ctx.workdir)}
    yield Plan(
        f"4 hot key {n:,}",
        [
            Variant("murmur live", "murmur", f"{__name__}:murmur", kwargs),
            Variant("upsert/event, commit/poll", "naive", f"{__name__}:naive", kwargs),
        ],
        [Target("murmur live", "writes", "<=", 100)],
    )
