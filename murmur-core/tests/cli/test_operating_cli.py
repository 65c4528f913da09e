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
    assert result.stderr == (
        f"murmur: error: --metrics-port {port}: cannot listen on 0.0.0.0:{port} (Address already in use)\n"
    )
    result = cli(*RUN_ORDERS, "--metrics-port", "70000")
    assert result.exit_code == 2
    assert result.stderr == "murmur: error: --metrics-port: expected a port from 0 to 65535, got 70000\n"
    result = cli(*RUN_ORDERS, "--log-format", "xml")
    assert result.exit_code == 2
    assert result.stderr == "murmur: error: --log-format: expected human or json, got 'xml'\n"


def test_log_records_and_progress_become_json_events() -> None:
    import datetime as dt
    import io
    import logging
    import time

    from murmur import RunStatus
    from murmur.cli._jsonlog import JsonLog

    stream = io.StringIO()
    log = JsonLog("orders", stream, now=lambda: dt.datetime(2026, 3, 1, 9, 12, tzinfo=dt.UTC))
    status = RunStatus("orders", "live")
    status.event("orders", 7)
    status.source_stats = {"lag": {"t:0": 3}}
    with log.routed(quiet=False):
        logging.getLogger("murmur.kafka").warning("rebalancing %s", "t:0")
        log.write("murmur: warning: --restart without --dedup counts again")
        with log.progress(lambda: status, interval=0.01):
            deadline = time.monotonic() + 60
            while '"progress"' not in stream.getvalue() and time.monotonic() < deadline:
                time.sleep(0.01)
    lines = json_lines(stream.getvalue())
    assert lines[0] == {
        "level": "warning", "time": "2026-03-01T09:12:00.000Z", "pipeline": "orders", "event": "log",
        "message": "rebalancing t:0", "fields": {"logger": "murmur.kafka"},
    }  # fmt: skip
    assert (lines[1]["level"], lines[1]["event"], lines[1]["message"]) == (
        "warning",
        "message",
        "--restart without --dedup counts again",
    )
    progress = lines[2]
    assert progress["event"] == "progress"
    fields = progress["fields"]
    assert isinstance(fields, dict)
    assert (fields["mode"], fields["applied"], fields["lag"]) == ("live", 7, {"t:0": 3})


def test_metrics_host_picks_the_address_and_is_checked(cli: Invoke, orders: Path, workdir: Path) -> None:
    result = cli(*RUN_ORDERS, "--metrics-port", "0", "--metrics-host", "127.0.0.2")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("murmur: metrics on http://127.0.0.2:")
    (workdir / "murmur.toml").write_text('[run]\nmetrics_port = 0\nmetrics_host = "127.0.0.3"\n')
    result = cli(*RUN_ORDERS, "--config", "murmur.toml", "--restart")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("murmur: metrics on http://127.0.0.3:")
    result = cli(*RUN_ORDERS, "--metrics-port", "0", "--metrics-host", "192.0.2.1")  # not this machine's
    assert result.exit_code == 2
    assert result.stderr.startswith("murmur: error: --metrics-port 0: cannot listen on 192.0.2.1:0 (")
    result = cli(*RUN_ORDERS, "--metrics-host", "127.0.0.1")
    assert result.exit_code == 2
    assert result.stderr == "murmur: error: --metrics-host needs --metrics-port (the port to serve on)\n"
    result = cli(*RUN_ORDERS, "--metrics-port", "0", "--metrics-host", " ")
    assert result.exit_code == 2
    assert result.stderr == "murmur: error: --metrics-host: empty; give an address such as 127.0.0.1\n"
