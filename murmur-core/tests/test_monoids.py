"""Every built-in monoid keeps the monoid laws, round-trips through bytes, and rejects bad input."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import strategies as st

from murmur import ConfigError, FieldError, StoreError
from murmur.monoids import (
    HLL,
    Bloom,
    Count,
    DecayedSum,
    First,
    Last,
    MapMerge,
    Max,
    Min,
    Monoid,
    SetUnion,
    Sum,
    TopK,
    TupleOf,
    parse_monoid,
)
from murmur.testing import check_monoid_laws

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
NOW = T0.timestamp() + 3 * 3600
ints = st.integers(min_value=-(10**30), max_value=10**30)
decimals = st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False, allow_infinity=False)
items = st.one_of(st.text(max_size=4), st.integers(-50, 50), st.sampled_from([1.5, b"\x00\xff", True]))


def bloom_equal(bloom: Bloom) -> Any:
    # A Bloom result is a summary; its encoding is the whole bit array, so compare that.
    return lambda x, y: bloom.encode(x) == bloom.encode(y)


# ------------------------------------------------------------------------------------ laws


@pytest.mark.parametrize(
    ("monoid", "values", "options"),
    [
        pytest.param(Sum(), ints, {"inverse": True}, id="sum-int"),
        pytest.param(Sum(), decimals, {"inverse": True}, id="sum-decimal"),
        pytest.param(Sum(), st.floats(-1e6, 1e6), {"tolerance": 1e-9}, id="sum-float"),
        pytest.param(Count(), st.none(), {"inverse": True}, id="count"),
        pytest.param(Min(), st.integers(-100, 100), {}, id="min"),
        pytest.param(Max(), st.integers(-100, 100), {}, id="max"),
        pytest.param(Min(), st.text(max_size=3), {}, id="min-str"),
        pytest.param(First(), st.integers(0, 5), {}, id="first"),
        pytest.param(Last(), st.integers(0, 5), {}, id="last"),
        pytest.param(SetUnion(), st.one_of(st.integers(0, 9), st.lists(st.integers(0, 9), max_size=3)), {}, id="set"),
        pytest.param(
            MapMerge(Sum()), st.dictionaries(st.sampled_from("abc"), st.integers(-9, 9), max_size=3), {}, id="map-sum"
        ),
        pytest.param(MapMerge(Max()), st.dictionaries(st.sampled_from("ab"), st.integers(-9, 9)), {}, id="map-max"),
        pytest.param(TupleOf(Sum(), Count()), st.tuples(st.integers(-9, 9), st.none()), {}, id="tuple"),
        pytest.param(HLL(), items, {"tolerance": 0.02}, id="hll"),
        pytest.param(HLL(7, 4), st.integers(0, 500), {"tolerance": 0.3, "max_size": 20}, id="hll-lg7-hll4"),
        pytest.param(TopK(3), st.sampled_from(["a", "b", 1]), {"max_size": 8}, id="topk-within-k"),
        pytest.param(TopK(), items, {"max_size": 6}, id="topk-within-capacity"),
        pytest.param(Bloom(200), items, {"equivalent": "bloom", "max_size": 20}, id="bloom"),
        pytest.param(
            DecayedSum("1h", clock=lambda: NOW),
            st.integers(-1000, 1000),
            {"tolerance": 1e-9, "inverse": True, "event_times": "spread"},
            id="decayed",
        ),
    ],
)
def test_builtin_monoid_keeps_the_laws(monoid: Monoid[Any], values: Any, options: dict[str, Any]) -> None:
    options = dict(options)
    if options.get("equivalent") == "bloom":
        options["equivalent"] = bloom_equal(monoid)  # type: ignore[arg-type]
    if options.get("event_times") == "spread":
        options["event_times"] = st.integers(0, 6 * 3600).map(lambda s: T0 + dt.timedelta(seconds=s))
    check_monoid_laws(monoid, values, examples=60, **options)


def test_law_checker_reports_the_failing_law_and_operands() -> None:
    class Minus(Sum):
        def combine(self, a: Any, b: Any) -> Any:
            return a - b

    with pytest.raises(AssertionError, match=r"(?s)^sum: \w+ fails: .*got: .*expected: .* = fold of \[1 @ 2024"):
        check_monoid_laws(Minus(), st.integers(), examples=50)


def test_law_checker_detects_float_rounding_without_tolerance() -> None:
    with pytest.raises(AssertionError, match="associativity fails"):
        check_monoid_laws(Sum(), st.sampled_from([0.1, 0.2, 0.3]), lift=False, examples=100)


def test_law_checker_accepts_states_directly() -> None:
    check_monoid_laws(Max(), st.one_of(st.none(), st.integers()), lift=False, examples=30)


# ------------------------------------------------------------------------ specific rules


def test_min_max_identity_is_unset_so_negatives_win() -> None:
    assert Min().identity() is None and Max().identity() is None
    assert Max().combine(Max().identity(), Max().lift(-5)) == -5
    assert Min().combine(Min().lift(-5), Min().lift(-7)) == -7
    assert Max().result(Max().identity()) is None


def test_first_keeps_left_and_last_keeps_right_on_ties() -> None:
    first, last = First(), Last()
    a, b = first.lift("a", T0), first.lift("b", T0)
    assert first.result(first.combine(a, b)) == "a"
    assert last.result(last.combine(a, b)) == "b"
    early, late = first.lift("early", T0), first.lift("late", T0 + dt.timedelta(seconds=1))
    assert first.result(first.combine(late, early)) == "early"
    assert last.result(last.combine(late, early)) == "late"


def test_sum_stays_exact_for_big_ints_and_decimals() -> None:
    s = Sum()
    assert s.combine(10**30, 1) == 10**30 + 1
    assert s.combine(Decimal("0.1"), Decimal("0.2")) == Decimal("0.3")
    assert s.combine(Decimal("0.1"), 0.2) == Decimal("0.3")


# ------------------------------------------------------------------------------ storage

ROUND_TRIPS = [
    (Sum(), 10**30 + 7),
    (Sum(), Decimal("12.3400")),
    (Count(), 42),
    (Min(), None),
    (Max(), dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
    (First(), (T0.timestamp(), {"nested": [1, 2]})),
    (SetUnion(), frozenset({1, "a", (1, 2)})),
    (MapMerge(Sum()), {"a": 1, "b": Decimal("2.5")}),
    (TupleOf(Sum(), Max()), (3, None)),
    (DecayedSum("1h"), (T0.timestamp(), 12.5)),
    (DecayedSum("1h"), None),
]


@pytest.mark.parametrize(
    ("monoid", "state"), ROUND_TRIPS, ids=[f"{m.spec}-{i}" for i, (m, _) in enumerate(ROUND_TRIPS)]
)
def test_exact_states_round_trip_through_bytes(monoid: Monoid[Any], state: Any) -> None:
    data = monoid.encode(state)
    assert isinstance(data, bytes)
    assert monoid.decode(data, key="k") == state


@pytest.mark.parametrize(
    ("monoid", "value"),
    [
        (HLL(), ["a", "b", 3]),
        (TopK(), ["a", "a", "b"]),
        (Bloom(1000), ["a", "b"]),
        (MapMerge(HLL()), {"x": ["a", "b"], "y": "c"}),
        (TupleOf(Count(), TopK(2)), [None, ["a", "b", "a"]]),
    ],
    ids=lambda p: getattr(p, "spec", "v"),
)
def test_sketch_states_round_trip_through_bytes(monoid: Monoid[Any], value: Any) -> None:
    state = monoid.lift(value)
    back = monoid.decode(monoid.encode(state), key="k")
    assert monoid.result(back) == monoid.result(state)
    assert monoid.encode(back) == monoid.encode(state)


CORRUPT = [Sum(), Count(), Min(), First(), SetUnion(), MapMerge(Sum()), HLL(), TopK(), Bloom(), DecayedSum("1h")]


@pytest.mark.parametrize("monoid", CORRUPT, ids=lambda m: m.spec)
def test_corrupt_bytes_raise_store_error_naming_the_key(monoid: Monoid[Any]) -> None:
    with pytest.raises(StoreError, match=r"page:42"):
        monoid.decode(b"\xff\x00 not a state", key="page:42")


def test_sketch_decode_rejects_another_sketchs_bytes() -> None:
    with pytest.raises(StoreError, match="'k'"):
        TopK().decode(HLL().lift("a"), key="k")
    with pytest.raises(StoreError, match="'k'"):
        HLL().decode(TopK().lift("a"), key="k")
    with pytest.raises(StoreError, match="bloom spec changed"):
        Bloom(2000).decode(Bloom(1000).encode(Bloom(1000).lift("a")), key="k")


def test_combine_with_a_corrupt_operand_raises_instead_of_dropping_it() -> None:
    for monoid in (HLL(), TopK()):
        with pytest.raises(StoreError):
            monoid.combine(monoid.lift("a"), b"garbage")
    with pytest.raises(StoreError):
        Bloom(100).combine(Bloom(100).lift("a"), b"garbage")


# ------------------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    ("monoid", "value"),
    [
        (Sum(), "12"),
        (Sum(), True),
        (Min(), {"a": 1}),
        (Max(), None),
        (SetUnion(), [[1]]),
        (MapMerge(Sum()), [1, 2]),
        (MapMerge(Sum()), {"a": "x"}),
        (TupleOf(Sum(), Count()), [1]),
        (HLL(), {"a": 1}),
        (HLL(), [None]),
        (TopK(), object()),
        (Bloom(100), None),
        (DecayedSum("1h"), "3"),
        (DecayedSum("1h"), float("nan")),
    ],
    ids=lambda p: getattr(p, "spec", None) or type(p).__name__,
)
def test_wrong_type_values_raise_field_error(monoid: Monoid[Any], value: Any) -> None:
    with pytest.raises(FieldError):
        monoid.lift(value, T0)


# ------------------------------------------------------------------------ the registry


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("sum", "sum"),
        ("map:max", "map:max"),
        ("tuple:sum,count", "tuple:sum,count"),
        ("hll", "hll:14"),
        ("hll:12", "hll:12"),
        ("hll:12:4", "hll:12:4"),
        ("topk", "topk:10"),
        ("topk:25", "topk:25"),
        ("bloom", "bloom:100000:0.01"),
        ("bloom:5000", "bloom:5000:0.01"),
        ("bloom:5000:0.001", "bloom:5000:0.001"),
        ("decayed:1h", "decayed:1h"),
        ("decayed:90m", "decayed:90m"),
        ("decayed:250ms", "decayed:250ms"),
        ("map:hll:12", "map:hll:12"),
    ],
)
def test_specs_parse_to_monoids_whose_spec_recreates_them(spec: str, canonical: str) -> None:
    monoid = parse_monoid(spec)
    assert monoid.spec == canonical
    assert parse_monoid(monoid.spec) == monoid


@pytest.mark.parametrize(
    "spec", ["hll:x", "hll:3", "hll:14:5", "topk:0", "topk:ten", "bloom:0", "bloom:10:1.5", "decayed", "decayed:soon"]
)
def test_bad_monoid_specs_are_config_errors_naming_the_option(spec: str) -> None:
    with pytest.raises(ConfigError, match="--monoid") as info:
        parse_monoid(spec)
    assert info.value.option == "monoid"


def test_importing_murmur_does_not_import_datasketches() -> None:
    code = (
        "import sys, murmur\n"
        "from murmur.monoids import parse_monoid\n"
        "parse_monoid('decayed:1h'); parse_monoid('sum')\n"
        "assert 'datasketches' not in sys.modules, 'imported too early'\n"
        "parse_monoid('topk:3')\n"
        "assert 'datasketches' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sketch_items_are_rendered_by_value() -> None:
    hll = HLL()
    assert hll.result(hll.lift([5, 5.0, "5", Decimal("5.00")])) == 1
    assert hll.result(hll.lift([1.5, Decimal("1.50"), "1.5"])) == 1
    topk = TopK()
    assert topk.result(topk.lift([True, b"\x01\xab", 7])) == [["01ab", 1], ["7", 1], ["true", 1]]
