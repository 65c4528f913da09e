"""DecayedSum: a sum in which every value loses half its weight each half-life (SPEC §2).

Event time drives the decay: a value ``v`` with event time ``t`` counts ``v · 2^(-(now - t)/h)``.
The state is ``(t_ref, s)`` with ``s`` the sum decayed to the reference time ``t_ref`` (epoch
seconds), and ``combine`` decays the older operand to the newer one's reference time. Any fold
order therefore yields the same sum at the latest event time seen (up to float rounding), so
the monoid is associative, and ``(t, -v)`` undoes ``(t, v)``: it is a group, usable for
retractions. Keeping ``t_ref`` at the latest event, rather than at a fixed epoch, keeps
``2^(t/h)`` from overflowing.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from murmur._errors import ConfigError
from murmur._windows import parse_duration
from murmur.monoids._base import MonoidBase, wrong_type

#: ``(reference time in epoch seconds, sum decayed to it)``, or ``None`` for nothing yet.
DecayedState = tuple[float, float] | None


class DecayedSum(MonoidBase):
    """Exponentially decayed sum with half-life ``half_life``; ``result`` is the sum now.

    ``clock`` (epoch seconds, default ``time.time``) is "now" for ``result`` and the event time
    of values lifted without one; inject a fixed clock for deterministic tests. A value stamped
    after ``now`` (clock skew) counts at full weight rather than growing.
    """

    kind = "decayed"

    def __init__(self, half_life: dt.timedelta | str | float, *, clock: Callable[[], float] = time.time) -> None:
        if isinstance(half_life, str):
            half_life = _parse_half_life(half_life)
        seconds = half_life.total_seconds() if isinstance(half_life, dt.timedelta) else float(half_life)
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ConfigError(f"--monoid: decayed half-life must be positive, got {half_life!r}", option="monoid")
        self.half_life = seconds
        self.clock = clock

    @classmethod
    def parse(cls, arg: str | None) -> DecayedSum:
        """``decayed:1h`` (any duration ``parse_duration`` accepts) ⇒ a DecayedSum."""
        if not arg:
            raise ConfigError("--monoid: decayed needs a half-life, e.g. decayed:1h", option="monoid")
        return cls(arg)

    @property
    def spec(self) -> str:
        return f"decayed:{_format_seconds(self.half_life)}"

    def identity(self) -> DecayedState:
        return None

    def combine(self, a: DecayedState, b: DecayedState) -> DecayedState:
        if a is None:
            return b
        if b is None:
            return a
        (ta, sa), (tb, sb) = a, b
        if ta >= tb:
            return (ta, sa + sb * self._factor(ta - tb))
        return (tb, sa * self._factor(tb - ta) + sb)

    def inverse(self, a: DecayedState) -> DecayedState:
        return None if a is None else (a[0], -a[1])

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> DecayedState:
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise wrong_type(self.spec, "a number", value)
        number = float(value)
        if not math.isfinite(number):
            # A NaN or infinity could never be decayed away or retracted.
            raise wrong_type(self.spec, "a finite number", value)
        when = event_time.timestamp() if event_time is not None else self.clock()
        return (when, number)

    def value_at(self, state: DecayedState, now: float) -> float:
        """The decayed sum at ``now`` (epoch seconds)."""
        if state is None:
            return 0.0
        at, total = state
        return total * self._factor(max(0.0, now - at))

    def result(self, state: DecayedState) -> float:
        return self.value_at(state, self.clock())

    def to_json(self, state: DecayedState) -> Any:
        return None if state is None else [state[0], state[1]]

    def from_json(self, doc: Any) -> DecayedState:
        return None if doc is None else (float(doc[0]), float(doc[1]))

    def _factor(self, elapsed: float) -> float:
        """The weight left after ``elapsed`` ≥ 0 seconds (0.5 after one half-life)."""
        return math.exp2(-elapsed / self.half_life)


def _parse_half_life(text: str) -> dt.timedelta:
    try:
        return parse_duration(text, option="monoid")
    except ConfigError:
        raise ConfigError(
            f"--monoid: 'decayed:{text}': {text!r} is not a duration (e.g. decayed:1h, decayed:30m)", option="monoid"
        ) from None


def _format_seconds(seconds: float) -> str:
    """The shortest exact duration text ``parse_duration`` reads back: ``1h``, ``90m``, ``250ms``."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    millis = seconds * 1000
    if millis == int(millis):
        return f"{int(millis)}ms"
    return repr(seconds)  # bare seconds
