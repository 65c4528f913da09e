"""What a store keeps about each pipeline, as ``murmur status`` shows it (read-only).

From the checkpoint documents (see ``murmur._checkpoint``): the pipeline's description and a
hash of it, the bootstrap's plan and each segment's checkpoint, the handoff token it captured,
and each live source's stored position. A store cannot tell whether a process is still working
on an unfinished segment; one whose checkpoint is younger than ``stale_after`` seconds is shown
``running``, an older one ``interrupted`` (a bootstrap checkpoints at least every few seconds
while records flow).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from murmur._checkpoint import HANDOFF, PIPELINE, PLAN

__all__ = ["DEFAULT_STALE_AFTER", "definition_hash", "pipeline_status"]

DEFAULT_STALE_AFTER = 60.0
_SEGMENT = re.compile(r"^segment/(\d+)/(\d+)$")


def definition_hash(description: dict[str, Any]) -> str:
    """A short stable hash of what a pipeline computes (monoid, keys, value, window...): not its name or timestamps."""
    shown = {k: v for k, v in description.items() if k not in ("updated", "name")}
    text = json.dumps(shown, sort_keys=True, separators=(",", ":"), default=str)
    import hashlib  # (here: `murmur status` loads this module with the CLI, and rarely hashes)

    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _age(doc: dict[str, Any], now: dt.datetime) -> tuple[str | None, float | None]:
    stamp = doc.get("updated")
    if not isinstance(stamp, str):
        return None, None
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp, None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return stamp, round(max(0.0, (now - when).total_seconds()), 3)


def pipeline_status(
    pipeline: str, docs: dict[str, dict[str, Any]], *, now: dt.datetime, stale_after: float = DEFAULT_STALE_AFTER
) -> dict[str, Any]:
    """The status document of one pipeline from its checkpoint documents (``Store.list_meta``)."""
    description = docs.get(PIPELINE)
    definition = {k: v for k, v in description.items() if k != "updated"} if description else None
    return {
        "pipeline": pipeline,
        "definition_hash": definition_hash(description) if description else None,
        "definition": definition,
        "bootstrap": _bootstrap(docs, now, stale_after),
        "handoff": _handoff(docs.get(HANDOFF)),
        "live": _live(docs, now),
    }


def _bootstrap(docs: dict[str, dict[str, Any]], now: dt.datetime, stale_after: float) -> dict[str, Any] | None:
    plan = docs.get(PLAN)
    planned = len(plan.get("segments") or []) if plan else 0
    found: dict[int, tuple[int, dict[str, Any]]] = {}
    for name, doc in docs.items():
        m = _SEGMENT.match(name)
        if m:
            index, count = int(m.group(1)), int(m.group(2))
            if not planned or count == planned:  # a leftover of another plan size is not this bootstrap's
                found[index] = (count, doc)
    count = planned or max((c for c, _ in found.values()), default=0)
    if not count:
        return None
    segments = []
    for index in range(count):
        if index not in found:
            segments.append(
                {"segment": index, "of": count, "state": "pending", "records": 0, "applied": 0, "dead_lettered": 0}
            )
            continue
        doc = found[index][1]
        updated, age = _age(doc, now)
        done, dead = int(doc.get("done", 0)), int(doc.get("dead_letters", 0))
        if doc.get("finished"):
            state = "finished"
        elif age is not None and age < stale_after:
            state = "running"
        elif done == 0 and doc.get("position") is None:
            state = "pending"  # reset by a restart of this segment, not begun since
        else:
            state = "interrupted"
        segments.append(
            {
                "segment": index,
                "of": count,
                "state": state,
                "records": done,
                "applied": max(0, done - dead),
                "dead_lettered": dead,
                "updated": updated,
                "age_seconds": age,
                "position": doc.get("position"),
            }
        )
    states = {s["state"] for s in segments}
    overall = next(
        (s for s in ("running", "interrupted") if s in states),
        "finished" if states == {"finished"} else "pending" if states == {"pending"} else "partial",
    )
    return {
        "state": overall,
        "segments": segments,
        "records": sum(s["records"] for s in segments),
        "applied": sum(s["applied"] for s in segments),
        "dead_lettered": sum(s["dead_lettered"] for s in segments),
    }


def _handoff(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    token = doc.get("token") if doc else None
    if not isinstance(token, dict):
        return None
    live = token.get("live")
    return {
        "source": token.get("source"),
        "captured_at": token.get("captured_at"),
        "token": token.get("token"),
        "live": live if isinstance(live, dict) else None,
    }


def _live(docs: dict[str, dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    out = []
    for name in sorted(docs):
        if name.startswith("live/"):
            doc = docs[name]
            updated, age = _age(doc, now)
            out.append(
                {
                    "source": name[len("live/") :],
                    "position": doc.get("position"),
                    "updated": updated,
                    "age_seconds": age,
                }
            )
    return out
