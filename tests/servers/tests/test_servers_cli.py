"""`up` / `topic` / `down` round trip, driven the way the README tells humans to."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pymongo
import pytest
from confluent_kafka.admin import AdminClient

from murmur_test_servers._proc import pid_alive, stop_pid


def cli(*args: str, state_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "murmur_test_servers", *args, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Not tmp_path: the kafka control socket path must stay under the 108-byte AF_UNIX limit.
    with tempfile.TemporaryDirectory(prefix="mts-") as d:
        path = Path(d)
        try:
            yield path
        finally:
            cli("down", state_dir=path)
            # Belt and braces if `down` itself is what broke.
            state = path / "state.json"
            if state.exists():
                for entry in json.loads(state.read_text())["services"].values():
                    stop_pid(entry["pid"], entry.get("start_time"), grace=2)


def test_up_topic_down_round_trip(state_dir: Path) -> None:
    py = shlex.quote(sys.executable)
    # Through a real shell's eval: also proves the detached servers do not hold the $(...) pipe open.
    script = (
        f'set -e; eval "$({py} -m murmur_test_servers up --mongo --kafka --dynamodb --topic orders.cdc:3 '
        f'--state-dir {shlex.quote(str(state_dir))})"; env'
    )
    shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=90)
    assert shell.returncode == 0, shell.stderr
    env = dict(line.split("=", 1) for line in shell.stdout.splitlines() if "=" in line)

    state: dict[str, Any] = json.loads((state_dir / "state.json").read_text())["services"]
    pids = {name: entry["pid"] for name, entry in state.items()}
    assert set(pids) == {"mongo", "kafka", "dynamodb"}
    assert all(pid_alive(pid) for pid in pids.values())
    assert all(int((state_dir / f"{name}.pid").read_text()) == pid for name, pid in pids.items())
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["MURMUR_TEST_SERVERS_STATE_DIR"] == str(state_dir.resolve())

    mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        env["MURMUR_TEST_MONGO_URI"], serverSelectionTimeoutMS=5000
    )
    try:
        mongo.murmur.t.insert_one({"_id": 1})
        assert mongo.murmur.t.count_documents({}) == 1
    finally:
        mongo.close()

    created = cli("topic", "payments", "6", state_dir=state_dir)
    assert created.returncode == 0, created.stderr
    duplicate = cli("topic", "payments", "6", state_dir=state_dir)
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    topics = AdminClient({"bootstrap.servers": env["MURMUR_TEST_KAFKA"]}).list_topics(timeout=10).topics
    assert len(topics["orders.cdc"].partitions) == 3
    assert len(topics["payments"].partitions) == 6

    ddb = boto3.client(
        "dynamodb",
        endpoint_url=env["MURMUR_TEST_DYNAMODB"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    assert ddb.list_tables()["TableNames"] == []

    second = cli("up", "--mongo", state_dir=state_dir)
    assert second.returncode == 1
    assert "run `down` first" in second.stderr

    down = cli("down", state_dir=state_dir)
    assert down.returncode == 0, down.stderr
    assert not any(pid_alive(pid) for pid in pids.values())
    assert not (state_dir / "state.json").exists()
    assert not list(state_dir.glob("*.pid"))
    assert cli("status", state_dir=state_dir).returncode == 1


def test_topic_without_up_fails(state_dir: Path) -> None:
    result = cli("topic", "x", "1", state_dir=state_dir)
    assert result.returncode == 1
    assert "up --kafka" in result.stderr
