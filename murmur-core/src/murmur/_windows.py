"""Time buckets, retention and duration parsing (SPEC §3).

Bucket id = floor(epoch seconds / granularity); bucket 0 holds all-time state of
non-windowed pipelines. A window of ``last 7d`` on a daily pipeline is today and the six
days before it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from murmur._errors import ConfigError, FieldError

ALL_TIME = 0

GRANULARITIES: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}

_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, *, option: str = "duration") -> dt.timedelta:
    """``90d``, ``1h30m``, ``45s``, ``250ms``, ``2w`` (or bare seconds) ⇒ a timedelta."""
    raw = text.strip()
    try:
        return dt.timedelta(seconds=float(raw))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        total += float(match["n"]) * _UNIT_SECONDS[match["unit"]]
        pos = match.end()
    if pos != len(raw) or not raw:
        raise ConfigError(
            f"{option}: {text!r} is not a duration (expected e.g. 90d, 12h, 30m, 45s, 250ms)", option=option
        )
    return dt.timedelta(seconds=total)


@dataclass(frozen=True, slots=True)
class Window:
    """Bucketing of state by event time, with an optional retention (the store's expiry)."""

    granularity: str = "day"
    retention: dt.timedelta | None = None

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ConfigError(
                f"window: unknown granularity {self.granularity!r} (expected one of {', '.join(GRANULARITIES)})",
                option="window",
            )

    @classmethod
    def parse(cls, text: str) -> Window:
        """``day``, ``day:90d``, ``hour:48h``, ``minute:2h`` ⇒ a Window."""
        gran, sep, retention = text.partition(":")
        if sep and not retention.strip():
            raise ConfigError(f"window: {text!r} has a ':' but no retention (expected e.g. day:90d)", option="window")
        return cls(gran.strip(), parse_duration(retention, option="window") if retention else None)

    @property
    def seconds(self) -> int:
        return GRANULARITIES[self.granularity]

    def bucket(self, when: dt.datetime) -> int:
        return math.floor(when.timestamp() / self.seconds)

    def bucket_start(self, bucket: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(bucket * self.seconds, dt.UTC)

    def expiry(self, bucket: int) -> int | None:
        """Epoch seconds after which the bucket may be dropped, or None to keep it forever."""
        if self.retention is None:
            return None
        return int((bucket + 1) * self.seconds + self.retention.total_seconds())

    def last(self, span: dt.timedelta, now: dt.datetime) -> range:
        """The buckets of the most recent ``span``, the bucket of ``now`` included."""
        count = max(1, math.ceil(span.total_seconds() / self.seconds))
        end = self.bucket(now)
        return range(end - count + 1, end + 1)

    def between(self, start: dt.datetime, end: dt.datetime) -> range:
        """The buckets that overlap ``[start, end)``."""
        first = self.bucket(start)
        last = math.ceil(end.timestamp() / self.seconds) - 1
        return range(first, max(first, last + 1))

    def describe(self) -> str:
        if self.retention is None:
            return self.granularity
        return f"{self.granularity}:{_format_duration(self.retention)}"


def _format_duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_event_time(value: object, *, field: str) -> dt.datetime:
    """An event-time field's value ⇒ an aware datetime.

    Accepts an aware or naive (taken as UTC) datetime, an ISO-8601 string, or epoch
    seconds / milliseconds (numbers above 10^11 are read as milliseconds).
    """
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, bool):
        raise FieldError(f"event-time field {field!r}: expected a time, got a boolean")
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) > 1e11 else value
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FieldError(f"event-time field {field!r}: {value!r} is not ISO-8601 or epoch time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise FieldError(f"event-time field {field!r}: expected ISO-8601 or epoch time, got {type(value).__name__}")
