"""``murmur run --source SNAPSHOT --then LIVE``: a bootstrap, then live mode in the same process.

The live source is the ``-H`` one whose position the bootstrap captured before its scan, so the
live phase starts exactly after the handoff: records logged before the capture are the
snapshot's business, records logged after it (even while the scan runs) are the live phase's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import RUN_ORDERS, Invoke, totals

from murmur import AdapterContext, AdapterSpec, HandoffToken, Record, SourceError, hookimpl
from murmur.plugins import PluginInfo, Registry
from murmur.testing import MemoryLiveSource, MemoryLog, MemorySnapshotSource

SHOP = [{"customer": "alice", "amount": 10}, {"customer": "bob", "amount": 20}, {"customer": "alice", "amount": 5}]


class ShopSnapshot(MemorySnapshotSource):
    """A snapshot whose scan, when it starts, logs new orders on the live log: writes after the capture."""

    def __init__(self, log: MemoryLog, during: list[dict[str, Any]]) -> None:
        super().__init__(list(SHOP), name="shop", batch_size=2)
        self.live_log = log
        self.during = during

    def scan(self, segment: Any, after: Any | None) -> Iterator[list[Record]]:
        self.live_log.extend(self.during)
        self.during = []
        yield from super().scan(segment, after)


class FailingLive(MemoryLiveSource):
    name = "failing-live"

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        raise SourceError("failing-live: the broker went away")


class ShopPlugin:
    def __init__(self, log: MemoryLog, during: list[dict[str, Any]]) -> None:
        self.log = log
        self.during = during

    @hookimpl
    def murmur_register(self, register: Callable[[AdapterSpec], None]) -> None:
        def shop(options: Mapping[str, Any], context: AdapterContext) -> Any:
            return ShopSnapshot(self.log, self.during)

        def failing(options: Mapping[str, Any], context: AdapterContext) -> Any:
            return FailingLive(self.log)

        register(AdapterSpec("shop", "source", "orders in memory (tests)", shop))
        register(AdapterSpec("failing", "live", "a live source whose poll fails (tests)", failing))


@pytest.fixture
def during() -> list[dict[str, Any]]:
    """Orders the live log receives when the scan starts (after the handoff was captured)."""
    return [{"customer": "bob", "amount": 7}, {"customer": "carol", "amount": 3}]


@pytest.fixture
def registry(registry: Registry, live_log: MemoryLog, during: list[dict[str, Any]]) -> Registry:
    registry.add(ShopPlugin(live_log, during), PluginInfo("shop", "tests.cli.test_then", "murmur-tests", "0"))
    return registry


SHOP_RUN = ("run", "--source", "shop", "--key", "customer", "--value", "amount", "--monoid", "sum", "--name", "shop")


def test_then_runs_live_after_the_bootstrap_from_the_position_captured_before_the_scan(
    cli: Invoke, live_log: MemoryLog
) -> None:
    live_log.extend([{"customer": "alice", "amount": 1000}] * 2)  # before the capture: the snapshot has these
    result = cli(*SHOP_RUN, "--then", "ticks", "--until-idle", "0.3", "--handoff-out", "h.json", "--json")
    assert result.exit_code == 0, result.stderr
    assert totals(cli, "alice", "bob", "carol", name="shop") == {"alice": 15, "bob": 27, "carol": 3}
    summary = json.loads(result.stdout)
    assert summary["mode"] == "bootstrap+live"
    assert summary["phases"]["bootstrap"]["records"] == 3
    assert summary["phases"]["live"]["records"] == 2
    assert summary["records"] == summary["applied"] == 5
    assert summary["dead_letters"] == 0
    assert summary["then"]["adapter"] == "ticks"
    assert summary["handoff_file"] == "h.json"
    token = HandoffToken.read("h.json")
    assert token.live == {"source": "memory-live", "position": {"0": 2}}
    assert live_log.committed == {0: 4}  # the live phase committed what it applied


def test_then_prints_both_phases(cli: Invoke, live_log: MemoryLog) -> None:
    result = cli(*SHOP_RUN, "--then", "ticks", "-H", "password=s3cr3t-value", "--until-idle", "0.3")
    assert result.exit_code == 0, result.stderr
    err = result.stderr
    assert "shop · bootstrap finished" in err
    assert "then          live from ticks, starting after the handoff" in err
    assert "shop · live run stopped" in err
    assert err.index("bootstrap finished") < err.index("live run stopped")
    assert "s3cr3t-value" not in err + result.stdout


def test_then_with_handoff_to_the_same_source_and_a_jsonl_bootstrap(cli: Invoke, orders: Path) -> None:
    result = cli(*RUN_ORDERS, "--handoff-to", "ticks", "--then", "ticks", "--until-idle", "0.2", "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert totals(cli, "alice", "bob") == {"alice": 55, "bob": 60}


def test_resume_of_a_finished_bootstrap_continues_live_from_the_committed_position(
    cli: Invoke, live_log: MemoryLog
) -> None:
    first = cli(*SHOP_RUN, "--then", "ticks", "--until-idle", "0.2", "-q")
    assert first.exit_code == 0, first.stderr
    live_log.extend([{"customer": "dave", "amount": 4}])
    again = cli(*SHOP_RUN, "--then", "ticks", "--until-idle", "0.2", "--resume", "--json")
    assert again.exit_code == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["already_finished"] is True
    assert summary["phases"]["live"]["records"] == 1  # only the new one: the rest was committed
    assert "shop · already finished, continuing live" in again.stderr
    assert totals(cli, "alice", "bob", "carol", "dave", name="shop") == {"alice": 15, "bob": 27, "carol": 3, "dave": 4}


def test_a_failing_live_phase_exits_1_and_keeps_the_bootstrap_and_its_handoff_file(cli: Invoke) -> None:
    result = cli(*SHOP_RUN, "--then", "failing", "--until-idle", "0.2", "--handoff-out", "h.json")
    assert result.exit_code == 1
    assert "the broker went away" in result.stderr
    assert HandoffToken.read("h.json").live == {"source": "failing-live", "position": {"0": 0}}
    assert totals(cli, "alice", "bob", name="shop") == {"alice": 15, "bob": 20}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(("--then", "shop"), ["--then: unknown live source 'shop'"], id="snapshot-as-then"),
        pytest.param(
            ("--then", "ticks", "--handoff-to", "failing"),
            ["--then ticks and --handoff-to failing", "give --then alone"],
            id="two-live-sources",
        ),
        pytest.param(
            ("--then", "ticks", "--no-handoff"), ["--no-handoff: cannot be combined with --then"], id="no-handoff"
        ),
        pytest.param(
            ("--then", "ticks", "--segments", "2", "--segment", "0"),
            ["--segment: cannot be combined with --then", "--from-handoff"],
            id="segment",
        ),
        pytest.param(
            ("--then", "ticks", "--from-handoff", "h.json"), ["--from-handoff needs a live source"], id="from-handoff"
        ),
        pytest.param(("-H", "a=b"), ["-H: handoff options given without --handoff-to or --then"], id="orphan-H"),
    ],
)
def test_then_usage_errors(cli: Invoke, extra: tuple[str, ...], expected: list[str]) -> None:
    result = cli(*SHOP_RUN, *extra)
    assert result.exit_code == 2, result.stderr
    for text in expected:
        assert text in result.stderr


def test_then_needs_a_snapshot_source(cli: Invoke) -> None:
    result = cli("run", "--source", "ticks", "--key", "k", "--monoid", "count", "--name", "n", "--then", "ticks")
    assert result.exit_code == 2
    assert "--then ticks: continues a bootstrap, so --source must be a snapshot source" in result.stderr
