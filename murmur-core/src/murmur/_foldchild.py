"""The fold helper process: folds the blocks it is handed into deltas of its own (see ``_foldahead``).

Run as ``python -c "from murmur._foldchild import main; main()"`` with the shared memory's file
descriptor kept open. It imports msgspec and ``murmur._foldcode`` only, so it is ready in a few tens
of milliseconds. The protocol, on its standard input and output (both binary, little endian):

- in: ``<Q`` length, then a pickle of ``(keys, value, kind, fd, size)`` (a plan's ``spec``, the
  shared memory's descriptor and size); out: ``b"R"`` once the decoder is built.
- in: ``b"F"`` and ``<QQ`` (offset, length): fold those bytes of the shared memory, which hold whole
  JSON lines. Out: ``<q`` the rows folded, or ``-1`` if the typed decode refused the block, in which
  case nothing of it was folded and the parent folds it itself (dead letters are the parent's).
- in: ``b"D"``: out ``<Q`` length and a pickle of the deltas folded since the last ``D``, then
  forget them. Pickle keeps integers exact at any size.
- end of input: exit. SIGINT and SIGTERM are ignored: the parent decides when its helper ends.
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import struct
import sys

from murmur._foldcode import compile_fold

__all__ = ["main"]

_LEN = struct.Struct("<Q")
_RANGE = struct.Struct("<QQ")
_COUNT = struct.Struct("<q")


def _read(fd: int, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main() -> None:
    # Ctrl-C reaches the whole process group, and a service manager's stop the whole group too: the
    # parent stops gracefully and then closes our input, which is when this process ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    inp, out = sys.stdin.fileno(), sys.stdout.fileno()
    try:
        (n,) = _LEN.unpack(_read(inp, _LEN.size))
        keys, value, kind, fd, size = pickle.loads(_read(inp, n))
        decoder, fold = compile_fold(keys, value, kind)
        shared = memoryview(mmap.mmap(fd, size, access=mmap.ACCESS_READ))
        _write(out, b"R")
        writes: dict[str, object] = {}
        while True:
            op = _read(inp, 1)
            if op == b"F":
                offset, length = _RANGE.unpack(_read(inp, _RANGE.size))
                try:
                    rows = decoder.decode_lines(shared[offset : offset + length])
                except Exception:  # the parent redoes the block line by line, dead letters and all
                    _write(out, _COUNT.pack(-1))
                    continue
                fold(rows, writes)  # typed rows into number deltas: cannot fail for sum or count
                _write(out, _COUNT.pack(len(rows)))
            elif op == b"D":
                data = pickle.dumps(writes, protocol=pickle.HIGHEST_PROTOCOL)
                writes = {}
                _write(out, _LEN.pack(len(data)) + data)
            else:
                raise ValueError(f"unknown request {op!r}")
    except EOFError:  # the parent closed the pipe, or died: nothing is lost that it did not merge
        return


if __name__ == "__main__":
    main()
