"""Sketch accuracy, stated as bounds, and the DataSketches wire format."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from functools import reduce

import datasketches  # type: ignore[import-untyped]
import pytest

from murmur.monoids import HLL, Bloom, DecayedSum, TopK

# ------------------------------------------------------------------------------------- HLL


def test_hll_counts_100k_distinct_values_within_2_percent() -> None:
    hll = HLL()
    state = hll.lift([f"user-{i}" for i in range(100_000)])
    assert abs(hll.result(state) - 100_000) <= 2_000
    low, high = hll.bounds(state, 2)
    assert low <= 100_000 <= high


def test_hll_merged_partitions_match_the_whole_within_2_percent() -> None:
    hll = HLL()
    parts = [hll.lift([f"user-{i}" for i in range(start, start + 15_000)]) for start in range(0, 100_000, 10_000)]
    merged = reduce(hll.combine, parts, hll.identity())  # overlapping parts covering ids 0 to 104 999
    assert abs(hll.result(merged) - 105_000) <= 2_100


def test_hll_is_exact_for_small_counts_and_ignores_repeats() -> None:
    hll = HLL()
    state = reduce(hll.combine, (hll.lift(i % 300) for i in range(3_000)), hll.identity())
    assert hll.result(state) == 300
    assert hll.result(hll.identity()) == 0


def test_hll_state_is_a_datasketches_image_other_tools_read() -> None:
    for hll in (HLL(), HLL(12, 4)):
        state = hll.lift(["a", "b", "c"])
        sketch = datasketches.hll_sketch.deserialize(state)
        assert round(sketch.get_estimate()) == 3
        assert sketch.lg_config_k == hll.lg_k


# ------------------------------------------------------------------------------------ TopK


def skewed_stream(seed: int = 7) -> list[str]:
    heavy = {"h1": 5_000, "h2": 4_000, "h3": 3_000, "h4": 2_000, "h5": 1_000}
    stream = [item for item, n in heavy.items() for _ in range(n)] + [f"tail-{i}" for i in range(5_000)]
    random.Random(seed).shuffle(stream)
    return stream


def test_topk_finds_the_heavy_hitters_of_a_skewed_stream_in_order() -> None:
    topk = TopK()
    stream = skewed_stream()
    # Eight partitions folded record by record, then merged: the path live mode takes.
    parts = []
    for p in range(8):
        state = topk.identity()
        for item in stream[p::8]:
            state = topk.combine(state, topk.lift(item))
        parts.append(state)
    result = topk.result(reduce(topk.combine, parts))
    assert [row[0] for row in result[:5]] == ["h1", "h2", "h3", "h4", "h5"]
    bound = topk.epsilon * len(stream)  # DataSketches' a-priori error bound
    truth = Counter(stream)
    for item, count in result:
        assert abs(count - truth[item]) <= bound
    assert len(result) == 10
    assert topk.total(reduce(topk.combine, parts)) == len(stream)


def test_topk_is_exact_up_to_k_items_with_ties_by_item() -> None:
    topk = TopK(3)
    state = reduce(topk.combine, map(topk.lift, ["b", "a", "c", "a", "c", "a"]))
    assert topk.result(state) == [["a", 3], ["c", 2], ["b", 1]]


def test_topk_counts_stay_exact_up_to_its_capacity() -> None:
    topk = TopK(10)
    values = [f"item-{i}" for i in range(topk.capacity) for _ in range(i % 7 + 1)]
    random.Random(3).shuffle(values)
    state = reduce(topk.combine, (topk.lift(values[i : i + 50]) for i in range(0, len(values), 50)))
    assert dict(topk.counts(state)) == Counter(values)


def test_topk_state_is_a_datasketches_image_other_tools_read() -> None:
    state = TopK().lift(["x", "x", "y"])
    sketch = datasketches.frequent_strings_sketch.deserialize(state)
    assert sketch.get_estimate("x") == 2 and sketch.total_weight == 3


# ----------------------------------------------------------------------------------- Bloom


def test_bloom_has_no_false_negatives_and_its_target_false_positive_rate() -> None:
    bloom = Bloom(10_000, 0.01)
    members = [f"member-{i}" for i in range(10_000)]
    state = bloom.lift(members)
    assert all(bloom.contains(state, m) for m in members)
    others = [f"other-{i}" for i in range(20_000)]
    rate = sum(bloom.contains(state, o) for o in others) / len(others)
    assert 0.005 <= rate <= 0.015
    summary = bloom.result(state)
    assert abs(summary["approx_items"] - 10_000) <= 300
    assert 0.005 <= summary["false_positive_rate"] <= 0.015


def test_bloom_record_by_record_equals_bulk_and_survives_storage() -> None:
    bloom = Bloom(1_000, 0.01)
    items = [f"k{i}" for i in range(600)]
    one_by_one = reduce(bloom.combine, map(bloom.lift, items), bloom.identity())
    assert bloom.encode(one_by_one) == bloom.encode(bloom.lift(items))
    stored = bloom.decode(bloom.encode(bloom.lift(items[:5])), key="k")
    merged = bloom.combine(stored, bloom.lift(items[5:]))
    assert all(bloom.contains(merged, i) for i in items)
    assert bloom.encode(merged) == bloom.encode(one_by_one)


def test_bloom_contains_renders_items_like_lift() -> None:
    bloom = Bloom(100)
    state = bloom.lift([7, "x"])
    assert bloom.contains(state, 7) and bloom.contains(state, "7") and bloom.contains(state, 7.0)
    assert not bloom.contains(bloom.identity(), "x")


# -------------------------------------------------------------------------------- decayed

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


class Clock:
    def __init__(self, when: dt.datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now


def test_decayed_sum_halves_over_one_half_life() -> None:
    clock = Clock(T0)
    decayed = DecayedSum("1h", clock=clock)
    state = decayed.lift(100, T0)
    assert decayed.result(state) == 100.0
    clock.now = (T0 + HOUR).timestamp()
    assert decayed.result(state) == 50.0
    clock.now = (T0 + 2 * HOUR).timestamp()
    assert decayed.result(state) == 25.0


def test_decayed_sum_weights_values_by_event_time_in_any_order() -> None:
    clock = Clock(T0 + HOUR)
    decayed = DecayedSum(HOUR, clock=clock)
    old, new = decayed.lift(100, T0), decayed.lift(10, T0 + HOUR)
    assert decayed.result(decayed.combine(old, new)) == 60.0
    assert decayed.result(decayed.combine(new, old)) == 60.0
    assert decayed.result(decayed.combine(old, decayed.inverse(old))) == 0.0


def test_decayed_sum_uses_the_clock_without_event_time_and_never_amplifies() -> None:
    clock = Clock(T0)
    decayed = DecayedSum("30m", clock=clock)
    assert decayed.lift(5) == (T0.timestamp(), 5.0)
    future = decayed.lift(8, T0 + HOUR)
    assert decayed.result(future) == 8.0


@pytest.mark.parametrize("half_life", ["0s", "-1h", 0])
def test_decayed_sum_needs_a_positive_half_life(half_life: object) -> None:
    from murmur import ConfigError

    with pytest.raises(ConfigError):
        DecayedSum(half_life)  # type: ignore[arg-type]
