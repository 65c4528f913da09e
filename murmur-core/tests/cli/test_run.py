"""``murmur run`` and ``murmur get`` end to end, in-process (CliRunner)."""

from __future__ import annotations

import gzip
import json
import textwrap
from pathlib import Path

from cli_helpers import ORDERS, RUN_ORDERS, TOTALS, Invoke, totals

from murmur import HandoffToken
from murmur.testing import MemoryLog


def test_run_then_get_prints_the_totals(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS)
    assert result.exit_code == 0, result.stderr
    assert "orders · bootstrap finished" in result.stderr
    assert "records       5 (5 applied, 0 dead letters" in result.stderr
    assert "\x1b" not in result.stderr  # not a terminal: no escape codes
    assert Path("murmur.db").exists()
    got = cli("get", "--name", "orders", "alice", "bob", "carol", "nobody")
    assert got.exit_code == 0
    assert got.stdout.splitlines() == ["alice\t55", "bob\t60", "carol\t15", "nobody\tnull"]


def test_json_summary_is_one_object_on_stdout(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS, "--json", "--quiet")
    assert result.exit_code == 0
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["exit_code"] == 0
    assert (summary["records"], summary["applied"], summary["dead_letters"], summary["dedup_skips"]) == (5, 5, 0, 0)
    assert summary["pipeline"] == "orders"
    assert summary["mode"] == "bootstrap"
    assert summary["handoff"]["source"] == "jsonl"
    assert summary["handoff"]["murmur_handoff"] == 1
    assert summary["source"] == {
        "adapter": "jsonl",
        "kind": "source",
        "options": {"path": "orders.jsonl", "batch_size": 0, "block_size": 2097152},
    }
    assert summary["store"]["adapter"] == "sqlite"
    assert summary["dead_letters_file"] is None
    assert totals(cli, "alice", "zed") == {"alice": 55, "zed": None}


def test_count_needs_no_value_and_keys_template(cli: Invoke, orders: Path) -> None:
    result = cli(
        "run",
        "--source",
        "jsonl",
        "-S",
        "path=orders.jsonl",
        "--keys",
        "customer:{customer},=all",
        "--monoid",
        "count",
        "--name",
        "counts",
        "-q",
    )
    assert result.exit_code == 0, result.stderr
    assert totals(cli, "customer:alice", "all", name="counts") == {"customer:alice": 2, "all": 5}


def test_a_finished_run_is_refused_then_resume_does_nothing_then_restart_with_dedup_stays_exact(
    cli: Invoke, orders: Path
) -> None:
    assert cli(*RUN_ORDERS, "-q", "--dedup", "sqlite").exit_code == 0
    refused = cli(*RUN_ORDERS, "--dedup", "sqlite")
    assert refused.exit_code == 2
    assert "already has a bootstrap checkpoint" in refused.stderr
    assert "--resume" in refused.stderr
    assert "--restart" in refused.stderr
    assert "Traceback" not in refused.stderr
    resumed = cli(*RUN_ORDERS, "--resume", "--json")
    assert resumed.exit_code == 0
    assert json.loads(resumed.stdout)["already_finished"] is True
    assert "already finished, nothing to do" in resumed.stderr
    restarted = cli(*RUN_ORDERS, "--restart", "--dedup", "sqlite", "--json")
    assert restarted.exit_code == 0, restarted.stderr
    assert json.loads(restarted.stdout)["dedup_skips"] == 5
    assert totals(cli, *TOTALS) == TOTALS


def test_restart_without_a_deduper_warns(cli: Invoke, orders: Path) -> None:
    assert cli(*RUN_ORDERS, "-q").exit_code == 0
    result = cli(*RUN_ORDERS, "--restart")
    assert result.exit_code == 0
    assert "--restart without --dedup counts again" in result.stderr


def test_malformed_lines_become_dead_letters_in_a_jsonl_file(cli: Invoke, workdir: Path) -> None:
    Path("mixed.jsonl").write_text(
        '{"customer": "a", "amount": 1}\n{oops\n{"customer": "a"}\n{"customer": "b", "amount": 2}\n'
    )
    result = cli(
        "run",
        "--source",
        "jsonl",
        "-S",
        "path=mixed.jsonl",
        "--key",
        "customer",
        "--value",
        "amount",
        "--monoid",
        "sum",
        "--name",
        "mixed",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dead_letters"] == 2
    assert summary["applied"] == 2
    assert summary["dead_letters_file"] == "murmur-dead-letters.jsonl"
    assert "dead letters  2 → murmur-dead-letters.jsonl" in result.stderr
    letters = [json.loads(line) for line in Path("murmur-dead-letters.jsonl").read_text().splitlines()]
    decode, missing = letters
    assert decode["kind"] == missing["kind"] == "decode"
    assert decode["raw"] == "{oops"
    assert decode["source"] == "jsonl"
    assert decode["pipeline"] == "mixed"
    assert decode["event_id"].endswith("mixed.jsonl:2")
    assert "mixed.jsonl:2: invalid JSON" in decode["error"]
    assert decode["position"][1:] == [len('{"customer": "a", "amount": 1}\n{oops\n'), 2]
    assert missing["value"] == {"customer": "a"}
    assert "missing field 'amount'" in missing["error"]
    assert "raw" not in missing
    assert totals(cli, "a", "b", name="mixed") == {"a": 1, "b": 2}


def test_no_dead_letter_file_without_dead_letters_and_a_chosen_path(cli: Invoke, orders: Path) -> None:
    assert cli(*RUN_ORDERS, "-q", "--dead-letters", "bad.jsonl").exit_code == 0
    assert not Path("bad.jsonl").exists()
    assert not Path("murmur-dead-letters.jsonl").exists()


def test_fail_on_error_stops_with_exit_1(cli: Invoke, workdir: Path) -> None:
    Path("bad.jsonl").write_text('{"k": "a"}\nnot json\n{"k": "b"}\n')
    result = cli(
        "run",
        "--source",
        "jsonl",
        "-S",
        "path=bad.jsonl",
        "--key",
        "k",
        "--monoid",
        "count",
        "--name",
        "strict",
        "--fail-on-error",
    )
    assert result.exit_code == 1
    assert "stopped at a dead letter" in result.stderr
    assert "bad.jsonl:2" in result.stderr


def test_gzip_glob_and_segments(cli: Invoke, workdir: Path) -> None:
    Path("logs").mkdir()
    for i in range(3):
        with gzip.open(f"logs/part{i}.jsonl.gz", "wt") as fh:
            for o in ORDERS:
                fh.write(json.dumps(o) + "\n")
    result = cli(
        "run",
        "--source",
        "jsonl",
        "-S",
        "path=logs/*.jsonl.gz",
        "--key",
        "customer",
        "--value",
        "amount",
        "--monoid",
        "sum",
        "--name",
        "parts",
        "--segments",
        "3",
        "--json",
        "-q",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["records"] == 15
    assert totals(cli, "alice", name="parts") == {"alice": 165}


def test_separate_segment_processes_share_one_scan(cli: Invoke, workdir: Path) -> None:
    for i in range(2):
        Path(f"p{i}.jsonl").write_text("".join(json.dumps(o) + "\n" for o in ORDERS))
    base = (
        "run",
        "--source",
        "jsonl",
        "-S",
        "path=p*.jsonl",
        "--key",
        "customer",
        "--value",
        "amount",
        "--monoid",
        "sum",
        "--name",
        "split",
        "--segments",
        "2",
        "-q",
    )
    assert cli(*base, "--segment", "0").exit_code == 0
    assert totals(cli, "alice", name="split") == {"alice": 55}
    assert cli(*base, "--segment", "1").exit_code == 0
    assert totals(cli, "alice", name="split") == {"alice": 110}


def test_stdin_source(cli: Invoke, workdir: Path) -> None:
    data = "".join(json.dumps(o) + "\n" for o in ORDERS)
    result = cli(
        "run",
        "--source",
        "jsonl",
        "-S",
        "path=-",
        "--key",
        "customer",
        "--value",
        "amount",
        "--monoid",
        "sum",
        "--name",
        "piped",
        "-q",
        input=data,
    )
    assert result.exit_code == 0, result.stderr
    assert totals(cli, "bob", name="piped") == {"bob": 60}


def test_windowed_pipeline_and_get_window(cli: Invoke, workdir: Path) -> None:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    rows = [{"k": "x", "v": 1, "t": (now - dt.timedelta(days=d)).isoformat()} for d in (0, 1, 5, 20)]
    Path("w.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = cli(
        "run",
        "--source",
        "jsonl",
        "-S",
        "path=w.jsonl",
        "--key",
        "k",
        "--value",
        "v",
        "--monoid",
        "sum",
        "--window",
        "day:90d",
        "--event-time",
        "t",
        "--name",
        "daily",
        "-q",
    )
    assert result.exit_code == 0, result.stderr
    assert totals(cli, "x", name="daily", extra=("--window", "2d")) == {"x": 2}
    assert totals(cli, "x", name="daily", extra=("--window", "7d")) == {"x": 3}
    assert totals(cli, "x", name="daily") == {"x": 4}


def test_handoff_out_writes_a_token_file(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS, "--handoff-out", "handoff.json", "--json", "-q")
    assert result.exit_code == 0
    token = HandoffToken.read("handoff.json")
    assert token.source == "jsonl"
    assert json.loads(result.stdout)["handoff_file"] == "handoff.json"


def test_handoff_to_a_live_source_records_its_position(cli: Invoke, orders: Path, live_log: MemoryLog) -> None:
    live_log.extend([{"k": 1}, {"k": 2}, {"k": 3}])
    result = cli(*RUN_ORDERS, "--handoff-to", "ticks", "-H", "password=s3cr3t-value", "--handoff-out", "h.json")
    assert result.exit_code == 0, result.stderr
    token = HandoffToken.read("h.json")
    assert token.live == {"source": "memory-live", "position": {"0": 3}}
    assert "s3cr3t-value" not in result.stderr + result.stdout


def test_no_handoff_skips_capture(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS, "--no-handoff", "--json", "-q")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["handoff"]["token"] is None


def test_live_source_runs_until_idle_then_continues_from_its_committed_position(
    cli: Invoke, live_log: MemoryLog
) -> None:
    live_log.extend([{"user": "u1"}, {"user": "u2"}, {"user": "u1"}])
    base = ("run", "--source", "ticks", "--key", "user", "--monoid", "count", "--name", "clicks", "--until-idle", "0.3")
    first = cli(*base, "--json")
    assert first.exit_code == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["mode"] == "live"
    assert summary["records"] == 3
    assert "clicks · live run stopped" in first.stderr
    live_log.extend([{"user": "u2"}])
    assert cli(*base, "-q").exit_code == 0
    assert totals(cli, "u1", "u2", name="clicks") == {"u1": 2, "u2": 2}


def test_live_from_a_handoff_file_starts_after_it(cli: Invoke, live_log: MemoryLog) -> None:
    live_log.extend([{"user": "old"}] * 4 + [{"user": "new"}] * 2)
    HandoffToken.read  # noqa: B018 - the file below is what a bootstrap's --handoff-out writes
    import datetime as dt

    HandoffToken("jsonl", None, dt.datetime.now(dt.UTC)).with_live("memory-live", {"0": 4}).write("h.json")
    result = cli(
        "run",
        "--source",
        "ticks",
        "--from-handoff",
        "h.json",
        "--key",
        "user",
        "--monoid",
        "count",
        "--name",
        "after",
        "--until-idle",
        "0.3",
        "-q",
    )
    assert result.exit_code == 0, result.stderr
    assert totals(cli, "old", "new", name="after") == {"old": None, "new": 2}


def test_config_file_with_flags_overriding_it(cli: Invoke, orders: Path) -> None:
    Path("murmur.toml").write_text(
        textwrap.dedent(
            """
            [pipeline]
            name = "from_file"
            key = "customer"
            value = "amount"
            monoid = "max"

            [source]
            adapter = "jsonl"
            path = "orders.jsonl"
            batch_size = 2

            [store]
            adapter = "sqlite"
            path = "file.db"

            [run]
            dead_letters = "letters.jsonl"
            """
        )
    )
    result = cli("run", "--config", "murmur.toml", "--monoid", "sum", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["pipeline"] == "from_file"
    assert summary["source"]["options"]["batch_size"] == 2
    assert summary["store"]["options"]["path"] == "file.db"
    got = cli("get", "--config", "murmur.toml", "--json", "alice")
    assert json.loads(got.stdout) == {"alice": 55}


def test_pipeline_from_a_module_and_from_a_file_with_name_overridden(cli: Invoke, orders: Path) -> None:
    Path("pipes.py").write_text(
        "from murmur import Pipeline, Sum\n"
        "orders = Pipeline('module_pipe', Sum(), key='customer', value=lambda o: o['amount'] * 2)\n"
    )
    by_module = cli("run", "--source", "jsonl", "-S", "path=orders.jsonl", "--pipeline", "pipes:orders", "-q")
    assert by_module.exit_code == 0, by_module.stderr
    assert totals(cli, "alice", name="module_pipe") == {"alice": 110}
    by_file = cli(
        "run",
        "--source",
        "jsonl",
        "-S",
        "path=orders.jsonl",
        "--pipeline",
        "./pipes.py:orders",
        "--name",
        "renamed",
        "-q",
    )
    assert by_file.exit_code == 0, by_file.stderr
    assert totals(cli, "alice", name="renamed") == {"alice": 110}


def test_bloom_contains(cli: Invoke, orders: Path) -> None:
    result = cli(
        "run",
        "--source",
        "jsonl",
        "-S",
        "path=orders.jsonl",
        "--key",
        "=all",
        "--value",
        "customer",
        "--monoid",
        "bloom",
        "--name",
        "seen",
        "-q",
    )
    assert result.exit_code == 0, result.stderr
    assert totals(cli, "all", name="seen", extra=("--contains", "alice")) == {"all": True}
    assert totals(cli, "all", name="seen", extra=("--contains", "zoe")) == {"all": False}
    wrong = cli("get", "--name", "orders", "--contains", "x", "alice")
    assert wrong.exit_code == 2


def test_memory_store_for_a_dry_run(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS, "--store", "memory", "--dedup", "memory", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["applied"] == 5
    assert not Path("murmur.db").exists()


def test_dedup_on_the_store_file_by_default(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS, "-T", "path=state.db", "--dedup", "sqlite", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["dedup"]["options"]["path"] == "state.db"
    assert not Path("murmur.db").exists()


def test_first_signal_stops_gracefully_and_a_second_sigint_aborts() -> None:
    import io
    import os
    import signal
    import threading

    import pytest
    from rich.console import Console

    from murmur import RunStatus
    from murmur.cli import ProgressDisplay
    from murmur.cli._run import _Signals

    stop = threading.Event()
    display = ProgressDisplay(Console(file=io.StringIO()), RunStatus("p", "bootstrap"), style="off")
    before = signal.getsignal(signal.SIGINT)
    with _Signals(stop, display):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set()
        assert display.stopping.startswith("SIGTERM: stopping")
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
