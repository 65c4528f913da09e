"""The data every variant of a scenario reads: deterministic, so all of them see the same records."""

from __future__ import annotations

from pathlib import Path

import orjson


def event(i: int, keys: int) -> dict[str, object]:
    """Record ``i``: about 110 bytes of JSON, ``user`` one of ``keys`` keys, ``amount`` 1..97."""
    return {
        "id": i,
        "user": f"u{(i * 7919) % keys:05d}",
        "amount": i % 97 + 1,
        "sku": f"sku-{i % 1000:04d}",
        "ts": f"2024-05-{i % 28 + 1:02d}T12:{i % 60:02d}:00Z",
        "channel": "web" if i % 3 else "app",
    }


def expected_total(n: int) -> int:
    """The sum of ``amount`` over records 0..n-1."""
    return sum(i % 97 + 1 for i in range(n))


def jsonl_file(workdir: Path, n: int, keys: int) -> Path:
    """``n`` events as JSON Lines under ``workdir`` (written once, reused by every variant)."""
    path = workdir / f"events-{n}-{keys}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            for start in range(0, n, 10_000):
                fh.write(b"".join(orjson.dumps(event(i, keys)) + b"\n" for i in range(start, min(n, start + 10_000))))
        tmp.rename(path)
    return path
