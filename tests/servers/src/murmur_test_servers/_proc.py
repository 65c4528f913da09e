"""Process plumbing shared by the servers: free ports, readiness polling, stopping by pid."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HOST = "127.0.0.1"
STOP_GRACE_SECONDS = 5.0

# Run before exec in a fixture-owned child so that the kernel sends it SIGTERM if pytest dies
# (SIGKILL, OOM, CI timeout): otherwise servers outlive the session and squat on ports.
# PR_SET_PDEATHSIG (1) survives execve; the getppid check closes the race where the parent
# died before prctl ran.
_PDEATHSIG_LAUNCHER = (
    "import ctypes,os,signal,sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]): os._exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago (callers retry on the rare collision)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int, timeout: float = 0.25) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:]) or "(log is empty)"


def wait_listening(
    host: str,
    port: int,
    *,
    alive: Callable[[], bool],
    timeout: float,
    what: str,
    logs: Sequence[Path] = (),
) -> None:
    """Poll until host:port accepts a TCP connection; fail fast if the process died."""
    deadline = time.monotonic() + timeout
    while True:
        if port_accepts(host, port):
            return
        if not alive():
            raise ServerStartError(f"{what} exited before listening on {host}:{port}\n{_logs_tail(logs)}")
        if time.monotonic() > deadline:
            raise ServerStartError(f"{what} not listening on {host}:{port} after {timeout}s\n{_logs_tail(logs)}")
        time.sleep(0.02)


def _logs_tail(logs: Sequence[Path]) -> str:
    return "\n".join(f"--- {p} ---\n{tail(p)}" for p in logs)


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    detached: bool,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start argv with stderr (and stdout unless piped) appended to log.

    Detached children get their own session and no inherited pipes, so that
    `eval "$(... up)"` returns and the shell's Ctrl-C does not reach them. Attached children
    die with their parent (see _PDEATHSIG_LAUNCHER).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = list(argv)
    if not detached and sys.platform == "linux":
        argv = [sys.executable, "-c", _PDEATHSIG_LAUNCHER, str(os.getpid()), *argv]
    with log.open("ab") as log_file:
        return subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=log_file if stdout is None else stdout,
            stderr=log_file,
            start_new_session=detached,
            close_fds=True,
        )


def stop_popen(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM, then SIGKILL after grace; always reaps the child."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)
    except ProcessLookupError:
        proc.wait(timeout=grace)


def pid_start_time(pid: int) -> str | None:
    """Kernel start time of pid (field 22 of /proc/pid/stat): guards against killing a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces; everything after the last ')' is space separated.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19]


def pid_alive(pid: int) -> bool:
    """True if pid runs and is not a zombie (a detached child nobody reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return not sys.platform.startswith("linux")
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


def stop_pid(pid: int, start_time: str | None = None, grace: float = STOP_GRACE_SECONDS) -> bool:
    """Stop a process we do not parent (started by an earlier `up`). Returns False if it was already gone.

    With start_time given, a pid that now belongs to another process is left alone.
    """
    if not pid_alive(pid) or (start_time is not None and pid_start_time(pid) != start_time):
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        except OSError as exc:  # pragma: no cover - EPERM for a foreign pid
            if exc.errno != errno.ESRCH:
                raise
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return True
            time.sleep(0.02)
    return not pid_alive(pid)
