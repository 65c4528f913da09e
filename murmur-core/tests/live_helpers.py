"""Running ``murmur.live.run`` on a thread of its own, for tests that watch it from outside."""

from __future__ import annotations

import threading
from typing import Any

from murmur import live


def run_in_thread(**kw: Any) -> tuple[threading.Thread, threading.Event, dict[str, Any]]:
    """Start ``live.run(stop=stop, **kw)``; returns the thread, ``stop``, and a dict that gets
    ``status`` (what the run returned) or ``error`` (what it raised) when it ends."""
    stop = threading.Event()
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["status"] = live.run(stop=stop, **kw)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, stop, result
