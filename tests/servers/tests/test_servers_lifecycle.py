"""Start failures carry the log; servers owned by a test process die with it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from murmur_test_servers import wait_for
from murmur_test_servers._proc import ServerStartError, pid_alive, stop_pid
from murmur_test_servers.kafka import KafkaBroker


def test_start_failure_reports_log_tail(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match=r"(?s)exited.*ERR topic bad: partitions must be >= 1"):
        KafkaBroker([("bad", 0)], log_dir=tmp_path).start()


OWNER = """
import json, sys
from murmur_test_servers.kafka import KafkaBroker
from murmur_test_servers.mongo import MongoServer
mongo = MongoServer(sys.argv[1]).start()
kafka = KafkaBroker(log_dir=sys.argv[1]).start()
print(json.dumps([mongo.pid, kafka.pid]), flush=True)
sys.stdin.read()  # until killed
"""


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux-only")
def test_servers_die_with_a_killed_owner(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    pids: list[int] = []
    try:
        assert owner.stdout is not None
        pids = json.loads(owner.stdout.readline())
        assert all(pid_alive(pid) for pid in pids)
        owner.send_signal(signal.SIGKILL)  # no teardown runs: only the kernel can clean up
        owner.wait(timeout=10)
        wait_for(
            lambda: not any(pid_alive(pid) for pid in pids),
            timeout=10,
            message=lambda: f"orphaned servers still alive: {[p for p in pids if pid_alive(p)]}",
        )
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=10)
        for pid in pids:
            stop_pid(pid, grace=2)
