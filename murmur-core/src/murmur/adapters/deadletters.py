"""A dead-letter sink that appends JSON Lines to a file, created only when the first letter arrives.

One object per letter: ``time``, ``pipeline``, ``source``, ``kind`` (decode|apply), ``error``,
``event_id``, ``position``, and ``raw`` (text of an undecodable payload; ``raw_base64`` when it
is not UTF-8) or ``value`` (the decoded record that could not be applied).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import threading
from pathlib import Path
from typing import IO, Any

import msgspec

from murmur._protocols import DeadLetter
from murmur._records import Poison

__all__ = ["JsonLinesDeadLetters"]


class JsonLinesDeadLetters:
    """Appends each letter to ``path`` and flushes before ``write`` returns; thread-safe."""

    def __init__(self, path: str | os.PathLike[str], *, pipeline: str | None = None) -> None:
        self.path = Path(path)
        self.pipeline = pipeline
        self.count = 0
        self._fh: IO[bytes] | None = None
        self._lock = threading.Lock()

    def write(self, letter: DeadLetter) -> None:
        record = letter.record
        doc: dict[str, Any] = {
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "pipeline": self.pipeline,
            "source": letter.source,
            "kind": letter.kind,
            "error": letter.error,
            "event_id": record.event_id,
            "position": record.position,
        }
        value = record.value
        if isinstance(value, Poison):
            raw = value.raw
            if isinstance(raw, bytes):
                try:
                    doc["raw"] = raw.decode("utf-8")
                except UnicodeDecodeError:
                    doc["raw_base64"] = base64.b64encode(raw).decode("ascii")
            else:
                doc["raw"] = raw
        else:
            doc["value"] = value
        # (msgspec: a dead letter's value may hold an integer past 64 bits, which orjson refuses)
        line = _ENCODER.encode(doc) + b"\n"
        with self._lock:
            if self._fh is None:
                self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open until close()
            self._fh.write(line)
            self._fh.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                os.fsync(self._fh.fileno())
                self._fh.close()
                self._fh = None


def _fallback(value: Any) -> Any:
    """What msgspec cannot encode itself (sets, tuples, bytes and Decimal it can)."""
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)  # ObjectId, ...: readable beats lossless here


_ENCODER = msgspec.json.Encoder(enc_hook=_fallback)
