"""``murmur run --source mongo`` then ``--source mongo-changes``: real subprocesses, real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from conftest import Coll
from mongo_helpers import sums
from murmur.adapters.sqlite import SqliteStore
from murmur_test_servers import wait_for

MURMUR = [str(Path(sys.executable).with_name("murmur"))]  # the console script of the venv running the tests
PIPELINE = ["--key", "customer", "--value", "amount", "--monoid", "sum", "--name", "orders"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MURMUR_DEBUG", None)
    env["MURMUR_DISABLE_PLUGINS"] = "broken"  # a deliberately broken example plugin in the dev venv
    return env


def murmur(*args: str, check: int | None = 0, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*MURMUR, *args], capture_output=True, text=True, timeout=timeout, env=_env())
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def source_opts(coll: Coll, uri: str | None = None) -> list[str]:
    return ["-S", f"uri={uri or coll.uri}", "-S", f"database={coll.database}", "-S", f"collection={coll.name}"]


def stored_totals(db: Path) -> dict[str, int]:
    proc = murmur(
        "get", "--store", "sqlite", "-T", f"path={db}", "--name", "orders", *[f"c{i}" for i in range(7)], "--json"
    )
    return {k: v for k, v in json.loads(proc.stdout).items() if v}


def recount(coll: Coll) -> dict[str, int]:
    return {k: v for k, v in sums(coll.handle.find()).items() if v}


def seed(coll: Coll, n: int) -> None:
    coll.handle.insert_many([{"_id": i, "customer": f"c{i % 7}", "amount": i % 50} for i in range(n)])


def test_bootstrap_then_live_from_the_handoff_file(coll: Coll, tmp_path: Path) -> None:
    seed(coll, 3000)
    db, token = tmp_path / "state.db", tmp_path / "token.json"
    boot = murmur(
        "run", "--source", "mongo", *source_opts(coll), "-S", "batch_size=500", "--store", "sqlite", "-T", f"path={db}",
        *PIPELINE, "--handoff-out", str(token), "--json",
    )  # fmt: skip
    summary = json.loads(boot.stdout)
    assert summary["applied"] == 3000
    handoff = json.loads(token.read_text())
    assert handoff["source"] == "mongo"
    assert handoff["token"]["namespace"] == coll.namespace
    assert stored_totals(db) == recount(coll)

    coll.handle.insert_one({"_id": 5000, "customer": "c1", "amount": 1000})
    coll.handle.update_one({"_id": 3}, {"$set": {"customer": "c6"}})
    coll.handle.delete_one({"_id": 4})
    live = murmur(
        "run", "--source", "mongo-changes", *source_opts(coll), "--store", "sqlite", "-T", f"path={db}", *PIPELINE,
        "--from-handoff", str(token), "--until-idle", "2", "--json",
    )  # fmt: skip
    assert json.loads(live.stdout)["applied"] == 3
    assert stored_totals(db) == recount(coll)


def test_segments_in_separate_processes(coll: Coll, tmp_path: Path) -> None:
    seed(coll, 4000)
    db = tmp_path / "state.db"
    common = [
        "run", "--source", "mongo", *source_opts(coll), "-S", "batch_size=250", "--store", "sqlite",
        "-T", f"path={db}", *PIPELINE, "--segments", "4", "--resume", "--quiet",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            [*MURMUR, *common, "--segment", str(i)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert stored_totals(db) == recount(coll)


def test_a_killed_bootstrap_resumes_to_exact_totals(coll: Coll, tmp_path: Path) -> None:
    seed(coll, 12_000)
    db = tmp_path / "state.db"
    args = [
        "run",
        "--source",
        "mongo",
        *source_opts(coll),
        "-S",
        "batch_size=200",
        "--store",
        "sqlite",
        "-T",
        f"path={db}",
        *PIPELINE,
    ]
    proc = subprocess.Popen([*MURMUR, *args, "--quiet"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: db.exists() and _checkpointed(db), timeout=60, message="the bootstrap never checkpointed")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL  # it was interrupted mid-scan
    assert stored_totals(db) != recount(coll)
    refused = murmur(*args, check=2)  # checkpoints exist: --resume or --restart needed
    assert "--resume" in refused.stderr
    resumed = murmur(*args, "--resume", "--json")
    summary = json.loads(resumed.stdout)
    assert summary["resumed"] is True
    assert 0 < summary["applied"] < 12_000
    assert stored_totals(db) == recount(coll)


def _checkpointed(db: Path) -> bool:
    store = SqliteStore(db)
    try:
        return any(
            doc.get("position") for name, doc in store.list_meta("orders").items() if name.startswith("segment/")
        )
    except Exception:  # the file is being created
        return False
    finally:
        store.close()


def test_a_one_off_snapshot_cannot_hand_off(coll: Coll, tmp_path: Path) -> None:
    seed(coll, 10)
    db, token = tmp_path / "state.db", tmp_path / "token.json"
    murmur(
        "run", "--source", "mongo", *source_opts(coll), "--store", "sqlite", "-T", f"path={db}", *PIPELINE,
        "-S", "no_handoff=true", "--handoff-out", str(token), "--quiet",
    )  # fmt: skip
    assert json.loads(token.read_text())["token"] is None
    live = murmur(
        "run", "--source", "mongo-changes", *source_opts(coll), "--store", "sqlite", "-T", f"path={db}", *PIPELINE,
        "--from-handoff", str(token), "--until-idle", "1", check=2,
    )  # fmt: skip
    assert "no resume token" in live.stderr
    assert "--no-handoff" in live.stderr


def test_the_uri_password_is_never_printed(coll: Coll, tmp_path: Path, mongo_uri: str) -> None:
    # nx-27017 has no authentication: the handshake fails, and the error must not show the password
    uri = mongo_uri.replace("mongodb://", "mongodb://bob:hunter2@")
    proc = murmur(
        "run", "--source", "mongo", *source_opts(coll, uri), "--store", "sqlite", "-T", f"path={tmp_path / 's.db'}",
        *PIPELINE, "--json", check=None,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "hunter2" not in proc.stdout + proc.stderr
    assert "capturing the handoff token" in proc.stderr
    shown = murmur("plugins", "show", "mongo")
    assert "secret" in shown.stdout.lower()


def test_missing_options_are_usage_errors(coll: Coll, tmp_path: Path) -> None:
    proc = murmur(
        "run",
        "--source",
        "mongo",
        "-S",
        f"uri={coll.uri}",
        "--store",
        "sqlite",
        "-T",
        f"path={tmp_path / 's.db'}",
        *PIPELINE,
        check=2,
    )
    assert "database" in proc.stderr
