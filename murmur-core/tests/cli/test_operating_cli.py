"""``murmur run --log-format json`` and ``--metrics-port``'s usage errors."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from cli_helpers import RUN_ORDERS, Invoke

KEYS = {"level", "time", "pipeline", "event", "message", "fields"}


def json_lines(text: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines and all(set(doc) == KEYS for doc in lines)
    return lines


def test_json_logs_are_one_object_per_line_with_the_summary(cli: Invoke, orders: Path) -> None:
    with orders.open("a") as f:
        f.write('{"customer": "dave", "amount": "lots"}\n')
    result = cli(*RUN_ORDERS, "--log-format", "json", "--metrics-port", "0", "--json")
    assert result.exit_code == 0, result.stderr
    lines = json_lines(result.stderr)
    assert [doc["event"] for doc in lines] == ["metrics_listening", "summary"]
    listening, summary = lines
    assert listening["level"] == "info" and listening["pipeline"] == "orders"
    assert str(listening["message"]).startswith("serving http://127.0.0.1:")
    assert summary["message"].startswith("orders · bootstrap finished in ")  # type: ignore[union-attr]
    assert summary["fields"] == json.loads(result.stdout)  # the --json summary, field for field
    fields = summary["fields"]
    assert isinstance(fields, dict)
    assert (fields["applied"], fields["dead_letters"]) == (5, 1)
    assert str(summary["time"]).endswith("Z")


def test_a_failed_run_logs_its_error_as_json(cli: Invoke, orders: Path) -> None:
    assert cli(*RUN_ORDERS, "-q").exit_code == 0
    result = cli(*RUN_ORDERS, "--log-format", "json")
    assert result.exit_code == 2
    (error,) = json_lines(result.stderr)
    assert error["level"] == "error" and error["event"] == "error" and error["pipeline"] == "orders"
    assert str(error["message"]).startswith("pipeline 'orders' already has a bootstrap checkpoint")
    assert error["fields"] == {"exit_code": 2, "type": "CheckpointExists"}


def test_log_format_and_metrics_port_from_the_config_file(cli: Invoke, orders: Path, workdir: Path) -> None:
    (workdir / "murmur.toml").write_text('[run]\nlog_format = "json"\nmetrics_port = 0\n')
    result = cli(*RUN_ORDERS, "--config", "murmur.toml")
    assert result.exit_code == 0, result.stderr
    assert [doc["event"] for doc in json_lines(result.stderr)] == ["metrics_listening", "summary"]


def test_the_default_stays_human(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS, "--metrics-port", "0")
    assert result.exit_code == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("murmur: metrics on http://127.0.0.1:") and first.endswith(
        "/metrics (probes: /healthz, /readyz)"
    )
    assert "records       5 (5 applied" in result.stderr


def test_metrics_port_without_prometheus_client_names_the_extra(
    cli: Invoke, orders: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if it were not installed
    result = cli(*RUN_ORDERS, "--metrics-port", "9108")
    assert result.exit_code == 2
    assert result.stderr == (
        "murmur: error: --metrics-port needs prometheus-client: pip install 'murmur-core[metrics]'\n"
    )


def test_metrics_port_in_use_or_out_of_range(cli: Invoke, orders: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli(*RUN_ORDERS, "--metrics-port", str(port))
    assert result.exit_code == 2
    assert result.stderr == f"murmur: error: --metrics-port {port}: cannot listen (Address already in use)\n"
    result = cli(*RUN_ORDERS, "--metrics-port", "70000")
    assert result.exit_code == 2
    assert result.stderr == "murmur: error: --metrics-port: expected a port from 0 to 65535, got 70000\n"
    result = cli(*RUN_ORDERS, "--log-format", "xml")
    assert result.exit_code == 2
    assert result.stderr == "murmur: error: --log-format: expected human or json, got 'xml'\n"
