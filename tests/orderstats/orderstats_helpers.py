"""Helpers for the orderstats scenario on real servers: Mongo (nx-27017), Kafka (librdkafka mock),
DynamoDB (moto).

An :class:`Orderstats` (the ``orderstats`` fixture) gives each test its own database, topic (3
partitions), state table, pipeline name and consumer group, builds the ``murmur run`` command lines
of the example README, runs them as subprocesses (killed at the end, whatever happens), and compares
the totals in DynamoDB with a recount of the final Mongo collection.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from murmur_test_servers import wait_for
from murmur_test_servers.dynamodb import env as aws_env

#: How long a command that should end may take. Generous: a bootstrap that takes 20 s on an idle
#: machine took over 120 s with two CPU hogs and four other test suites beside it; only a hang
#: should ever reach this.
RUN_TIMEOUT = 900.0
#: A live worker that has not moved the group's committed offsets for this long is stuck, not slow:
#: at a load average of 10, two workers over the DynamoDB test server (one Python process) once went
#: 90 s without a new commit. A hang still fails, later.
STALL = 300.0

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "orderstats"
PIPELINE = f"{EXAMPLE / 'pipeline.py'}:orders"
MURMUR = str(Path(sys.executable).with_name("murmur"))
CUSTOMERS = tuple(f"c{i:02d}" for i in range(1, 9))


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


generate = _load("orderstats_generate", EXAMPLE / "generate.py")
pipeline_module = _load("orderstats_pipeline", EXAMPLE / "pipeline.py")


@dataclass
class Run:
    """A finished ``murmur`` subprocess."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        """The ``--json`` summary (the last line of stdout)."""
        return json.loads(self.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


class Proc:
    """A running ``murmur`` subprocess, its output going to files (no pipe can fill up and block it)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, label: str) -> None:
        self.args = args
        self.out_path = cwd / f"{label}.out"
        self.err_path = cwd / f"{label}.err"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.popen = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)

    def wait(self, timeout: float) -> Run:
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{' '.join(self.args)} did not end within {timeout}s:\n{self.stderr()}") from None
        return Run(self.args, code, self.out_path.read_text(), self.stderr())

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")[-4000:]


@dataclass
class Orderstats:
    """One test's world: names on the shared servers, command lines, subprocesses, totals."""

    mongo_uri: str
    brokers: str
    dynamodb: str
    database: str
    topic: str
    table: str
    pipeline: str
    workdir: Path
    procs: list[Proc] = field(default_factory=list)
    generators: list[Any] = field(default_factory=list)
    threads: list[tuple[threading.Thread, threading.Event]] = field(default_factory=list)
    _store: Any = None

    @property
    def token(self) -> Path:
        return self.workdir / "token.json"

    @property
    def env(self) -> dict[str, str]:
        values = {**os.environ, **aws_env(self.dynamodb)}
        values.pop("AWS_ENDPOINT_URL_DYNAMODB", None)  # every command names its endpoint
        values.pop("MURMUR_DEBUG", None)
        return values

    # ------------------------------------------------------------------ data

    def generator(self, seed: int, *, duplicate: bool = False) -> Any:
        gen = generate.OrderGenerator(
            self.mongo_uri, self.brokers, database=self.database, topic=self.topic, seed=seed, duplicate=duplicate
        )
        self.generators.append(gen)
        return gen

    def in_background(self, gen: Any, *, rate: float, **kwargs: Any) -> threading.Event:
        """Run ``gen.run(seconds=inf, rate=rate)`` on a thread until the returned event is set."""
        stop = threading.Event()
        thread = threading.Thread(
            target=gen.run, kwargs={"seconds": float("inf"), "rate": rate, "stop": stop, **kwargs}, daemon=True
        )
        thread.start()
        self.threads.append((thread, stop))
        return stop

    def stop_background(self) -> None:
        for thread, stop in self.threads:
            stop.set()
            thread.join(timeout=30)
            assert not thread.is_alive(), "the generator thread did not stop"
        self.threads.clear()

    def recount(self) -> dict[str, int]:
        return generate.recount(self.mongo_uri, database=self.database)  # type: ignore[no-any-return]

    @property
    def store(self) -> Any:
        """The test's own reader of the state table (the runs under test are other processes)."""
        if self._store is None:
            from murmur_dynamodb import DynamoDBStore

            self._store = DynamoDBStore(self.table, endpoint_url=self.dynamodb, region="us-east-1")
        return self._store

    def totals(self, pipeline: str | None = None) -> dict[str, int]:
        """Per-customer totals in the state table (customers with nothing stored left out)."""
        from murmur import StateKey, Sum

        values = self.store.get_many(pipeline or self.pipeline, [StateKey(c, 0) for c in CUSTOMERS], Sum())
        return {c: v for c, v in zip(CUSTOMERS, values, strict=True) if v is not None}

    def assert_exact(self, pipeline: str | None = None) -> dict[str, int]:
        """The stored totals equal a recount of the collection (a customer whose orders are all gone: 0)."""
        expected = self.recount()
        got = self.totals(pipeline)
        assert set(expected) <= set(CUSTOMERS)
        assert {c: got.get(c, 0) for c in CUSTOMERS} == {c: expected.get(c, 0) for c in CUSTOMERS}
        assert sum(expected.values()) > 0
        return got

    def meta(self, name: str, pipeline: str | None = None) -> dict[str, Any] | None:
        """A checkpoint document of the pipeline (``handoff``, ``segment/0/1``...), read from the store."""
        return self.store.read_meta(pipeline or self.pipeline, name)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ command lines

    def store_args(self, endpoint: str | None = None) -> list[str]:
        return [
            "--store",
            "dynamodb",
            "-T",
            f"table={self.table}",
            "-T",
            f"endpoint_url={endpoint or self.dynamodb}",
            "-T",
            "transactional=true",  # state, contributions and checkpoint in one transaction
        ]

    def bootstrap_args(self, *extra: str, pipeline: str | None = None, token: Path | None = None) -> list[str]:
        return [
            MURMUR,
            "run",
            "--source",
            "mongo",
            "-S",
            f"uri={self.mongo_uri}",
            "-S",
            f"database={self.database}",
            "-S",
            "collection=orders",
            *self.store_args(),
            "--pipeline",
            PIPELINE,
            "--name",
            pipeline or self.pipeline,
            "--handoff-to",
            "kafka",
            "-H",
            f"brokers={self.brokers}",
            "-H",
            f"topic={self.topic}",
            "--handoff-out",
            str(token or self.token),
            *extra,
        ]

    def live_args(
        self,
        *extra: str,
        endpoint: str | None = None,
        group: str | None = None,
        pipeline: str | None = None,
        flags: bool = False,
    ) -> list[str]:
        """The live worker; ``flags=True`` gives the pipeline as plain flags instead of ``--pipeline``."""
        name = pipeline or self.pipeline
        spec = ["--key", "customer_id", "--value", "amount", "--monoid", "sum"] if flags else ["--pipeline", PIPELINE]
        return [
            MURMUR,
            "run",
            "--source",
            "kafka",
            *self.kafka_options("-S", group=group or f"murmur.{name}"),
            "--from-handoff",
            str(self.token),
            *self.store_args(endpoint),
            *spec,
            "--name",
            name,
            *extra,
        ]

    def kafka_options(self, flag: str, *, group: str | None = None) -> list[str]:
        options = [
            f"brokers={self.brokers}",
            f"topic={self.topic}",
            "decoder=debezium",
            "commit_interval=300ms",
            # A killed member's partitions move on after 6 s instead of the default 45 s. (KIP-848 groups,
            # kafka.group.protocol=consumer, held a SIGKILLed member's partitions for ~30 s on the mock broker.)
            # Not shorter: on a loaded machine a 1 s session expired between heartbeats, and the
            # group rebalanced over and over without consuming (the tests wait on progress instead).
            "kafka.session.timeout.ms=6000",
            "kafka.heartbeat.interval.ms=1000",
        ]
        if group is not None:
            options.append(f"group={group}")
        return [part for option in options for part in (flag, option)]

    # ------------------------------------------------------------------ processes

    def spawn(self, args: Sequence[str], label: str = "murmur") -> Proc:
        proc = Proc(list(args), self.env, self.workdir, f"{label}-{len(self.procs)}")
        self.procs.append(proc)
        return proc

    def run(self, args: Sequence[str], *, timeout: float = RUN_TIMEOUT, label: str = "murmur") -> Run:
        """Run to the end; exit code 0 or the test fails with the command's stderr."""
        result = self.spawn(args, label).wait(timeout)
        assert result.returncode == 0, f"exit {result.returncode}: {' '.join(args)}\n{result.stderr}"
        return result

    def drain(self, args: Sequence[str], *, group: str, label: str = "drain", timeout: float = STALL) -> Run:
        """Run a live worker until its group has committed every envelope of the topic, then SIGTERM it
        (a clean stop: exit 0 and its ``--json`` summary). Unlike ``--until-idle``, this does not end
        early while the group is still rebalancing away from killed members."""
        return self.finish(self.spawn(args, label), group=group, timeout=timeout)

    def finish(self, proc: Proc, *, group: str, timeout: float = STALL) -> Run:
        """Let a running live worker catch up with the topic (its group commits everything), then SIGTERM it."""
        # A loaded machine may be slow, not stuck: the deadline moves on while the group keeps
        # committing, and the test fails only after `timeout` seconds without any progress.
        progress = Progress(
            lambda: committed_offsets(self.brokers, self.topic, group), stall=timeout, detail=proc.stderr
        )
        wait_for(
            lambda: not proc.alive() or progress.reached(self.published()),
            timeout=progress.cap,
            interval=0.2,
            message=lambda: (
                f"{group} committed {progress.last} of {self.published()} envelopes"
                f" ({progress.describe()})\n{proc.stderr()}"
            ),
        )
        assert proc.alive(), f"the live worker ended on its own:\n{proc.stderr()}"
        proc.popen.send_signal(signal.SIGTERM)
        result = proc.wait(timeout=30)
        assert result.returncode == 0, f"exit {result.returncode} after SIGTERM:\n{result.stderr}"
        return result

    def published(self) -> int:
        return end_offsets(self.brokers, self.topic)

    def close(self) -> None:
        for thread, stop in self.threads:
            stop.set()
            thread.join(timeout=30)
        for proc in self.procs:
            proc.kill()
        for gen in self.generators:
            try:
                gen.close()
            except Exception:  # already reported by the test, or the test failed elsewhere
                pass
        if self._store is not None:
            self._store.close()


class Progress:
    """A count that should reach a target: ``reached`` is true when it does, and raises once the
    count has not moved for ``stall`` seconds (so a slow machine gets all the time it needs)."""

    def __init__(
        self, count: Callable[[], int], *, stall: float, detail: Callable[[], str] = str, cap_factor: float = 10
    ) -> None:
        self.count = count
        self.detail = detail
        self.stall = stall
        self.cap = stall * cap_factor  # the overall limit, far above any healthy run
        self.last = -1
        self.moved = time.monotonic()

    def reached(self, target: int) -> bool:
        value = self.count()
        if value != self.last:
            self.last, self.moved = value, time.monotonic()
        elif time.monotonic() - self.moved > self.stall:
            raise AssertionError(f"no progress for {self.stall:g}s at {value} of {target}\n{self.detail()}")
        return value >= target

    def describe(self) -> str:
        return f"last progress {time.monotonic() - self.moved:.0f}s ago"


def committed_offsets(brokers: str, topic: str, group: str) -> int:
    """The sum of the group's committed offsets on the topic's 3 partitions (0 where none)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
    try:
        parts = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        return sum(max(tp.offset, 0) for tp in parts)
    finally:
        consumer.close()


def end_offsets(brokers: str, topic: str) -> int:
    """The sum of the topic's high watermarks: every envelope published so far."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "orderstats-watermarks"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(3))
    finally:
        consumer.close()


__all__ = [
    "CUSTOMERS",
    "RUN_TIMEOUT",
    "Orderstats",
    "Progress",
    "Proc",
    "Run",
    "committed_offsets",
    "end_offsets",
    "generate",
    "wait_for",
]
