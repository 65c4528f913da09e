"""Every command of murmur-kafka/README.md, run as written against the test servers.

The commands are read from the README itself (its ``sh`` and ``python`` blocks); only the
placeholders change: ``kafka1:9092`` becomes the test broker, ``mongodb://mongo1:27017`` the test
MongoDB, and each topic a fresh one (the broker lives for the whole test session). A command that
runs until stopped is stopped with SIGTERM once its totals are there, as the README says.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from cdc_table import Table
from conftest import DRAIN_TIMEOUT, Kafka
from murmur_test_servers import wait_for
from murmur_test_servers.kafka import KafkaBroker

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent
BROKERS, MONGO = "kafka1:9092", "mongodb://mongo1:27017"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def readme_commands() -> list[list[str]]:
    """The shell commands of the README, continuation lines joined, comments dropped."""
    out: list[list[str]] = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                out.append(argv)
    return out


def command(prefix: str) -> list[str]:
    """The one README command that starts with ``prefix`` (and fails if there is none or several)."""
    found = [argv for argv in readme_commands() if " ".join(argv).startswith(prefix)]
    assert len(found) == 1, f"{len(found)} README commands start with {prefix!r}"
    return found[0]


def placed(argv: list[str], *, topics: dict[str, str], brokers: str = BROKERS, mongo_uri: str = "") -> list[str]:
    """``argv`` with the test servers and fresh topics in place of the README's placeholders."""
    out = []
    for arg in argv:
        name, sep, value = arg.partition("=")
        if sep and name in ("topic", "dlq_topic") and value in topics:
            arg = f"{name}={topics[value]}"
        arg = arg.replace(BROKERS, brokers)
        if mongo_uri:
            arg = arg.replace(MONGO, mongo_uri)
        if arg == "murmur":
            arg = str(BIN / "murmur")
        out.append(arg)
    return out


def readme_env(kafka: Kafka) -> dict[str, str]:
    """The environment after the README's ``export`` lines (brokers in place)."""
    env = dict(os.environ)
    for argv in readme_commands():
        if argv[0] == "export":
            name, _, value = argv[1].partition("=")
            env[name] = value.replace(BROKERS, kafka.bootstrap)
    return env


def get(cwd: Path, name: str, keys: list[str], db: str | None = None) -> dict[str, Any]:
    args = [str(BIN / "murmur"), "get", "--name", name, "--json", *keys]
    if db is not None:
        args[2:2] = ["--store", "sqlite", "-T", f"path={db}"]
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    values: dict[str, Any] = json.loads(out.stdout)
    return values


@contextlib.contextmanager
def running(argv: list[str], *, cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A command that runs until stopped; stopped with SIGTERM on the way out (killed if it hangs)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, then the exit must be clean (0): the README's promise."""
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=DRAIN_TIMEOUT)
    assert proc.returncode == 0, stderr
    return stderr


def until(proc: subprocess.Popen[str], check: Callable[[], bool], what: str) -> None:
    def done() -> bool:
        assert proc.poll() is None, proc.communicate()[1]
        return check()

    wait_for(done, DRAIN_TIMEOUT, interval=0.3, message=what)


@pytest.fixture
def kafka(
    tmp_path_factory: pytest.TempPathFactory, unique_name: Callable[[str], str], registry: Any
) -> Iterator[Kafka]:
    """A broker of the test's own (it starts in well under a second). The README's commands use
    fixed consumer groups (``murmur.<name>``), and the mock broker holds a member that left such
    a group for its whole session timeout (45 s by default): the next test's member of that group
    waited that long to be assigned, and the Python example's 5 s idle window then raced it."""
    with KafkaBroker(log_dir=tmp_path_factory.mktemp("kafka")) as broker:
        k = Kafka(broker.bootstrap, broker, unique_name, registry)
        yield k
        for src in k.opened:
            with contextlib.suppress(Exception):
                src.close()


def test_the_readme_commands_are_the_ones_these_tests_run() -> None:
    prefixes = [
        "pip install murmur-kafka",
        "murmur plugins show kafka",
        "export MURMUR_KAFKA_BROKERS=",
        "murmur run --source kafka -S topic=page-views",
        "murmur run --source kafka --store sqlite -S topic=shop.orders",
        "murmur run --source mongo",
        "murmur run --source kafka -S topic=cdc.shop.orders",
    ]
    commands = [" ".join(argv) for argv in readme_commands()]
    assert len(commands) == len(prefixes), commands
    for prefix in prefixes:
        command(prefix)
    assert len(_blocks("python")) == 1


def test_pip_install_names_this_distribution_and_what_it_pulls() -> None:
    argv = command("pip install")
    dist = metadata.distribution(argv[-1])
    assert dist.metadata["Name"] == "murmur-kafka"
    requires = " ".join(dist.requires or [])
    assert "murmur-core" in requires and "confluent-kafka" in requires


def test_plugins_show_kafka_lists_every_option() -> None:
    out = subprocess.run(placed(command("murmur plugins show"), topics={}), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for option in ("brokers", "topic", "poll_batch", "commit_interval", "event_time", "MURMUR_KAFKA_BROKERS"):
        assert option in out.stdout


def test_quick_start_counts_page_views_and_stops_cleanly_on_sigterm(kafka: Kafka, tmp_path: Path) -> None:
    topic = kafka.topic(2)
    users = [f"u{i % 9}" for i in range(1_000)]
    kafka.produce(topic, [{"user": u} for u in users], partition=lambda i: i % 2)
    argv = placed(command("murmur run --source kafka -S topic=page-views"), topics={"page-views": topic})
    with running(argv, cwd=tmp_path, env=readme_env(kafka)) as proc:
        expected = dict(Counter(users))
        until(proc, lambda: (tmp_path / "murmur.db").exists() and get(tmp_path, "views", sorted(expected)) == expected,
              "the page views were not counted")  # fmt: skip
        stop(proc)
    assert kafka.committed("murmur.views", topic, 2) == {0: 500, 1: 500}


def test_quick_start_debezium_totals_and_the_dead_letter_topic(kafka: Kafka, tmp_path: Path) -> None:
    topic, dlq = kafka.topic(3), kafka.topic(1, "dlq")
    table = Table(random.Random(11))
    for _ in range(300):
        table.step()
    table.produce(kafka, topic, table.events)
    kafka.produce(topic, [b"{not an event"], partition=0)
    argv = placed(
        command("murmur run --source kafka --store sqlite -S topic=shop.orders"),
        topics={"shop.orders": topic, "shop.orders.dlq": dlq},
    )
    customers = [f"c{i}" for i in range(6)]
    with running(argv, cwd=tmp_path, env=readme_env(kafka)) as proc:

        def totals() -> bool:
            if not (tmp_path / "murmur.db").exists():
                return False
            got = get(tmp_path, "order-totals", customers)
            return {c: v for c, v in got.items() if v} == table.totals()

        until(proc, totals, "the order totals did not match the table")
        (letter,) = kafka.read_all(dlq, 1)
        stop(proc)
    assert letter.value() == b"{not an event"
    assert dict(letter.headers())["x-murmur-error-kind"] == b"decode"


@pytest.fixture
def orders(mongo_uri: str) -> Iterator[Any]:
    import pymongo

    client: Any = pymongo.MongoClient(mongo_uri)
    coll = client["shop"]["orders"]
    coll.drop()
    yield coll
    coll.drop()
    client.close()


def test_handoff_from_a_mongo_bootstrap_to_the_debezium_topic(
    kafka: Kafka, tmp_path: Path, mongo_uri: str, orders: Any
) -> None:
    # murmur-kafka's own session has only the core beside it; the integration session runs this.
    pytest.importorskip("murmur_mongo", reason="the README's Mongo handoff needs murmur-mongo installed")
    topic = kafka.topic(3)
    table = Table(random.Random(5))
    for _ in range(150):
        table.step()
    # The collection as it is when the bootstrap runs; its changes so far are already in the topic.
    orders.insert_many([{"_id": doc_id, **doc} for doc_id, doc in table.docs.items()])
    table.produce(kafka, topic, table.events)
    env = readme_env(kafka)
    topics = {"cdc.shop.orders": topic}
    boot = subprocess.run(
        placed(command("murmur run --source mongo"), topics=topics, brokers=kafka.bootstrap, mongo_uri=mongo_uri),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert boot.returncode == 0, boot.stderr
    live = json.loads((tmp_path / "handoff.json").read_text())["live"]
    assert live["source"] == "kafka" and live["position"]["topic"] == topic

    seen = len(table.events)
    for _ in range(100):  # changes after the snapshot: only in the topic
        table.step()
    table.produce(kafka, topic, table.events[seen:])
    customers = [f"c{i}" for i in range(6)]
    argv = placed(command("murmur run --source kafka -S topic=cdc.shop.orders"), topics=topics)
    with running(argv, cwd=tmp_path, env=env) as proc:

        def totals() -> bool:
            got = get(tmp_path, "order-totals", customers)
            return {c: v for c, v in got.items() if v} == table.totals()

        until(proc, totals, "the totals after the handoff did not match the table")
        stop(proc)


def test_the_python_example_runs_the_live_pipeline(kafka: Kafka, tmp_path: Path) -> None:
    topic = kafka.topic(3)
    table = Table(random.Random(8))
    for _ in range(200):
        table.step()
    table.produce(kafka, topic, table.events)
    (code,) = _blocks("python")
    script = tmp_path / "example.py"
    script.write_text(code.replace(BROKERS, kafka.bootstrap).replace('"shop.orders"', f'"{topic}"'))
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    applied, lag = run.stdout.split()
    assert int(applied) > 0 and lag == "0"
    got = get(tmp_path, "order-totals", [f"c{i}" for i in range(6)], db="state.db")
    assert {c: v for c, v in got.items() if v} == table.totals()
