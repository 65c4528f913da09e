"""The ``jsonl`` snapshot source: JSON Lines from a file, a glob, ``.gz`` files, or ``-`` (stdin).

- Hands over blocks of ``block_size`` bytes (2 MiB) cut at a newline (``scan_batches``), so a
  field-path pipeline decodes a whole block in one call; ``scan`` gives the per-record view.
- Event id ``<path>:<line>`` (absolute path, 1-based line), stable across runs.
- Position ``[path, byte offset after the line, line]``: a resume seeks straight past what was done.
- Values keep integers exact at any size (msgspec; orjson would turn 10**30 into a float).
- A line that is not JSON becomes ``Record(Poison(...))`` whose error names ``file:line``.
- Several files can be split into segments (files dealt round-robin by name; with more
  segments than files some are empty); one file or stdin cannot.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
import struct
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import msgspec

from murmur._batch import Batch
from murmur._errors import ConfigError, SourceError
from murmur._protocols import Mode
from murmur._records import HandoffToken, Poison, Record, utcnow

__all__ = ["BLOCK_SIZE", "STDIN", "JsonLinesSource", "LinesBatch"]

STDIN = "<stdin>"
#: Bytes read per block: big enough that per-block costs vanish, small enough to stay lean.
BLOCK_SIZE = 2 << 20
_SAMPLE = 1 << 16
#: Untyped decoding keeps integers exact at any size (orjson turns 10**30 into a float).
_DECODER = msgspec.json.Decoder()


class JsonLinesSource:
    """Reads JSON Lines; ``path`` is a file, a glob (``logs/*.jsonl.gz``) or ``-`` for stdin.

    ``scan_batches`` hands over blocks of about ``block_size`` bytes cut at a newline (a line
    longer than that makes a longer block), so a field-path pipeline decodes a whole block in
    one call. ``batch_size``, if given, also caps a block at that many lines; ``scan`` (the
    per-record protocol) yields lists of at most ``batch_size`` (default 2000) records.
    """

    name = "jsonl"
    default_mode: Mode = "append"

    def __init__(
        self, path: str | os.PathLike[str], *, batch_size: int | None = None, block_size: int = BLOCK_SIZE
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"jsonl: batch_size must be at least 1, got {batch_size}", option="batch_size")
        if block_size < 1:
            raise ConfigError(f"jsonl: block_size must be at least 1, got {block_size}", option="block_size")
        self.batch_size = batch_size
        self.block_size = block_size
        self.path = os.fspath(path)
        self.files = [STDIN] if self.path == "-" else _expand(self.path)
        #: What this source reads, for "… is empty or does not exist" warnings.
        self.what = "standard input" if self.path == "-" else f"file {self.path}"
        #: Plain local files only (no pipe, no gzip): reading is quick, so a bootstrap whose fold
        #: helper shares the work reads on its main thread rather than on a reading thread.
        self.local_reads = all(f != STDIN and not f.endswith(".gz") for f in self.files)

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

    def scan_batches(self, segment: Any, after: Any | None) -> Iterator[Batch]:
        """Blocks of whole lines; each batch's ``end`` is ``[path, byte offset, last line]``."""
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
                yield from self._blocks(files[i], offset, line)
            else:
                yield from self._blocks(files[i], 0, 0)

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        size = self.batch_size or 2000
        for batch in self.scan_batches(segment, after):
            records = list(batch.records())
            for i in range(0, len(records), size):
                yield records[i : i + size]

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ reading

    def _blocks(self, path: str, offset: int, line: int) -> Iterator[Batch]:
        try:
            fh = _open(path)
        except OSError as exc:
            raise SourceError(f"jsonl: cannot open {path}: {exc.strerror or exc}") from exc
        # A pipe hands over what has arrived (read1), so a slow writer's lines are not held back.
        read = fh.read1 if path == STDIN else fh.read  # type: ignore[attr-defined]
        size, cap = self.block_size, self.batch_size
        rest = b""
        try:
            if offset:
                _skip(fh, path, offset)
            if cap is None and isinstance(fh, io.FileIO):  # a plain file: the copy-free reader
                yield from _file_blocks(fh, path, size, offset, line)
                return
            while True:
                # A line longer than a block is read in growing chunks: linear, not quadratic.
                chunk = read(max(size, len(rest)))
                data = rest + chunk if rest else chunk
                if not chunk:  # end of file: a last line without a newline is still a line
                    if data:
                        yield LinesBatch(path, data, offset, line + 1)
                    return
                cut = data.rfind(b"\n") + 1
                if not cut:  # one line longer than a block: read on until it ends
                    rest = data
                    continue
                if cap is not None:
                    cut = _cut_lines(data, cut, cap)
                block, rest = data[:cut], data[cut:]
                batch = LinesBatch(path, block, offset, line + 1)
                offset += cut
                line += batch.lines
                yield batch
                while cap is not None and rest.count(b"\n") >= cap:  # a block held several capped batches
                    cut = _cut_lines(rest, len(rest), cap)
                    batch = LinesBatch(path, rest[:cut], offset, line + 1)
                    rest = rest[cut:]
                    offset += cut
                    line += batch.lines
                    yield batch
        except (OSError, EOFError) as exc:
            raise SourceError(f"jsonl: error reading {path} after line {line}: {exc}") from exc
        finally:
            if fh is not sys.stdin.buffer:
                fh.close()


class LinesBatch(Batch):
    """A block of whole lines of one file: decoded in one call by field-path pipelines.

    Records (built only on the general path) have event id ``<path>:<line>`` and position
    ``(path, byte offset after the line, line)``; an invalid line is ``Record(Poison(...))``
    whose error names ``file:line``. Values keep integers exact at any size (msgspec).
    """

    __slots__ = ("_starts", "first_line", "lines", "path", "start")

    def __init__(self, path: str, block: bytes | memoryview, start: int, first_line: int, lines: int = -1) -> None:
        if lines < 0:
            data = bytes(block)
            lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        super().__init__(lines, (path, start + len(block), first_line + lines - 1), block=block)
        self.path = path
        self.start = start
        self.first_line = first_line
        self.lines = lines
        self._starts: list[int] | None = None

    def records(self) -> list[Record]:
        if self._records is not None:
            return list(self._records)
        decode, invalid = _DECODER.decode, msgspec.DecodeError
        path, offset = self.path, self.start
        prefix = path + ":"
        out: list[Record] = []
        append = out.append
        assert self.block is not None
        raws = bytes(self.block).split(b"\n")
        if raws and not raws[-1]:
            raws.pop()  # the block ends with a newline
        for number, raw in enumerate(raws, self.first_line):
            offset += len(raw) + 1
            if not raw.strip():
                continue  # blank lines carry nothing
            try:
                value = decode(raw)
            except invalid as exc:
                value = Poison(f"{path}:{number}: invalid JSON ({exc})", raw.rstrip(b"\r"))
            append(Record(value, f"{prefix}{number}", None, None, (path, min(offset, self.end[1]), number)))
        self.size = len(out)
        self._records = out
        return out

    def poison(self, index: int, reason: str) -> Record:
        """Line ``index`` of the block (0-based), which failed to decode for ``reason``."""
        assert self.block is not None
        block = bytes(self.block)  # (a view of the file's buffer: bad lines are rare)
        if self._starts is None:  # bad lines are rare: find line starts once, on the first
            starts, pos = [0], block.find(b"\n")
            while pos >= 0:
                starts.append(pos + 1)
                pos = block.find(b"\n", pos + 1)
            self._starts = starts
        start = self._starts[index]
        stop = self._starts[index + 1] if index + 1 < len(self._starts) else len(block)
        number = self.first_line + index
        return Record(
            Poison(f"{self.path}:{number}: {reason}", block[start:stop].rstrip(b"\r\n")),
            f"{self.path}:{number}",
            None,
            None,
            (self.path, self.start + stop, number),
        )


def _file_blocks(fh: io.FileIO, path: str, size: int, offset: int, line: int) -> Iterator[Batch]:
    """Blocks of whole lines of a plain file, each read straight into its own buffer: the block is a
    view of it, so a line's bytes are copied once (from the kernel), and only a block's last, partial
    line is carried over. Lines are counted here, once: the position names the last line."""
    rest = b""
    while True:
        buf = bytearray(len(rest) + max(size, len(rest)))  # a line longer than a block: read on, doubling
        buf[: len(rest)] = rest
        view = memoryview(buf)
        got = fh.readinto(view[len(rest) :]) or 0
        have = len(rest) + got
        if not got:  # end of file: a last line without a newline is still a line
            if have:
                yield LinesBatch(path, view[:have], offset, line + 1, lines=buf.count(b"\n", 0, have) + 1)
            return
        cut = buf.rfind(b"\n", 0, have) + 1
        if not cut:
            rest = bytes(view[:have])
            continue
        lines = buf.count(b"\n", 0, cut)
        yield LinesBatch(path, view[:cut], offset, line + 1, lines=lines)
        rest = bytes(view[cut:have])
        offset += cut
        line += lines


def _cut_lines(data: bytes, limit: int, lines: int) -> int:
    """Where the first ``lines`` lines of ``data[:limit]`` end (``limit`` if it has fewer)."""
    pos = 0
    for _ in range(lines):
        nl = data.find(b"\n", pos, limit)
        if nl < 0:
            return limit
        pos = nl + 1
    return pos


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
    return open(path, "rb", buffering=0)  # (blocks are read whole: a buffer would be one more copy)


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
