"""An example Murmur plugin: a snapshot source of ``n`` synthetic records."""

from __future__ import annotations

from murmur_example_counter.source import CounterSource, TickerSource

__all__ = ["CounterSource", "TickerSource"]
