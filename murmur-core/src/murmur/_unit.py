"""The unit of work: what one batch of records asks a store to commit (ARCHITECTURE.md).

A transactional store commits a unit at once, which is exactly-once. Any other store commits
in the safe order ``writes → contributions → claims → meta``, so a crash re-applies rather
than loses.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from murmur._records import Version
    from murmur.monoids import Monoid


class StateKey(NamedTuple):
    """One aggregate: an entity (the rendered key) in a time bucket (0 = all time)."""

    entity: str
    bucket: int = 0


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one source document currently adds to the state (changelog mode, SPEC §5b).

    ``deleted`` marks a tombstone: the document is gone (``keys`` empty) but its version is
    kept, so an older change arriving late cannot bring it back.
    """

    keys: tuple[StateKey, ...]
    value: Any
    version: Version | None = None
    deleted: bool = False

    def dumps(self, monoid: Monoid[Any]) -> str:
        """A compact JSON text of this contribution, for stores to keep as an opaque string."""
        doc = {
            "k": [[k.entity, k.bucket] for k in self.keys],
            "v": None if self.deleted else base64.b64encode(monoid.encode(self.value)).decode(),
            "ver": list(self.version) if self.version is not None else None,
            "del": self.deleted,
        }
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | bytes, monoid: Monoid[Any], *, doc_id: str = "?") -> Contribution:
        doc = json.loads(text)
        value = None if doc.get("del") else monoid.decode(base64.b64decode(doc["v"]), key=f"contribution {doc_id}")
        version = tuple(doc["ver"]) if doc.get("ver") is not None else None
        keys = tuple(StateKey(str(e), int(b)) for e, b in doc.get("k", []))
        return cls(keys, value, version, bool(doc.get("del")))


@dataclass(frozen=True, slots=True)
class ContributionWrite:
    """The new contribution of a document, and the one it replaces as read (``None``: there was none).

    A store that can check ``expected`` is still current raises ``ContributionConflict``
    when it is not, and writes nothing.
    """

    new: Contribution
    expected: Contribution | None


@dataclass
class Unit:
    """Everything one batch asks of the store.

    - ``writes``: deltas already folded per state key (combine them into the stored state).
    - ``expiry``: epoch seconds after which a key may be dropped (windowed pipelines).
    - ``contributions``: doc id ⇒ its new contribution (changelog mode).
    - ``claims``: event ids to record as committed (when the store took over the deduper).
    - ``meta``: checkpoint documents to write (name ⇒ JSON object), last.
    """

    pipeline: str
    monoid: Monoid[Any]
    writes: dict[StateKey, Any] = field(default_factory=dict)
    expiry: dict[StateKey, int] = field(default_factory=dict)
    contributions: dict[str, ContributionWrite] = field(default_factory=dict)
    claims: list[str] = field(default_factory=list)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.writes or self.contributions or self.claims or self.meta)
