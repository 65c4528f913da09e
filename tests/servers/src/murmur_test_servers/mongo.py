"""MongoDB wire protocol on loopback: nx-27017 (SQLite-backed, in memory) in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from ._proc import HOST, ServerStartError, free_port, spawn, stop_popen, tail, wait_listening

_PORT_ATTEMPTS = 3


class MongoServer:
    """One nx-27017 process. Use as a context manager, or start()/stop()."""

    def __init__(self, log_dir: Path | str | None = None, *, startup_timeout: float = 30.0, detached: bool = False):
        self.host = HOST
        self.port = 0
        self.log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="murmur-mongo-"))
        self.startup_timeout = startup_timeout
        self.detached = detached
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        # directConnection: nx-27017 answers hello without a replica-set topology; without it
        # pymongo may wait for a primary that is never announced.
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.log_dir / "nx.log"

    def start(self) -> MongoServer:
        # The port is picked before the child binds it; retry if another process grabbed it meanwhile.
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            try:
                self._start_on(free_port(self.host))
                return self
            except ServerStartError:
                lost_race = "Address already in use" in tail(self.log_dir / "nx.out") + tail(self.log_path)
                if not lost_race or attempt == _PORT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _start_on(self, port: int) -> None:
        self.port = port
        argv = [
            sys.executable, "-m", "nx_27017.nx_27017",
            "--db", "memory",
            "--host", self.host,
            "-p", str(port),
            "--log-file", str(self.log_path),
            "--pid-file", str(self.log_dir / "nx.pid"),
        ]  # fmt: skip
        proc = self._proc = spawn(argv, log=self.log_dir / "nx.out", detached=self.detached)
        try:
            wait_listening(
                self.host,
                port,
                alive=lambda: proc.poll() is None,
                timeout=self.startup_timeout,
                what=f"nx-27017 (pid {proc.pid})",
                logs=[self.log_path, self.log_dir / "nx.out"],
            )
        except ServerStartError:
            stop_popen(proc)
            raise

    def stop(self) -> None:
        if self._proc is not None:
            stop_popen(self._proc)

    def __enter__(self) -> MongoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
