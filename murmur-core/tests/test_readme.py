"""The README's Python runs: the library examples as they are, the adapter examples as a package
whose contract tests pass. A block whose first line is ``# path/to/file.py`` is that file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "murmur-core" / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_PATH = re.compile(r"# ([\w/]+\.py)\b")


def blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def path_of(block: str) -> str | None:
    match = _PATH.match(block)
    return match.group(1) if match else None


SCRIPTS = [b for b in blocks() if path_of(b) is None]
FILES = {path_of(b): b for b in blocks() if path_of(b) is not None}


def test_the_readme_has_the_examples_this_file_runs() -> None:
    assert len(SCRIPTS) == 3
    assert set(FILES) == {"my_adapter/_plugin.py", "my_adapter/live.py", "tests/test_list_source.py"}


@pytest.mark.parametrize("index", range(len(SCRIPTS)))
def test_a_library_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(REPO / "examples" / "quickstart" / "orders.jsonl", tmp_path)
    monkeypatch.chdir(tmp_path)
    exec(compile(SCRIPTS[index], f"README.md python block {index}", "exec"), {"__name__": "readme"})


def test_the_adapter_examples_register_and_pass_the_live_source_contract(tmp_path: Path) -> None:
    for path, text in FILES.items():
        target = tmp_path / str(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    register = (
        "import my_adapter._plugin as p\n"
        "specs = []\n"
        "p.murmur_register(specs.append)\n"
        "print([(s.name, s.kind) for s in specs])\n"
    )
    registered = subprocess.run(
        [sys.executable, "-c", register], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout.strip() == "[('my', 'source')]"
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_list_source.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    summary = tests.stdout.strip().splitlines()[-1]
    assert re.match(r"\d+ passed, 2 skipped", summary) or re.match(r"\d+ passed", summary), summary
    assert int(summary.split()[0]) >= 10 and "failed" not in summary
