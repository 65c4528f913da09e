"""Waiting on a condition with a deadline (never on the clock alone)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["wait_for"]


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition not met",
) -> T:
    """Poll predicate until it returns something truthy, and return that value.

    Raises AssertionError(message) after `timeout` seconds. `message` may be a callable, evaluated
    only on timeout, to report the state that was last seen. Exceptions from predicate propagate:
    a predicate that is expected to fail for a while should catch them itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (waited {timeout:g}s)")
        time.sleep(min(interval, remaining))
