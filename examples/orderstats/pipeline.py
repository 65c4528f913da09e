"""orderstats: per-customer order totals (key = customer, value = amount, Sum).

One pipeline for both modes: the Mongo bootstrap (``--source mongo``) and the Kafka live worker
(``--source kafka -S decoder=debezium``) hand it the same document dicts, which ``decode`` turns
into an :class:`Order`. Use it as ``--pipeline examples/orderstats/pipeline.py:orders``, or give
the same thing as flags: ``--key customer_id --value amount --monoid sum --name orders``.

Both sources run in changelog mode (SPEC §5b): Murmur keeps each order's contribution, so an
amount update, a move to another customer and a delete all leave exact totals, however often a
change is delivered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from typing import Any

import murmur

__all__ = ["Order", "amount_of", "decode", "orders"]

Amount = int | Decimal


@dataclass(frozen=True, slots=True)
class Order:
    """An order as stored in Mongo and carried by the Debezium ``after`` image."""

    _id: Any
    customer_id: str
    amount: Amount


_EXT_NUMBERS = {"$numberInt": int, "$numberLong": int, "$numberDecimal": Decimal, "$numberDouble": Decimal}


def amount_of(value: Any) -> Amount:
    """An exact amount from whatever a document holds: int, Int64, Decimal128, float, numeric text, or
    an extended-JSON wrapper (``{"$numberLong": "42"}``, ``{"$numberDecimal": "9.99"}``).

    Integral values become ``int`` (so totals stay ints), others ``Decimal``; floats go through their
    shortest text, so 9.99 stays 9.99. Anything else raises ``FieldError`` (the order is dead-lettered).
    """
    raw = value
    if isinstance(value, Mapping) and len(value) == 1:
        tag, inner = next(iter(value.items()))
        if tag in _EXT_NUMBERS:
            value = str(inner)
    if hasattr(value, "to_decimal"):  # bson.Decimal128
        value = value.to_decimal()
    if isinstance(value, bool) or value is None:
        raise murmur.FieldError(f"amount: expected a number, got {raw!r}")
    if isinstance(value, int):
        return int(value)  # also bson.Int64
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise murmur.FieldError(f"amount: expected a number, got {raw!r}") from None
    if not number.is_finite():
        raise murmur.FieldError(f"amount: expected a finite number, got {raw!r}")
    return int(number) if number == number.to_integral_value() else number


def decode(doc: Any) -> Order:
    """A document dict (Mongo scan, or Debezium ``after``) ⇒ :class:`Order`."""
    if isinstance(doc, Order):
        return doc
    if not isinstance(doc, Mapping):
        raise murmur.FieldError(f"order: expected a document, got {type(doc).__name__}")
    customer = doc.get("customer_id")
    if customer is None or customer == "":
        raise murmur.FieldError(f"order {doc.get('_id')!r}: missing customer_id")
    if "amount" not in doc:
        raise murmur.FieldError(f"order {doc.get('_id')!r}: missing amount")
    return Order(doc.get("_id"), str(customer), amount_of(doc["amount"]))


orders = murmur.Pipeline(
    "orders",
    murmur.Sum(),
    key=attrgetter("customer_id"),
    value=attrgetter("amount"),
    decode=decode,
)
