"""Sketch and decaying monoids, and windowed reads, end to end: `murmur run` on the SQLite store, then `murmur get`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cli_helpers import Invoke


def run(cli: Invoke, *args: str) -> None:
    result = cli("run", "--source", "jsonl", "-S", "path=orders.jsonl", *args, "-q")
    assert result.exit_code == 0, result.stderr


def get(cli: Invoke, name: str, *keys: str, extra: tuple[str, ...] = ()) -> dict[str, object]:
    result = cli("get", "--name", name, *keys, *extra, "--json")
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_hll_counts_distinct_customers(cli: Invoke, orders: Path) -> None:
    run(cli, "--key", "=all", "--value", "customer", "--monoid", "hll", "--name", "distinct")
    assert get(cli, "distinct", "all") == {"all": 3}  # alice, bob, carol: exact at this size


def test_topk_lists_the_heaviest_items_first(cli: Invoke, orders: Path) -> None:
    run(cli, "--key", "=all", "--value", "customer", "--monoid", "topk:2", "--name", "top")
    assert get(cli, "top", "all") == {"all": [["alice", 2], ["bob", 2]]}  # ties by name; carol (1) is cut


def test_decayed_sum_of_fresh_events_is_the_plain_sum(cli: Invoke, orders: Path) -> None:
    run(cli, "--key", "customer", "--value", "amount", "--monoid", "decayed:1h", "--name", "recent")
    got = get(cli, "recent", "alice", "bob", "nobody")
    assert got["nobody"] is None
    assert abs(float(got["alice"]) - 55) < 0.1 and abs(float(got["bob"]) - 60) < 0.1  # type: ignore[arg-type]


def test_windowed_counts_read_the_last_days(cli: Invoke, workdir: Path) -> None:
    today = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    events = [{"customer": "alice", "ts": (today - dt.timedelta(days=d)).isoformat()} for d in (0, 0, 1, 3, 10)]
    (workdir / "orders.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    args = ("--key", "customer", "--monoid", "count", "--window", "day:90d", "--event-time", "ts", "--name", "daily")
    run(cli, *args)
    assert get(cli, "daily", "alice", extra=("--window", "1d")) == {"alice": 2}
    assert get(cli, "daily", "alice", extra=("--window", "2d")) == {"alice": 3}
    assert get(cli, "daily", "alice", extra=("--window", "7d")) == {"alice": 4}
    assert get(cli, "daily", "alice", extra=("--window", "30d")) == {"alice": 5}
