"""A ``murmur status`` scenario for any store: build it with the runtimes, then check the status.

A store adapter that implements the optional ``pipelines()`` runs ``murmur status --json`` on a
store :func:`build_status_scenario` filled, and passes the parsed output to
:func:`check_status_scenario` (``murmur status --stale-after 0``: unfinished segments show
``interrupted``).
"""

from __future__ import annotations

from typing import Any

from murmur import bootstrap, live
from murmur._errors import SourceError
from murmur._pipeline import Pipeline
from murmur.adapters.memory import MemoryLiveSource, MemoryLog, MemorySnapshotSource
from murmur.monoids import Sum

__all__ = ["build_status_scenario", "check_status_scenario"]

ORDERS: list[Any] = [{"customer": f"c{i % 5}", "amount": i} for i in range(400)]


def pipe(name: str) -> Pipeline:
    return Pipeline(name, Sum(), key="customer", value="amount")


class PositionedLive(MemoryLiveSource):
    """The in-memory log keeping its own position in the store (like a change stream), not committing."""

    def checkpoint(self) -> Any | None:
        return {str(p): self._acks.committable(p) for p in sorted(self._acks.partitions(), key=str)}


def build_status_scenario(store: Any) -> None:
    """finished: 2 segments, 1 dead letter, a handoff with a live position; cut: segment 0 finished,
    segment 1 interrupted after 100 records; tail: a live run whose position the store keeps."""
    log = MemoryLog()
    log.extend([{"customer": "c1", "amount": 1}] * 3)
    poisoned = [*ORDERS[:10], {"customer": "c0", "amount": "x"}, *ORDERS[10:]]
    bootstrap.run(
        pipe("finished"),
        MemorySnapshotSource(poisoned, batch_size=50),
        store,
        segments=2,
        handoff_to=MemoryLiveSource(log),
        dead_letters=_Sink(),
    )
    bootstrap.run(pipe("cut"), MemorySnapshotSource(ORDERS, batch_size=50), store, segments=2, segment=0)
    try:
        bootstrap.run(
            pipe("cut"),
            MemorySnapshotSource(ORDERS, batch_size=50, fail_after=100),
            store,
            segments=2,
            segment=1,
        )
    except SourceError:
        pass  # interrupted after 100 records, as meant
    else:
        raise AssertionError("the injected read failure did not interrupt the bootstrap")
    live.run(pipe("tail"), PositionedLive(log), store, until_idle=0.3, flush_interval=0.05)


class _Sink:
    def write(self, letter: Any) -> None:
        pass


def check_status_scenario(doc: dict[str, Any]) -> None:
    """The ``murmur status --json --stale-after 0`` output for what :func:`build_status_scenario` made."""
    by_name = {p["pipeline"]: p for p in doc["pipelines"]}
    assert sorted(by_name) == ["cut", "finished", "tail"]

    finished = by_name["finished"]
    assert finished["definition"] == {
        "name": "finished", "monoid": "sum", "key": "customer", "keys": None, "value": "amount",
        "window": None, "event_time": None, "mode": None,
    }  # fmt: skip
    assert len(finished["definition_hash"]) == 12
    assert finished["definition_hash"] == by_name["cut"]["definition_hash"]  # same computation, other name
    boot = finished["bootstrap"]
    assert boot["state"] == "finished"
    assert (boot["records"], boot["applied"], boot["dead_lettered"]) == (401, 400, 1)
    assert [(s["segment"], s["of"], s["state"], s["records"]) for s in boot["segments"]] == [
        (0, 2, "finished", 200),
        (1, 2, "finished", 201),
    ]
    assert [s["dead_lettered"] for s in boot["segments"]] == [1, 0]
    assert all(s["age_seconds"] >= 0 and s["updated"] for s in boot["segments"])
    hand = finished["handoff"]
    assert hand["source"] == "memory" and hand["token"] == "memory-token"
    assert hand["live"] == {"source": "memory-live", "position": {"0": 3}}
    assert finished["live"] == []

    cut = by_name["cut"]["bootstrap"]
    assert cut["state"] == "interrupted"
    assert [(s["state"], s["records"], s["position"]) for s in cut["segments"]] == [
        ("finished", 200, 199),
        ("interrupted", 100, 299),
    ]

    tail = by_name["tail"]
    assert tail["bootstrap"] is None and tail["handoff"] is None
    assert [(p["source"], p["position"]) for p in tail["live"]] == [("memory-live", {"0": 3})]
    assert tail["live"][0]["age_seconds"] >= 0
