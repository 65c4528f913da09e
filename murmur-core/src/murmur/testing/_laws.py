"""The monoid law checker (SPEC §2): identity on both sides, associativity, storage round trip.

Use it from a plain test function::

    def test_my_monoid_is_lawful():
        check_monoid_laws(MyMonoid(), st.integers())

It runs a hypothesis property internally and raises ``AssertionError`` naming the law, the
monoid and the failing operands (hypothesis shrinks them first).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from murmur.monoids import Monoid

_T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
#: A few close event times, so that First/Last ties happen often.
DEFAULT_EVENT_TIMES = st.sampled_from([_T0 + dt.timedelta(seconds=s) for s in range(4)])

Operand = Sequence[tuple[Any, dt.datetime]]


def check_monoid_laws(
    monoid: Monoid[Any],
    strategy: st.SearchStrategy[Any],
    *,
    tolerance: float | None = None,
    examples: int = 100,
    max_size: int = 5,
    lift: bool = True,
    event_times: st.SearchStrategy[dt.datetime] | None = None,
    inverse: bool = False,
    equivalent: Callable[[Any, Any], bool] | None = None,
) -> None:
    """Check ``monoid``'s laws on ``examples`` generated cases; raise ``AssertionError`` on a failure.

    Each operand is the fold of up to ``max_size`` elements lifted (``monoid.lift``) from
    values drawn from ``strategy`` at times drawn from ``event_times``; with ``lift=False``
    the strategy yields states directly. For operands ``a, b, c`` it checks:

    - identity: ``combine(identity(), a) ≡ a ≡ combine(a, identity())``;
    - associativity: ``combine(combine(a, b), c) ≡ combine(a, combine(b, c))``;
    - storage: ``encode`` gives bytes and ``decode(encode(x)) ≡ x``;
    - purity: ``combine`` leaves its operands' encodings unchanged;
    - with ``inverse=True`` (groups): ``combine(a, inverse(a)) ≡ identity()``.

    Two states are equivalent (``≡``) when ``equivalent(x, y)`` holds; by default when their
    ``monoid.result`` values are equal, with numbers inside them compared within the relative
    ``tolerance`` (also used as an absolute tolerance near zero) when one is given. Give a
    tolerance for float sums and approximate monoids; TopK with at most K distinct items is
    exact.
    """
    same = equivalent or _results_match(monoid, tolerance)
    if lift:
        element = st.tuples(strategy, DEFAULT_EVENT_TIMES if event_times is None else event_times)
        operand: st.SearchStrategy[Any] = st.lists(element, max_size=max_size)
    else:
        operand = strategy

    def build(drawn: Any) -> Any:
        if not lift:
            return drawn
        state = monoid.identity()
        for value, when in drawn:
            state = monoid.combine(state, monoid.lift(value, when))
        return state

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(operand, operand, operand)
    def laws(a_drawn: Any, b_drawn: Any, c_drawn: Any) -> None:
        a, b, c = build(a_drawn), build(b_drawn), build(c_drawn)
        shown = {"a": _show(a_drawn, lift), "b": _show(b_drawn, lift), "c": _show(c_drawn, lift)}
        _check(monoid, a, b, c, same, inverse, shown)

    laws()


def _check(
    monoid: Monoid[Any],
    a: Any,
    b: Any,
    c: Any,
    same: Callable[[Any, Any], bool],
    inverse: bool,
    shown: dict[str, str],
) -> None:
    def fail(law: str, got: Any, want: Any, names: str) -> None:
        operands = "\n".join(f"  {n} = {shown[n]}" for n in names)
        got_text, want_text = _result(monoid, got), _result(monoid, want)
        raise AssertionError(f"{monoid.spec}: {law}\n  got:      {got_text!r}\n  expected: {want_text!r}\n{operands}")

    before = [_encoded(monoid, x) for x in (a, b, c)]
    e = monoid.identity()
    if not same(monoid.combine(e, a), a):
        fail("identity fails on the left: combine(identity(), a) differs from a", monoid.combine(e, a), a, "a")
    if not same(monoid.combine(a, e), a):
        fail("identity fails on the right: combine(a, identity()) differs from a", monoid.combine(a, e), a, "a")
    ab = monoid.combine(a, b)
    left, right = monoid.combine(ab, c), monoid.combine(a, monoid.combine(b, c))
    if not same(left, right):
        fail(
            "associativity fails: combine(combine(a, b), c) differs from combine(a, combine(b, c))", left, right, "abc"
        )
    for name, state in (("a", a), ("combine(a, b)", ab)):
        data = monoid.encode(state)
        if not isinstance(data, bytes):  # a broken law, not a caller's type error
            raise AssertionError(f"{monoid.spec}: encode({name}) returned {type(data).__name__}, not bytes")
        back = monoid.decode(data, key="law-check")
        if not same(back, state):
            fail(f"decode(encode({name})) differs from {name}", back, state, "ab")
    if inverse:
        undone = monoid.combine(a, monoid.inverse(a))  # type: ignore[attr-defined]
        if not same(undone, e):
            fail("inverse fails: combine(a, inverse(a)) differs from identity()", undone, e, "a")
    after = [_encoded(monoid, x) for x in (a, b, c)]
    for name, old, new in zip("abc", before, after, strict=True):
        if old != new:
            raise AssertionError(f"{monoid.spec}: combine modified its operand {name}\n  {name} = {shown[name]}")


def _results_match(monoid: Monoid[Any], tolerance: float | None) -> Callable[[Any, Any], bool]:
    def same(x: Any, y: Any) -> bool:
        return _close(_result(monoid, x), _result(monoid, y), tolerance)

    return same


def _close(x: Any, y: Any, tolerance: float | None) -> bool:
    """Equality, with numbers (also inside lists, tuples and dicts) within ``tolerance``."""
    if isinstance(x, bool) or isinstance(y, bool):
        return bool(x == y)
    if isinstance(x, (int, float, Decimal)) and isinstance(y, (int, float, Decimal)):
        if tolerance is None:
            return bool(x == y)
        return math.isclose(float(x), float(y), rel_tol=tolerance, abs_tol=tolerance)
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_close(p, q, tolerance) for p, q in zip(x, y, strict=True))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_close(x[k], y[k], tolerance) for k in x)
    return bool(x == y)


def _result(monoid: Monoid[Any], state: Any) -> Any:
    return monoid.result(state)


def _encoded(monoid: Monoid[Any], state: Any) -> bytes:
    return monoid.encode(state)


def _show(drawn: Any, lifted: bool) -> str:
    if not lifted:
        return repr(drawn)
    if not drawn:
        return "identity (no elements)"
    parts = [f"{value!r} @ {when.isoformat()}" for value, when in drawn]
    return "fold of [" + ", ".join(parts) + "]"
