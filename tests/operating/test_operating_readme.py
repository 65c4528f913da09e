"""murmur-core/README.md "Operating it": every command of its ``sh`` block runs, against the real Kafka
test broker, and the samples of ``/metrics`` and ``murmur status`` output match what a run prints."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from operating_helpers import MURMUR, Worker, value, wait_for

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "murmur-core" / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def section() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    part = text.split("## Operating it\n", 1)[1].split("\n## ", 1)[0]
    return FENCE.findall(part)


def bash(command: str, cwd: Path) -> str:
    shown = command.replace("murmur ", f"{MURMUR} ", 1) if command.startswith("murmur ") else command
    done = subprocess.run(["bash", "-c", shown], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_operating_section_runs_as_shown(
    kafka_broker: Any, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    blocks = section()
    commands = [line for lang, body in blocks if lang == "sh" for line in body.splitlines() if line.strip()]
    assert [c.split()[0] for c in commands] == ["murmur", "curl", "curl", "murmur", "murmur"]
    samples = [body for lang, body in blocks if lang == "text"]
    assert len(samples) == 2
    shutil.copy(ROOT / "examples" / "quickstart" / "orders.jsonl", tmp_path)
    topic = unique_name("orders")
    kafka_broker.create_topic(topic, 3)

    run = commands[0].replace("localhost:9092", kafka_broker.bootstrap).replace("topic=orders", f"topic={topic}")
    args = shlex.split(run.replace("--metrics-port 9108", "--metrics-port 0"))
    assert args[0] == "murmur" and "--metrics-port" in args
    worker = Worker(args[1:], tmp_path)
    try:
        live = {"pipeline": "revenue", "mode": "live"}
        wait_for(
            lambda: value(worker.scrape(), "murmur_records_total", **live, outcome="applied") is not None,
            message=worker.stderr,
        )
        producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
        for i in range(200):
            order = {"customer": ["alice", "bob", "carol", "dave", "erin"][i % 5], "amount": 10}
            producer.produce(topic, json.dumps(order).encode(), key=order["customer"].encode())
        assert producer.flush(30) == 0

        def caught_up() -> bool:
            got = worker.scrape()
            lags = [v for (name, _), v in got.items() if name == "murmur_live_lag"]
            return value(got, "murmur_records_total", **live, outcome="applied") == 200 and bool(lags) and not any(lags)

        wait_for(caught_up, message=worker.stderr)
        port = worker.url.rsplit(":", 1)[1]
        scraped = bash(commands[1].replace("9108", port), tmp_path).replace(topic, "orders")
        assert bash(commands[2].replace("9108", port), tmp_path) == "ok\n"
        status = bash(commands[3], tmp_path).replace(topic, "orders")
        one = json.loads(bash(commands[4], tmp_path))
    finally:
        summary = worker.stop()
    print(scraped, status, sep="\n----\n")  # shown by pytest when an assertion below fails
    assert summary["applied"] == 220 and summary["phases"]["live"]["applied"] == 200

    # The /metrics sample: lines of the scrape ("..." for those left out); timings vary, counts do not.
    def sample(line: str) -> tuple[str, str]:
        series, _, number = line.rpartition(" ")
        timing = series.startswith(("murmur_store_merge", "murmur_checkpoint_age"))
        return series, "" if timing else number

    scraped_lines = {sample(line) for line in scraped.splitlines()}
    shown = [line for line in samples[0].splitlines() if line != "..."]
    assert len(shown) >= 10
    assert [line for line in shown if sample(line) not in scraped_lines] == []
    assert 'murmur_records_total{mode="live",outcome="applied",pipeline="revenue"} 200.0' in scraped

    # The status sample: the same lines but for the timestamps and ages.
    def shape(text: str) -> list[str]:
        text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", "TIME", text)
        text = re.sub(r"\(\d+[smhd] ago\)", "(AGE)", text)
        text = re.sub(r"kafka at \{[^}]*\}", "kafka at OFFSETS", text)  # which partitions got messages varies
        return re.sub(r'"\d+": \d+', '"P": N', text).splitlines()

    assert shape(samples[1]) == shape(status)
    (doc,) = one["pipelines"]
    assert doc["pipeline"] == "revenue" and doc["bootstrap"]["state"] == "finished"
    assert doc["handoff"]["live"]["source"] == "kafka"
