"""``python -m benchmarks [--full] [--json FILE] [--only NAME,...] [--repeat N] [--profile NAME]``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._harness import Context, Row, as_json, run_plan, table

#: Scenario name → module (each has a context manager ``setup(ctx)`` yielding its Plan), in the issue's order.
SCENARIOS = {
    "jsonl-sqlite": "benchmarks.jsonl_sqlite",
    "mongo-dynamodb": "benchmarks.mongo_dynamodb",
    "kafka-sqlite": "benchmarks.kafka_sqlite",
    "hot-key": "benchmarks.hot_key",
    "cli-startup": "benchmarks.cli_startup",
    "peak-rss": "benchmarks.peak_rss",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Murmur's benchmarks, each side by side with its limit, a naive baseline and a peer.",
    )
    parser.add_argument("--full", action="store_true", help="the issue's sizes (default: quick sizes)")
    parser.add_argument("--json", metavar="FILE", help="also write every result to FILE")
    parser.add_argument("--only", metavar="NAME,...", help=f"scenarios to run: {','.join(SCENARIOS)}")
    parser.add_argument("--repeat", type=int, metavar="N", help="repetitions per variant (default 3 quick, 5 full)")
    parser.add_argument("--profile", metavar="NAME", help="profile murmur's variant of one scenario instead (py-spy)")
    parser.add_argument("--workdir", metavar="DIR", help="where data and databases go (default: a temp dir)")
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="skip compiling the environment's bytecode first (pip install compiles it; uv does not)",
    )
    args = parser.parse_args(argv)

    names = list(SCENARIOS) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"--only: unknown scenario {', '.join(unknown)} (known: {', '.join(SCENARIOS)})")
    repeat = args.repeat or (5 if args.full else 3)
    if repeat < 1:
        parser.error("--repeat must be at least 1")

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="murmur-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(full=args.full, repeat=repeat, workdir=workdir)
    if not args.no_compile:
        _compile_bytecode()
    try:
        if args.profile:
            from benchmarks._profile import profile

            return profile(ctx, args.profile)
        return _run(ctx, names, args.json)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(ctx: Context, names: list[str], json_path: str | None) -> int:
    mode = "full" if ctx.full else "quick"
    print(
        f"murmur benchmarks ({mode}, median of {ctx.repeat}) on {platform.node()}, Python {platform.python_version()}"
    )
    rows: list[Row] = []
    started = time.perf_counter()
    load_at_start = _load()
    for name in names:
        print(f"[{name}]", file=sys.stderr, flush=True)
        try:
            with importlib.import_module(SCENARIOS[name]).setup(ctx) as plan:
                rows += run_plan(ctx, plan)
        except Exception as exc:  # a scenario whose servers cannot start: say so, run the others
            print(f"  {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            rows.append(Row(name, "-", "info", "rec/s", error=f"{type(exc).__name__}: {exc}"))
    print()
    print(table(rows))
    notes = [f"- {r.variant}: {r.note}" for r in rows if r.note] + [
        f"- {r.scenario} {r.variant}: {r.error}" for r in rows if r.error
    ]
    if notes:
        print("\n" + "\n".join(notes))
    print(
        f"\n({time.perf_counter() - started:.0f}s in all; load average {load_at_start} at the start,"
        f" {_load()} at the end: other work on the machine skews the numbers)"
    )
    if json_path:
        doc = {"mode": mode, "repeat": ctx.repeat, "python": platform.python_version(), "rows": as_json(rows)}
        Path(json_path).write_text(json.dumps(doc, indent=2))
    # Targets are reported, never asserted: only a variant that failed to run fails the command.
    return 1 if any(r.error for r in rows) else 0


def _compile_bytecode() -> None:
    """Compile the environment's modules (and murmur's, installed editable) as ``pip install`` does.

    Whole-process rows start Python afresh. Without cached bytecode every such process compiles
    murmur, typer and rich from source (~180 modules, 0.3 s): what a venv made by uv (which does not
    compile unless ``--compile-bytecode``) on a machine with ``PYTHONDONTWRITEBYTECODE=1`` pays, but
    not a user's ``pip install``, which compiles at install time.
    """
    import compileall
    import site

    import murmur

    started = time.perf_counter()
    paths = {*site.getsitepackages(), *(str(Path(p).parent) for p in murmur.__path__)}
    for name in ("murmur_mongo", "murmur_kafka", "murmur_dynamodb"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            paths.update(str(Path(p).parent) for p in spec.submodule_search_locations)
    for path in sorted(paths):
        compileall.compile_dir(path, quiet=2, workers=0)
    print(f"(bytecode compiled as pip install would, {time.perf_counter() - started:.1f}s; --no-compile skips it)")


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # not available on this platform
        return "?"


if __name__ == "__main__":
    sys.exit(main())
