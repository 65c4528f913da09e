"""The ``jsonl`` snapshot source: JSON Lines from a file, a glob, ``.gz`` files, or ``-`` (stdin).

- Event id ``<path>:<line>`` (absolute path, 1-based line), stable across runs.
- Position ``[path, byte offset after the line, line]``: a resume seeks straight past what was done.
- A line that is not JSON becomes ``Record(Poison(...))`` whose error names ``file:line``.
- Several files can be split into segments (files dealt round-robin by name; with more
  segments than files some are empty); one file or stdin cannot.
"""

from __future__ import annotations

import glob
import gzip
import os
import struct
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import orjson

from murmur._errors import ConfigError, SourceError
from murmur._protocols import Mode
from murmur._records import HandoffToken, Poison, Record, utcnow

STDIN = "<stdin>"
_SAMPLE = 1 << 16


class JsonLinesSource:
    """Reads JSON Lines; ``path`` is a file, a glob (``logs/*.jsonl.gz``) or ``-`` for stdin."""

    name = "jsonl"
    default_mode: Mode = "append"

    def __init__(self, path: str | os.PathLike[str], *, batch_size: int = 2000) -> None:
        if batch_size < 1:
            raise ConfigError(f"jsonl: batch_size must be at least 1, got {batch_size}", option="batch_size")
        self.batch_size = batch_size
        self.path = os.fspath(path)
        self.files = [STDIN] if self.path == "-" else _expand(self.path)
        #: What this source reads, for "… is empty or does not exist" warnings.
        self.what = "standard input" if self.path == "-" else f"file {self.path}"

    # ------------------------------------------------------------------ SnapshotSource

    def capture_handoff(self) -> HandoffToken:
        return HandoffToken(self.name, None, utcnow())  # a file has no continuation

    def segments(self, count: int) -> Sequence[Any]:
        if count == 1:
            return [None]
        if self.files == [STDIN] or len(self.files) == 1:
            raise ConfigError(
                f"jsonl: {self.path!r} is a single stream and cannot be split into {count} segments"
                " (only a glob over several files can)",
                option="segments",
            )
        return [self.files[i::count] for i in range(count)]

    def estimated_total(self, segment: Any | None = None) -> int | None:
        files = self.files if segment is None else list(segment)
        if STDIN in files:
            return None
        return sum(_estimate_lines(f) for f in files)

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        files = self.files if segment is None else [str(f) for f in segment]
        start, offset, line = 0, 0, 0
        if after is not None:
            done_file, offset, line = str(after[0]), int(after[1]), int(after[2])
            if done_file not in files:
                raise SourceError(
                    f"jsonl: cannot resume: the checkpoint names {done_file}, which {self.path!r} no longer"
                    " matches (run with --restart to start over)"
                )
            start = files.index(done_file)
        for i in range(start, len(files)):
            if i == start:
                yield from self._scan_file(files[i], offset, line)
            else:
                yield from self._scan_file(files[i], 0, 0)

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ reading

    def _scan_file(self, path: str, offset: int, line: int) -> Iterator[list[Record]]:
        try:
            fh = _open(path)
        except OSError as exc:
            raise SourceError(f"jsonl: cannot open {path}: {exc.strerror or exc}") from exc
        loads, invalid, size = orjson.loads, orjson.JSONDecodeError, self.batch_size
        prefix = path + ":"
        batch: list[Record] = []
        append = batch.append
        try:
            if offset:
                _skip(fh, path, offset)
            # The hot path: one loads() and one Record per line, nothing else.
            for line, raw in enumerate(fh, line + 1):  # noqa: B020 - line continues from the checkpoint
                offset += len(raw)
                try:
                    value = loads(raw)
                except invalid as exc:
                    if not raw.strip():
                        continue  # blank lines carry nothing
                    value = Poison(
                        f"{path}:{line}: invalid JSON ({exc.msg} at column {exc.colno})", raw.rstrip(b"\r\n")
                    )
                append(Record(value, f"{prefix}{line}", None, None, (path, offset, line)))
                if len(batch) >= size:
                    yield batch
                    batch = []
                    append = batch.append
        except (OSError, EOFError) as exc:
            raise SourceError(f"jsonl: error reading {path} after line {line}: {exc}") from exc
        finally:
            if fh is not sys.stdin.buffer:
                fh.close()
        if batch:
            yield batch


def _expand(pattern: str) -> list[str]:
    """The absolute paths a file name or glob names, sorted; a ConfigError if there are none."""
    expanded = os.path.expanduser(pattern)
    if any(c in expanded for c in "*?["):
        files = sorted(os.path.abspath(f) for f in glob.glob(expanded, recursive=True) if os.path.isfile(f))
        if not files:
            raise ConfigError(f"jsonl: no file matches path {pattern!r}", option="path")
        return files
    if not os.path.exists(expanded):
        raise ConfigError(f"jsonl: path {pattern!r} does not exist", option="path")
    if os.path.isdir(expanded):
        raise ConfigError(
            f"jsonl: path {pattern!r} is a directory (use a glob such as {pattern}/*.jsonl)", option="path"
        )
    return [os.path.abspath(expanded)]


def _open(path: str) -> IO[bytes]:
    if path == STDIN:
        return sys.stdin.buffer
    if path.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb", buffering=1 << 20)


def _skip(fh: IO[bytes], path: str, offset: int) -> None:
    """Move past ``offset`` bytes: seek where possible (files, gzip), read and drop on a pipe."""
    if path != STDIN and not path.endswith(".gz"):
        size = os.fstat(fh.fileno()).st_size
        if offset > size:
            raise SourceError(
                f"jsonl: cannot resume: {path} is now {size} bytes, shorter than the checkpoint ({offset});"
                " the file changed (run with --restart to start over)"
            )
    if fh.seekable():
        fh.seek(offset)
        return
    left = offset
    while left > 0:
        chunk = fh.read(min(left, 1 << 20))
        if not chunk:
            raise SourceError(f"jsonl: cannot resume: {path} ended before the checkpoint offset {offset}")
        left -= len(chunk)


def _estimate_lines(path: str) -> int:
    """Lines in ``path``: exact for small files, else size / mean line length of the first 64 KiB."""
    try:
        raw_size = os.path.getsize(path)
        gz = path.endswith(".gz")
        if gz:
            with open(path, "rb") as fh:
                fh.seek(max(0, raw_size - 4))
                tail = fh.read(4)
            size = struct.unpack("<I", tail)[0] if len(tail) == 4 else 0  # ISIZE: uncompressed size mod 2**32
        else:
            size = raw_size
        with gzip.open(path, "rb") if gz else open(path, "rb") as fh:
            sample = fh.read(_SAMPLE)
    except (OSError, EOFError):
        return 0
    if not sample:
        return 0
    lines = sum(1 for chunk in sample.splitlines() if chunk.strip())
    if len(sample) < _SAMPLE:
        return lines
    return max(1, round(size * max(lines, 1) / len(sample)))
