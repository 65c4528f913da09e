"""Plugins declared as data: listed without importing them, imported on first use, errors shown then."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

from murmur.cli import make_app
from murmur.cli._listing import listing, render_table, render_tsv
from murmur.plugins import load
from murmur.plugins._declared import find_entry_points, read_declaration
from murmur.plugins.declare import check, declaration

DECLARED = {
    "module": "lazy_pkg._plugin",
    "adapters": [
        {"name": "lazy", "kind": "store", "description": "a store", "guarantees": ["none"], "options": ["size"]},
        {"name": "gone", "kind": "source", "description": "never registered", "guarantees": [], "options": []},
    ],
    "commands": {"lazytool": "the lazy plugin's command"},
}
PLUGIN = """
    import typer
    from murmur import AdapterSpec, Option, hookimpl

    IMPORTED = True

    @hookimpl
    def murmur_register(register):
        register(AdapterSpec("lazy", "store", "a store", lambda o, c: ("lazy", dict(o)),
                             options=(Option("size", "int", 3),), guarantees=("none",)))

    @hookimpl
    def murmur_cli(app):
        sub = typer.Typer(help="the lazy plugin's command")

        @sub.command("hello")
        def hello():
            typer.echo("hello from a plugin imported on use")

        app.add_typer(sub, name="lazytool")
    """


def _package(root: Path, name: str, plugin: str, declared: dict[str, object]) -> None:
    pkg = root / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "_plugin.py").write_text(textwrap.dedent(plugin))
    (pkg / "murmur-plugin.json").write_text(json.dumps(declared))


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[EntryPoint]:
    root = tmp_path / "site"
    _package(root, "lazy_pkg", PLUGIN, DECLARED)
    broken = {"module": "broken_pkg._plugin", "adapters": [{"name": "shaky", "kind": "source"}]}
    _package(root, "broken_pkg", "raise ImportError('no client library for shaky')\n", broken)
    monkeypatch.syspath_prepend(str(root))
    for name in ("lazy_pkg", "lazy_pkg._plugin", "broken_pkg", "broken_pkg._plugin"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return [
        EntryPoint(name="lazy", value="lazy_pkg._plugin", group="murmur"),
        EntryPoint(name="shaky", value="broken_pkg._plugin", group="murmur"),
    ]


def test_declared_plugins_are_listed_without_being_imported(packages: list[EntryPoint]) -> None:
    reg = load(entry_points=packages, env={})
    doc = listing(reg)
    kinds = {(a["kind"], a["name"]): a for a in doc["adapters"]}
    assert kinds[("store", "lazy")]["options"] == ["size"]
    assert kinds[("source", "shaky")]["status"] == "ok"  # declared; nothing has tried to import it yet
    assert "lazy_pkg._plugin" not in sys.modules
    assert "broken_pkg._plugin" not in sys.modules
    assert not reg.info("lazy").loaded  # type: ignore[union-attr]
    assert reg.commands()["lazytool"] == ("the lazy plugin's command", "lazy")
    # the built-ins are declared too: sqlite is known, murmur.adapters._plugin not imported for it
    assert ("store", "sqlite") in kinds
    assert kinds[("store", "sqlite")]["plugin"] == "core"


def test_a_plugin_is_imported_when_one_of_its_adapters_is_used(packages: list[EntryPoint]) -> None:
    reg = load(entry_points=packages, env={})
    assert reg.build("store", "lazy", {"size": "5"}) == ("lazy", {"size": 5})
    assert "lazy_pkg._plugin" in sys.modules
    info = reg.info("lazy")
    assert info is not None and info.loaded
    # it declared a source it does not register: the declaration is stale, and says so
    assert info.status == "stale"
    assert "declares snapshot source 'gone' but does not register it" in (info.error or "")
    assert reg.find("source", "gone") is None


def test_a_broken_declared_plugin_shows_its_error_once_imported(packages: list[EntryPoint]) -> None:
    reg = load(entry_points=packages, env={})
    with pytest.raises(Exception, match=r"comes from plugin 'shaky'.*failed to load: ImportError: no client library"):
        reg.find("source", "shaky")
    doc = listing(reg)
    (shaky,) = [p for p in doc["plugins"] if p["name"] == "shaky"]
    assert shaky["status"] == "error"
    assert shaky["loaded"] is True
    assert "no client library for shaky" in shaky["error"]
    assert ("source", "shaky") not in {(a["kind"], a["name"]) for a in doc["adapters"]}


def test_a_declared_command_loads_its_plugin_when_run(packages: list[EntryPoint]) -> None:
    reg = load(entry_points=packages, env={})
    app = make_app(reg)
    runner = CliRunner()
    help_text = runner.invoke(app, ["--help"]).stdout
    assert "lazytool" in help_text
    assert "the lazy plugin's command" in help_text
    assert "lazy_pkg._plugin" not in sys.modules  # --help lists it from the declaration
    result = runner.invoke(app, ["lazytool", "hello"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "hello from a plugin imported on use\n"


def test_strict_mode_imports_declared_plugins_too(packages: list[EntryPoint]) -> None:
    with pytest.raises(Exception, match=r"plugin '(lazy|shaky)'"):
        load(entry_points=packages, env={"MURMUR_STRICT_PLUGINS": "1"})


def test_every_installed_declaration_matches_what_its_plugin_registers() -> None:
    modules = ["murmur.adapters._plugin"]
    modules += [ep.value for ep in find_entry_points() if read_declaration(ep.value) is not None]
    assert "murmur_example_counter._plugin" in modules
    for module in modules:
        assert check(module) == [], f"run: python -m murmur.plugins.declare {module} > .../murmur-plugin.json"


def test_the_declaration_tool_writes_what_the_plugin_registers() -> None:
    doc = declaration("murmur_example_counter._plugin")
    assert doc["commands"] == {"counter": "The example counter plugin's own commands."}
    assert [(a["kind"], a["name"]) for a in doc["adapters"]] == [("source", "counter"), ("live", "counter")]
    out = subprocess.run(
        [sys.executable, "-m", "murmur.plugins.declare", "murmur.adapters._plugin"],
        capture_output=True,
        text=True,
        check=True,
    )
    shipped = Path(sys.modules["murmur.plugins"].__file__ or "").parents[1] / "adapters" / "murmur-plugin.json"
    assert json.loads(out.stdout) == json.loads(shipped.read_text())


def test_the_table_fits_the_width_and_never_splits_a_word() -> None:
    reg = load(env={})
    doc = listing(reg)
    words = {w for a in doc["adapters"] for g in a["guarantees"] for w in g.split()}
    for width in (60, 80, 120, 200):
        text = render_table(doc, width)
        statuses = [w for r in render_tsv(doc).splitlines() for w in r.split("\t")[5].split()]
        needed = sum(max(len(str(r)) for r in col) for col in _fixed_columns(doc)) + 10
        needed += max(len(w) for w in words) + max(len(w) for w in statuses)
        for line in text.splitlines():
            if needed <= width:  # narrower than that, the longest words overflow rather than split
                assert len(line) <= width, (width, line)
        tokens = set(text.split())
        for word in words:
            assert word in tokens or any(word in t for t in tokens), word  # whole, never cut
    tsv = render_tsv(doc).splitlines()
    assert tsv[0].split("\t") == ["NAME", "KIND", "DISTRIBUTION", "VERSION", "GUARANTEES", "STATUS"]
    assert all(len(line.split("\t")) == 6 for line in tsv)
    assert "jsonl\tsource\tmurmur-core\t" in render_tsv(doc)


def _fixed_columns(doc: dict[str, list[dict[str, str]]]) -> list[list[str]]:
    rows = doc["adapters"]
    return [
        ["NAME", *[r["name"] for r in rows]],
        ["KIND", *[r["kind"] for r in rows]],
        ["DISTRIBUTION", *[r["distribution"] for r in rows]],
        ["VERSION", *[r["version"] for r in rows]],
    ]
