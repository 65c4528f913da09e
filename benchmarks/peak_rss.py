"""Scenario 6: peak RSS of a bootstrap of 1 M records (scenario 1's pipeline: JSONL → SQLite,
Sum by 10 000 keys), measured as the ``ru_maxrss`` of the child process that ran it, against the
same child doing everything but the bootstrap (interpreter, imports, an empty store).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks._data import jsonl_file
from benchmarks._harness import Context, Plan, Target, Variant
from benchmarks._stores import CountingSqliteStore
from benchmarks.jsonl_sqlite import KEYS, _fresh_db


def floor(workdir: str) -> dict[str, Any]:
    from murmur import Pipeline, Sum, bootstrap  # noqa: F401 - the imports the bootstrap needs
    from murmur.adapters.jsonl import JsonLinesSource  # noqa: F401

    CountingSqliteStore(_fresh_db(workdir)).close()
    return {"seconds": 0.0, "records": 0}


@contextmanager
def setup(ctx: Context) -> Iterator[Plan]:
    n = ctx.size(250_000, 1_000_000)
    path = str(jsonl_file(ctx.workdir, n, KEYS))
    yield Plan(
        f"6 peak RSS {n:,}",
        [
            Variant(
                "murmur bootstrap",
                "murmur",
                "benchmarks.jsonl_sqlite:murmur",
                {"path": path, "workdir": str(ctx.workdir), "n": n},
            ),
            Variant("imports + empty store", "info", f"{__name__}:floor", {"workdir": str(ctx.workdir)}),
        ],
        [Target("murmur bootstrap", "rss", "<=", 64)],
        repeat=ctx.size(1, 3),
    )
