"""Running a long-lived command (a live worker) until a condition holds, then stopping it cleanly."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence

from murmur_test_servers._wait import wait_for

__all__ = ["run_until"]


def run_until(
    argv: Sequence[str],
    done: Callable[[], bool],
    timeout: float,
    *,
    describe: Callable[[], str] = lambda: "condition not met",
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Start ``argv``, wait (up to ``timeout`` s) until ``done()``, then SIGTERM it: its clean stop.

    A test of a live run stops it on a condition (the group committed everything, the totals
    arrived) rather than with ``--until-idle``, whose window a loaded machine's slow first fetch,
    or a store write retried through faults, can outlast, ending the run early with a wrong total.
    The process must still be running when ``done()`` holds (it is asserted with its stderr)."""
    proc = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env) if env else None
    )
    try:
        wait_for(lambda: proc.poll() is not None or done(), timeout, interval=0.2, message=describe)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
