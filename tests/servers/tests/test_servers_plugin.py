"""wait_for, unique_name, the --slow option and lazy server start."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from murmur_test_servers import wait_for


def test_wait_for_returns_the_truthy_value() -> None:
    values = iter([0, None, "", "done"])
    assert wait_for(lambda: next(values), timeout=5, interval=0) == "done"


def test_wait_for_timeout_message() -> None:
    start = time.monotonic()
    with pytest.raises(AssertionError, match=r"^kafka never caught up \(waited 0.2s\)$"):
        wait_for(lambda: False, timeout=0.2, interval=0.01, message="kafka never caught up")
    assert 0.2 <= time.monotonic() - start < 2


def test_wait_for_lazy_message_sees_last_state() -> None:
    seen: list[int] = []
    with pytest.raises(AssertionError) as info:
        wait_for(lambda: seen.append(1), timeout=0.1, interval=0.02, message=lambda: f"seen {len(seen)} tries")
    assert len(seen) >= 2
    assert str(info.value) == f"seen {len(seen)} tries (waited 0.1s)"


def test_unique_name(unique_name: Callable[[str], str]) -> None:
    a, b = unique_name("orders"), unique_name("orders")
    assert re.fullmatch(r"orders_[0-9a-f]{8}", a)
    assert a != b


INNER = """
import os, sys
import pytest

def children():
    me = str(os.getpid())
    found = []
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                text = open(f"/proc/{stat}/stat").read()
            except OSError:
                continue
            if text[text.rfind(")") + 2:].split()[1] == me:
                found.append(stat)
    return found

def test_no_server_started(unique_name):
    assert unique_name("x").startswith("x_")
    assert children() == []
    assert "moto.server" not in sys.modules

@pytest.mark.slow
def test_marked_slow():
    pass
"""


def run_inner(tmp_path: Path, *args: str) -> str:
    (tmp_path / "test_inner.py").write_text(INNER)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_slow_skipped_by_default_and_servers_lazy(tmp_path: Path) -> None:
    out = run_inner(tmp_path)
    assert "1 passed, 1 skipped" in out
    assert "slow test: run with --slow" in out


def test_slow_runs_with_flag(tmp_path: Path) -> None:
    assert "2 passed" in run_inner(tmp_path, "--slow")
