"""Generated command lines, seeded: every failure is one ``murmur: error:`` line with the right exit code.

Each invocation is a valid ``murmur run`` (or ``get``/``plugins``) with zero, one or two mutations
drawn from a catalogue; each mutation knows the exit code it must cause (2: usage or
configuration, 1: a run that failed) and a word the message must contain (the option or file at
fault). Nothing may print a traceback or click's multi-line usage block.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_helpers import ORDERS, Invoke

SEED = 14
COUNT = 240


@dataclass
class Case:
    argv: list[str]
    code: int
    words: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Mutation:
    """Changes a run's argv; ``code`` is what it must exit with, ``word`` what the message names."""

    name: str
    apply: Callable[[list[str], Path], list[str]]
    code: int
    word: str


def _replace(argv: list[str], flag: str, value: str) -> list[str]:
    out = list(argv)
    out[out.index(flag) + 1] = value
    return out


def _config(text: str) -> Callable[[list[str], Path], list[str]]:
    def apply(argv: list[str], workdir: Path) -> list[str]:
        path = workdir / f"cfg{sum(map(ord, text))}.toml"
        path.write_text(text)
        return [*argv, "--config", path.name]

    return apply


USAGE = [
    Mutation("unknown long option", lambda a, w: [*a, "--frobnicate"], 2, "--frobnicate"),
    Mutation("unknown short option", lambda a, w: [*a, "-Z"], 2, "-Z"),
    Mutation("three dashes", lambda a, w: [*a, "---"], 2, "---"),
    Mutation("missing option value", lambda a, w: [*a, "--segments"], 2, "--segments"),
    Mutation("not an integer", lambda a, w: [*a, "--max-attempts", "many"], 2, "--max-attempts"),
    Mutation("not a number", lambda a, w: [*a, "--until-idle", "soon"], 2, "--until-idle"),
    Mutation("empty store", lambda a, w: [*a, "--store", ""], 2, "--store"),
    Mutation("empty dedup", lambda a, w: [*a, "--dedup", ""], 2, "--dedup"),
    Mutation("empty source", lambda a, w: _replace(a, "--source", ""), 2, "--source"),
    Mutation("empty key", lambda a, w: _replace(a, "--key", " "), 2, "--key"),
    Mutation("near-miss store", lambda a, w: [*a, "--store", "sqlit"], 2, "did you mean sqlite?"),
    Mutation("near-miss source", lambda a, w: _replace(a, "--source", "Jsonl"), 2, "did you mean jsonl?"),
    Mutation("unknown store", lambda a, w: [*a, "--store", "redis"], 2, "--store"),
    Mutation("unknown dedup", lambda a, w: [*a, "--dedup", "redis"], 2, "--dedup"),
    Mutation("unknown sink", lambda a, w: [*a, "--dead-letter-sink", "kafka"], 2, "--dead-letter-sink"),
    Mutation("pair without =", lambda a, w: [*a, "-S", "nonsense"], 2, "-S"),
    Mutation("bad option type", lambda a, w: [*a, "-S", "batch_size=abc"], 2, "batch_size"),
    Mutation("unknown adapter option", lambda a, w: [*a, "-S", "bogus=1"], 2, "bogus"),
    Mutation("bad store option", lambda a, w: [*a, "-T", "busy_timeout=forever"], 2, "busy_timeout"),
    Mutation("bad choice", lambda a, w: [*a, "-T", "synchronous=fast"], 2, "synchronous"),
    Mutation("unknown monoid", lambda a, w: _replace(a, "--monoid", "avg"), 2, "--monoid"),
    Mutation("bad window", lambda a, w: [*a, "--window", "fortnight"], 2, "--window"),
    Mutation("bad mode", lambda a, w: [*a, "--mode", "sideways"], 2, "--mode"),
    Mutation("resume and restart", lambda a, w: [*a, "--resume", "--restart"], 2, "--resume"),
    Mutation("segment out of range", lambda a, w: [*a, "--segments", "2", "--segment", "5"], 2, "--segment"),
    Mutation("zero attempts", lambda a, w: [*a, "--max-attempts", "0"], 2, "--max-attempts"),
    Mutation("missing config", lambda a, w: [*a, "--config", "nowhere.toml"], 2, "--config"),
    Mutation("toml name is a number", _config("[pipeline]\nname = 5\n"), 2, ":2: [pipeline] name"),
    Mutation("toml empty adapter", _config('[store]\nadapter = ""\n'), 2, "[store] adapter"),
    Mutation("toml bad monoid", _config('[pipeline]\nmonoid = "avg"\n'), 2, "monoid"),
    Mutation("toml run type", _config('[run]\nsegments = "4"\n'), 2, "[run] segments"),
    Mutation("toml syntax", _config("[pipeline\nname = 'x'\n"), 2, "invalid TOML"),
    Mutation("toml unknown table", _config("[pipelines]\nname = 'x'\n"), 2, "[pipelines]"),
    Mutation("stray argument", lambda a, w: [*a, "extra"], 2, "extra"),
    Mutation("missing source file", lambda a, w: _replace(a, "-S", "path=missing.jsonl"), 1, "missing.jsonl"),
]
# A run that starts and then fails: exit 1.
FAILURES = [
    Mutation(
        "abort at a dead letter", lambda a, w: [*_replace(a, "-S", "path=poison.jsonl"), "--fail-on-error"], 1, ""
    ),
]
OTHER: list[Case] = [
    Case(["rn"], 2, ["rn"]),
    Case(["plugins", "show", "Sqlite"], 2, ["did you mean sqlite?"]),
    Case(["plugins", "show"], 2, ["NAME"]),
    Case(["plugins", "frob"], 2, ["frob"]),
    Case(["get", "--name", "orders", "--all", "a"], 2, ["KEY"]),
    Case(["get", "--store", "", "--name", "orders", "a"], 2, ["--store"]),
    Case(["get", "--name", "", "a"], 2, ["--name"]),
    Case(["get", "--name", "never-ran", "-T", "path=nowhere.db", "a"], 2, ["nowhere.db"]),
    Case(["--version", "--frob"], 2, ["--frob"]),
]


def generate(seed: int, count: int) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []
    for i in range(count):
        if rng.random() < 0.05:
            cases.append(rng.choice(OTHER))
            continue
        argv = [
            "run", "--source", "jsonl", "-S", "path=orders.jsonl", "--key", "customer", "--value", "amount",
            "--monoid", "sum", "--name", f"p{i}",
        ]  # fmt: skip
        for extra in (["--json"], ["-q"], ["--store", "memory"], ["--dedup", "sqlite"], ["--max-attempts", "5"]):
            if rng.random() < 0.3:
                argv += extra
        roll = rng.random()
        chosen = [] if roll < 0.1 else rng.sample(FAILURES, 1) if roll < 0.2 else rng.sample(USAGE, rng.choice((1, 2)))
        code, words = 0, []
        for mutation in chosen:
            argv = mutation.apply(argv, Path("."))
            words.append(mutation.word)
            code = max(code, mutation.code) if code != 2 else 2
        if any(m.code == 2 for m in chosen):
            code = 2
            words = [m.word for m in chosen if m.code == 2]
        cases.append(Case(argv, code, words))
    return cases


@pytest.fixture
def fuzz_workdir(workdir: Path) -> Path:
    (workdir / "orders.jsonl").write_text("".join(json.dumps(o) + "\n" for o in ORDERS))
    (workdir / "poison.jsonl").write_text(json.dumps(ORDERS[0]) + "\n{not json\n")
    return workdir


def test_generated_invocations_fail_on_one_line_with_the_right_exit_code(cli: Invoke, fuzz_workdir: Path) -> None:
    cases = generate(SEED, COUNT)  # config files are written into the working directory, fuzz_workdir
    assert len(cases) >= 200
    assert {c.code for c in cases} == {0, 1, 2}
    for number, case in enumerate(cases):
        result = cli(*case.argv)
        where = f"case {number} (seed {SEED}): murmur {' '.join(case.argv)!r}\n{result.stdout}\n{result.stderr}"
        assert result.exit_code == case.code, where
        assert "Traceback" not in result.stderr + result.stdout, where
        if case.code == 0:
            continue
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("murmur: error: ")]
        assert len(errors) == 1, where
        assert "Usage:" not in result.stderr and "Try '" not in result.stderr, where
        if case.code == 2:
            assert lines == errors, where  # usage and configuration errors: nothing else at all
            assert any(word in errors[0] for word in case.words), where
