"""Records, changelog changes, handoff tokens and event ids (SPEC §1)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from murmur._errors import HandoffError

#: A changelog version: comparable tuples (cluster time, Debezium ts_ms + ord, an LSN).
Version = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """What makes a record a changelog record (SPEC §5b).

    ``doc_id`` names the source document; ``deleted`` says the document is gone (the record's
    value is then ignored); ``version`` orders changes of one document. A version of ``None``
    is a snapshot read: older than any change, applied whenever it differs.
    ``before`` is the document's previous state where the source knows it (a Debezium
    ``before``); only append mode uses it, to retract that state (SPEC §7). ``op`` says what
    happened (``insert``, ``update``, ``delete``; ``None`` for a snapshot read): append mode
    refuses an update or delete it cannot retract, rather than count it wrong.
    """

    doc_id: str
    version: Version | None = None
    deleted: bool = False
    before: Any = None
    op: str | None = None


@dataclass(slots=True, eq=False)
class Record:
    """One unit of input.

    ``value`` is the decoded event (or, in changelog mode, the document's new state).
    ``event_id`` is the dedup key; ``None`` or ``""`` disables dedup for this record.
    ``event_time`` is an aware datetime, or ``None`` for processing time.
    ``partition_key`` routes records that must stay in order to the same worker.
    ``position`` is a JSON-serialisable progress marker understood by the source.
    ``on_ack`` is called by :meth:`ack`, at most once.
    """

    value: Any
    event_id: str | None = None
    event_time: dt.datetime | None = None
    partition_key: str | None = None
    position: Any = None
    change: Change | None = None
    on_ack: Callable[[], None] | None = field(default=None, repr=False)
    acked: bool = field(default=False, repr=False)

    def ack(self) -> None:
        """Tell the source this record is durably done; later calls do nothing."""
        if self.acked:
            return
        self.acked = True
        if self.on_ack is not None:
            self.on_ack()


@dataclass(frozen=True, slots=True)
class Poison:
    """The value of a record its source could not decode (a malformed line, a bad payload).

    Sources yield such records in place, so they keep their position and order; the runtime
    sends them to the dead-letter path (kind ``decode``) and acks them, and never applies them.
    ``raw`` keeps the undecodable bytes or text for the dead letter.
    """

    error: str
    raw: bytes | str | None = None


# --------------------------------------------------------------------------- event ids

_HEX24 = re.compile(r"[0-9a-f]{24}")
_INT = re.compile(r"-?[0-9]+")
_TAG = "~"


def render_id(value: Any) -> str:
    """Render a document id so that distinct ids never collide (SPEC §1 **(fix)**).

    ObjectId (or ``{"$oid": ...}``) ⇒ its 24 hex chars; ``str`` ⇒ as is; ``int`` ⇒ decimal.
    Every other type carries a ``~type:`` tag (``~uuid:<hex>``, ``~bin:<hex>``, ``~dec:<text>``,
    ``~json:<canonical JSON>``), and a string that could be read as another type's rendering
    (24 hex chars, an integer, or a leading ``~``) is written ``~s:<string>``. So int 5 is ``5``
    and str "5" is ``~s:5``. Extended-JSON forms (as Debezium emits them) render like the
    native BSON values they stand for, so a scan and a CDC stream agree on ids.
    """
    if isinstance(value, _OidText) or type(value).__name__ == "ObjectId":
        return str(value).lower()
    if isinstance(value, str):
        if value.startswith(_TAG) or _HEX24.fullmatch(value) or _INT.fullmatch(value):
            return f"{_TAG}s:{value}"
        return value
    if isinstance(value, bool):
        return f"{_TAG}json:{_canonical_json(value)}"
    if isinstance(value, int):
        return str(int(value))
    type_name = type(value).__name__
    if isinstance(value, uuid.UUID):
        return f"{_TAG}uuid:{value.hex}"
    if type_name == "Binary" or isinstance(value, _SubtypedBinary):
        subtype = int(getattr(value, "subtype", 0))
        if subtype in (3, 4) and len(bytes(value)) == 16:
            return f"{_TAG}uuid:{bytes(value).hex()}"
        if subtype:  # other subtypes are other values: keep them apart from plain binary
            return f"{_TAG}bin{subtype}:{bytes(value).hex()}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"{_TAG}bin:{bytes(value).hex()}"
    if type_name == "Decimal128" or isinstance(value, Decimal):
        return f"{_TAG}dec:{value}"
    if isinstance(value, Mapping):
        ext = _from_extended_json(value)
        if ext is not _NOT_EXTENDED:
            return render_id(ext)
    return f"{_TAG}json:{_canonical_json(value)}"


_NOT_EXTENDED = object()


def _from_extended_json(doc: Mapping[str, Any]) -> Any:
    """The scalar an extended-JSON wrapper stands for, or ``_NOT_EXTENDED``."""
    if len(doc) != 1:
        return _NOT_EXTENDED
    ((tag, inner),) = doc.items()
    if tag == "$oid" and isinstance(inner, str):
        return _OidText(inner.lower())
    if tag in ("$numberInt", "$numberLong") and isinstance(inner, str):
        return int(inner)
    if tag == "$numberDecimal" and isinstance(inner, str):
        return Decimal(inner)
    if tag == "$uuid" and isinstance(inner, str):
        return uuid.UUID(inner)
    if tag == "$binary" and isinstance(inner, Mapping):
        raw = base64.b64decode(str(inner.get("base64", "")))
        subtype = int(str(inner.get("subType", "00")), 16)
        if subtype in (3, 4) and len(raw) == 16:
            return uuid.UUID(bytes=raw)
        return _SubtypedBinary(raw, subtype) if subtype else raw
    return _NOT_EXTENDED


class _OidText(str):
    """An ObjectId known only by its extended-JSON hex text: renders like a real ObjectId."""


class _SubtypedBinary(bytes):
    """Binary of a non-zero subtype from extended JSON: renders like BSON's ``Binary``."""

    def __new__(cls, data: bytes, subtype: int) -> _SubtypedBinary:
        obj = super().__new__(cls, data)
        obj.subtype = subtype  # type: ignore[attr-defined]
        return obj


def _canonical_json(value: Any) -> str:
    # Field order is kept: MongoDB compares embedded documents (compound _ids) field by field.
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    """Canonical extended JSON for values json cannot take as they are."""
    type_name = type(value).__name__
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if type_name == "ObjectId":
        return {"$oid": str(value)}
    if isinstance(value, dt.datetime):
        return {"$date": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"$uuid": value.hex}
    if isinstance(value, (bytes, bytearray)):
        return {"$binary": bytes(value).hex(), "subType": int(getattr(value, "subtype", 0))}
    if isinstance(value, Decimal) or type_name == "Decimal128":
        return {"$numberDecimal": str(value)}
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def document_event_id(namespace: str, doc_id: Any, change_position: str | None = None) -> str:
    """``<namespace>/<id>`` for a snapshot read or an insert; ``…@<position>`` for later changes.

    One logical change gets one id in every mode (SPEC §1), so a document seen by the scan and
    by the insert event of the stream is counted once.
    """
    base = f"{namespace}/{render_id(doc_id)}"
    return base if change_position is None else f"{base}@{change_position}"


# --------------------------------------------------------------------------- handoff

HANDOFF_FORMAT = 1


@dataclass(frozen=True)
class HandoffToken:
    """Where live mode continues after a bootstrap, captured *before* the scan.

    ``token`` is opaque to the core (a Mongo resume token, say) and JSON-serialisable; it is
    ``None`` for sources that have no continuation (a JSON-Lines file). ``live`` holds what
    the chosen live source reported from ``capture_position()`` (Kafka end offsets), keyed as
    ``{"source": name, "position": ...}``.
    """

    source: str
    token: Any
    captured_at: dt.datetime
    live: Mapping[str, Any] | None = None

    def with_live(self, source: str, position: Any) -> HandoffToken:
        return HandoffToken(self.source, self.token, self.captured_at, {"source": source, "position": position})

    def to_json(self) -> dict[str, Any]:
        return {
            "murmur_handoff": HANDOFF_FORMAT,
            "source": self.source,
            "token": self.token,
            "captured_at": self.captured_at.isoformat(),
            "live": dict(self.live) if self.live is not None else None,
        }

    @classmethod
    def from_json(cls, doc: Any, *, origin: str = "handoff") -> HandoffToken:
        if not isinstance(doc, Mapping) or doc.get("murmur_handoff") != HANDOFF_FORMAT:
            raise HandoffError(f"{origin}: not a Murmur handoff file (no 'murmur_handoff: {HANDOFF_FORMAT}')")
        try:
            captured = dt.datetime.fromisoformat(str(doc["captured_at"]))
            source = str(doc["source"])
        except (KeyError, ValueError) as exc:
            raise HandoffError(f"{origin}: malformed handoff ({exc})") from None
        live = doc.get("live")
        if live is not None and not isinstance(live, Mapping):
            raise HandoffError(f"{origin}: 'live' must be an object")
        return cls(source, doc.get("token"), captured, live)

    def write(self, path: str | Path) -> None:
        """Write atomically: a crash never leaves half a handoff file."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(target)

    @classmethod
    def read(cls, path: str | Path) -> HandoffToken:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise HandoffError(f"{path}: cannot read handoff file ({exc.strerror})") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HandoffError(f"{path}:{exc.lineno}: handoff file is not JSON ({exc.msg})") from None
        return cls.from_json(doc, origin=str(path))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
