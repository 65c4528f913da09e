"""Scenario 5: CLI start-up — ``murmur --help`` and ``murmur plugins list`` with every adapter installed,
side by side with ``python -c pass`` (the limit) and a one-command typer app's ``--help`` (the peer),
on the same interpreter (wall time of the whole subprocess, median).

Targets: ``plugins list`` ≤ 6× ``python -c pass`` (it reads plugin declarations and imports neither
typer nor any plugin), ``--help`` ≤ 1.1× the one-command typer app (the floor of any typer CLI).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._harness import Context, Plan, Target, Variant

#: Subprocess runs per repetition (the repetition reports their median).
RUNS = 5

#: The smallest typer CLI: one command with one option (``python -c APP --help``).
TYPER_APP = """
import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    \"\"\"Say hello.\"\"\"
    typer.echo(f"hello {name}")


app()
"""


def wall(argv: list[str], runs: int = RUNS) -> dict[str, Any]:
    """Median wall time of ``argv`` run ``runs`` times (after one untimed run to warm the page cache)."""
    subprocess.run(argv, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    # No RSS: this process's is not the command's, and ru_maxrss of a child counts pages of the fork.
    return {"seconds": statistics.median(times), "records": 1, "rss_mb": None}


def murmur_command() -> str:
    script = Path(sys.executable).with_name("murmur")
    if not script.exists():
        raise RuntimeError(f"no murmur command beside {sys.executable}: install murmur-core in this environment")
    return str(script)


@contextmanager
def setup(ctx: Context) -> Iterator[Plan]:
    murmur = murmur_command()
    fn = f"{__name__}:wall"
    yield Plan(
        "5 CLI start-up",
        [
            Variant("murmur --help", "murmur", fn, {"argv": [murmur, "--help"]}, unit="ms"),
            Variant("murmur plugins list", "info", fn, {"argv": [murmur, "plugins", "list"]}, unit="ms"),
            Variant("python -c pass", "limit", fn, {"argv": [sys.executable, "-c", "pass"]}, unit="ms"),
            Variant(
                "typer one-command --help", "peer", fn, {"argv": [sys.executable, "-c", TYPER_APP, "--help"]}, unit="ms"
            ),
        ],
        [Target("murmur --help", "ratio_peer", "<=", 1.1), Target("murmur plugins list", "ratio_limit", "<=", 6)],
    )
