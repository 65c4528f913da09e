"""A change-stream-like live source, started and closed as the live runtime does it.

Some live sources commit their position on their own (Kafka's consumer group); others return it
from ``checkpoint()`` and rely on the live runtime to keep it in the store and to give it back
to ``start()`` next time (a MongoDB change stream). The live-source contract suite opens and
closes sources directly, as a consumer group would; :class:`CheckpointedLiveSource` lets such a
source take part: ``close()`` keeps its checkpoint on a :class:`CheckpointShelf`, and ``start()``
without a checkpoint starts from the one kept there (else from the shelf's handoff).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from murmur._protocols import LiveSource, Mode
from murmur._records import HandoffToken, Record

__all__ = ["CheckpointShelf", "CheckpointedLiveSource"]


@dataclass
class CheckpointShelf:
    """What the live runtime keeps for one pipeline: the handoff it started from and the last
    checkpoint. ``wrap(factory)`` makes a contract suite's ``make_source`` from a source factory."""

    handoff: HandoffToken | None = None
    checkpoint: Any = None
    made: list[LiveSource] = field(default_factory=list)

    def wrap(self, factory: Callable[[], LiveSource]) -> Callable[[], LiveSource]:
        def make() -> LiveSource:
            inner = factory()
            self.made.append(inner)
            return CheckpointedLiveSource(inner, self)

        return make

    def close_all(self) -> None:
        """Close every source made (closing twice must be harmless for a live source)."""
        for source in self.made:
            source.close()


class CheckpointedLiveSource:
    """``inner``, started as the runtime starts it: with the checkpoint given, else the shelf's,
    and the handoff given, else the shelf's. Closing keeps ``inner.checkpoint()`` on the shelf,
    then closes ``inner`` (a source never started keeps nothing)."""

    def __init__(self, inner: LiveSource, shelf: CheckpointShelf) -> None:
        self.inner = inner
        self.shelf = shelf
        self.name = inner.name
        self.default_mode: Mode = inner.default_mode
        self.started = False
        dead_letter = getattr(inner, "dead_letter", None)
        if callable(dead_letter):  # an optional capability: offered only if the inner source has it
            self.dead_letter = dead_letter

    def capture_position(self) -> Any:
        return self.inner.capture_position()

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None:
        self.started = True
        self.inner.start(
            handoff if handoff is not None else self.shelf.handoff,
            checkpoint if checkpoint is not None else self.shelf.checkpoint,
        )

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        return self.inner.poll(max_records, timeout)

    def checkpoint(self) -> Any | None:
        return self.inner.checkpoint()

    def close(self) -> None:
        position = self.inner.checkpoint() if self.started else None  # an unstarted source has none
        if position is not None:
            self.shelf.checkpoint = position
        self.inner.close()
