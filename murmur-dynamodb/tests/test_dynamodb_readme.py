"""The README's "Local DynamoDB" recipe, run as written in bash against a fresh moto server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from murmur_test_servers.dynamodb import DynamoDBServer

README = Path(__file__).resolve().parents[1] / "README.md"


def recipe() -> str:
    text = README.read_text()
    section = text.split("## Local DynamoDB", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "no sh block in the Local DynamoDB section"
    return match.group(1)


def test_the_local_dynamodb_recipe_runs_as_written(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MURMUR_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull  # nothing from this machine
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # this venv's murmur
    env["MURMUR_DISABLE_PLUGINS"] = "broken"  # a deliberately broken example plugin in the dev venv
    with DynamoDBServer(tmp_path / "moto", in_process=False) as server:  # its own tables, nothing shared
        env["ENDPOINT"] = server.endpoint
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", recipe()],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-2:] == ["alice\t55", "bob\t40"]
    assert "state table 'murmur_state': created" in proc.stdout
