"""Plugin discovery: entry points one at a time, broken plugins isolated, `murmur plugins`."""

from __future__ import annotations

import json
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from cli_helpers import Invoke
from typer.testing import CliRunner

from murmur.cli import make_app
from murmur.plugins import PluginLoadError, Registry, load


@pytest.fixture
def plugin_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path holding small plugin modules, good and bad."""
    root = tmp_path / "plugins"
    root.mkdir()
    modules = {
        "good_plugin": """
            import typer
            from murmur import AdapterSpec, Option, hookimpl

            @hookimpl
            def murmur_register(register):
                register(AdapterSpec("alpha", "store", "a store", lambda o, c: ("alpha", dict(o)),
                                     options=(Option("size", "int", 3),)))

            @hookimpl
            def murmur_cli(app):
                sub = typer.Typer()

                @sub.command("hello")
                def hello():
                    typer.echo("hello from alpha")

                app.add_typer(sub, name="alpha")
            """,
        "import_error_plugin": "import no_such_dependency_for_murmur\n",
        "half_plugin": """
            from murmur import AdapterSpec, hookimpl

            @hookimpl
            def murmur_register(register):
                register(AdapterSpec("half", "store", "registered before the crash", lambda o, c: None))
                raise ValueError("second adapter failed")
            """,
        "clash_plugin": """
            from murmur import AdapterSpec, hookimpl

            @hookimpl
            def murmur_register(register):
                register(AdapterSpec("jsonl", "source", "an impostor", lambda o, c: None))
                register(AdapterSpec("beta", "dedup", "fine", lambda o, c: None))
            """,
        "typo_plugin": """
            from murmur import hookimpl

            @hookimpl
            def murmur_regster(register):
                pass
            """,
        "bad_cli_plugin": """
            from murmur import AdapterSpec, hookimpl

            @hookimpl
            def murmur_register(register):
                register(AdapterSpec("gamma", "store", "fine", lambda o, c: None))

            @hookimpl
            def murmur_cli(app):
                raise RuntimeError("no commands today")
            """,
    }
    for name, text in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(root))
    return root


def entry_points(*names: str) -> list[EntryPoint]:
    return [EntryPoint(name=n.removesuffix("_plugin"), value=n, group="murmur") for n in names]


def status(reg: Registry, name: str) -> tuple[str, str | None]:
    (info,) = [p for p in reg.plugins if p.name == name]
    return info.status, info.error


def test_builtins_register_through_the_same_hook(plugin_modules: Path) -> None:
    reg = load(entry_points=[], env={})
    assert {(s.kind, s.name) for s in reg.specs.values()} >= {
        ("source", "jsonl"),
        ("store", "sqlite"),
        ("dedup", "sqlite"),
        ("store", "memory"),
        ("dedup", "memory"),
    }
    assert reg.specs[("store", "sqlite")].distribution == "murmur-core"
    assert reg.plugins[0].module == "murmur.adapters._plugin"
    assert reg.plugins[0].status == "ok"


def test_one_broken_plugin_never_stops_the_others(plugin_modules: Path) -> None:
    reg = load(
        entry_points=entry_points("import_error_plugin", "good_plugin", "half_plugin", "clash_plugin", "typo_plugin"),
        env={},
    )
    assert status(reg, "good") == ("ok", None)
    state, error = status(reg, "import_error")
    assert state == "error"
    assert "ModuleNotFoundError" in (error or "")
    assert "no_such_dependency_for_murmur" in (error or "")
    state, error = status(reg, "half")
    assert state == "error"
    assert "second adapter failed" in (error or "")
    assert ("store", "half") not in reg.specs  # rolled back: a half-registered plugin is not used
    state, error = status(reg, "clash")
    assert state == "conflict"
    assert "source 'jsonl' is already registered by murmur-core" in (error or "")
    assert reg.specs[("source", "jsonl")].distribution == "murmur-core"
    assert ("dedup", "beta") in reg.specs
    assert status(reg, "typo")[0] == "error"
    assert "murmur_regster" in (status(reg, "typo")[1] or "")
    assert reg.build("store", "alpha", {"size": "5"}) == ("alpha", {"size": 5})


def test_disabled_plugins_are_skipped_and_listed(plugin_modules: Path) -> None:
    reg = load(
        entry_points=entry_points("good_plugin", "import_error_plugin"),
        env={"MURMUR_DISABLE_PLUGINS": "good, import_error"},
    )
    assert status(reg, "good") == ("disabled", None)
    assert status(reg, "import_error") == ("disabled", None)
    assert ("store", "alpha") not in reg.specs


def test_strict_mode_makes_a_broken_plugin_fatal(plugin_modules: Path) -> None:
    with pytest.raises(PluginLoadError, match=r"plugin 'import_error' .* failed to load"):
        load(entry_points=entry_points("good_plugin", "import_error_plugin"), env={"MURMUR_STRICT_PLUGINS": "1"})
    load(entry_points=entry_points("good_plugin"), env={"MURMUR_STRICT_PLUGINS": "1"})


def test_plugin_commands_and_a_failing_cli_hook(plugin_modules: Path) -> None:
    reg = load(entry_points=entry_points("good_plugin", "bad_cli_plugin"), env={})
    app = make_app(reg)
    result = CliRunner().invoke(app, ["alpha", "hello"])
    assert result.exit_code == 0
    assert result.stdout == "hello from alpha\n"
    assert status(reg, "bad_cli")[0] == "error"
    assert "murmur_cli: RuntimeError: no commands today" in (status(reg, "bad_cli")[1] or "")
    assert ("store", "gamma") in reg.specs


def test_plugins_list_json_shows_the_installed_example_and_the_broken_plugin(cli: Invoke) -> None:
    result = cli("plugins", "list", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    adapters = {(a["kind"], a["name"]): a for a in doc["adapters"]}
    counter = adapters[("source", "counter")]
    assert counter["distribution"] == "murmur-example-counter"
    assert counter["version"] == "0.1.0"
    assert counter["guarantees"] == ["resumable", "splittable"]
    assert counter["status"] == "ok"
    assert adapters[("store", "sqlite")]["distribution"] == "murmur-core"
    assert "transactional claim+apply" in adapters[("store", "sqlite")]["guarantees"]
    plugins = {p["name"]: p for p in doc["plugins"]}
    assert plugins["broken"]["status"] == "error"
    assert "broken on purpose" in plugins["broken"]["error"]
    assert plugins["broken"]["distribution"] == "murmur-broken-plugin"
    assert plugins["counter"]["adapters"] == ["source:counter", "live:counter"]


def test_plugins_list_table(cli: Invoke) -> None:
    result = cli("plugins", "list")
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "KIND", "DISTRIBUTION", "VERSION", "GUARANTEES", "STATUS"]
    assert any(r.split()[:4] == ["jsonl", "source", "murmur-core", "0.1.0"] for r in rows)
    assert any(r.startswith("broken") and "error: RuntimeError" in r for r in rows)


def test_plugins_show(cli: Invoke) -> None:
    result = cli("plugins", "show", "sqlite")
    assert result.exit_code == 0
    assert "sqlite (store)" in result.stdout
    assert "sqlite (deduper)" in result.stdout
    assert "MURMUR_SQLITE_PATH" in result.stdout
    assert "murmur.db" in result.stdout
    doc = json.loads(cli("plugins", "show", "counter", "--json").stdout)
    (source,) = [d for d in doc if d["kind"] == "source"]
    options = {o["name"]: o for o in source["options"]}
    assert options["n"] == {
        "name": "n",
        "type": "int",
        "default": 100,
        "env": None,
        "help": "how many records",
        "required": False,
        "secret": False,
        "choices": None,
    }
    assert options["api_token"]["secret"] is True
    assert options["api_token"]["env"] == "COUNTER_TOKEN"


def test_the_example_plugin_runs_end_to_end(cli: Invoke) -> None:
    result = cli(
        "run",
        "--source",
        "counter",
        "-S",
        "n=1000",
        "-S",
        "keys=4",
        "--key",
        "key",
        "--monoid",
        "count",
        "--name",
        "counted",
        "--segments",
        "3",
        "--json",
        "-q",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["records"] == 1000
    got = json.loads(cli("get", "--name", "counted", "--json", "k0", "k3").stdout)
    assert got == {"k0": 250, "k3": 250}
    sub = cli("counter", "describe", "--n", "10")
    assert sub.exit_code == 0
    assert sub.stdout.splitlines() == ["k0\t4", "k1\t3", "k2\t3"]


def test_env_var_supplies_an_option(cli: Invoke) -> None:
    result = cli(
        "run",
        "--source",
        "counter",
        "-S",
        "n=3",
        "--key",
        "key",
        "--monoid",
        "count",
        "--name",
        "c",
        "--json",
        "-q",
        env={"COUNTER_TOKEN": "from-env-123"},
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["source"]["options"]["api_token"] == "****"
