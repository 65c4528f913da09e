"""The shared harness: run variants in fresh child processes, take medians, check targets, print.

Every repetition of every variant runs in its own spawned process: imports and set-up happen
there before the clock starts (a variant times only its own work and reports the seconds), and
the child's peak RSS (``VmHWM``) belongs to that variant alone. Repetitions are interleaved
(A B C, A B C, ...) so that drifting machine load hits every variant alike.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Roles a variant plays in its scenario; ratios are taken against the "limit", "naive" and "peer" rows.
ROLES = ("murmur", "limit", "naive", "peer", "info")


@dataclass
class Context:
    full: bool
    repeat: int
    workdir: Path
    timeout: float = 900.0

    def size(self, quick: int, full: int) -> int:
        return full if self.full else quick


@dataclass
class Variant:
    """One way of doing a scenario's work: ``func`` is ``"module:function"``, called with ``kwargs``.

    The function does its set-up, times its work, and returns at least ``{"seconds", "records"}``
    (optionally ``"writes"``: store writes, ``"note"``).
    """

    name: str
    role: str
    func: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    unit: str = "rec/s"  # or "ms": a time, lower is better (CLI start-up)


@dataclass
class Plan:
    """What a scenario measures: its label, its variants and the targets its murmur variant must meet."""

    label: str
    variants: list[Variant]
    targets: list[Target] = field(default_factory=list)
    repeat: int | None = None  # overrides the context's (e.g. fewer RSS runs in quick mode)

    def murmur(self) -> Variant:
        return next(v for v in self.variants if v.role == "murmur")


@dataclass
class Target:
    """``variant`` must reach ``op`` ``value`` on ``metric``: ratio_limit, ratio_naive, ratio_peer, writes, rss."""

    variant: str
    metric: str
    op: str  # ">=" or "<="
    value: float

    def text(self) -> str:
        sym = "≥" if self.op == ">=" else "≤"
        what = {
            "ratio_limit": f"{sym}{self.value:g}× limit",
            "ratio_naive": f"{sym}{self.value:g}× naive",
            "ratio_peer": f"{sym}{self.value:g}× peer",
            "writes": f"{sym}{self.value:g} writes",
            "rss": f"{sym}{self.value:g} MB",
        }
        return what[self.metric]


@dataclass
class Row:
    scenario: str
    variant: str
    role: str
    unit: str
    records: int = 0
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    writes: float | None = None
    note: str = ""
    error: str | None = None
    value: float | None = None  # rec/s, or ms for unit "ms" (median)
    ratio_limit: float | None = None
    ratio_naive: float | None = None
    ratio_peer: float | None = None
    targets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def peak_rss(self) -> float | None:
        return max(self.rss_mb) if self.rss_mb else None


# --------------------------------------------------------------------------- children


def _child(func: str, kwargs: dict[str, Any], conn: Any) -> None:
    try:
        module, name = func.split(":")
        fn = getattr(importlib.import_module(module), name)
        out = dict(fn(**kwargs))
        if "rss_mb" not in out:
            out["rss_mb"] = peak_rss_mb()
        conn.send(("ok", out))
    except BaseException:  # reported to the parent, which marks the row
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux: VmHWM, the high-water mark of this address space only;
    ``ru_maxrss`` would also count the parent's pages copied by the fork before exec."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS: rough


def run_child(func: str, kwargs: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``func(**kwargs)`` in a freshly spawned interpreter; its result plus ``rss_mb``."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(func, kwargs, child), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise RuntimeError(f"{func} gave no result within {timeout:.0f}s")
        status, payload = parent.recv()
    except EOFError:
        raise RuntimeError(f"{func} died (exit code {proc.exitcode})") from None
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status != "ok":
        raise RuntimeError(payload.strip().splitlines()[-1] + "\n" + payload)
    return dict(payload)


def run_plan(ctx: Context, plan: Plan) -> list[Row]:
    rows = measure(ctx, plan.label, plan.variants, plan.repeat)
    score(rows, plan.targets)
    return rows


def measure(ctx: Context, scenario: str, variants: list[Variant], repeat: int | None = None) -> list[Row]:
    """Run every variant ``repeat`` times, interleaved; one Row per variant with medians."""
    rows = {v.name: Row(scenario, v.name, v.role, v.unit) for v in variants}
    for i in range(repeat or ctx.repeat):
        for v in variants:
            row = rows[v.name]
            if row.error:
                continue
            label = f"  {scenario}: {v.name} ({i + 1}/{repeat or ctx.repeat})"
            print(label, end="", flush=True, file=sys.stderr)
            started = time.perf_counter()
            try:
                out = run_child(v.func, v.kwargs, ctx.timeout)
            except Exception as exc:
                row.error = str(exc).splitlines()[0]
                print(f" FAILED: {row.error}", file=sys.stderr)
                if os.environ.get("BENCH_DEBUG"):
                    print(exc, file=sys.stderr)
                continue
            print(f"  {out['seconds']:.2f}s (wall {time.perf_counter() - started:.1f}s)", file=sys.stderr)
            row.records = int(out["records"])
            row.seconds.append(float(out["seconds"]))
            if out["rss_mb"] is not None:
                row.rss_mb.append(float(out["rss_mb"]))
            if out.get("writes") is not None:
                row.writes = float(out["writes"])
            row.note = out.get("note", row.note)
    for row in rows.values():
        if row.seconds and (row.records or row.unit == "ms"):
            med = statistics.median(row.seconds)
            row.value = med * 1000 if row.unit == "ms" else row.records / med
    return list(rows.values())


# --------------------------------------------------------------------------- ratios and targets


def score(rows: list[Row], targets: list[Target]) -> None:
    """Fill ratios (vs the limit, naive and peer rows) and the targets' outcomes."""
    by_role = {r.role: r for r in rows if r.value}
    for row in rows:
        if not row.value:
            continue
        for role in ("limit", "naive", "peer"):
            base = by_role.get(role)
            if base is not None and base is not row:
                setattr(row, f"ratio_{role}", row.value / base.value)  # type: ignore[operator]
    for t in targets:
        target = next((r for r in rows if r.variant == t.variant), None)
        if target is None:
            continue
        actual = {
            "ratio_limit": target.ratio_limit,
            "ratio_naive": target.ratio_naive,
            "ratio_peer": target.ratio_peer,
            "writes": target.writes,
            "rss": target.peak_rss,
        }[t.metric]
        met = None if actual is None else (actual >= t.value if t.op == ">=" else actual <= t.value)
        target.targets.append({"target": t.text(), "actual": actual, "met": met})


# --------------------------------------------------------------------------- output


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _rate(row: Row) -> str:
    if row.error:
        return "FAILED"
    if row.value is None:
        return "-"
    if row.unit == "ms":
        return f"{row.value:,.0f} ms"
    return f"{row.value:,.0f}"


def table(rows: list[Row]) -> str:
    """A GitHub-flavoured markdown table (readable in a terminal and pasteable into README.md)."""
    head = [
        "scenario",
        "variant",
        "records/s",
        "× limit",
        "× naive",
        "× peer",
        "target",
        "met?",
        "writes/event",
        "peak RSS MB",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        per_event = r.writes / r.records if r.writes is not None and r.records else None
        writes = "-" if per_event is None else f"{per_event:.4f} ({r.writes:,.0f})"
        met = ", ".join("-" if t["met"] is None else ("yes" if t["met"] else "NO") for t in r.targets)
        cells = [
            r.scenario,
            r.variant,
            _rate(r),
            _fmt(r.ratio_limit, ".2f"),
            _fmt(r.ratio_naive, ".2f"),
            _fmt(r.ratio_peer, ".2f"),
            ", ".join(t["target"] for t in r.targets) or "",
            met,
            writes,
            _fmt(r.peak_rss, ".0f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def as_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [{**asdict(r), "peak_rss_mb": r.peak_rss} for r in rows]


def main() -> None:
    """``python -m benchmarks._harness MODULE:FUNC JSON-KWARGS``: one run in this process (for profilers)."""
    import json

    func, kwargs = sys.argv[1], json.loads(sys.argv[2])
    module, name = func.split(":")
    out = getattr(importlib.import_module(module), name)(**kwargs)
    print(json.dumps({k: v for k, v in out.items() if isinstance(v, (int, float, str))}))


if __name__ == "__main__":
    main()
