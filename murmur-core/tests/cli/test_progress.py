"""The progress display, rendered deterministically: a fake terminal and an injected clock."""

from __future__ import annotations

import io
import re

from rich.console import Console

from murmur import RunStatus
from murmur.cli import ProgressDisplay


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system=None), out


def plain_text(raw: str) -> str:
    """Escape codes dropped and runs of spaces (column padding) squeezed to one."""
    return re.sub(r" +", " ", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw))


def test_one_bar_per_segment_plus_a_total_with_rate_eta_and_counts() -> None:
    clock = Clock()
    status = RunStatus("orders", "bootstrap", clock=clock)
    console, out = terminal()
    display = ProgressDisplay(console, status, style="bars", clock=clock)
    status.segment("segment 1/2", total=1000)
    status.segment("segment 2/2", total=3000)
    clock.now += 2
    status.advance("segment 1/2", 400)
    status.advance("segment 2/2", 600)
    status.event("orders", 990)
    status.event("orders:dead_letter", 1)
    status.event("orders:dedup_skip", 9)
    status.event("orders:retry", 2)
    display.tick()
    text = plain_text(out.getvalue())
    assert "orders · bootstrap" in text
    assert re.search(r"segment 1/2 .*400/1,000 40% 200/s ETA 0:00:03", text)
    assert re.search(r"segment 2/2 .*600/3,000 20% 300/s ETA 0:00:08", text)
    assert re.search(r"total .*1,000/4,000 25% 500/s ETA 0:00:06", text)
    assert "1 dead letter · 9 skipped · 2 retries" in text
    assert "━" in text  # a bar was drawn


def test_unknown_total_shows_a_spinner_and_a_count() -> None:
    clock = Clock()
    status = RunStatus("piped", "bootstrap", clock=clock)
    console, out = terminal()
    display = ProgressDisplay(console, status, style="bars", clock=clock)
    status.segment("scan", total=None)
    clock.now += 4
    status.advance("scan", 1000)
    display.tick()
    text = plain_text(out.getvalue())
    assert re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] scan 1,000 records 250/s", text)
    assert "ETA" not in text
    assert "%" not in text


def test_finished_segment_shows_done_and_a_full_bar() -> None:
    clock = Clock()
    status = RunStatus("orders", "bootstrap", clock=clock)
    console, out = terminal()
    display = ProgressDisplay(console, status, style="bars", clock=clock)
    status.segment("scan", total=1000)  # an estimate
    clock.now += 1
    status.advance("scan", 950)
    status.finish_segment("scan")
    display.tick()
    assert re.search(r"scan .*950/950 100% 950/s done", plain_text(out.getvalue()))


def test_the_rate_follows_the_recent_window() -> None:
    clock = Clock()
    status = RunStatus("orders", "bootstrap", clock=clock)
    console, out = terminal()
    display = ProgressDisplay(console, status, style="bars", clock=clock)
    status.segment("scan", total=100_000)
    for _ in range(30):  # 1,000/s for 30 s, then 100/s
        clock.now += 1
        status.advance("scan", 1000)
        display.tick()
    for _ in range(20):
        clock.now += 1
        status.advance("scan", 100)
        display.tick()
    last = plain_text(out.getvalue()).split("orders · bootstrap")[-1]
    assert "32,000/100,000 32% 100/s ETA 0:11:20" in last


def test_live_mode_shows_throughput_lag_and_dead_letters() -> None:
    clock = Clock()
    status = RunStatus("clicks", "live", clock=clock)
    console, out = terminal()
    display = ProgressDisplay(console, status, style="bars", clock=clock)
    clock.now += 10
    status.event("clicks", 5000)
    status.event("clicks:dead_letter", 3)
    status.source_stats = {"lag": {"0": 12, "1": 30}}
    display.stopping = "SIGTERM: stopping (Ctrl-C again to abort)"
    display.tick()
    text = plain_text(out.getvalue())
    assert "clicks · live 5,003 records · 500/s · lag 42 · 3 dead letters · SIGTERM: stopping" in text


def test_plain_lines_come_every_interval_without_escape_codes() -> None:
    clock = Clock()
    status = RunStatus("orders", "bootstrap", clock=clock)
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    display = ProgressDisplay(console, status, style="plain", clock=clock, interval=10)
    status.segment("scan", total=1000)
    display.tick()  # starts the interval
    clock.now += 5
    status.advance("scan", 100)
    display.tick()
    assert out.getvalue() == ""
    clock.now += 5
    status.advance("scan", 100)
    display.tick()
    assert out.getvalue() == (
        "murmur: orders: 200/1,000 (20%) records, 20/s, ETA 0:00:40, 0 dead letters, 0 skipped, 0 retries\n"
    )
    assert "\x1b" not in out.getvalue()


def test_off_prints_nothing() -> None:
    clock = Clock()
    status = RunStatus("orders", "bootstrap", clock=clock)
    out = io.StringIO()
    display = ProgressDisplay(Console(file=out, force_terminal=True), status, style="off", clock=clock)
    status.segment("scan", total=10)
    with display:
        clock.now += 100
        display.tick()
        display.write("murmur: warning: hidden")
    assert out.getvalue() == ""


def test_context_manager_draws_and_leaves_the_final_state() -> None:
    clock = Clock()
    status = RunStatus("orders", "bootstrap", clock=clock)
    console, out = terminal()
    status.segment("scan", total=10)
    with ProgressDisplay(console, status, style="bars", clock=clock, refresh=0.01) as display:
        clock.now += 1
        status.advance("scan", 10)
        status.finish_segment("scan")
        display.write("murmur: warning: shown above the bars")
    text = plain_text(out.getvalue())
    assert "murmur: warning: shown above the bars" in text
    assert re.search(r"scan .*10/10 100% 10/s done", text.split("orders · bootstrap")[-1])


def test_a_short_live_run_rates_the_time_records_flowed_not_the_idle_wait() -> None:
    from murmur._status import RunStatus

    now = [100.0]
    live = RunStatus("orders", "live", clock=lambda: now[0])
    now[0] = 100.5
    live.event("orders", 1000)  # everything arrives in the first half second...
    now[0] = 103.5  # ...then --until-idle 3 waits for more
    live.end()
    summary = live.summary()
    assert summary["elapsed_seconds"] == 3.5
    assert summary["records_per_second"] == 2000.0
    boot = RunStatus("orders", "bootstrap", clock=lambda: now[0])
    boot.event("orders", 700)
    now[0] = 110.5
    boot.end()
    assert boot.summary()["records_per_second"] == 100.0  # a bootstrap is rated over its whole run
