"""``python -m benchmarks --profile NAME``: where murmur's variant of a scenario spends its time.

Runs the murmur variant once under py-spy (sampling every thread, so the scan thread, the apply
thread and the live lanes all count), drops samples taken while importing, and prints the
functions with the largest share of samples: inclusive (the function and what it calls) and
self (the function's own lines). Shares are of all samples of all threads, less those blocked in a wait.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from benchmarks._harness import Context

#: Frames that mark set-up rather than the measured work.
_SETUP = ("_find_and_load", "_call_with_frames_removed")
#: Leaf frames of a thread blocked on a queue or event (py-spy samples timed waits as busy).
_IDLE = ("wait (threading.py", "Condition.wait (", "Event.wait (", "_worker (concurrent/futures")
#: Frames every stack has (interpreter and thread start-up): left out of the listing.
_WRAPPERS = (
    "<module> (",
    "_run_module_as_main (",
    "_run_code (",
    "main (benchmarks/",
    "Thread.run (",
    "Thread._bootstrap",
)
TOP = 25


def profile(ctx: Context, name: str) -> int:
    from benchmarks.__main__ import SCENARIOS

    if name not in SCENARIOS:
        print(f"--profile: unknown scenario {name!r} (known: {', '.join(SCENARIOS)})", file=sys.stderr)
        return 2
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("--profile needs py-spy (pip install py-spy)", file=sys.stderr)
        return 2
    with importlib.import_module(SCENARIOS[name]).setup(ctx) as plan:
        variant = plan.murmur()
        raw = ctx.workdir / f"profile-{name}.txt"
        cmd = [spy, "record", "--rate", "400", "--format", "raw", "--output", str(raw), "--threads", "--"]
        cmd += [sys.executable, "-m", "benchmarks._harness", variant.func, json.dumps(variant.kwargs)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not raw.exists():
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1
        print(f"{plan.label}: {variant.name}: {done.stdout.strip()}")
        print(summarise(raw.read_text()))
    return 0


def summarise(collapsed: str) -> str:
    """Top functions by inclusive and by self share of the samples in py-spy's collapsed stacks."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")[1:]  # the first frame names the thread
        if not frames or any(f.startswith(_SETUP) for f in frames) or frames[-1].startswith(_IDLE):
            continue
        n = int(count)
        total += n
        for frame in set(map(_short, frames)):
            inclusive[frame] += n
        own[_short(frames[-1])] += n
    if not total:
        return "no samples"
    out = [f"{total} samples", "", "inclusive  self   function (file:line)"]
    listed = [(f, n) for f, n in inclusive.most_common() if not f.startswith(_WRAPPERS)]
    for frame, n in listed[:TOP]:
        out.append(f"{100 * n / total:6.1f}%  {100 * own.get(frame, 0) / total:5.1f}%  {frame}")
    out += ["", "self-time leaders:"]
    for frame, n in own.most_common(TOP):
        out.append(f"{100 * n / total:6.1f}%  {frame}")
    return "\n".join(out)


def _short(frame: str) -> str:
    """``func (path/to/murmur/x.py:12)`` → ``func (murmur/x.py)``: per function, not per line."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"
