"""Scenario 1: JSONL → SQLite bootstrap, Sum of ``amount`` by ``user`` (10 000 keys).

- murmur: ``murmur.bootstrap.run`` with the real ``jsonl`` source and ``sqlite`` store (their
  defaults: WAL, synchronous=full, batches of 2000), as ``murmur run --source jsonl --store sqlite``.
- limit: parse only, ``orjson.loads`` of every line of the same file, nothing else.
- naive: stdlib ``json.loads`` + one SQLite upsert per record, one transaction.
- info: ``murmur run`` of the same pipeline as a whole process (``murmur run --source jsonl ...``,
  start-up included), for the comparison with DuckDB's whole process.
- info: the naive fold a user would write with orjson: ``orjson.loads`` per line, sums in a dict,
  the dict written to SQLite in one transaction at the end.
- peer: DuckDB (``pip install duckdb``), run as a user would: a ``python -c`` process that runs
  ``SELECT user, sum(amount) FROM read_json_auto(...) GROUP BY user`` and writes the sums to SQLite;
  timed whole (interpreter start-up, ``import duckdb`` and its threads included). Skipped if
  DuckDB is not installed.
Each run writes a new database file; results are checked against the exact total after the clock stops.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import sqlite3
import subprocess
import sys
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


def fold(path: str, workdir: str, n: int) -> dict[str, Any]:
    conn = sqlite3.connect(_fresh_db(workdir))
    conn.execute("CREATE TABLE totals (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    loads = orjson.loads
    started = time.perf_counter()
    sums: dict[str, int] = {}
    with open(path, "rb", buffering=1 << 20) as fh:
        for line in fh:
            rec = loads(line)
            user = rec["user"]
            sums[user] = sums.get(user, 0) + rec["amount"]
    with conn:
        conn.executemany("INSERT INTO totals (k, v) VALUES (?, ?)", sums.items())
    seconds = time.perf_counter() - started
    total, keys = conn.execute("SELECT sum(v), count(*) FROM totals").fetchone()
    check(total, keys, n)
    conn.close()
    return {"seconds": seconds, "records": n, "writes": len(sums)}


#: What a user would run with DuckDB: sums by key from the JSON-Lines file, written to SQLite.
DUCKDB_SCRIPT = """
import sqlite3, sys, duckdb
rows = duckdb.sql("SELECT user, sum(amount) FROM read_json_auto(?) GROUP BY user", params=[sys.argv[1]]).fetchall()
conn = sqlite3.connect(sys.argv[2])
with conn:
    conn.execute("CREATE TABLE totals (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    conn.executemany("INSERT INTO totals (k, v) VALUES (?, ?)", ((k, int(v)) for k, v in rows))
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(hwm[0] if hwm else "")
"""


def duckdb_process(path: str, workdir: str, n: int) -> dict[str, Any]:
    db = _fresh_db(workdir)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", DUCKDB_SCRIPT, path, db], check=True, capture_output=True, text=True
    ).stdout
    seconds = time.perf_counter() - started
    conn = sqlite3.connect(db)
    total, keys = conn.execute("SELECT sum(v), count(*) FROM totals").fetchone()
    conn.close()
    check(total, keys, n)
    rss = int(out.strip()) / 1024 if out.strip().isdigit() else None
    return {"seconds": seconds, "records": n, "writes": keys, "rss_mb": rss}


def murmur_cli(path: str, workdir: str, n: int) -> dict[str, Any]:
    command = Path(sys.executable).with_name("murmur")
    cwd = Path(tempfile.mkdtemp(dir=workdir))
    argv = [str(command), "run", "--source", "jsonl", "-S", f"path={path}", "--store", "sqlite"]
    argv += ["-T", f"path={cwd / 'state.db'}", "--key", "user", "--value", "amount", "--monoid", "sum"]
    argv += ["--name", "bench"]
    env = {**os.environ, "NO_COLOR": "1"}
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=cwd, env=env)
    seconds = time.perf_counter() - started
    conn = sqlite3.connect(cwd / "state.db")
    total, keys = conn.execute("SELECT sum(v), count(*) FROM murmur_state WHERE pipeline = 'bench'").fetchone()
    conn.close()
    check(total, keys, n)
    # The murmur process is this process's only child: its high-water mark (KiB on Linux).
    return {"seconds": seconds, "records": n, "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


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
    variants = [
        Variant("murmur bootstrap", "murmur", f"{__name__}:murmur", writes),
        Variant("murmur run (whole process)", "info", f"{__name__}:murmur_cli", writes),
        Variant("orjson parse-only", "limit", f"{__name__}:limit", common),
        Variant("json + upsert/record", "naive", f"{__name__}:naive", writes),
        Variant("orjson + dict fold", "info", f"{__name__}:fold", writes),
    ]
    targets = [Target("murmur bootstrap", "ratio_limit", ">=", 1.2), Target("murmur bootstrap", "ratio_naive", ">=", 8)]
    if importlib.util.find_spec("duckdb") is not None:
        variants.append(Variant("duckdb (whole process)", "peer", f"{__name__}:duckdb_process", writes))
        # Whole process against whole process: DuckDB's time includes its start-up, so murmur's does too.
        targets.append(Target("murmur run (whole process)", "ratio_peer", ">=", 1.0))
    else:
        print("  duckdb is not installed: the DuckDB row of scenario 1 is skipped", file=sys.stderr)
    yield Plan(f"1 jsonl→sqlite {n:,}", variants, targets)
