"""Optional capabilities are protocols: an adapter has one by having the attribute, checked with isinstance."""

from __future__ import annotations

from typing import Any

from murmur import (
    Count,
    HasDeadLetter,
    HasDefaultSegments,
    HasMaxUnitItems,
    HasStats,
    LiveSource,
    Pipeline,
    Record,
    SnapshotSource,
    Store,
    bootstrap,
    live,
)
from murmur.testing import MemoryLiveSource, MemoryLog, MemorySnapshotSource, MemoryStore


class Capable(MemoryLiveSource):
    """A live source with its own dead-letter list and stats."""

    def __init__(self, log: MemoryLog) -> None:
        super().__init__(log)
        self.letters: list[tuple[Any, str, str]] = []

    def dead_letter(self, record: Record, error: BaseException | str, kind: str) -> None:
        self.letters.append((record.value, str(error), kind))

    def stats(self) -> dict[str, Any]:
        return {"lag": 0, "letters": len(self.letters)}


class Split(MemorySnapshotSource):
    default_segments = 3


class Capped(MemoryStore):
    max_unit_items = 4

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def merge(self, unit: Any) -> None:
        self.sizes.append(len(unit.writes) + len(unit.contributions) + len(unit.claims) + len(unit.meta))
        super().merge(unit)


def test_plain_doubles_have_no_optional_capability() -> None:
    source, store = MemoryLiveSource(MemoryLog()), MemoryStore()
    assert isinstance(source, LiveSource) and isinstance(store, Store)
    assert not isinstance(source, HasDeadLetter) and not isinstance(source, HasStats)
    assert not isinstance(store, HasMaxUnitItems)
    assert not isinstance(MemorySnapshotSource([]), HasDefaultSegments)


def test_the_live_runtime_uses_a_sources_dead_letter_and_stats() -> None:
    log = MemoryLog()
    log.extend([{"k": "a"}, {"nope": 1}, {"k": "a"}])
    source, store = Capable(log), MemoryStore()
    assert isinstance(source, HasDeadLetter) and isinstance(source, HasStats)
    status = live.run(Pipeline("p", Count(), key="k"), source, store, until_idle=0.3)
    assert store.totals("p") == {"a": 2}
    assert [(v, kind) for v, _, kind in source.letters] == [({"nope": 1}, "decode")]  # a missing field
    assert "k" in source.letters[0][1]
    assert status.source_stats == {"lag": 0, "letters": 1}


def test_bootstrap_takes_the_sources_default_segments() -> None:
    source = Split([{"k": i % 2} for i in range(30)])
    assert isinstance(source, HasDefaultSegments) and isinstance(source, SnapshotSource)
    status_store = MemoryStore()
    bootstrap.run(Pipeline("p", Count(), key="k"), source, status_store)
    assert len(status_store.read_meta("p", "plan")["segments"]) == 3  # type: ignore[index]
    assert status_store.totals("p") == {"0": 15, "1": 15}


def test_a_capped_transactional_store_gets_units_that_fit() -> None:
    store = Capped()
    assert isinstance(store, HasMaxUnitItems)
    bootstrap.run(Pipeline("p", Count(), key="k"), MemorySnapshotSource([{"k": i} for i in range(20)]), store)
    assert len(store.totals("p")) == 20
    assert store.sizes and max(store.sizes) <= 4 and sum(store.sizes) >= 21  # 20 keys and the checkpoint
