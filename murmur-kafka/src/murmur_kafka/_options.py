"""Validation of the source's own options (not librdkafka's: see ``_config``).

Kept free of confluent_kafka and of the source, so the plugin module can import it cheaply.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from murmur import ConfigError, parse_duration

__all__ = ["START_CHOICES", "parse_seconds", "parse_topics"]

#: Where partitions without a committed offset begin (the ``start`` option).
START_CHOICES = ("committed", "earliest", "latest", "handoff")


def parse_seconds(value: Any, option: str) -> float:
    """A duration given as seconds (number or numeric text) or as text such as ``5s``."""
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return parse_duration(value, option=option).total_seconds()
    raise ConfigError(f"{option}: expected a duration such as 5s, got {value!r}", option=option)


def parse_topics(value: str | Sequence[str]) -> list[str]:
    """The topics to read from a comma list or a sequence: at least one, no repeats."""
    items = value.split(",") if isinstance(value, str) else list(value)
    topics = [t.strip() for t in items if t and t.strip()]
    if not topics:
        raise ConfigError("kafka: give the topic to read (-S topic=NAME, or a comma list)", option="topic")
    if len(set(topics)) != len(topics):
        raise ConfigError(f"kafka: topic lists {', '.join(topics)} with a repeat", option="topic")
    return topics
