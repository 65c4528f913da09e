"""Scenario 1: JSONL → SQLite bootstrap, Sum of ``amount`` by ``user`` (10 000 keys).

- murmur: ``murmur.bootstrap.run`` with the real ``jsonl`` source and ``sqlite`` store (their
  defaults: WAL, synchronous=full, batches of 2000), as ``murmur run --source jsonl --store sqlite``.
- limit: parse only, ``orjson.loads`` of every line of the same file, nothing else.
- naive: stdlib ``json.loads`` + one SQLite upsert per record, one transaction.
Each run writes a new database file; results are checked against the exact total after the clock stops.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from benchmarks._data import expected_total, jsonl_file
from benchmarks._harness import Context, Plan, Target, Variant
from benchmarks._stores import CountingSqliteStore

KEYS = 10_000


def murmur(path: str, workdir: str, n: int) -> dict[str, Any]:
    from murmur import Pipeline, Sum, bootstrap
    from murmur.adapters.jsonl import JsonLinesSource

    store = CountingSqliteStore(_fresh_db(workdir))
    pipeline = Pipeline("bench", Sum(), key="user", value="amount")
    started = time.perf_counter()
    bootstrap.run(pipeline, JsonLinesSource(path), store)
    seconds = time.perf_counter() - started
    total, keys = store.total("bench")
    check(total, keys, n)
    store.close()
    return {"seconds": seconds, "records": n, "writes": store.key_writes}


def limit(path: str, n: int) -> dict[str, Any]:
    loads = orjson.loads
    count = 0
    started = time.perf_counter()
    with open(path, "rb", buffering=1 << 20) as fh:
        for line in fh:
            loads(line)
            count += 1
    seconds = time.perf_counter() - started
    assert count == n, (count, n)
    return {"seconds": seconds, "records": n}


def naive(path: str, workdir: str, n: int) -> dict[str, Any]:
    conn = sqlite3.connect(_fresh_db(workdir))
    conn.execute("CREATE TABLE totals (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    upsert = "INSERT INTO totals (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = v + excluded.v"
    started = time.perf_counter()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            conn.execute(upsert, (rec["user"], rec["amount"]))
    conn.commit()
    seconds = time.perf_counter() - started
    total, keys = conn.execute("SELECT sum(v), count(*) FROM totals").fetchone()
    check(total, keys, n)
    conn.close()
    return {"seconds": seconds, "records": n, "writes": n}


def check(total: Any, keys: int, n: int) -> None:
    if total != expected_total(n) or keys != min(n, KEYS):
        raise AssertionError(f"wrong result: {total} over {keys} keys, expected {expected_total(n)}")


def _fresh_db(workdir: str) -> str:
    return str(Path(tempfile.mkdtemp(dir=workdir)) / "state.db")


@contextmanager
def setup(ctx: Context) -> Iterator[Plan]:
    n = ctx.size(100_000, 1_000_000)
    common = {"path": str(jsonl_file(ctx.workdir, n, KEYS)), "n": n}
    writes = {**common, "workdir": str(ctx.workdir)}
    yield Plan(
        f"1 jsonl→sqlite {n:,}",
        [
            Variant("murmur bootstrap", "murmur", f"{__name__}:murmur", writes),
            Variant("orjson parse-only", "limit", f"{__name__}:limit", common),
            Variant("json + upsert/record", "naive", f"{__name__}:naive", writes),
        ],
        [Target("murmur bootstrap", "ratio_limit", ">=", 0.5), Target("murmur bootstrap", "ratio_naive", ">=", 3)],
    )
