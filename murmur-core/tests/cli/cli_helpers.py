"""Sample data and small helpers shared by the CLI tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from typer.testing import Result

ORDERS = [
    {"customer": "alice", "amount": 25, "ts": "2026-03-01T09:12:00Z"},
    {"customer": "bob", "amount": 40, "ts": "2026-03-01T10:03:00Z"},
    {"customer": "alice", "amount": 30, "ts": "2026-03-02T08:30:00Z"},
    {"customer": "carol", "amount": 15, "ts": "2026-03-02T11:47:00Z"},
    {"customer": "bob", "amount": 20, "ts": "2026-03-03T13:22:00Z"},
]
TOTALS = {"alice": 55, "bob": 60, "carol": 15}

Invoke = Callable[..., Result]


RUN_ORDERS = (
    "run",
    "--source",
    "jsonl",
    "-S",
    "path=orders.jsonl",
    "--key",
    "customer",
    "--value",
    "amount",
    "--monoid",
    "sum",
    "--name",
    "orders",
)


def totals(cli: Invoke, *keys: str, name: str = "orders", extra: tuple[str, ...] = ()) -> dict[str, Any]:
    result = cli("get", "--name", name, "--json", *extra, *keys)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]
