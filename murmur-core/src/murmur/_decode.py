"""Block decoding: a field-path pipeline reads a whole batch in one call, without records.

A :class:`FieldPlan` is what a pipeline whose keys and value are plain field paths (what the
CLI builds: ``--key user`` or ``--keys a,b``, templates such as ``country:{country}``, constants
``=all``; ``--value amount``; ``--monoid sum|count|min|max``) needs from a JSON document:
msgspec decodes a batch's ``block`` (or each of its ``payloads``) straight into a struct of just
those fields, typed (key fields ``str | int | float``, value ``int | float``; integers exact at
any size, booleans, ``NaN`` and out-of-range numbers refused), and a loop generated for the
pipeline folds the rows into a plain dict of deltas per rendered key.

Where the typed decode refuses a block, the block is redone line by line, and a line the
typed decode refuses is handed to the general path (``Pipeline.extract`` over the untyped
document), which either accepts it (a string for ``min``, say) or says why not — so a bad
line's dead-letter reason is the same on both paths, and good lines of the block still count.

Pipelines with callables, list indexes in paths, windows, event times or a ``decode`` step,
other monoids, changelog mode, and runs with a deduper (claims per event id) take the general
path. One difference is intended: a field the pipeline does not read is not decoded, so a
number beyond the float range there does not make the document a dead letter.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from murmur._batch import Batch
from murmur._errors import DecodeError, FieldError, PermanentError
from murmur._foldcode import FOLDS as _FOLDS
from murmur._foldcode import KeySpec as _KeySpec
from murmur._foldcode import Path as _Path
from murmur._foldcode import compile_fold
from murmur._pipeline import Mode, Pipeline

__all__ = ["Bad", "FieldPlan", "Folded"]

_PLAIN = re.compile(r"[^.{}=]+(\.[^.{}=]+)*")
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")  # as Pipeline's templates
_UNTYPED = msgspec.json.Decoder()

#: A document the plan could not fold: its index, why, and its decoded value (``None`` if not JSON).
Bad = tuple[int, PermanentError, Any]
#: What a plan reports per batch: records read, and each bad one.
Folded = tuple[int, list[Bad]]


class FieldPlan:
    """The typed decoder and fold loop of one field-path pipeline (see the module docstring)."""

    def __init__(self, pipeline: Pipeline, keys: list[_KeySpec], value: _Path | None, kind: str) -> None:
        assert pipeline.monoid is not None
        self.pipeline = pipeline
        self.kind = kind
        self.combine = pipeline.monoid.combine
        #: What the fold helper process needs to build the same decoder and loop (``_foldchild``).
        self.spec = (keys, value, kind)
        self.decoder, self._fold_rows = compile_fold(keys, value, kind)

    @classmethod
    def of(cls, pipeline: Pipeline, mode: Mode) -> FieldPlan | None:
        """The plan for ``pipeline``, or ``None`` when it must take the general path."""
        monoid = pipeline.monoid
        if monoid is None or monoid.kind not in _FOLDS or mode != "append":
            return None
        if pipeline.window or pipeline.event_time or pipeline.decode:
            return None
        specs = [pipeline.key] if pipeline.key is not None else pipeline.keys
        if not isinstance(specs, (list, tuple)) or not specs or not all(isinstance(k, str) for k in specs):
            return None  # callables
        keys: list[_KeySpec] = []
        for text in specs:
            spec = _key_spec(str(text))
            if spec is None:
                return None
            keys.append(spec)
        value: _Path | None = None
        if monoid.kind != "count":
            value = _path(pipeline.value) if isinstance(pipeline.value, str) else None
            if value is None:
                return None
            if any(path == value for spec in keys for _, path in spec):
                return None  # one field as key and value: the general path sorts out its types
        return cls(pipeline, keys, value, monoid.kind)

    def fold(self, batch: Batch, writes: dict[str, Any]) -> Folded:
        """Fold ``batch`` into ``writes`` (rendered key ⇒ delta); return (records, bad ones)."""
        if batch.block is not None:
            try:
                rows = self.decoder.decode_lines(batch.block)
            except msgspec.MsgspecError:
                return self._by_line(batch.block, writes)
            try:
                self._fold_rows(rows, writes)
            except TypeError:  # min/max meeting a string kept by the general path: redo (idempotent)
                return self._by_line(batch.block, writes)
            return len(rows), []
        if batch.payloads is not None:
            return self._by_payload(batch.payloads, writes)
        raise TypeError("FieldPlan.fold needs a batch with a block or payloads")

    # ------------------------------------------------------------------ one at a time

    def _by_line(self, block: bytes | memoryview, writes: dict[str, Any]) -> Folded:
        lines = bytes(block).split(b"\n")  # (a block may be a view of a file's buffer)
        if lines and not lines[-1]:
            lines.pop()
        return self._each(lines, writes)

    def _by_payload(self, payloads: Any, writes: dict[str, Any]) -> Folded:
        decode, invalid = self.decoder.decode, msgspec.MsgspecError
        try:  # the common case: every payload decodes
            rows = [decode(p) for p in payloads if p is not None]
        except invalid:
            return self._each(payloads, writes)
        try:
            self._fold_rows(rows, writes)
        except TypeError:  # as in fold(): only min/max can meet this, and redoing them is idempotent
            return self._each(payloads, writes)
        return len(rows), []

    def _each(self, docs: Any, writes: dict[str, Any]) -> Folded:
        decode, invalid = self.decoder.decode, msgspec.MsgspecError
        fold_rows = self._fold_rows
        count = 0
        bad: list[Bad] = []
        for index, raw in enumerate(docs):
            if raw is None or not raw.strip():
                continue  # blank lines and tombstones are not records
            count += 1
            try:
                fold_rows([decode(raw)], writes)
            except (invalid, TypeError):
                failed = self._general(raw, writes)
                if failed is not None:
                    bad.append((index, failed[0], failed[1]))
        return count, bad

    def _general(self, raw: bytes, writes: dict[str, Any]) -> tuple[PermanentError, Any] | None:
        """The general path's verdict on one document the typed decode refused: ``None`` if
        it folded after all, else why not and the decoded value (``None``: not JSON)."""
        try:
            value = _UNTYPED.decode(raw)
        except msgspec.MsgspecError as exc:
            return DecodeError(f"invalid JSON ({exc})"), None
        try:
            keys, element = self.pipeline.extract(value, None)
        except PermanentError as exc:
            return exc, value
        except Exception as exc:  # a monoid refusing the value: the record is poison
            return FieldError(f"{type(exc).__name__}: {exc}"), value
        combine = self.combine
        for key in keys:
            name = key.entity
            try:
                writes[name] = combine(writes[name], element) if name in writes else element
            except (TypeError, FieldError) as exc:  # min of a string and a number, say
                return FieldError(f"{self.kind}: {exc}"), value
        return None


def _path(text: str) -> _Path | None:
    """A plain dotted field path (no list indexes, templates or constants), split; else ``None``."""
    if not _PLAIN.fullmatch(text):
        return None
    parts = tuple(text.split("."))
    return None if any(p.isdigit() for p in parts) else parts


def _key_spec(spec: str) -> _KeySpec | None:
    """A key spec as parts ``(literal, None)`` / ``("", field path)``: a field, ``=constant`` or template."""
    if spec.startswith("="):
        return [(spec[1:], None)]
    if "{" not in spec and "}" not in spec:
        path = _path(spec)
        return None if path is None else [("", path)]
    parts: _KeySpec = []
    pos = 0
    for match in _TEMPLATE_FIELD.finditer(spec):
        path = _path(match.group(1).strip())
        if path is None:
            return None
        if match.start() > pos:
            parts.append((spec[pos : match.start()], None))
        parts.append(("", path))
        pos = match.end()
    if pos < len(spec):
        parts.append((spec[pos:], None))
    literal = "".join(text for text, path in parts if path is None)
    return None if "{" in literal or "}" in literal else parts
