"""``--max-dead-letters N|N%`` and ``--retry-for DURATION``: parsed and checked before a run starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from murmur._errors import ConfigError
from murmur._retrying import DEFAULT_RETRY_FOR
from murmur._windows import parse_duration

__all__ = ["DeadLetterLimit", "parse_retry_for"]


@dataclass(frozen=True)
class DeadLetterLimit:
    """At most ``count`` dead letters, or at most ``percent`` % of the records read."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, value: Any) -> DeadLetterLimit | None:
        if value is None:
            return None
        text = str(value).strip()
        try:
            if text.endswith("%"):
                percent = float(text[:-1])
                if not 0 <= percent <= 100:
                    raise ValueError
                return cls(percent=percent)
            count = int(text)
            if count < 0:
                raise ValueError
            return cls(count=count)
        except ValueError:
            raise ConfigError(
                f"--max-dead-letters: expected a count (e.g. 10) or a percentage (e.g. 1%), got {text!r}",
                option="max-dead-letters",
            ) from None

    def exceeded(self, dead: int, records: int) -> bool:
        if self.count is not None:
            return dead > self.count
        assert self.percent is not None
        return records > 0 and 100 * dead / records > self.percent

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f"{self.percent:g}%"


def parse_retry_for(value: str | None, *, live: bool) -> float | None:
    """Seconds to ride out one store outage; by default 10 minutes for a bootstrap and no
    limit for live mode (which waits outages out, SPEC §4.8)."""
    if value is None:
        return None if live else DEFAULT_RETRY_FOR
    seconds = parse_duration(value, option="retry-for").total_seconds()
    if seconds <= 0:
        raise ConfigError(
            f"--retry-for: expected a duration above 0 (e.g. 10m, 90s), got {value!r}", option="retry-for"
        )
    return seconds
