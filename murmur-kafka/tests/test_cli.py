"""``murmur run --source kafka ...`` end to end, in a subprocess, on the real broker."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from cdc_table import Table
from conftest import DRAIN_TIMEOUT, Kafka
from murmur_test_servers import run_until, wait_for

MURMUR = [str(Path(sys.executable).with_name("murmur"))]


def murmur(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MURMUR, *args], capture_output=True, text=True, timeout=timeout)


def drain(kafka: Kafka, group: str, topic: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``murmur run ARGS`` (a live run) until ``group`` has committed every message of ``topic``,
    then SIGTERM: it must exit 0."""
    return run_until(
        [*MURMUR, *args],
        kafka.drained(group, topic),
        DRAIN_TIMEOUT,
        describe=lambda: f"{group} committed {kafka.committed(group, topic, kafka.partitions[topic])}",
    )


def get(db: Path, name: str, keys: list[str]) -> dict[str, Any]:
    out = murmur("get", "--store", "sqlite", "-T", f"path={db}", "--name", name, "--json", *keys)
    assert out.returncode == 0, out.stderr
    values: dict[str, Any] = json.loads(out.stdout)
    return values


def test_cli_counts_json_events_and_sends_poison_to_the_dead_letter_topic(kafka: Kafka, tmp_path: Path) -> None:
    topic, dlq, group, db = kafka.topic(3), kafka.topic(1, "dlq"), kafka.group(), tmp_path / "state.db"
    users = [f"u{i % 7}" for i in range(900)]
    kafka.produce(topic, [{"user": u} for u in users], keys=users, partition=lambda i: i % 3)
    kafka.produce(topic, [b"{broken"], partition=1)
    run = drain(
        kafka, group, topic,
        "run", "--source", "kafka", "--store", "sqlite", "-T", f"path={db}",
        "-S", f"brokers={kafka.bootstrap}", "-S", f"topic={topic}", "-S", f"group={group}", "-S", f"dlq_topic={dlq}",
        "-S", "kafka.sasl.password=hunter2", "-S", "commit_interval=200ms",
        "--key", "user", "--monoid", "count", "--name", "clicks", "--json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert (summary["applied"], summary["dead_letters"]) == (900, 1)
    assert "hunter2" not in run.stdout + run.stderr
    assert get(db, "clicks", sorted(set(users))) == dict(Counter(users))
    (letter,) = kafka.read_all(dlq, 1)
    assert letter.value() == b"{broken"
    assert dict(letter.headers())["x-murmur-source-topic"] == topic.encode()
    assert kafka.committed(group, topic, 3) == kafka.end_offsets(topic, 3)


def test_cli_debezium_changelog_gives_the_totals_of_the_final_table(kafka: Kafka, tmp_path: Path) -> None:
    table = Table(random.Random(3))
    for _ in range(600):
        table.step()
    topic, db = kafka.topic(3), tmp_path / "state.db"
    table.produce(kafka, topic, table.events)
    # --until-idle ends the run: a generous window, as a loaded machine may pause between fetches
    # (the other tests here drain and stop instead, which takes no idle time at all).
    run = murmur(
        "run", "--source", "kafka", "--store", "sqlite", "-T", f"path={db}",
        "-S", f"brokers={kafka.bootstrap}", "-S", f"topic={topic}", "-S", "decoder=debezium",
        "--key", "customer", "--value", "amount", "--monoid", "sum", "--name", "orders", "--until-idle", "10",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = get(db, "orders", [f"c{i}" for i in range(6)])
    # a customer whose orders all moved away or were deleted reads 0; one never seen reads null
    assert {c: v for c, v in got.items() if v} == table.totals()


def test_cli_handoff_from_a_jsonl_bootstrap_continues_after_the_snapshot(kafka: Kafka, tmp_path: Path) -> None:
    topic, other, db = kafka.topic(2), kafka.topic(1), tmp_path / "state.db"
    kafka.produce(topic, [{"user": "before"}] * 40, partition=lambda i: i % 2)  # already in the snapshot
    snapshot = tmp_path / "snapshot.jsonl"
    snapshot.write_text("".join(json.dumps({"user": f"s{i % 3}"}) + "\n" for i in range(30)))
    token = tmp_path / "handoff.json"
    boot = murmur(
        "run", "--source", "jsonl", "-S", f"path={snapshot}", "--store", "sqlite", "-T", f"path={db}",
        "--key", "user", "--monoid", "count", "--name", "h",
        "--handoff-to", "kafka", "-H", f"brokers={kafka.bootstrap}", "-H", f"topic={topic}",
        "--handoff-out", str(token),
    )  # fmt: skip
    assert boot.returncode == 0, boot.stderr
    live_position = json.loads(token.read_text())["live"]
    assert live_position == {"source": "kafka", "position": {"topic": topic, "partitions": {"0": 20, "1": 20}}}

    kafka.produce(topic, [{"user": "after"}] * 10, partition=lambda i: i % 2)
    run = drain(
        kafka, "murmur.h", topic,  # the default group: murmur.<name>
        "run", "--source", "kafka", "--store", "sqlite", "-T", f"path={db}", "--from-handoff", str(token),
        "-S", f"brokers={kafka.bootstrap}", "-S", f"topic={topic}", "-S", "start=handoff",
        "-S", "commit_interval=200ms", "--key", "user", "--monoid", "count", "--name", "h",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert get(db, "h", ["s0", "s1", "s2", "after", "before"]) == {
        "s0": 10,
        "s1": 10,
        "s2": 10,
        "after": 10,
        "before": None,
    }

    wrong = murmur(
        "run", "--source", "kafka", "--store", "sqlite", "-T", f"path={db}", "--from-handoff", str(token),
        "-S", f"brokers={kafka.bootstrap}", "-S", f"topic={other}",
        "--key", "user", "--monoid", "count", "--name", "h", "--until-idle", "1",
    )  # fmt: skip
    assert wrong.returncode == 2
    assert f"the handoff holds offsets of topic '{topic}', but this source reads {other}" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_cli_sigterm_commits_what_was_applied_and_exits_zero(kafka: Kafka, tmp_path: Path) -> None:
    topic, group, db = kafka.topic(2), kafka.group(), tmp_path / "state.db"
    kafka.produce(topic, [{"user": f"u{i % 5}"} for i in range(2000)], partition=lambda i: i % 2)
    proc = subprocess.Popen(
        [
            *MURMUR, "run", "--source", "kafka", "--store", "sqlite", "-T", f"path={db}",
            "-S", f"brokers={kafka.bootstrap}", "-S", f"topic={topic}", "-S", f"group={group}",
            "-S", "commit_interval=1h",  # so the only commit is the one at shutdown
            "--key", "user", "--monoid", "count", "--name", "term", "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:

        def applied() -> bool:
            assert proc.poll() is None, proc.communicate()[1]
            return db.exists() and get(db, "term", [f"u{i}" for i in range(5)]) == {f"u{i}": 400 for i in range(5)}

        wait_for(applied, DRAIN_TIMEOUT, interval=0.2, message="the live run did not apply the topic")
        assert kafka.committed(group, topic, 2) == {0: -1001, 1: -1001}
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=DRAIN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert kafka.committed(group, topic, 2) == {0: 1000, 1: 1000}


def test_a_live_run_after_restart_starts_at_the_new_handoff_not_where_the_cleared_run_left_off(
    kafka: Kafka, tmp_path: Path
) -> None:
    # A table (the snapshot source) whose every change is also an event on the topic.
    topic, db, table = kafka.topic(2), tmp_path / "state.db", tmp_path / "table.jsonl"
    rows: list[str] = []

    def change(user: str, n: int) -> None:
        rows.extend([user] * n)
        table.write_text("".join(json.dumps({"user": u}) + "\n" for u in rows))
        kafka.produce(topic, [{"user": user}] * n, partition=lambda i: i % 2)

    state = ("--store", "sqlite", "-T", f"path={db}", "--key", "user", "--monoid", "count", "--name", "r")
    handoff = ("--handoff-to", "kafka", "-H", f"brokers={kafka.bootstrap}", "-H", f"topic={topic}")
    live = ("run", "--source", "kafka", *state, "-S", f"brokers={kafka.bootstrap}", "-S", f"topic={topic}")
    live += ("-S", "commit_interval=200ms")
    change("a", 10)
    boot = murmur("run", "--source", "jsonl", "-S", f"path={table}", *state, *handoff)
    assert boot.returncode == 0, boot.stderr
    change("b", 6)
    first = drain(kafka, "murmur.r", topic, *live)
    assert first.returncode == 0, first.stderr
    assert kafka.committed("murmur.r", topic, 2) == {0: 8, 1: 8}
    change("c", 4)  # in the table, on the topic, not read by any live run: the group stays at 8
    again = murmur("run", "--source", "jsonl", "-S", f"path={table}", *state, *handoff, "--restart", "--force")
    assert again.returncode == 0, again.stderr
    change("d", 2)
    second = drain(kafka, "murmur.r", topic, *live)
    assert second.returncode == 0, second.stderr
    # The new snapshot read "c" already: the group's commits at 8 belong to the cleared state.
    assert get(db, "r", ["a", "b", "c", "d"]) == {"a": 10, "b": 6, "c": 4, "d": 2}
    assert kafka.committed("murmur.r", topic, 2) == {0: 11, 1: 11}
