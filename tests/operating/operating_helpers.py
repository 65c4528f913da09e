"""Running ``murmur run --metrics-port 0`` as a real process and scraping it, as Prometheus would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

MURMUR = str(Path(sys.executable).with_name("murmur"))
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
_HUMAN = re.compile(r"murmur: metrics on (http://\S+)/metrics")


def wait_for(predicate: Callable[[], bool], *, timeout: float = 120, message: Callable[[], str] | str = "") -> None:
    """Poll until ``predicate`` holds; a generous deadline, never a timing assumption."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(0.1)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


class Worker:
    """A ``murmur run`` subprocess (output to files, so no pipe fills up) and its metrics endpoint."""

    def __init__(self, args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.out = cwd / "murmur.out"
        self.err = cwd / "murmur.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.popen = subprocess.Popen(
                [MURMUR, *args], cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env or dict(os.environ)
            )
        self.url = ""
        wait_for(self._listening, message=lambda: f"no metrics address announced:\n{self.stderr()}")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def _listening(self) -> bool:
        assert self.popen.poll() is None, f"murmur ended early:\n{self.stderr()}"
        for line in self.stderr().splitlines():
            found = _HUMAN.match(line)
            if found:
                self.url = found.group(1)
                return True
            if line.startswith("{") and line.endswith("}"):
                doc = json.loads(line)
                if doc["event"] == "metrics_listening":
                    self.url = doc["fields"]["url"]
                    return True
        return False

    def scrape(self) -> Samples:
        status, text = get(f"{self.url}/metrics")
        assert status == 200, text
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def probe(self, path: str) -> tuple[int, str]:
        return get(f"{self.url}{path}")

    def stop(self, timeout: float = 60) -> dict[str, Any]:
        """SIGTERM (a clean stop); returns the ``--json`` summary (or the ``summary`` event of JSON logs)."""
        self.popen.send_signal(signal.SIGTERM)
        code = self.popen.wait(timeout=timeout)
        assert code == 0, f"exit {code} after SIGTERM:\n{self.stderr()}"
        out = self.out.read_text().strip()
        if out:
            return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]
        last = json.loads(self.stderr().strip().splitlines()[-1])
        assert last["event"] == "summary", last
        return last["fields"]  # type: ignore[no-any-return]

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=30)
