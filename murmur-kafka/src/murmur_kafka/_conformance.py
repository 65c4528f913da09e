"""Static checks only (mypy): the ``kafka`` source keeps the core's protocols, optional ones included.

Nothing here runs; a change that breaks a protocol fails ``mypy`` instead of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__: list[str] = []

if TYPE_CHECKING:
    from murmur import HasDeadLetter, HasStats, LiveSource

    from murmur_kafka.source import KafkaSource

    def _kafka(source: KafkaSource) -> tuple[LiveSource, HasStats, HasDeadLetter]:
        return source, source, source
