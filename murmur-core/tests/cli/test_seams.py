"""The seams between commands (issue 13): listing keys, honest dead letters, empty sources."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from cli_helpers import RUN_ORDERS, Invoke

from murmur.testing import MemoryLog

KEYS = 10_000


@pytest.fixture
def many(cli: Invoke, workdir: Path) -> None:
    """10 000 keys: k00000 (value 1) … k09999 (value 10000), plus one more order for k00007."""
    lines = [json.dumps({"k": f"k{i:05d}", "n": i + 1}) for i in range(KEYS)]
    lines.append(json.dumps({"k": "k00007", "n": 20000}))
    Path("many.jsonl").write_text("\n".join(lines) + "\n")
    result = cli(
        "run",
        "--source",
        "jsonl",
        "-S",
        "path=many.jsonl",
        "--key",
        "k",
        "--value",
        "n",
        "--monoid",
        "sum",
        "--name",
        "many",
    )
    assert result.exit_code == 0, result.stderr


def test_get_all_lists_every_key_paged(cli: Invoke, many: None) -> None:
    result = cli("get", "--name", "many", "--all")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == KEYS
    assert lines[0] == "k00000\t1"
    assert lines[7] == "k00007\t20008"
    assert lines[-1] == "k09999\t10000"
    # No KEY means the same listing.
    assert cli("get", "--name", "many").stdout == result.stdout


def test_get_prefix_top_limit_json_and_csv(cli: Invoke, many: None) -> None:
    prefix = cli("get", "--name", "many", "--prefix", "k0999")
    assert prefix.stdout.splitlines() == [f"k0999{i}\t{9991 + i}" for i in range(10)]
    top = cli("get", "--name", "many", "--top", "3")
    assert top.stdout.splitlines() == ["k00007\t20008", "k09999\t10000", "k09998\t9999"]
    limited = cli("get", "--name", "many", "--all", "--limit", "2", "--json")
    assert json.loads(limited.stdout) == {"k00000": 1, "k00001": 2}
    as_csv = cli("get", "--name", "many", "--prefix", "k0000", "--format", "csv")
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["key", "value"]
    assert rows[1:4] == [["k00000", "1"], ["k00001", "2"], ["k00002", "3"]]
    assert len(rows) == 11
    everything = json.loads(cli("get", "--name", "many", "--format", "json").stdout)
    assert len(everything) == KEYS and sum(everything.values()) == sum(range(1, KEYS + 1)) + 20000


def test_get_listing_errors_name_the_option(cli: Invoke, many: None) -> None:
    both = cli("get", "--name", "many", "--all", "k00001")
    assert both.exit_code == 2
    assert "--all/--prefix/--top/--limit, not both" in both.stderr
    bad = cli("get", "--name", "many", "--format", "xml")
    assert bad.exit_code == 2
    assert "--format: expected one of tsv, csv, json" in bad.stderr


def test_windowed_pipeline_lists_per_bucket(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS[:-2], "--name", "daily", "--window", "day", "--event-time", "ts", "-q")
    assert result.exit_code == 0, result.stderr
    listed = cli("get", "--name", "daily", "--prefix", "alice")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "alice\t2026-03-01T00:00:00+00:00\t25",
        "alice\t2026-03-02T00:00:00+00:00\t30",
    ]


def test_a_run_that_applied_nothing_exits_1_and_its_checkpoint_says_so(cli: Invoke, orders: Path) -> None:
    args = (*RUN_ORDERS[:8], "amonut", *RUN_ORDERS[9:])
    result = cli(*args, "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["ok"] is False and summary["dead_letters"] == 5 and summary["applied"] == 0
    assert "no record could be applied: all 5 records were dead-lettered" in result.stderr
    assert "amonut" in result.stderr
    assert "dead letters  5 → murmur-dead-letters.jsonl" in result.stderr
    again = cli(*args)
    assert again.exit_code == 2
    assert "finished, 5 records read (0 applied, 5 dead-lettered in the last run)" in again.stderr


def test_max_dead_letters_count_and_percent(cli: Invoke, workdir: Path) -> None:
    Path("mixed.jsonl").write_text(
        '{"customer": "a", "amount": 1}\n{oops\n{"customer": "a"}\n{"customer": "b", "amount": 2}\n'
    )
    run = (
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
    )
    ok = cli(*run, "--name", "m1", "--max-dead-letters", "50%")
    assert ok.exit_code == 0, ok.stderr
    assert "dead letters  2 → murmur-dead-letters.jsonl, at most 50% allowed" in ok.stderr
    strict = cli(*run, "--name", "m2", "--max-dead-letters", "1")
    assert strict.exit_code == 1
    assert "2 dead letters of 4 records is more than --max-dead-letters 1" in strict.stderr
    percent = cli(*run, "--name", "m3", "--max-dead-letters", "10%")
    assert percent.exit_code == 1
    bad = cli(*run, "--name", "m4", "--max-dead-letters", "lots")
    assert bad.exit_code == 2
    assert "--max-dead-letters: expected a count" in bad.stderr


def test_clean_run_summary_shows_zero_dead_letters(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS)
    assert result.exit_code == 0
    assert "dead letters  0 (none; they would go to murmur-dead-letters.jsonl)" in result.stderr


def test_an_empty_file_is_a_warning(cli: Invoke, workdir: Path) -> None:
    Path("empty.jsonl").write_text("")
    result = cli(*RUN_ORDERS[:4], "path=empty.jsonl", *RUN_ORDERS[5:], "--json")
    assert result.exit_code == 0
    assert "murmur: warning: file empty.jsonl is empty or does not exist" in result.stderr
    assert json.loads(result.stdout)["warnings"] == ["file empty.jsonl is empty or does not exist"]


def test_retry_for_must_be_a_positive_duration(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS, "--retry-for", "soon")
    assert result.exit_code == 2
    assert "retry-for: 'soon' is not a duration" in result.stderr


def test_force_needs_restart(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS, "--force")
    assert result.exit_code == 2
    assert "--force: only with --restart" in result.stderr


def test_restart_refuses_while_a_live_run_saved_its_position_recently(cli: Invoke, orders: Path) -> None:
    from murmur._records import utcnow
    from murmur.adapters.sqlite import SqliteStore

    assert cli(*RUN_ORDERS, "-q").exit_code == 0
    store = SqliteStore("murmur.db")
    store.write_meta("orders", "live/mongo-changes", {"position": {}, "updated": utcnow().isoformat()})
    store.close()
    refused = cli(*RUN_ORDERS, "--restart")
    assert refused.exit_code == 2
    assert "a live run of pipeline 'orders' looks active (mongo-changes saved its position" in refused.stderr
    assert "--force" in refused.stderr
    forced = cli(*RUN_ORDERS, "--restart", "--force", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)["cleared"]["checkpoints"] == 6


def test_live_without_a_bootstrap_says_where_it_starts(cli: Invoke, workdir: Path, live_log: object) -> None:
    result = cli(
        "run", "--source", "ticks", "--key", "user", "--monoid", "count", "--name", "clicks", "--until-idle", "0.3"
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "live: memory-live starts at its own default start: pipeline 'clicks' has no bootstrap handoff" in result.stderr
    )


def test_a_live_run_stops_with_exit_1_past_max_dead_letters(cli: Invoke, live_log: MemoryLog) -> None:
    records = [{"user": "u1", "n": 1}] + [{"user": "u2"}] * 3 + [{"user": "u1", "n": 1}]
    base = ("run", "--source", "ticks", "--key", "user", "--value", "n", "--monoid", "sum", "--until-idle", "0.3")
    live_log.extend(records)
    ok = cli(*base, "--name", "lenient", "--max-dead-letters", "3")
    assert ok.exit_code == 0, ok.stderr
    live_log.extend(records)  # the log's position is shared: the next run reads these
    strict = cli(*base, "--name", "strict", "--max-dead-letters", "2", "--json")
    assert strict.exit_code == 1
    summary = json.loads(strict.stdout)
    assert summary["ok"] is False
    assert summary["dead_letters"] == 3
    assert "3 dead letters of" in summary["error"]
    assert "is more than --max-dead-letters 2" in strict.stderr
