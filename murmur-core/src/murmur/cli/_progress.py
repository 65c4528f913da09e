"""Progress on stderr, read from a :class:`murmur.RunStatus`.

On a terminal: Rich bars, one per segment plus a total (records done of the estimated total,
records/s, ETA, dead letters, dedup skips, retries), a spinner and a count where the total is
unknown; in live mode throughput, lag and dead letters. Elsewhere: a plain line every
``interval`` seconds, never an escape code. ``clock`` is injectable, so tests are deterministic.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from murmur._status import RunStatus
from murmur.cli._console import LineConsole

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live
    from rich.text import Text

_WINDOW = 10.0  # seconds of samples behind a rate


class _Rate:
    """Records per second over the last few seconds (from the start until then)."""

    def __init__(self, start: float) -> None:
        self.samples: deque[tuple[float, int]] = deque([(start, 0)])

    def update(self, now: float, done: int) -> float | None:
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[1][0] >= _WINDOW:
            self.samples.popleft()
        t0, d0 = self.samples[0]
        return (done - d0) / (now - t0) if now > t0 else None


def count(n: int | float) -> str:
    return f"{n:,.0f}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 dead letter``, ``3 dead letters``, ``2 retries``."""
    return f"{count(n)} {word}" if n == 1 else f"{count(n)} {many or word + 's'}"


def duration(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _spinner(now: float) -> Text:
    from rich.spinner import Spinner
    from rich.text import Text

    frame = Spinner("dots").render(now)
    return frame if isinstance(frame, Text) else Text(str(frame))


def lag_of(stats: dict[str, Any]) -> int | None:
    """Total lag from ``source.stats()``: an int, or a dict of per-partition lags."""
    lag = stats.get("lag")
    if isinstance(lag, dict):
        values = [v for v in lag.values() if isinstance(v, (int, float))]
        return int(sum(values)) if values else None
    return int(lag) if isinstance(lag, (int, float)) and not isinstance(lag, bool) else None


class ProgressDisplay:
    """Renders ``status`` to ``console``: ``style`` is ``bars``, ``plain`` or ``off``.

    Use as a context manager (a thread refreshes it), or call :meth:`tick` yourself.
    """

    def __init__(
        self,
        console: LineConsole,
        status: RunStatus,
        *,
        style: str = "bars",
        clock: Callable[[], float] = time.monotonic,
        interval: float = 10.0,
        refresh: float = 0.2,
    ) -> None:
        self.console = console
        self.status = status
        self.style = style
        self.clock = clock
        self.interval = interval
        self.refresh = refresh
        self.stopping = ""  # set when a signal asked the run to stop
        self._rates: dict[str, _Rate] = {}
        self._last_line: float | None = None
        self._live: Live | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = clock()

    # ------------------------------------------------------------------ numbers

    def _rate(self, name: str, done: int) -> float | None:
        rate = self._rates.get(name)
        if rate is None:
            rate = self._rates[name] = _Rate(self._started)
        return rate.update(self.clock(), done)

    def _extras(self) -> str:
        s = self.status
        letters, retries = plural(s.dead_letters, "dead letter"), plural(s.retries, "retry", "retries")
        return f"{letters} · {count(s.dedup_skips)} skipped · {retries}"

    def _eta(self, done: int, total: int | None, rate: float | None) -> str:
        if total is None or not rate or rate <= 0 or done >= total:
            return ""
        return f"ETA {duration((total - done) / rate)}"

    # ------------------------------------------------------------------ terminal

    def render(self) -> RenderableType:
        # (Rich is imported only to draw: off a terminal the run prints plain lines without it)
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        if self.status.mode == "live":
            return self._render_live()
        now = self.clock()
        grid = Table.grid(padding=(0, 1))
        for _ in range(6):
            grid.add_column()
        segments = [(s.name, s.total, s.done, s.finished) for s in list(self.status.segments.values())]
        if not segments:
            grid.add_row(_spinner(now), Text(f"{self.status.pipeline}: starting…"), "", "", "", "")
        rows = list(segments)
        if len(segments) > 1:
            total = self.status.total
            rows.append(("total", total, sum(s[2] for s in segments), all(s[3] for s in segments)))
        for name, total, done, finished in rows:
            rate = self._rate(name, done)
            if finished and total is not None:
                total = done  # the estimate was only an estimate
            if total is None:
                lead: RenderableType = Text("✓") if finished else _spinner(now)
                grid.add_row(
                    lead, Text(name), Text(f"{count(done)} records"), Text(f"{count(rate or 0)}/s"), Text(""), Text("")
                )
            else:
                bar = ProgressBar(total=max(total, done, 1), completed=done, width=30, animation_time=now)
                pct = f"{100 * done / total:.0f}%" if total else ""
                grid.add_row(
                    Text(name),
                    bar,
                    Text(f"{count(done)}/{count(total)} {pct}"),
                    Text(f"{count(rate or 0)}/s"),
                    Text("done" if finished else self._eta(done, total, rate)),
                    Text(""),
                )
        footer = Text(self._extras() + (f" · {self.stopping}" if self.stopping else ""), style="dim")
        return Group(Text(f"{self.status.pipeline} · bootstrap", style="bold"), grid, footer)

    def _render_live(self) -> RenderableType:
        from rich.text import Text

        now = self.clock()
        s = self.status
        rate = self._rate("live", s.records)
        parts = [f"{count(s.records)} records", f"{count(rate or 0)}/s"]
        lag = lag_of(s.source_stats)
        if lag is not None:
            parts.append(f"lag {count(lag)}")
        parts.append(plural(s.dead_letters, "dead letter"))
        if self.stopping:
            parts.append(self.stopping)
        line = Text.assemble(_spinner(now), " ", (f"{s.pipeline} · live", "bold"), "  ", " · ".join(parts))
        return line

    # ------------------------------------------------------------------ plain text

    def line(self) -> str:
        """One line of progress for logs (no escape codes)."""
        s = self.status
        if s.mode == "live":
            rate = self._rate("live", s.records)
            lag = lag_of(s.source_stats)
            lag_text = f", lag {count(lag)}" if lag is not None else ""
            return (
                f"murmur: {s.pipeline} live: {plural(s.records, 'record')}, {count(rate or 0)}/s{lag_text},"
                f" {plural(s.dead_letters, 'dead letter')}"
            )
        done, total = s.done, s.total
        rate = self._rate("total", done)
        of = f"/{count(total)} ({100 * done / total:.0f}%)" if total else ""
        eta = self._eta(done, total, rate)
        return (
            f"murmur: {s.pipeline}: {count(done)}{of} records, {count(rate or 0)}/s"
            f"{', ' + eta if eta else ''}, {plural(s.dead_letters, 'dead letter')}, {count(s.dedup_skips)} skipped,"
            f" {plural(s.retries, 'retry', 'retries')}"
        )

    # ------------------------------------------------------------------ driving

    def tick(self) -> None:
        """Redraw (bars), or print a line if ``interval`` has passed (plain)."""
        if self.style == "bars":
            if self._live is not None:
                self._live.update(self.render(), refresh=True)
            else:
                self.console.print(self.render())
        elif self.style == "plain":
            now = self.clock()
            if self._last_line is None:
                self._last_line = now
            elif now - self._last_line >= self.interval:
                self._last_line = now
                self.console.print(self.line(), markup=False, highlight=False, soft_wrap=True)

    def write(self, text: str) -> None:
        """Print a message (a warning) without breaking the display."""
        if self.style == "off":
            return
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _loop(self) -> None:
        while not self._done.wait(self.refresh):
            self.tick()

    def __enter__(self) -> ProgressDisplay:
        if self.style == "bars":
            from rich.console import Console
            from rich.live import Live

            assert isinstance(self.console, Console), "bars are drawn on a rich Console"
            self._live = Live(console=self.console, auto_refresh=False, transient=False, redirect_stdout=False)
            self._live.start()
        if self.style != "off":
            self._thread = threading.Thread(target=self._loop, name="murmur-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        if self._live is not None:
            self._live.update(self.render(), refresh=True)
            self._live.stop()
            self._live = None
