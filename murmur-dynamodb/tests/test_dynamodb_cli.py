"""The CLI in a real subprocess: `murmur dynamodb create-tables`, `murmur run`/`get` with DynamoDB."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dynamodb_helpers import create_plain_table, put_items

MURMUR = shutil.which("murmur", path=str(Path(sys.executable).parent)) or "murmur"


def murmur(
    *args: str, env: dict[str, str | None] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with dummy credentials; ``env`` values of None unset a variable."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    full.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return subprocess.run([MURMUR, *args], capture_output=True, text=True, timeout=timeout, env=full, check=False)


def test_create_tables_is_idempotent(dynamodb_endpoint: str, unique_name: Callable[[str], str]) -> None:
    state, dedup = unique_name("state"), unique_name("dedup")
    args = ("dynamodb", "create-tables", "--state", state, "--dedup", dedup, "--endpoint-url", dynamodb_endpoint)
    first = murmur(*args)
    assert first.returncode == 0, first.stderr
    assert f"state table {state!r}: created" in first.stdout
    assert f"dedup table {dedup!r}: created" in first.stdout
    second = murmur(*args)
    assert second.returncode == 0, second.stderr
    assert f"state table {state!r}: already there with the right key schema" in second.stdout
    assert f"dedup table {dedup!r}: already there with the right key schema" in second.stdout


def test_create_tables_refuses_a_table_with_another_schema(
    dynamodb_endpoint: str, endpoint: dict[str, Any], unique_name: Callable[[str], str]
) -> None:
    wrong = unique_name("wrong")
    create_plain_table(endpoint, wrong)  # hash key `id` only
    result = murmur("dynamodb", "create-tables", "--state", wrong, "--endpoint-url", dynamodb_endpoint)
    assert result.returncode == 2
    assert f"state table {wrong!r} exists with key schema id (S, HASH)" in result.stderr
    assert "pk (S, HASH), sk (N, RANGE)" in result.stderr
    same = murmur("dynamodb", "create-tables", "--state", "t1", "--dedup", "t1", "--endpoint-url", dynamodb_endpoint)
    assert same.returncode == 2
    assert "--dedup" in same.stderr


def test_missing_region_is_a_usage_error(dynamodb_endpoint: str) -> None:
    result = murmur(
        "dynamodb",
        "create-tables",
        "--endpoint-url",
        dynamodb_endpoint,
        env={"AWS_DEFAULT_REGION": None, "AWS_CONFIG_FILE": os.devnull},
    )
    assert result.returncode == 2
    assert "region" in result.stderr


def test_jsonl_into_the_dynamodb_store_exactly_once(
    tmp_path: Path, dynamodb_endpoint: str, tables: tuple[str, str], unique_name: Callable[[str], str]
) -> None:
    state, dedup = tables
    lines: list[dict[str, Any]] = [{"id": i, "customer": f"c{i % 6}", "amount": i - 40} for i in range(150)]
    path = tmp_path / "orders.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    expected: Counter[str] = Counter()
    for line in lines:
        expected[line["customer"]] += line["amount"]
    name = unique_name("orders")
    store = ("--store", "dynamodb", "-T", f"table={state}", "-T", f"endpoint_url={dynamodb_endpoint}")
    run = (
        "run", "--source", "jsonl", "-S", f"path={path}", *store,
        "--dedup", "dynamodb", "-D", f"table={dedup}", "-D", f"endpoint_url={dynamodb_endpoint}",
        "--key", "customer", "--value", "amount", "--monoid", "sum", "--name", name,
    )  # fmt: skip
    first = murmur(*run)
    assert first.returncode == 0, first.stderr
    assert "150 applied" in first.stderr  # the progress summary
    again = murmur(*run, "--restart", "--json")  # start over: state and claims cleared, applied once more
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["cleared"]["claims"] == 150
    assert summary["dedup_skips"] == 0
    assert summary["applied"] == 150
    got = murmur("get", *store, "--name", name, "--json", *sorted(expected), "nobody")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == {**dict(expected), "nobody": None}


def test_dynamodb_scan_into_sqlite_with_four_segments(
    tmp_path: Path, dynamodb_endpoint: str, endpoint: dict[str, Any], unique_name: Callable[[str], str]
) -> None:
    table = unique_name("orders")
    create_plain_table(endpoint, table)
    items: list[dict[str, Any]] = [{"id": f"o{i}", "customer": f"c{i % 7}", "amount": i} for i in range(120)]
    put_items(endpoint, table, items)
    expected: Counter[str] = Counter()
    for item in items:
        expected[item["customer"]] += item["amount"]
    db = tmp_path / "state.db"
    result = murmur(
        "run", "--source", "dynamodb", "-S", f"table={table}", "-S", f"endpoint_url={dynamodb_endpoint}",
        "-S", "page_size=10", "--segments", "4", "--store", "sqlite", "-T", f"path={db}",
        "--key", "customer", "--value", "amount", "--monoid", "sum", "--name", "orders",
        "--handoff-out", str(tmp_path / "handoff.json"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "120 applied" in result.stderr
    handoff = json.loads((tmp_path / "handoff.json").read_text())
    assert handoff["source"] == "dynamodb"
    assert handoff["token"]["table"] == table
    got = murmur("get", "--store", "sqlite", "-T", f"path={db}", "--name", "orders", "--json", *sorted(expected))
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == dict(expected)


def test_plugin_registration_does_not_import_boto3() -> None:
    code = "import sys, murmur_dynamodb._plugin; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_plugins_list_states_the_guarantee_of_each_configuration() -> None:
    result = murmur("plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {(r["name"], r["kind"]): r for r in json.loads(result.stdout)["adapters"]}
    store = " ".join(rows[("dynamodb", "store")]["guarantees"])
    assert "exactly-once with the dynamodb deduper" in store
    assert "at-least-once with transactional=false" in store
    assert rows[("dynamodb", "dedup")]["status"] == "ok"
    assert "splittable (ParallelScan)" in rows[("dynamodb", "source")]["guarantees"]


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("murmur: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_create_tables_without_a_region_names_its_flag_and_the_variables(dynamodb_endpoint: str) -> None:
    result = murmur(
        "dynamodb", "create-tables", "--endpoint-url", dynamodb_endpoint,
        env={"AWS_DEFAULT_REGION": None, "AWS_REGION": None, "AWS_CONFIG_FILE": os.devnull},
    )  # fmt: skip
    assert result.returncode == 2
    assert _one_error_line(result.stderr) == (
        "murmur: error: murmur dynamodb create-tables: no AWS region: give --region (e.g. --region us-east-1),"
        " or set AWS_DEFAULT_REGION or AWS_REGION"
    )


def test_missing_credentials_name_the_variables_and_dummy_keys_for_a_local_endpoint(
    dynamodb_endpoint: str, tmp_path: Path
) -> None:
    no_credentials = {
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata lookup on a machine that is not EC2
    }
    result = murmur("dynamodb", "create-tables", "--endpoint-url", dynamodb_endpoint, env=no_credentials)
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in line
    assert f"{dynamodb_endpoint} is a local endpoint" in line
    assert "any dummy values do, e.g. AWS_ACCESS_KEY_ID=dummy AWS_SECRET_ACCESS_KEY=dummy" in line
    orders = tmp_path / "orders.jsonl"
    orders.write_text('{"customer": "a", "amount": 1}\n')
    run = murmur(
        "run", "--source", "jsonl", "-S", f"path={orders}", "--key", "customer", "--value", "amount",
        "--monoid", "sum", "--name", "orders", "--store", "dynamodb", "-T", f"endpoint_url={dynamodb_endpoint}",
        env=no_credentials,
    )  # fmt: skip
    assert run.returncode == 2
    assert "no AWS credentials" in _one_error_line(run.stderr)


def test_create_tables_usage_errors_are_one_line_naming_the_flag(dynamodb_endpoint: str) -> None:
    result = murmur("dynamodb", "create-tables", "--wait-timeout", "soon", "--endpoint-url", dynamodb_endpoint)
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert line.startswith("murmur: error: murmur dynamodb create-tables: ")
    assert "--wait-timeout" in line
    unknown = murmur("dynamodb", "create-tables", "--regoin", "eu-west-1")
    assert unknown.returncode == 2
    assert "--regoin" in _one_error_line(unknown.stderr)
