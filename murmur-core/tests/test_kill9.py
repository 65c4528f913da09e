"""kill -9 at random points of a block-path bootstrap, then ``--resume``: exact totals (issue 12).

``murmur run`` reads JSON Lines from a pipe that a feeder fills over a few seconds, so the run
merges many units (one per flush interval) while it reads; it is killed with SIGKILL at a
random moment (seeded), and run again with ``--resume`` over the whole input. Without a
deduper the totals are exact because each checkpoint commits in the same transaction as the
state it covers; with ``--dedup sqlite`` (the general path) the claims make it exact as well; with
``--fold-helper`` the helper process's deltas are merged into the unit its checkpoint covers.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

MURMUR = shutil.which("murmur", path=str(Path(sys.executable).parent)) or "murmur"
N = 60_000
KEYS = 7
LINES = [json.dumps({"k": f"k{i % KEYS}", "v": i * 1_000_003}) + "\n" for i in range(N)]
EXPECTED = {f"k{j}": sum(i * 1_000_003 for i in range(j, N, KEYS)) for j in range(KEYS)}
ARGS = ("run", "--source", "jsonl", "-S", "path=-", "-S", "block_size=8192", "--key", "k", "--value", "v")
ARGS += ("--monoid", "sum", "--name", "k9", "-q")


def feed(proc: subprocess.Popen[bytes], chunk: int, pause: float) -> None:
    """Write the input in chunks with pauses, then close stdin; stop quietly once the run dies."""
    assert proc.stdin is not None
    try:
        for start in range(0, N, chunk):
            proc.stdin.write("".join(LINES[start : start + chunk]).encode())
            proc.stdin.flush()
            time.sleep(pause)
        proc.stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass


def get_totals(cwd: Path) -> dict[str, int]:
    got = subprocess.run(
        [MURMUR, "get", "--name", "k9", "--json", *EXPECTED], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert got.returncode == 0, got.stderr
    return {k: v for k, v in json.loads(got.stdout).items() if v is not None}


@pytest.mark.parametrize("variant", ["no-dedup", "dedup-sqlite", "fold-helper"])
@pytest.mark.parametrize("trial", range(3))
def test_kill_9_at_a_random_point_then_resume_gives_exact_totals(tmp_path: Path, variant: str, trial: int) -> None:
    dedup = variant == "dedup-sqlite"
    rng = random.Random(f"kill9-{trial}-{dedup}")
    # --fold-helper: a second process folds every other block (its deltas die with the run).
    extra = {"no-dedup": (), "dedup-sqlite": ("--dedup", "sqlite"), "fold-helper": ("--fold-helper",)}[variant]
    proc = subprocess.Popen([MURMUR, *ARGS, *extra], cwd=tmp_path, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    feeder = threading.Thread(target=feed, args=(proc, 1000, 0.04), daemon=True)
    feeder.start()
    time.sleep(rng.uniform(0.3, 3.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    feeder.join(60)
    assert proc.stderr is not None
    proc.stderr.close()
    again = subprocess.run(
        [MURMUR, *ARGS, *extra, "--resume", "--json"],
        cwd=tmp_path,
        input="".join(LINES),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["dead_letters"] == 0
    assert get_totals(tmp_path) == EXPECTED
