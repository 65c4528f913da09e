"""Monoids: how deltas fold into state (SPEC §2).

Every built-in is registered by name for :func:`parse_monoid` (and so for ``--monoid``).
The sketch monoids (``HLL``, ``TopK``, ``Bloom``) live in :mod:`murmur.monoids.sketches`, which
imports datasketches (and numpy): their factories and these names import it on first use only,
so ``import murmur`` (and ``murmur --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from murmur.monoids._base import (
    KINDS,
    Group,
    Monoid,
    MonoidBase,
    MonoidFactory,
    from_jsonable,
    is_group,
    monoid_names,
    no_argument,
    parse_monoid,
    register_monoid,
    to_jsonable,
)
from murmur.monoids.collections import MapMerge, SetUnion, TupleOf
from murmur.monoids.decayed import DecayedSum
from murmur.monoids.numeric import Count, Sum
from murmur.monoids.ordered import First, Last, Max, Min

if TYPE_CHECKING:
    from murmur.monoids.sketches import HLL, Bloom, TopK

#: ``Set`` and ``Tuple`` are the names SPEC §2 uses.
Set = SetUnion
Tuple = TupleOf

register_monoid("sum", no_argument("sum", Sum))
register_monoid("count", no_argument("count", Count))
register_monoid("min", no_argument("min", Min))
register_monoid("max", no_argument("max", Max))
register_monoid("first", no_argument("first", First))
register_monoid("last", no_argument("last", Last))
register_monoid("set", no_argument("set", SetUnion))


def _map(arg: str | None) -> Monoid:  # type: ignore[type-arg]
    return MapMerge(parse_monoid(arg or "sum"))


def _tuple(arg: str | None) -> Monoid:  # type: ignore[type-arg]
    return TupleOf(*(parse_monoid(part) for part in (arg or "sum,count").split(",")))


register_monoid("map", _map)
register_monoid("tuple", _tuple)
register_monoid("decayed", DecayedSum.parse)


def _sketch(name: str) -> MonoidFactory:
    def factory(arg: str | None) -> Monoid:  # type: ignore[type-arg]
        from murmur.monoids import sketches

        parsers: dict[str, MonoidFactory] = {
            "hll": sketches.parse_hll,
            "topk": sketches.parse_topk,
            "bloom": sketches.parse_bloom,
        }
        return parsers[name](arg)

    return factory


register_monoid("hll", _sketch("hll"))
register_monoid("topk", _sketch("topk"))
register_monoid("bloom", _sketch("bloom"))

_LAZY = frozenset({"HLL", "TopK", "Bloom"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from murmur.monoids import sketches

        return getattr(sketches, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "HLL",
    "KINDS",
    "Bloom",
    "Count",
    "DecayedSum",
    "First",
    "Group",
    "Last",
    "MapMerge",
    "Max",
    "Min",
    "Monoid",
    "MonoidBase",
    "Set",
    "SetUnion",
    "Sum",
    "TopK",
    "Tuple",
    "TupleOf",
    "from_jsonable",
    "is_group",
    "monoid_names",
    "no_argument",
    "parse_monoid",
    "register_monoid",
    "to_jsonable",
]
