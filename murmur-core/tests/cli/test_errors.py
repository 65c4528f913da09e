"""Bad input: exit code 2 with a one-line message naming what is wrong; run failures exit 1."""

from __future__ import annotations

import gzip
import json
import textwrap
from pathlib import Path

import pytest
from cli_helpers import RUN_ORDERS, Invoke

BASE = ("run", "--source", "jsonl", "-S", "path=orders.jsonl", "--key", "customer", "--value", "amount", "--name", "n")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ("run", "--source", "nope", "--key", "k", "--monoid", "count", "--name", "n"),
            ["unknown source 'nope'", "snapshot sources:", "jsonl", "live sources:", "ticks"],
            id="unknown-source",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--store", "nowhere"),
            ["--store: unknown store 'nowhere'", "available:", "sqlite", "memory"],
            id="unknown-store",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--dedup", "nothing"), ["unknown deduper 'nothing'"], id="unknown-dedup"
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "-S", "bogus=1"),
            ["-S bogus:", "has no option 'bogus'", "its options: path, batch_size, block_size"],
            id="unknown-option",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "-S", "batch_size=lots"),
            ["-S batch_size: expected an integer, got 'lots'"],
            id="wrong-type",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "-T", "synchronous=sometimes"),
            ["-T synchronous: expected one of normal, full, extra"],
            id="bad-choice",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "-S", "batch_size"), ["-S 'batch_size': expected OPTION=VALUE"], id="no-equals"
        ),
        pytest.param(
            ("run", "--source", "jsonl", "--key", "k", "--monoid", "count", "--name", "n"),
            ["-S path=...: required by snapshot source 'jsonl'"],
            id="required-option",
        ),
        pytest.param(
            ("run", "--source", "jsonl", "-S", "path=missing.jsonl", "--key", "k", "--monoid", "count", "--name", "n"),
            ["path 'missing.jsonl' does not exist"],
            id="missing-file",
        ),
        pytest.param(BASE, ["missing monoid"], id="missing-monoid"),
        pytest.param(
            (*BASE, "--monoid", "average"), ["unknown monoid 'average'", "available:", "sum"], id="unknown-monoid"
        ),
        pytest.param(
            ("run", "--source", "jsonl", "-S", "path=orders.jsonl", "--key", "k", "--monoid", "count"),
            ["missing name"],
            id="missing-name",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--window", "fortnight"),
            ["window: unknown granularity 'fortnight'"],
            id="bad-window",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--pipeline", "no_such_module:p"),
            ["--pipeline 'no_such_module:p': cannot import 'no_such_module'"],
            id="pipeline-import",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--pipeline", "json:nothing_here"),
            ["'json' has no attribute 'nothing_here'"],
            id="pipeline-attribute",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--pipeline", "json:loads"),
            ["expected a murmur.Pipeline, got function"],
            id="pipeline-type",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--pipeline", "nofile.py:p"),
            ["file 'nofile.py' does not exist"],
            id="pipeline-file",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--resume", "--restart"), ["--resume and --restart"], id="resume-and-restart"
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--segment", "1"), ["--segment: give --segments N too"], id="segment-alone"
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--segment", "3", "--segments", "2"),
            ["--segment: expected 0 to 1"],
            id="segment-range",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--segments", "2"), ["cannot be split into 2 segments"], id="unsplittable"
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--handoff-to", "jsonl"),
            ["--handoff-to: unknown live source 'jsonl'"],
            id="handoff-to-snapshot",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "-H", "a=b"), ["-H: handoff options given without --handoff-to"], id="orphan-H"
        ),
        pytest.param((*BASE, "--monoid", "sum", "--then", "jsonl"), ["--then: unknown live source 'jsonl'"], id="then"),
        pytest.param(
            ("run", "--source", "ticks", "--key", "k", "--monoid", "count", "--name", "n", "--resume"),
            ["--resume: applies to a snapshot source"],
            id="resume-live",
        ),
        pytest.param((*BASE, "--monoid", "sum", "--live"), ["--live needs a live source"], id="live-flag-snapshot"),
        pytest.param(
            (*BASE, "--monoid", "sum", "--max-attempts", "0"),
            ["--max-attempts: expected at least 1"],
            id="max-attempts",
        ),
        pytest.param(
            (*BASE, "--monoid", "sum", "--dead-letters", "no/such/dir/x.jsonl"),
            ["--dead-letters", "does not exist"],
            id="dead-letter-dir",
        ),
        pytest.param(("get", "--name", "orders", "k"), ["-T path: 'murmur.db' does not exist"], id="get-no-db"),
        pytest.param(("get", "alice"), ["--name: which pipeline"], id="get-no-name"),
        pytest.param(("plugins", "show", "nothing"), ["no adapter named 'nothing'"], id="show-unknown"),
    ],
)
def test_usage_errors_exit_2_with_a_one_line_message(
    cli: Invoke, orders: Path, args: tuple[str, ...], expected: list[str]
) -> None:
    result = cli(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("murmur: error: ")
    for text in expected:
        assert text in lines[0]
    assert "Traceback" not in result.stderr
    if args[-2:] != ("--segments", "2"):  # the scan is split when it starts, after the store opened
        assert not Path("murmur.db").exists() or args[0] == "get"  # nothing was started


def test_get_of_an_unknown_pipeline(cli: Invoke, orders: Path) -> None:
    assert cli(*RUN_ORDERS, "-q").exit_code == 0
    result = cli("get", "--name", "other", "alice")
    assert result.exit_code == 2
    assert "pipeline 'other'" in result.stderr
    assert "--name" in result.stderr


def test_a_different_monoid_under_the_same_name_is_refused(cli: Invoke, orders: Path) -> None:
    assert cli(*RUN_ORDERS, "-q").exit_code == 0
    result = cli(*RUN_ORDERS[:-4], "--monoid", "max", "--name", "orders", "--resume")
    assert result.exit_code == 2
    assert "was built with monoid 'sum'" in result.stderr
    # --restart clears the old state with its description: the new monoid starts from nothing.
    result = cli(*RUN_ORDERS[:-4], "--monoid", "max", "--name", "orders", "--restart", "-q")
    assert result.exit_code == 0, result.stderr
    assert cli("get", "--name", "orders", "alice").stdout == "alice\t30\n"


def test_bad_toml_names_the_file_and_line(cli: Invoke, orders: Path) -> None:
    Path("murmur.toml").write_text('[pipeline]\nname = "x"\nkey = \n')
    result = cli("run", "--config", "murmur.toml")
    assert result.exit_code == 2
    assert "murmur.toml:3: invalid TOML" in result.stderr


def test_unknown_toml_key_and_table_name_their_line(cli: Invoke, orders: Path) -> None:
    Path("a.toml").write_text(textwrap.dedent('[pipeline]\nname = "x"\n\nmoniod = "sum"\n'))
    result = cli("run", "--config", "a.toml")
    assert result.exit_code == 2
    assert "a.toml:4: [pipeline] moniod: unknown key" in result.stderr
    Path("b.toml").write_text('[pipeline]\nname = "x"\n[sorce]\nadapter = "jsonl"\n')
    result = cli("run", "--config", "b.toml")
    assert result.exit_code == 2
    assert "b.toml:3: unknown table [sorce]" in result.stderr


def test_bad_option_value_in_the_config_file_names_its_line(cli: Invoke, orders: Path) -> None:
    Path("c.toml").write_text('[source]\nadapter = "jsonl"\npath = "orders.jsonl"\nbatch_size = "many"\n')
    result = cli("run", "--config", "c.toml", "--key", "customer", "--monoid", "count", "--name", "n")
    assert result.exit_code == 2
    assert "c.toml:4: [source] batch_size: expected an integer, got 'many'" in result.stderr


def test_missing_config_file(cli: Invoke) -> None:
    result = cli("run", "--config", "nowhere.toml")
    assert result.exit_code == 2
    assert "--config nowhere.toml: cannot read it" in result.stderr


def test_bad_handoff_file_names_the_file_and_line(cli: Invoke) -> None:
    Path("h.json").write_text('{\n  "murmur_handoff": 1,\n  oops\n}\n')
    result = cli(
        "run", "--source", "ticks", "--from-handoff", "h.json", "--key", "k", "--monoid", "count", "--name", "n"
    )
    assert result.exit_code == 2
    assert "h.json:3: handoff file is not JSON" in result.stderr
    Path("other.json").write_text("{}")
    result = cli(
        "run", "--source", "ticks", "--from-handoff", "other.json", "--key", "k", "--monoid", "count", "--name", "n"
    )
    assert result.exit_code == 2
    assert "not a Murmur handoff file" in result.stderr


def test_a_source_failure_exits_1(cli: Invoke, workdir: Path) -> None:
    Path("cut.jsonl.gz").write_bytes(gzip.compress(b'{"k": 1}\n' * 5000)[:-40])
    result = cli(
        "run", "--source", "jsonl", "-S", "path=cut.jsonl.gz", "--key", "k", "--monoid", "count", "--name", "n"
    )
    assert result.exit_code == 1
    assert "murmur: error: " in result.stderr
    assert "cut.jsonl.gz" in result.stderr
    assert "Traceback" not in result.stderr


def test_murmur_debug_shows_the_traceback(cli: Invoke, orders: Path) -> None:
    result = cli(*BASE, "--monoid", "average", env={"MURMUR_DEBUG": "1"})
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert "murmur: error: --monoid: unknown monoid" in result.stderr


def test_json_mode_reports_the_error_on_stdout_too(cli: Invoke, orders: Path) -> None:
    result = cli(*BASE, "--monoid", "sum", "-S", "bogus=1", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["exit_code"] == 2
    assert "bogus" in doc["error"]


def test_secrets_never_appear_in_errors_or_json(cli: Invoke, orders: Path) -> None:
    uri = "mongodb://admin:pa55word@db.example:27017/x.jsonl"
    result = cli(
        "run", "--source", "jsonl", "-S", f"path={uri}", "--key", "k", "--monoid", "count", "--name", "n", "--json"
    )
    assert result.exit_code == 2
    assert "pa55word" not in result.stderr + result.stdout
    assert "admin:****@db.example" in result.stderr
    ok = cli(*RUN_ORDERS, "--handoff-to", "ticks", "-H", "password=hunter2hunter2", "--json")
    assert ok.exit_code == 0, ok.stderr
    assert "hunter2hunter2" not in ok.stderr + ok.stdout
    counter = cli(
        "run",
        "--source",
        "counter",
        "-S",
        "n=5",
        "-S",
        "api_token=tok-123456",
        "--key",
        "key",
        "--monoid",
        "count",
        "--name",
        "c",
        "--json",
        "-q",
    )
    assert counter.exit_code == 0, counter.stderr
    assert json.loads(counter.stdout)["source"]["options"]["api_token"] == "****"
    assert "tok-123456" not in counter.stdout


def test_click_usage_errors_exit_2(cli: Invoke) -> None:
    assert cli("frobnicate").exit_code == 2
    assert cli("run", "--segments", "many").exit_code == 2
