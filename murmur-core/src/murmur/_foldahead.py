"""A second core for a bootstrap's block path: a helper process folds every other block.

Decoding and folding a block is pure CPU under the GIL (msgspec holds it), so threads cannot
share it; DuckDB and polars read one file with every core. A :class:`FoldHelper` is one child
process (``_foldchild``) that builds the same typed decoder and fold loop from the plan's
``spec``. The segment hands it blocks (up to two at a time, copied into shared memory, ~0.1 ms
for 2 MiB) and folds the others itself meanwhile; it accounts every block (its records in the
count, its end as the checkpoint's position) in the order read, so a block the helper still has
holds back the position of the blocks after it: the applied prefix stays contiguous. The helper
keeps its deltas until the merge, where the segment first waits for every block it handed over,
then drains the deltas into the unit: a unit holds exactly the blocks its checkpoint covers, as
without a helper.

What keeps it exact:
- only ``sum`` and ``count`` plans (number deltas; merging them is ``+``, in any order);
- a block the typed decode refuses comes back untouched (``-1``) and is folded here, line by
  line, with its dead letters: the helper never folds a partial block;
- if the helper dies, the run stops with an error and its checkpoint as last merged (the
  helper's unmerged deltas are lost with it, so nothing after that checkpoint may be merged);
  ``--resume`` continues. A helper that fails to *start* is just not used.

Only on Linux (``os.memfd_create``), for a run of one segment, and unless asked for
(``fold_helper=True``) where a core looks free (``usable``) and, once running, while the segment
goes faster with it than alone (``FoldHelper.helps``).
"""

from __future__ import annotations

import logging
import mmap
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from murmur._batch import Batch
from murmur._decode import Folded
from murmur._errors import MurmurError

__all__ = ["FoldHelper", "usable"]

log = logging.getLogger("murmur")
#: The shared memory: ``SLOTS`` blocks in flight at most, of up to ``SLOT`` bytes (a bigger block
#: is folded here). Two, so the helper has the next block as soon as it is done with one: it
#: then folds about as many blocks as the segment, which also reads the file and merges.
SLOT = 8 << 20
SLOTS = 2
#: Records left to scan (the source's estimate) for which a helper starts with the first block.
AUTO_RECORDS = 200_000
#: Otherwise (``fold_helper=None``, a source that cannot tell, such as a pipe): the bytes of blocks
#: a segment folds alone before it starts one. A small input is done before a helper would be
#: ready (~30-50 ms), so it never pays for one.
AUTO_AFTER = 6 << 20
#: Blocks a segment holds unaccounted behind one the helper has (then it waits for the helper).
HELD = 8
#: Blocks the segment folds itself between two looks at whether the helper speeds it up, and by
#: how much it must (``helps``): its stretch must take under this share of the time alone.
CHECK_EVERY = 2
SPEEDUP = 0.9
#: CPUs the load average must leave idle for a helper to start on its own (``usable``).
IDLE_NEEDED = 0.8
#: Seconds a helper that was asked for (``fold_helper=True``) may take to start.
READY_WAIT = 60.0
_LEN = struct.Struct("<Q")
_RANGE = struct.Struct("<QQ")
_COUNT = struct.Struct("<q")
_CHILD = "from murmur._foldchild import main; main()"


def usable(*, asked: bool = False) -> bool:
    """Whether a helper can run here (shared memory by descriptor) and, unless ``asked`` for,
    looks likely to help: two usable CPUs (affinity, and a cgroup's CPU quota), and a 1-minute
    load average that leaves most of one free. (``FoldHelper.helps`` then checks it does.)"""
    if not hasattr(os, "memfd_create"):
        return False
    if asked:
        return True
    cpus = _cpus()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return cpus >= 2 and load < cpus - IDLE_NEEDED


def _cpus() -> float:
    """CPUs this process may use: its affinity, capped by a cgroup v2 quota (``cpu.max``)."""
    cpus: float = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, int(quota) / int(period))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    return cpus


class FoldHelper:
    """One helper process for one segment's blocks (see the module docstring).

    ``offer(batch)`` hands it a block if it is ready and has room; ``collect()`` returns the
    oldest block handed over with its count, waiting for it (``None``: fold it yourself);
    ``drain(writes)`` adds every delta it folded to ``writes``; ``close()`` ends it.
    """

    def __init__(
        self,
        spec: tuple[Any, ...],
        *,
        wait: bool = False,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self._clock, self._cpu_clock = clock, cpu_clock  # (``helps``: injectable for tests)
        self._wait = wait  # for the first block: the helper was asked for, so it gets every other one
        self._flight: deque[Batch] = deque()  # blocks handed over, oldest first (replies come in order)
        self._slot = 0  # the half of the shared memory the next block goes to
        self._reset_window()  # (the window of ``helps``)
        self._ready = False
        self._broken = False
        fd = os.memfd_create("murmur-fold")
        try:
            os.ftruncate(fd, SLOTS * SLOT)
            self._shared = mmap.mmap(fd, SLOTS * SLOT)
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # (its failures reach the user as the parent's one line; MURMUR_DEBUG=1 shows its own)
                stderr=None if os.environ.get("MURMUR_DEBUG") else subprocess.DEVNULL,
                pass_fds=(fd,),
            )
        finally:
            os.close(fd)  # the mapping and the child's copy keep the memory
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in, self._out = self._proc.stdin.fileno(), self._proc.stdout.fileno()
        hello = pickle.dumps((*spec, fd, SLOTS * SLOT))
        self._send(_LEN.pack(len(hello)) + hello)

    @classmethod
    def start(cls, spec: tuple[Any, ...], *, wait: bool = False, **clocks: Callable[[], float]) -> FoldHelper | None:
        """A helper for a plan's ``spec``, or ``None`` if one cannot be started here. With ``wait``
        the first ``offer`` waits until it is ready (else a block is folded here meanwhile)."""
        try:
            return cls(spec, wait=wait, **clocks)
        except (OSError, MurmurError) as exc:
            log.debug("no fold helper: %s", exc)
            return None

    def fold_here(
        self, fold: Callable[[Batch, dict[str, Any]], Folded], batch: Batch, writes: dict[str, Any]
    ) -> Folded:
        """``fold(batch, writes)`` on the segment's thread, its CPU time noted for ``helps``."""
        cpu = self._cpu_clock()
        try:
            return fold(batch, writes)
        finally:
            self._fold_cpu += self._cpu_clock() - cpu
            self._folds += 1

    def helps(self) -> bool:
        """False once the segment goes no faster with the helper than it would alone.

        Looked at every ``CHECK_EVERY`` blocks the segment folds itself: alone, the last stretch
        would have taken the segment's own CPU time plus one of its folds for each block the
        helper did; it took ``wall``. Where the machine has no core to spare (another job, a
        CPU quota), the two processes share one and ``wall`` is no shorter: then the segment
        folds alone (it drains and closes the helper).
        """
        if self._folds < CHECK_EVERY:
            return True
        wall, cpu = self._clock() - self._wall_mark, self._cpu_clock() - self._cpu_mark
        alone = cpu + self._helped * self._fold_cpu / self._folds
        self._reset_window()
        if wall < SPEEDUP * alone:
            return True
        log.debug("fold helper: %.3fs with it against %.3fs alone: folding alone", wall, alone)
        return False

    def _reset_window(self) -> None:
        self._wall_mark, self._cpu_mark = self._clock(), self._cpu_clock()
        self._fold_cpu, self._folds, self._helped = 0.0, 0, 0

    @property
    def in_flight(self) -> int:
        """Blocks handed over and not yet collected."""
        return len(self._flight)

    def offer(self, batch: Batch) -> bool:
        """Hand ``batch`` (a block) over if the helper is ready and has room; False: fold it yourself."""
        block = batch.block
        if len(self._flight) >= SLOTS or block is None or len(block) > SLOT or not self._is_ready():
            return False
        offset = self._slot * SLOT  # the other slot may still be in use: the helper has its block
        self._shared[offset : offset + len(block)] = block
        self._send(b"F" + _RANGE.pack(offset, len(block)))
        self._slot = (self._slot + 1) % SLOTS
        self._flight.append(batch)
        return True

    def replied(self) -> bool:
        """Whether the oldest block handed over is done (``collect`` would not wait)."""
        return bool(self._flight) and bool(select.select([self._out], [], [], 0)[0])

    def collect(self) -> tuple[Batch, int | None]:
        """The oldest block handed over and its rows folded (waiting for it), or ``None`` if the
        helper left it to you."""
        batch = self._flight.popleft()
        (count,) = _COUNT.unpack(self._recv(_COUNT.size))
        self._helped += count >= 0
        return batch, None if count < 0 else count

    def drain(self, writes: dict[str, Any]) -> None:
        """Add the helper's deltas (sums and counts) to ``writes``; it starts afresh."""
        if not self._ready:
            return
        self._send(b"D")
        (n,) = _LEN.unpack(self._recv(_LEN.size))
        deltas: dict[str, Any] = pickle.loads(self._recv(n))
        get = writes.get
        for key, delta in deltas.items():
            writes[key] = get(key, 0) + delta

    def close(self) -> None:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.close()  # end of input: the helper exits
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()
        self._shared.close()

    # ------------------------------------------------------------------ the pipes

    def _is_ready(self) -> bool:
        if self._ready or self._broken:
            return self._ready
        wait, self._wait = self._wait, False
        if select.select([self._out], [], [], READY_WAIT if wait else 0)[0]:
            if os.read(self._out, 1) == b"R":
                self._ready = True
                self._reset_window()  # (``helps`` looks at the stretches the helper is there for)
            else:  # it could not start (say, murmur is not importable in a fresh interpreter)
                self._broken = True
                log.debug("the fold helper did not start (exit code %s)", self._proc.poll())
        return self._ready

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._in, view) :]
        except OSError as exc:
            raise self._died(exc) from exc

    def _recv(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = os.read(self._out, n - len(data))
            if not chunk:
                raise self._died(None)
            data += chunk
        return data

    def _died(self, exc: OSError | None) -> MurmurError:
        code = self._proc.poll()
        why = f"exit code {code}" if code is not None else str(exc or "its output closed")
        return MurmurError(
            f"the fold helper process stopped ({why}); what it had folded since the last merge is "
            "lost, so the run stops at its last checkpoint: run again with --resume"
        )
