"""An example third-party live source, written from the ``LiveSource`` docstring and the contract
suite alone: it follows an append-only JSON-lines file, one record per complete line.

Like a change stream, it does not commit anything itself: ``checkpoint()`` returns the byte
offset through which every record is acked, and the live runtime keeps it in the store and
gives it back to ``start()``. A bootstrap hands off with ``capture_position()`` (the offset of
the file's end). Poison lines (not JSON, or not an object) come out in place as
:class:`murmur.Poison` records; ``dead_letter`` appends them, with their reason, to a file of
their own and syncs it before returning.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from murmur import ContiguousAcks, HandoffToken, Poison, Record

__all__ = ["JsonLinesTail"]

#: How often an idle ``poll`` looks at the file again.
IDLE_SLEEP = 0.02


class JsonLinesTail:
    """Records of the complete lines of ``path`` after the start position, as they are appended."""

    name = "jsonl-tail"
    default_mode = "append"

    def __init__(self, path: str | Path, *, dead_letters: str | Path | None = None) -> None:
        self.path = Path(path)
        self.dead_letters = Path(dead_letters) if dead_letters is not None else None
        self._acks = ContiguousAcks()
        self._ends: dict[int, int] = {}  # line number ⇒ the byte offset after it
        self._lock = threading.Lock()
        self._offset = 0  # where the next poll reads
        self._line = 0
        self._start = 0
        self._started = False

    def capture_position(self) -> dict[str, int]:
        return {"offset": self._complete(self.path.stat().st_size if self.path.exists() else 0)}

    def start(self, handoff: HandoffToken | None, checkpoint: Any | None) -> None:
        if checkpoint is not None:
            offset = int(checkpoint["offset"])
        elif handoff is not None and handoff.live and handoff.live.get("source") == self.name:
            offset = int(handoff.live["position"]["offset"])
        else:
            offset = 0
        self._offset = self._start = offset
        self._acks.reset(0, 0)
        self._started = True

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        if not self._started:
            raise RuntimeError("jsonl-tail: start() was not called")
        if max_records <= 0:  # a keep-alive poll: a file needs none
            return []
        deadline = time.monotonic() + timeout
        while True:
            out = self._read(max_records)
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(min(IDLE_SLEEP, max(0.0, deadline - time.monotonic())))

    def _read(self, max_records: int) -> list[Record]:
        if not self.path.exists():
            return []
        out: list[Record] = []
        with self.path.open("rb") as f:
            f.seek(self._offset)
            while len(out) < max_records:
                raw = f.readline()
                if not raw.endswith(b"\n"):  # not written completely yet: read it next time
                    break
                begin, self._offset = self._offset, self._offset + len(raw)
                out.append(self._record(raw, begin, self._offset))
        return out

    def _record(self, raw: bytes, begin: int, end: int) -> Record:
        line = self._line
        self._line += 1
        with self._lock:
            self._ends[line] = end
        self._acks.track(0, line)
        try:
            value: Any = json.loads(raw)
            if not isinstance(value, dict):
                value = Poison(f"line at byte {begin}: expected a JSON object", raw)
        except ValueError as exc:
            value = Poison(f"line at byte {begin}: not JSON ({exc})", raw)
        return Record(
            value,
            event_id=f"{self.path.name}:{begin}",
            position={"offset": end},
            on_ack=lambda: self._acks.ack(0, line),
        )

    def checkpoint(self) -> dict[str, int]:
        upto = self._acks.committable(0)  # one past the last line of the acked prefix
        with self._lock:
            end = self._ends.get(upto - 1) if upto else None
            for done in [n for n in self._ends if upto is not None and n < upto - 1]:
                del self._ends[done]
        return {"offset": end if end is not None else self._start}

    def dead_letter(self, record: Record, error: BaseException | str, kind: str) -> None:
        if self.dead_letters is None:
            raise RuntimeError("jsonl-tail: no dead_letters file configured")
        raw = record.value.raw if isinstance(record.value, Poison) else json.dumps(record.value, default=str)
        letter = {
            "event_id": record.event_id,
            "error": error if isinstance(error, str) else f"{type(error).__name__}: {error}",
            "kind": kind,
            "raw": raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw,
        }
        with self.dead_letters.open("a", encoding="utf-8") as f:
            f.write(json.dumps(letter) + "\n")
            f.flush()
            os.fsync(f.fileno())  # durable before the runtime acks the record

    def stats(self) -> dict[str, Any]:
        size = self.path.stat().st_size if self.path.exists() else 0
        return {"offset": self._offset, "lag_bytes": max(0, size - self._offset)}

    def close(self) -> None:
        self._started = False

    def _complete(self, size: int) -> int:
        """The offset after the last complete line within ``size`` bytes."""
        if size == 0:
            return 0
        with self.path.open("rb") as f:
            f.seek(max(0, size - 65536))
            tail = f.read(size - f.tell())
        cut = tail.rfind(b"\n")
        return size - len(tail) + cut + 1 if cut >= 0 else 0
