"""Sketch monoids: HLL (distinct count), TopK (heavy hitters) and Bloom (membership) (SPEC §2).

All three are ``approximate``: their laws and reads hold within the error bounds stated on
each class. HLL and TopK use Apache DataSketches, and their state *is* the DataSketches
serialization (bytes): Java, C++, Druid, Spark and Pinot read exactly what Murmur stores, and
immutable bytes make states safe to share, compare and hash. ``combine`` never mutates an
operand.

This module imports ``datasketches`` (and with it numpy, ~150 ms), so ``murmur.monoids``
imports it only when a sketch monoid is first used: ``murmur --help`` stays fast.

Items: a value may be a ``str``, ``int``, ``float``, ``Decimal``, ``bool``, ``bytes`` or ``UUID``,
or a list/tuple/set of those (each element is added). Every item is rendered to text first,
so the three sketches agree and other tools can feed the same strings: numbers by value
(``5``, ``5.0`` and ``Decimal("5.00")`` are all ``"5"``, like Python's ``5 == 5.0``), bools as
``true``/``false``, bytes and UUIDs as lowercase hex.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
import struct
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from datasketches import (  # type: ignore[import-untyped]
    frequent_items_error_type,
    frequent_strings_sketch,
    hll_sketch,
    hll_union,
    tgt_hll_type,
)

from murmur._errors import ConfigError, StoreError
from murmur.monoids._base import MonoidBase, wrong_type

__all__ = ["HLL", "Bloom", "TopK", "item_text", "parse_bloom", "parse_hll", "parse_topk"]

_ITEM_TYPES = "a string, number, bool, bytes or UUID (or a list of them)"


def item_text(kind: str, value: Any) -> str:
    """One item as the text every sketch hashes; ``FieldError`` for an unsupported type."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f") if value.is_finite() else str(value).lower()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return value.hex
    raise wrong_type(kind, _ITEM_TYPES, value)


def _items(kind: str, value: Any) -> list[str]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return [item_text(kind, v) for v in value]
    return [item_text(kind, value)]


def _as_bytes(state: Any, what: str, key: str) -> bytes:
    if isinstance(state, bytes):
        return state
    if isinstance(state, (bytearray, memoryview)):
        return bytes(state)
    raise StoreError(f"corrupt {what} value for key {key!r}: expected bytes, got {type(state).__name__}")


class _DataSketch(MonoidBase):
    """A monoid whose state is a DataSketches serialization (bytes).

    ``decode`` checks the bytes deserialize and returns them unchanged; ``encode`` is the
    identity. In JSON (inside ``map:``/``tuple:``) the bytes are base64.
    """

    approximate = True

    def _load(self, state: Any, key: str = "?") -> Any:
        raise NotImplementedError

    def encode(self, state: Any) -> bytes:
        return _as_bytes(state, self.spec, "?")

    def decode(self, data: bytes, *, key: str = "?") -> bytes:
        raw = _as_bytes(data, self.spec, key)
        self._load(raw, key)
        return raw

    def to_json(self, state: Any) -> Any:
        return {"$b64": _b64(self.encode(state))}

    def from_json(self, doc: Any) -> Any:
        return self.decode(base64.b64decode(doc["$b64"]))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _deserialize(loader: Any, state: Any, spec: str, key: str) -> Any:
    raw = _as_bytes(state, spec, key)
    try:
        return loader(raw)
    # The C++ deserializers report corruption as ValueError, IndexError, RuntimeError, or
    # MemoryError for a nonsensical size field; all of them mean the same thing here.
    except (ValueError, IndexError, RuntimeError, MemoryError, TypeError) as exc:
        raise StoreError(f"corrupt {spec} value for key {key!r}: {exc}") from None


# ------------------------------------------------------------------------------------- HLL

_TARGETS = {4: tgt_hll_type.HLL_4, 6: tgt_hll_type.HLL_6, 8: tgt_hll_type.HLL_8}


class HLL(_DataSketch):
    """Distinct count with a DataSketches HLL sketch; ``result`` is the rounded estimate.

    ``lg_k`` (4..21, default 14) sets the accuracy: relative standard error ≈ 1.04/√(2^lg_k),
    1.6 % at 14 (so ~95 % of estimates within 3.2 %). Counts up to a few hundred are exact in
    practice (the sketch keeps hashed coupons until it fills). ``target`` is the register
    width stored, 4, 6 or 8 bits. The default is 8 because a union of HLL_8 sketches is ~200×
    faster than of HLL_4 ones (1 µs against 200 µs at lg_k 14), and ``combine`` runs per
    record while deltas coalesce; HLL_4 halves the stored size of large sketches (8 KiB
    against 16 KiB at lg_k 14) for a slower combine. Every reader handles all three.
    """

    kind = "hll"

    def __init__(self, lg_k: int = 14, target: int = 8) -> None:
        if not 4 <= lg_k <= 21:
            raise ConfigError(f"--monoid: hll precision must be 4..21, got {lg_k}", option="monoid")
        if target not in _TARGETS:
            raise ConfigError(f"--monoid: hll target must be 4, 6 or 8 (bits), got {target}", option="monoid")
        self.lg_k = lg_k
        self.target = target
        self._tgt = _TARGETS[target]
        self._empty = bytes(hll_sketch(lg_k, self._tgt).serialize_compact())

    @property
    def spec(self) -> str:
        return f"hll:{self.lg_k}" if self.target == 8 else f"hll:{self.lg_k}:{self.target}"

    def _load(self, state: Any, key: str = "?") -> Any:
        return _deserialize(hll_sketch.deserialize, state, self.spec, key)

    def identity(self) -> bytes:
        return self._empty

    def combine(self, a: bytes, b: bytes) -> bytes:
        sa, sb = self._load(a), self._load(b)
        # Returning the other operand as is keeps identity exact and keeps its HIP estimator,
        # which a union would replace by the (equally unbiased, slightly noisier) composite one.
        if sb.is_empty():
            return a
        if sa.is_empty():
            return b
        union = hll_union(self.lg_k)
        union.update(sa)
        union.update(sb)
        return bytes(union.get_result(self._tgt).serialize_compact())

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> bytes:
        sketch = hll_sketch(self.lg_k, self._tgt)
        for item in _items(self.kind, value):
            sketch.update(item)
        return bytes(sketch.serialize_compact())

    def estimate(self, state: bytes) -> float:
        """The unrounded distinct-count estimate."""
        return float(self._load(state).get_estimate())

    def bounds(self, state: bytes, std_devs: int = 2) -> tuple[float, float]:
        """Lower and upper bounds at ``std_devs`` (1, 2 or 3) standard deviations."""
        sketch = self._load(state)
        return float(sketch.get_lower_bound(std_devs)), float(sketch.get_upper_bound(std_devs))

    def result(self, state: bytes) -> int:
        return round(self.estimate(state))


# ------------------------------------------------------------------------------------ TopK

#: Map slots per requested item. DataSketches keeps 3/4 of its map filled, so 16·K slots
#: keep counts exact up to 12·K distinct items and bound the error beyond that by
#: 3.5/slots of the total weight (about 2 % of all events for K = 10).
_SLOTS_PER_ITEM = 16


class TopK(_DataSketch):
    """The ``k`` most frequent items, with a DataSketches frequent-items sketch (SpaceSaving family).

    ``result`` is ``[[item, count], ...]``, heaviest first, ties by item text, at most ``k``
    rows. Counts are exact while the state has seen at most ``capacity`` distinct items
    (``capacity`` ≥ 12·k, so always for ≤ k items). Beyond that each count is an estimate
    within ``epsilon × total events`` of the truth, and items lighter than that bound may be
    missing or misordered: heavy hitters are found, the tail is approximate.
    """

    kind = "topk"

    def __init__(self, k: int = 10) -> None:
        if not 1 <= k <= 10_000:
            raise ConfigError(f"--monoid: topk K must be 1..10000, got {k}", option="monoid")
        self.k = k
        self.lg_map_size = max(3, math.ceil(math.log2(_SLOTS_PER_ITEM * k)))
        self.capacity = 3 * (1 << self.lg_map_size) // 4
        self.epsilon = float(frequent_strings_sketch.get_epsilon_for_lg_size(self.lg_map_size))
        self._empty = bytes(frequent_strings_sketch(self.lg_map_size).serialize())

    @property
    def spec(self) -> str:
        return f"topk:{self.k}"

    def _load(self, state: Any, key: str = "?") -> Any:
        return _deserialize(frequent_strings_sketch.deserialize, state, self.spec, key)

    def identity(self) -> bytes:
        return self._empty

    def combine(self, a: bytes, b: bytes) -> bytes:
        sa, sb = self._load(a), self._load(b)
        if sb.is_empty():
            return a
        if sa.is_empty():
            return b
        # A fresh sketch of this monoid's size, so state written with another K still folds
        # into a sketch of the configured capacity.
        out = frequent_strings_sketch(self.lg_map_size)
        out.merge(sa)
        out.merge(sb)
        return bytes(out.serialize())

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> bytes:
        sketch = frequent_strings_sketch(self.lg_map_size)
        for item in _items(self.kind, value):
            sketch.update(item)
        return bytes(sketch.serialize())

    def counts(self, state: bytes) -> list[tuple[str, int]]:
        """Every tracked item with its estimated count, heaviest first (ties by item)."""
        rows = self._load(state).get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
        return sorted(((str(r[0]), int(r[1])) for r in rows), key=lambda row: (-row[1], row[0]))

    def total(self, state: bytes) -> int:
        """The number of events folded into ``state``."""
        return int(self._load(state).total_weight)

    def result(self, state: bytes) -> list[list[Any]]:
        return [[item, count] for item, count in self.counts(state)[: self.k]]


# ----------------------------------------------------------------------------------- Bloom

# Why our own Bloom filter: the Python DataSketches binding has none, and the maintained
# libraries (rbloom) hash with Python's per-process salted hash unless given a Python
# callback, which makes persisted filters unreadable by the next process and no faster than
# this. Sixty lines of hashlib keep the format stable, documented and dependency-free.
#
# Stored format (little-endian): b"MBF\x01", uint32 m (bits), uint8 k (hashes), then m/8
# bytes of bits; bit p is bit (p % 8) of byte p // 8. Item positions: d = blake2b-128 of the
# item text (UTF-8); h1, h2 = d[:8], d[8:] as uint64, h2 |= 1; p_i = (h1 + i·h2) mod m.
_MAGIC = b"MBF\x01"
_HEADER = struct.Struct("<4sIB")

#: A Bloom state: the set bit positions while few (cheap to lift and combine per record),
#: else the stored image itself (header + bits, immutable bytes).
BloomState = frozenset[int] | bytes


class Bloom(MonoidBase):
    """Set membership with no false negatives and a false-positive rate near ``error_rate``
    while at most ``capacity`` distinct items were added (SPEC §2: n = 100 000, p = 0.01).

    The filter has m = ⌈-n·ln p / ln²2⌉ bits (rounded up to whole bytes; 117 KiB by default)
    and k = round(m/n·ln 2) hashes. ``contains(state, item)`` answers membership; ``result`` is
    a summary: ``approx_items`` (the distinct items added, estimated from the bits set; None
    once every bit is set), ``bits_set``, ``bits``, ``hashes`` and ``false_positive_rate`` (the
    rate at the current fill).
    """

    kind = "bloom"
    approximate = True

    def __init__(self, capacity: int = 100_000, error_rate: float = 0.01) -> None:
        if capacity < 1:
            raise ConfigError(f"--monoid: bloom capacity must be at least 1, got {capacity}", option="monoid")
        if not 0.0 < error_rate < 1.0:
            raise ConfigError(f"--monoid: bloom error rate must be between 0 and 1, got {error_rate}", option="monoid")
        bits = math.ceil(-capacity * math.log(error_rate) / math.log(2) ** 2)
        self.bits = 8 * math.ceil(bits / 8)
        if self.bits >= 1 << 32:
            raise ConfigError(
                f"--monoid: bloom:{capacity}:{error_rate:g} needs {self.bits} bits (max 2^32)", option="monoid"
            )
        self.capacity = capacity
        self.error_rate = error_rate
        self.hashes = max(1, round(self.bits / capacity * math.log(2)))
        self._header = _HEADER.pack(_MAGIC, self.bits, self.hashes)
        # Past this many positions a set costs more memory than the bytes (~64 B per entry).
        self._sparse_max = max(64, self.bits // 512)

    @property
    def spec(self) -> str:
        return f"bloom:{self.capacity}:{self.error_rate!r}"

    # ----------------------------------------------------------------- monoid

    def identity(self) -> BloomState:
        return frozenset()

    def combine(self, a: BloomState, b: BloomState) -> BloomState:
        if not b:
            return a
        if not a:
            return b
        if isinstance(a, frozenset):
            if isinstance(b, frozenset):
                union = a | b
                return union if len(union) <= self._sparse_max else self._dense(union)
            return self._dense(a, base=self._checked(b))
        if isinstance(b, frozenset):
            return self._dense(b, base=self._checked(a))
        body_a, body_b = self._body(a), self._body(b)
        merged = int.from_bytes(body_a, "little") | int.from_bytes(body_b, "little")
        return self._header + merged.to_bytes(len(body_a), "little")

    def lift(self, value: Any, event_time: dt.datetime | None = None) -> BloomState:
        positions = frozenset(p for item in _items(self.kind, value) for p in self._positions(item))
        return positions if len(positions) <= self._sparse_max else self._dense(positions)

    def contains(self, state: BloomState, item: Any) -> bool:
        """True if ``item`` may have been added (false positives at about ``error_rate``);
        False means it certainly was not."""
        positions = self._positions(item_text(self.kind, item))
        if isinstance(state, frozenset):
            return all(p in state for p in positions)
        body = self._body(state)
        return all(body[p >> 3] >> (p & 7) & 1 for p in positions)

    def bits_set(self, state: BloomState) -> int:
        if isinstance(state, frozenset):
            return len(state)
        return int.from_bytes(self._body(state), "little").bit_count()

    def result(self, state: BloomState) -> dict[str, Any]:
        m, k, x = self.bits, self.hashes, self.bits_set(state)
        # Swamidass & Baldi: the expected number of items that sets x of m bits.
        approx = None if x >= m else round(-m / k * math.log(1 - x / m))
        return {
            "approx_items": approx,
            "bits_set": x,
            "bits": m,
            "hashes": k,
            "false_positive_rate": (x / m) ** k,
        }

    # --------------------------------------------------------------- storage

    def encode(self, state: BloomState) -> bytes:
        return self._dense(state) if isinstance(state, frozenset) else self._checked(state)

    def decode(self, data: bytes, *, key: str = "?") -> bytes:
        return self._checked(data, key)

    def to_json(self, state: BloomState) -> Any:
        return {"$b64": _b64(self.encode(state))}

    def from_json(self, doc: Any) -> BloomState:
        return self.decode(base64.b64decode(doc["$b64"]))

    # -------------------------------------------------------------- internals

    def _positions(self, text: str) -> list[int]:
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        return [(h1 + i * h2) % self.bits for i in range(self.hashes)]

    def _dense(self, positions: Iterable[int], base: bytes | None = None) -> bytes:
        bits = bytearray(base) if base is not None else bytearray(self._header) + bytearray(self.bits // 8)
        offset = _HEADER.size
        for p in positions:
            bits[offset + (p >> 3)] |= 1 << (p & 7)
        return bytes(bits)

    def _checked(self, data: Any, key: str = "?") -> bytes:
        raw = _as_bytes(data, self.spec, key)
        if len(raw) < _HEADER.size or raw[:4] != _MAGIC:
            raise StoreError(f"corrupt {self.spec} value for key {key!r}: not a Murmur Bloom filter image")
        _, bits, hashes = _HEADER.unpack_from(raw)
        if (bits, hashes) != (self.bits, self.hashes):
            raise StoreError(
                f"corrupt {self.spec} value for key {key!r}: written with {bits} bits and {hashes} hashes, "
                f"but {self.spec} uses {self.bits} and {self.hashes} (was the pipeline's bloom spec changed?)"
            )
        if len(raw) != _HEADER.size + bits // 8:
            raise StoreError(
                f"corrupt {self.spec} value for key {key!r}: {len(raw)} bytes, expected {_HEADER.size + bits // 8}"
            )
        return raw

    def _body(self, state: bytes) -> bytes:
        return self._checked(state)[_HEADER.size :]


# --------------------------------------------------------------------------------- parsing


def _number(spec: str, text: str, convert: Any) -> Any:
    try:
        return convert(text.strip())
    except ValueError:
        raise ConfigError(f"--monoid: {spec!r}: {text!r} is not a number", option="monoid") from None


def parse_hll(arg: str | None) -> HLL:
    """``hll`` ⇒ lg_k 14; ``hll:12`` ⇒ lg_k 12; ``hll:14:4`` ⇒ HLL_4 registers."""
    if not arg:
        return HLL()
    parts = arg.split(":")
    if len(parts) > 2:
        raise ConfigError(f"--monoid: 'hll:{arg}': expected hll, hll:LG_K or hll:LG_K:4|6|8", option="monoid")
    lg_k = _number(f"hll:{arg}", parts[0], int)
    return HLL(lg_k, _number(f"hll:{arg}", parts[1], int)) if len(parts) == 2 else HLL(lg_k)


def parse_topk(arg: str | None) -> TopK:
    """``topk`` ⇒ K 10; ``topk:25`` ⇒ K 25."""
    return TopK(_number(f"topk:{arg}", arg, int)) if arg else TopK()


def parse_bloom(arg: str | None) -> Bloom:
    """``bloom`` ⇒ 100 000 items at 1 %; ``bloom:N``; ``bloom:N:P`` (``bloom:1000000:0.001``)."""
    if not arg:
        return Bloom()
    parts = arg.split(":")
    if len(parts) > 2:
        raise ConfigError(f"--monoid: 'bloom:{arg}': expected bloom, bloom:N or bloom:N:P", option="monoid")
    capacity = _number(f"bloom:{arg}", parts[0], int)
    if len(parts) == 1:
        return Bloom(capacity)
    return Bloom(capacity, _number(f"bloom:{arg}", parts[1], float))
