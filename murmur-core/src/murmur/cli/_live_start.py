"""Where a live run starts when no ``--from-handoff FILE`` is given, and the one line that says so.

The bootstrap keeps its handoff token in the store (the ``handoff`` checkpoint), with the
position of the live source it was told about (``--handoff-to kafka`` records Kafka's end
offsets). A live run of the same pipeline therefore needs no token file: it starts from that
handoff unless the live source has a position of its own — a stored one (change streams) or
committed offsets (Kafka: those win per partition inside the source, unless a run of an earlier
bootstrap of the pipeline made them: after ``--restart`` the new handoff wins).
"""

from __future__ import annotations

from typing import Any

from murmur._checkpoint import Checkpoints
from murmur._records import HandoffToken

__all__ = ["default_start"]

#: What a source that commits on its own does without a handoff, by its ``start`` option.
_START_MODES = {
    "committed": "the committed offsets, else the earliest",
    "earliest": "the earliest offsets",
    "latest": "the latest offsets (new records only)",
}


def _continues(source: Any, token: HandoffToken) -> bool:
    """Whether ``token`` holds a position ``source`` can start from."""
    live = token.live
    if live is not None and live.get("source") == source.name and live.get("position") is not None:
        return True
    # A snapshot source whose own token is this live source's position (mongo -> mongo-changes).
    return token.token is not None and token.source in getattr(source, "handoff_sources", ())


def _fallback(source: Any) -> str:
    """Where the source starts on its own: its ``start_description``, else its ``start_mode``."""
    described = getattr(source, "start_description", None)
    if described:
        return str(described)
    mode = getattr(source, "start_mode", None)
    if mode is None:
        return "its own default start"
    return _START_MODES.get(str(mode), f"start={mode}")


def default_start(source: Any, checkpoints: Checkpoints) -> tuple[HandoffToken | None, str]:
    """The handoff to give ``source.start`` and a one-line reason, for a run without a token file."""
    name, pipeline = source.name, checkpoints.pipeline
    saved = checkpoints.live_positions().get(name)
    token = checkpoints.handoff()
    mode = getattr(source, "start_mode", None)
    if saved is not None:
        # The stored position wins (``start`` prefers its checkpoint); the handoff still goes along,
        # so that a source knows which bootstrap this run continues (Kafka stamps its commits with
        # it, and a run after --restart then does not resume from the cleared state's commits).
        usable = token is not None and _continues(source, token) and mode in (None, "committed", "handoff")
        keep = token if usable else None
        return keep, f"live: {name} continues from its stored position (saved {saved.get('updated', '?')})"
    if token is not None and _continues(source, token):
        when = token.captured_at.isoformat(timespec="seconds")
        if mode not in (None, "committed", "handoff"):
            return None, (
                f"live: {name} starts at {_fallback(source)} (start={mode}); the handoff the bootstrap of "
                f"{pipeline!r} captured at {when} is not used"
            )
        who = f"{name}: partitions without committed offsets start" if mode is not None else f"{name} starts"
        return token, (
            f"live: {who} after the handoff the bootstrap of {pipeline!r} captured at {when}"
            " (kept in the store; --from-handoff FILE overrides)"
        )
    if token is not None:
        return None, (
            f"live: {name} starts at {_fallback(source)}: the bootstrap of {pipeline!r} recorded no {name} position"
            f" (bootstrap with --handoff-to {name} to record one)"
        )
    return None, f"live: {name} starts at {_fallback(source)}: pipeline {pipeline!r} has no bootstrap handoff"
