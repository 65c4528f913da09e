"""Fixtures for the CLI tests: a runner in a scratch directory, sample data, and a test live source."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import ORDERS, Invoke
from typer.testing import CliRunner, Result

from murmur import AdapterContext, AdapterSpec, Option, hookimpl
from murmur.cli import make_app
from murmur.plugins import PluginInfo, Registry, load
from murmur.testing import MemoryLiveSource, MemoryLog


class StatsLiveSource(MemoryLiveSource):
    """The in-memory live source, reporting a lag like Kafka's."""

    name = "memory-live"

    def stats(self) -> dict[str, Any]:
        return {"lag": {str(p): len(e) - self._next.get(p, 0) for p, e in self.log.partitions.items()}}


class TicksPlugin:
    """Registers a ``ticks`` live source over ``log``, the way a third-party plugin would."""

    def __init__(self, log: MemoryLog) -> None:
        self.log = log

    @hookimpl
    def murmur_register(self, register: Callable[[AdapterSpec], None]) -> None:
        def factory(options: Mapping[str, Any], context: AdapterContext) -> Any:
            return StatsLiveSource(self.log)

        register(
            AdapterSpec(
                "ticks",
                "live",
                "an in-memory log (tests)",
                factory,
                options=(Option("password", "str", None, "never printed", secret=True),),
                guarantees=("at-least-once",),
            )
        )


@pytest.fixture
def live_log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def registry(live_log: MemoryLog) -> Registry:
    reg = load()
    reg.add(TicksPlugin(live_log), PluginInfo("ticks", "tests.cli.conftest", "murmur-tests", "0"))
    return reg


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("MURMUR_DEBUG", "MURMUR_STRICT_PLUGINS", "MURMUR_DISABLE_PLUGINS", "MURMUR_SQLITE_PATH"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def cli(workdir: Path, registry: Registry) -> Invoke:
    """``cli("run", "--source", ...)`` runs ``murmur`` in-process, in ``workdir``."""
    runner = CliRunner()
    app = make_app(registry)

    def invoke(*args: str, input: str | bytes | None = None, env: Mapping[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, env=dict(env or {}))

    return invoke


@pytest.fixture
def orders(workdir: Path) -> Path:
    path = workdir / "orders.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in ORDERS))
    return path
