"""The installed ``murmur`` script in real processes: quick start, fast --help, signals, resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from murmur.adapters.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[3]
MURMUR = shutil.which("murmur", path=str(Path(sys.executable).parent)) or "murmur"


def wait_for(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def murmur(*args: str, cwd: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MURMUR, *args], cwd=cwd, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload, no-any-return]


def meta(db: Path, pipeline: str, name: str) -> dict[str, Any] | None:
    if not db.exists():
        return None
    store = SqliteStore(db, busy_timeout=5)
    try:
        return store.read_meta(pipeline, name)
    finally:
        store.close()


def test_the_readme_quick_start(tmp_path: Path) -> None:
    shutil.copy(REPO / "examples" / "quickstart" / "orders.jsonl", tmp_path)
    expected = json.loads((REPO / "examples" / "quickstart" / "expected.json").read_text())
    run = murmur(
        "run", "--source", "jsonl", "-S", "path=orders.jsonl", "--key", "customer", "--value", "amount",
        "--monoid", "sum", "--name", "revenue", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "records       20 (20 applied" in run.stderr
    got = murmur("get", "--name", "revenue", *expected["revenue"], cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert got.stdout == "".join(f"{k}\t{v}\n" for k, v in expected["revenue"].items())
    counted = murmur(
        "run", "--source", "jsonl", "-S", "path=orders.jsonl", "--key", "customer", "--monoid", "count",
        "--name", "orders", "-q", cwd=tmp_path,
    )  # fmt: skip
    assert counted.returncode == 0, counted.stderr
    got = murmur("get", "--name", "orders", "--json", *expected["orders"], cwd=tmp_path)
    assert json.loads(got.stdout) == expected["orders"]


def test_the_readme_restart_and_listing(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    command = (
        "murmur run --source jsonl -S path=orders.jsonl --key customer --value amount --monoid sum --name revenue"
        " --restart --dedup sqlite && murmur get --name revenue --top 2"
    )
    assert command in readme
    shutil.copy(REPO / "examples" / "quickstart" / "orders.jsonl", tmp_path)
    first = murmur(*command.split(" && ")[0].split()[1:], cwd=tmp_path)  # a first run, without dedup
    assert first.returncode == 0, first.stderr
    env = {**os.environ, "PATH": f"{Path(MURMUR).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "alice\t155\nbob\t135\n"  # single totals, not doubled
    assert "alice\t155\nbob\t135\n" in readme
    assert "--restart cleared 5 keys" in proc.stderr


def test_help_is_fast_and_imports_no_client_library(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", MURMUR, "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert "murmur run" in proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert not imported & {"pymongo", "boto3", "botocore", "confluent_kafka", "datasketches", "numpy"}
    assert "counter" in set(proc.stdout.split())  # the example plugin's sub-command is there


def test_a_broken_plugin_does_not_stop_the_cli(tmp_path: Path) -> None:
    listing = murmur("plugins", "list", cwd=tmp_path)
    assert listing.returncode == 0
    assert "broken" in listing.stdout
    assert "broken on purpose" in listing.stdout
    strict = murmur("plugins", "list", cwd=tmp_path, env={**os.environ, "MURMUR_STRICT_PLUGINS": "1"})
    assert strict.returncode == 2
    assert "plugin 'broken'" in strict.stderr
    assert "Traceback" not in strict.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_a_bootstrap_at_a_checkpoint_and_resume_is_exact(tmp_path: Path) -> None:
    lines = [json.dumps({"k": f"k{i % 5}", "v": i}) + "\n" for i in range(8000)]
    args = (
        "run",
        "--source",
        "jsonl",
        "-S",
        "path=-",
        "-S",
        "batch_size=1000",
        "--key",
        "k",
        "--value",
        "v",
        "--monoid",
        "sum",
        "--name",
        "piped",
    )
    proc = subprocess.Popen(
        [MURMUR, *args], cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write("".join(lines[:4500]))
        proc.stdin.flush()
        db = tmp_path / "murmur.db"
        wait_for(lambda: int((meta(db, "piped", "segment/0/1") or {}).get("done", 0)) >= 4000, 30, "no checkpoint")
        proc.send_signal(signal.SIGTERM)
        proc.stdin.write("".join(lines[4500:6000]))  # the next batch lets the run see the stop
        proc.stdin.flush()
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted; the progress so far is checkpointed: run again with --resume" in err
    done = int((meta(tmp_path / "murmur.db", "piped", "segment/0/1") or {})["done"])
    assert 4000 <= done < 8000
    again = murmur(*args, "--resume", "--json", "-q", cwd=tmp_path, input="".join(lines))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["records"] == 8000 - done
    got = murmur("get", "--name", "piped", "--json", "k0", "k4", cwd=tmp_path)
    assert json.loads(got.stdout) == {"k0": sum(range(0, 8000, 5)), "k4": sum(range(4, 8000, 5))}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_ends_a_live_run_cleanly_with_everything_applied_written(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            MURMUR,
            "run",
            "--source",
            "counter",
            "--live",
            "-S",
            "keys=2",
            "--key",
            "key",
            "--monoid",
            "count",
            "--name",
            "ticks",
            "--json",
            "-q",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        db = tmp_path / "murmur.db"
        wait_for(
            lambda: int((meta(db, "ticks", "live/counter-live") or {}).get("position", 0)) >= 500, 30, "no progress"
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert err == ""
    summary = json.loads(out)
    assert summary["mode"] == "live"
    assert summary["applied"] >= 500
    got = json.loads(murmur("get", "--name", "ticks", "--json", "k0", "k1", cwd=tmp_path).stdout)
    assert got["k0"] + got["k1"] == summary["applied"]  # nothing applied was lost, nothing counted twice
    assert (meta(tmp_path / "murmur.db", "ticks", "live/counter-live") or {})["position"] == summary["applied"]


def test_off_a_terminal_a_run_prints_plain_lines_without_importing_rich(tmp_path: Path) -> None:
    (tmp_path / "o.jsonl").write_text('{"c":"a","v":1}\n{"c":"a","v":2}\n', encoding="utf-8")
    script = (
        "import sys\n"
        "from murmur.cli import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print('rich' in sys.modules, file=sys.stdout)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    args = ["run", "--source", "jsonl", "-S", "path=o.jsonl", "--key", "c", "--value", "v", "--monoid", "sum"]
    args += ["--name", "p", "--dead-letters", "bad:fire:.jsonl"]
    got = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout == "False\n"
    assert got.stderr.splitlines()[1] == "  records       2 (2 applied, 0 dead letters, 0 dedup skips, 0 retries)"
    # Printed as given: no escape codes, and no emoji for :fire: (Rich would draw one).
    assert "  dead letters  0 (none; they would go to bad:fire:.jsonl)" in got.stderr.splitlines()
    assert "\x1b" not in got.stderr
