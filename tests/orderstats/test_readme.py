"""examples/orderstats/README.md runs verbatim: every ``sh`` block, in order, in one bash, and each
``text`` block is what those commands print (``output`` blocks are illustrations, not checked).

The README starts its own servers with ``python -m murmur_test_servers up`` (in a private state
directory) and stops them at the end; the test stops them too, whatever happens.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from orderstats_helpers import EXAMPLE

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(kind: str) -> list[str]:
    text = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang == kind]


def lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def run_bash(script: str, *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """``bash -c script`` in its own process group, all of which is killed if it overruns."""
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"the README's commands did not finish within {timeout}s\n{out}\n{err}") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Short: the Kafka holder's unix socket path lives in it (~100 bytes at most).
    path = Path(tempfile.mkdtemp(prefix="mts-", dir="/tmp"))
    try:
        yield path
    finally:
        subprocess.run(
            [sys.executable, "-m", "murmur_test_servers", "down", "--state-dir", str(path)],
            capture_output=True,
            timeout=300,
        )
        shutil.rmtree(path, ignore_errors=True)


def test_readme_runs_verbatim_and_prints_the_expected_totals(tmp_path: Path, state_dir: Path) -> None:
    script = blocks("sh")
    expected = blocks("text")
    assert len(script) >= 9 and len(expected) == 4
    # The README's paths are relative to the repository root: give it a copy of the example there,
    # so nothing it writes lands in the checkout.
    shutil.copytree(EXAMPLE, tmp_path / "examples" / "orderstats", ignore=shutil.ignore_patterns("*.md", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MURMUR_", "AWS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MURMUR_TEST_SERVERS_STATE_DIR"] = str(state_dir)
    result = run_bash("set -euo pipefail\n" + "\n".join(script), cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    printed = lines(result.stdout)
    at = 0
    for block in expected:
        want = lines(block)
        for start in range(at, len(printed) - len(want) + 1):
            if printed[start : start + len(want)] == want:
                at = start + len(want)
                break
        else:
            raise AssertionError(f"expected, in order:\n{block}\nprinted:\n{result.stdout}\n{result.stderr[-3000:]}")
    assert not (tmp_path / "examples" / "orderstats" / "murmur-dead-letters.jsonl").exists()
