"""Monoids: how deltas fold into state (SPEC §2).

Every built-in is registered by name for :func:`parse_monoid` (and so for ``--monoid``);
sketch monoids register themselves from :mod:`murmur.monoids.sketches`.
"""

from __future__ import annotations

from murmur.monoids._base import (
    KINDS,
    Group,
    Monoid,
    MonoidBase,
    from_jsonable,
    is_group,
    monoid_names,
    no_argument,
    parse_monoid,
    register_monoid,
    to_jsonable,
)
from murmur.monoids.collections import MapMerge, SetUnion, TupleOf
from murmur.monoids.numeric import Count, Sum
from murmur.monoids.ordered import First, Last, Max, Min

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

__all__ = [
    "KINDS",
    "Count",
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
