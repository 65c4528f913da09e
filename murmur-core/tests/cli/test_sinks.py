"""Dead-letter sinks are adapters of kind ``sink``: the built-in jsonl file, or one a plugin registers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cli_helpers import ORDERS
from typer.testing import CliRunner

from murmur import AdapterContext, AdapterSpec, DeadLetter, Option, hookimpl
from murmur.cli import make_app
from murmur.plugins import PluginInfo, load

RUN = ["run", "--source", "jsonl", "-S", "path=poison.jsonl", "--key", "customer", "--value", "amount"]


class ListSink:
    def __init__(self, into: list[dict[str, Any]], tag: str) -> None:
        self.into, self.tag, self.count = into, tag, 0

    def write(self, letter: DeadLetter) -> None:
        self.into.append({"tag": self.tag, "error": letter.error, "kind": letter.kind})
        self.count += 1

    def close(self) -> None:
        pass


class SinkPlugin:
    def __init__(self, into: list[dict[str, Any]]) -> None:
        self.into = into

    @hookimpl
    def murmur_register(self, register: Callable[[AdapterSpec], None]) -> None:
        def factory(options: Mapping[str, Any], context: AdapterContext) -> Any:
            return ListSink(self.into, options["tag"])

        register(AdapterSpec("list", "sink", "letters into a list (tests)", factory, (Option("tag", default="t"),)))


def _poison(workdir: Path) -> None:
    (workdir / "poison.jsonl").write_text(json.dumps(ORDERS[0]) + "\n{not json\n" + json.dumps(ORDERS[1]) + "\n")


def test_the_default_sink_is_the_jsonl_file_of_dead_letters(workdir: Path) -> None:
    _poison(workdir)
    app = make_app(load(entry_points=[], env={}))
    result = CliRunner().invoke(app, [*RUN, "--monoid", "sum", "--name", "a", "--dead-letters", "bad.jsonl", "-q"])
    assert result.exit_code == 0, result.stderr
    (letter,) = [json.loads(line) for line in (workdir / "bad.jsonl").read_text().splitlines()]
    assert letter["kind"] == "decode"
    assert letter["raw"] == "{not json"
    # the same sink named explicitly, its file given as its own option
    result = CliRunner().invoke(
        app, [*RUN, "--monoid", "sum", "--name", "b", "--dead-letter-sink", "jsonl", "-L", "path=other.jsonl", "-q"]
    )
    assert result.exit_code == 0, result.stderr
    assert len((workdir / "other.jsonl").read_text().splitlines()) == 1


def test_a_plugin_sink_is_chosen_by_flag_or_config_file(workdir: Path) -> None:
    _poison(workdir)
    letters: list[dict[str, Any]] = []
    registry = load(entry_points=[], env={})
    registry.add(SinkPlugin(letters), PluginInfo("sinks", "tests.cli.test_sinks", "murmur-tests", "0"))
    app = make_app(registry)
    flag = CliRunner().invoke(
        app, [*RUN, "--monoid", "sum", "--name", "c", "--dead-letter-sink", "list", "-L", "tag=flag", "--json", "-q"]
    )
    assert flag.exit_code == 0, flag.stderr
    assert json.loads(flag.stdout)["dead_letters"] == 1
    (workdir / "murmur.toml").write_text('[dead_letters]\nadapter = "list"\ntag = "file"\n')
    config = CliRunner().invoke(app, [*RUN, "--monoid", "count", "--name", "d", "--config", "murmur.toml", "-q"])
    assert config.exit_code == 0, config.stderr
    assert [(x["tag"], x["kind"]) for x in letters] == [("flag", "decode"), ("file", "decode")]
    assert not (workdir / "murmur-dead-letters.jsonl").exists()
    bad = CliRunner().invoke(app, [*RUN, "--monoid", "sum", "--name", "e", "--dead-letter-sink", "list", "-L", "x=1"])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("murmur: error: -L x: dead-letter sink 'list' has no option 'x'")
