"""Sessions for every distribution: `nox` runs what CI runs; `nox -l` lists them all.

- tests-core-3.11/3.12/3.13: the core on each interpreter (missing ones are skipped)
- tests-mongo, tests-kafka, tests-dynamodb: each adapter on top of the core only
- integration: cross-distribution tests in tests/ (real servers, started by the tests)
- lint (ruff), typecheck (mypy), build (wheel + sdist of each, each installed alone), bench
"""

from __future__ import annotations

import glob
import os
import pathlib

import nox
import nox.command

ROOT = pathlib.Path(__file__).parent
CORE = "murmur-core"
CORE_METRICS = f"{CORE}[metrics]"  # with prometheus-client, for --metrics-port and its tests
ADAPTERS = ("mongo", "kafka", "dynamodb")
PYTHONS = ["3.11", "3.12", "3.13"]
# orjson: tests write JSON with it (the libraries decode with msgspec and need neither).
TEST_TOOLS = ["pytest>=8", "hypothesis>=6.100", "pytest-timeout>=2.3", "orjson>=3.9,<4"]
SERVERS = "tests/servers"  # the pytest plugin that starts real MongoDB/Kafka/DynamoDB test servers
EXAMPLE_PLUGINS = ("tests/example_plugin", "tests/broken_plugin")

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = False
nox.options.sessions = [
    "tests-core",
    "tests-mongo",
    "tests-kafka",
    "tests-dynamodb",
    "integration",
    "lint",
    "typecheck",
]

# Interpreters installed by pyenv are not on PATH unless pyenv is told; find them ourselves.
for _bin in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-3]*/bin")), reverse=True):
    if _bin not in os.environ.get("PATH", ""):
        os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")


def _everything() -> list[str]:
    """Editable installs of every distribution and the test-server plugin."""
    return ["-e", CORE_METRICS, *[arg for a in ADAPTERS for arg in ("-e", f"murmur-{a}")], "-e", SERVERS]


def _pytest(session: nox.Session, *paths: str) -> None:
    # A hung test fails on its own instead of eating the whole CI budget.
    session.run("pytest", "-q", "-p", "no:cacheprovider", "--timeout=300", *paths, *session.posargs)


@nox.session(name="tests-core", python=PYTHONS)
def tests_core(session: nox.Session) -> None:
    """The core alone, with the example plugins (no adapter installed)."""
    session.install("-e", CORE_METRICS, *TEST_TOOLS, *[f"./{p}" for p in EXAMPLE_PLUGINS])
    _pytest(session, f"{CORE}/tests")


def _adapter_session(name: str) -> None:
    @nox.session(name=f"tests-{name}", python="3.11")
    def session_fn(session: nox.Session) -> None:
        session.install("-e", CORE_METRICS, "-e", f"murmur-{name}", "-e", SERVERS, *TEST_TOOLS)
        _pytest(session, f"murmur-{name}/tests")

    session_fn.__doc__ = f"murmur-{name} on top of the core only, against its real test server."


for _name in ADAPTERS:
    _adapter_session(_name)


@nox.session(python="3.11")
def integration(session: nox.Session) -> None:
    """Cross-distribution tests (tests/): every adapter installed, real servers. `-- --slow` for the big sizes."""
    session.install(*_everything(), *TEST_TOOLS, *[f"./{p}" for p in EXAMPLE_PLUGINS])
    # Both calls run even when the first fails, so one red run shows every failure.
    failed = []
    # (murmur-kafka's README test needs murmur-mongo too: its Mongo handoff runs here, not in tests-kafka.)
    calls = (
        ("tests", "--ignore=tests/servers/tests"),
        ("tests/servers/tests",),
        ("murmur-kafka/tests/test_readme.py",),
    )
    for paths in calls:
        try:
            _pytest(session, *paths)
        except nox.command.CommandFailed:
            failed.append(paths[0] if paths[0] != "tests" else "tests (cross-distribution)")
    if failed:
        session.error(f"pytest failed in: {', '.join(failed)}")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    session.install("mypy", *_everything(), *TEST_TOOLS)
    session.run("mypy", f"{CORE}/src", *[f"murmur-{a}/src" for a in ADAPTERS])


@nox.session(python="3.11")
def build(session: nox.Session) -> None:
    """Build each distribution's wheel and sdist, then prove each installs and imports alone."""
    session.install("build")
    dist = ROOT / "dist"
    for name in (CORE, *[f"murmur-{a}" for a in ADAPTERS]):
        session.run("python", "-m", "build", "--outdir", str(dist), name)
    core_wheel = sorted(dist.glob("murmur_core-*.whl"))[-1]
    session.run("python", "-m", "venv", "--clear", str(ROOT / ".nox" / "alone"), external=True)
    alone = ROOT / ".nox" / "alone" / "bin"
    session.run(str(alone / "pip"), "install", "-q", str(core_wheel), external=True)
    session.run(str(alone / "murmur"), "plugins", "list", external=True)
    for a in ADAPTERS:
        wheel = sorted(dist.glob(f"murmur_{a}-*.whl"))[-1]
        session.run(str(alone / "pip"), "install", "-q", str(wheel), external=True)
        session.run(str(alone / "python"), "-c", f"import murmur_{a}", external=True)
    session.run(str(alone / "murmur"), "plugins", "list", external=True)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with their baselines (quick by default; `nox -s bench -- --full`)."""
    session.install(*_everything(), "orjson", "bytewax==0.21.1", "duckdb", "py-spy")
    session.run("python", "-m", "benchmarks", *session.posargs)
