"""``murmur run --restart``: start over means start over.

Dropping only the checkpoints would fold the source again on top of the state the earlier run
left, doubling every total unless a deduper remembers what was applied — and a deduper added at
the restart remembers nothing. So a restart clears the pipeline's state, contributions,
checkpoints and claims (only that pipeline's) with the stores' optional ``clear(pipeline)``,
then bootstraps from scratch. It refuses while a live run seems active for the pipeline (a
live position saved recently) unless ``--force``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from murmur._checkpoint import Checkpoints
from murmur._errors import ConfigError
from murmur._records import utcnow
from murmur._retrying import unwrap

__all__ = ["FRESH_SECONDS", "clear_pipeline", "describe_cleared"]

#: A live position saved this recently means a live run may still be applying changes.
FRESH_SECONDS = 600.0


def _fresh_live(checkpoints: Checkpoints, now: dt.datetime) -> str | None:
    for source, doc in checkpoints.live_positions().items():
        try:
            updated = dt.datetime.fromisoformat(str(doc.get("updated")))
        except ValueError:
            continue
        age = (now - updated).total_seconds()
        if age < FRESH_SECONDS:
            return f"{source} saved its position {age:.0f}s ago"
    return None


def clear_pipeline(store: Any, dedup: Any, pipeline: str, *, force: bool) -> dict[str, int] | None:
    """Clear ``pipeline`` in ``store`` (and ``dedup`` unless the store holds its claims).

    Returns what was removed, or ``None`` when the store cannot clear (then only the
    checkpoints are dropped, as before, by the bootstrap's restart policy).
    """
    if not callable(getattr(unwrap(store), "clear", None)):
        return None
    checkpoints = Checkpoints(store, pipeline)
    busy = _fresh_live(checkpoints, utcnow())
    if busy is not None and not force:
        raise ConfigError(
            f"--restart: a live run of pipeline {pipeline!r} looks active ({busy}); stop it first, or pass"
            " --force to clear the pipeline anyway",
            option="restart",
        )
    # Asked first: a store that absorbs the deduper clears its claims itself.
    absorbed = dedup is not None and unwrap(store).absorbs(unwrap(dedup))
    counts = dict(store.clear(pipeline))
    if dedup is not None and not absorbed and callable(getattr(unwrap(dedup), "clear", None)):
        for name, n in dedup.clear(pipeline).items():
            counts[name] = counts.get(name, 0) + n
    return counts


def describe_cleared(counts: dict[str, int]) -> str:
    parts = [f"{counts.get(name, 0):,} {label}" for name, label in _LABELS]
    return ", ".join(parts)


_LABELS = (("keys", "keys"), ("contributions", "contributions"), ("checkpoints", "checkpoints"), ("claims", "claims"))
