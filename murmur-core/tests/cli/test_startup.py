"""Start-up: ``murmur --help`` and ``murmur plugins list`` import no adapter; strict one-line errors.

The imports are observed in a fresh interpreter (``sys.modules`` after the command); how long the
commands take is measured in benchmarks/cli_startup.py, never asserted here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from murmur.cli import make_app
from murmur.plugins import load

MURMUR = shutil.which("murmur", path=str(Path(sys.executable).parent)) or "murmur"
#: Adapter packages and their client libraries: none may load unless a run uses that adapter.
ADAPTERS = (
    "murmur_mongo",
    "murmur_kafka",
    "murmur_dynamodb",
    "murmur_example_counter",
    "pymongo",
    "bson",
    "boto3",
    "botocore",
    "confluent_kafka",
)

PROBE = """
import json, sys
from murmur.cli import main
sys.argv = ["murmur", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def imported_by(*argv: str, cwd: Path | None = None) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MURMUR_")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    line = proc.stderr.rsplit("MODULES ", 1)[-1]
    return {name.split(".")[0] for name in json.loads(line)}


@pytest.mark.parametrize("argv", [["--help"], ["plugins", "list"], ["plugins", "list", "--json"], ["run", "--help"]])
def test_help_and_listing_import_no_adapter(argv: list[str]) -> None:
    loaded = imported_by(*argv)
    assert "murmur" in loaded
    assert not loaded & set(ADAPTERS), sorted(loaded & set(ADAPTERS))


def test_plugins_list_needs_neither_typer_nor_rich_nor_pluggy() -> None:
    loaded = imported_by("plugins", "list")
    assert not loaded & {"typer", "click", "rich", "pluggy", "pydantic"}, sorted(loaded)


def test_a_run_imports_only_the_adapters_it_uses(tmp_path: Path) -> None:
    (tmp_path / "orders.jsonl").write_text('{"customer": "a", "amount": 2}\n')
    argv = ["run", "--source", "jsonl", "-S", "path=orders.jsonl", "--key", "customer", "--value", "amount"]
    loaded = imported_by(*argv, "--monoid", "sum", "--name", "o", "-q", cwd=tmp_path)
    assert not loaded & set(ADAPTERS), sorted(loaded & set(ADAPTERS))


def test_plugins_list_in_a_pipe_is_tab_separated() -> None:
    proc = subprocess.run([MURMUR, "plugins", "list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header == "NAME\tKIND\tDISTRIBUTION\tVERSION\tGUARANTEES\tSTATUS"
    assert "jsonl\tsource\tmurmur-core\t0.1.0\tresumable, splittable across files" in proc.stdout
    assert "jsonl\tsink\tmurmur-core\t" in proc.stdout  # dead-letter sinks are adapters like the rest
    assert all(row.count("\t") == 5 for row in rows)


@pytest.mark.parametrize(
    ("argv", "word"),
    [(["run", "--frobnicate"], "--frobnicate"), (["-Z"], "-Z"), (["run", "---"], "---"), (["plugins", "shw"], "shw")],
)
def test_usage_errors_of_the_console_script_are_one_line(argv: list[str], word: str) -> None:
    proc = subprocess.run([MURMUR, *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("murmur: error: ")
    assert word in line


def test_the_core_plugin_has_a_short_name() -> None:
    reg = load(env={})
    assert reg.plugins[0].name == "core"
    assert reg.plugins[0].module == "murmur.adapters._plugin"


def test_an_adapter_of_a_known_distribution_says_what_to_install(workdir: Path) -> None:
    app = make_app(load(entry_points=[], env={}))  # the core alone: no murmur-mongo
    result = CliRunner().invoke(app, ["run", "--source", "mongo", "--key", "k", "--monoid", "count", "--name", "n"])
    assert result.exit_code == 2
    assert "unknown source 'mongo'; it comes with murmur-mongo: pip install murmur-mongo" in result.stderr
    store = CliRunner().invoke(app, ["get", "--name", "n", "--store", "dynamodb", "k"])
    assert store.exit_code == 2
    assert "--store: unknown store 'dynamodb'; it comes with murmur-dynamodb: pip install murmur-dynamodb" in (
        store.stderr
    )


def test_near_misses_get_a_suggestion(workdir: Path) -> None:
    app = make_app(load(entry_points=[], env={}))
    shown = CliRunner().invoke(app, ["plugins", "show", "SQLite"])
    assert shown.exit_code == 2
    assert shown.stderr.startswith("murmur: error: no adapter named 'SQLite'; did you mean sqlite?")
    store = CliRunner().invoke(app, ["get", "--name", "n", "--store", "sqlit", "k"])
    assert "--store: unknown store 'sqlit'; did you mean sqlite?" in store.stderr


def test_empty_values_and_mistyped_toml_are_errors(workdir: Path) -> None:
    app = make_app(load(entry_points=[], env={}))
    runner = CliRunner()
    base = ["run", "--source", "jsonl", "-S", "path=o.jsonl", "--key", "k", "--monoid", "count", "--name", "n"]
    for flag in ("--store", "--dedup"):
        result = runner.invoke(app, [*base, flag, ""])
        assert result.exit_code == 2
        assert result.stderr == (
            f"murmur: error: {flag}: expected a value, got an empty one (leave the flag out for the default)\n"
        )
    (workdir / "murmur.toml").write_text('[pipeline]\nkey = "k"\nname = 5\n')
    result = runner.invoke(app, ["run", "--config", "murmur.toml"])
    assert result.exit_code == 2
    assert result.stderr == "murmur: error: murmur.toml:3: [pipeline] name: expected text, got 5\n"
    # a bad value in the file is an error even when a flag overrides it
    (workdir / "murmur.toml").write_text('[pipeline]\nmonoid = "avg"\n')
    result = runner.invoke(app, [*base, "--config", "murmur.toml"])
    assert result.exit_code == 2
    assert result.stderr.startswith("murmur: error: murmur.toml:2: [pipeline] monoid: unknown monoid 'avg'")


def test_get_help_shows_keys_and_an_example(workdir: Path) -> None:
    result = CliRunner().invoke(make_app(load(entry_points=[], env={})), ["get", "--help"])
    assert result.exit_code == 0
    assert "murmur get --name NAME KEY..." in result.stdout
    assert "murmur get --name orders alice bob" in result.stdout
