"""DynamoDB API on loopback: moto's ThreadedMotoServer, in this process or in its own (`_moto`)."""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from ._proc import HOST, ServerStartError, spawn, stop_popen, tail, wait_listening

REGION = "us-east-1"
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def env(endpoint: str | None = None) -> dict[str, str]:
    """Environment for a subprocess that talks to the fake DynamoDB.

    Dummy credentials matter even though moto ignores them: without any, botocore refuses to sign
    and fails before sending a request; and they make sure a mis-pointed client never uses real
    credentials. AWS_ENDPOINT_URL_DYNAMODB (botocore >= 1.31) points every DynamoDB client that
    does not pass endpoint_url explicitly at `endpoint`.
    """
    values = {
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    if endpoint is not None:
        values["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    return values


def client_kwargs(endpoint: str) -> dict[str, Any]:
    """Keyword arguments for boto3.client("dynamodb", **client_kwargs(url))."""
    return {"endpoint_url": endpoint, "region_name": REGION, **DUMMY_CREDENTIALS}


class DynamoDBServer:
    """moto's DynamoDB on 127.0.0.1.

    in_process=True (the pytest fixture) runs ThreadedMotoServer on a thread of this process; note
    that it shares moto's global state with `moto.mock_aws`, which resets it. in_process=False runs
    `python -m murmur_test_servers._moto` (the `up` CLI, whose own process exits).
    """

    def __init__(
        self,
        log_dir: Path | str | None = None,
        *,
        in_process: bool = True,
        detached: bool = False,
        startup_timeout: float = 30.0,
    ):
        self.host = HOST
        self.port = 0
        self.in_process = in_process
        self.detached = detached
        self.startup_timeout = startup_timeout
        self.log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="murmur-moto-"))
        self._server: Any = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.log_dir / "moto.log"

    def env(self) -> dict[str, str]:
        return env(self.endpoint)

    def client_kwargs(self) -> dict[str, Any]:
        return client_kwargs(self.endpoint)

    def start(self) -> DynamoDBServer:
        if self.in_process:
            self._server = SerialisedMoto(self.host, 0).start()
            self.port = self._server.port
            wait_listening(self.host, self.port, alive=lambda: True, timeout=self.startup_timeout, what="moto")
            return self
        self._start_subprocess()
        return self

    def _start_subprocess(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        ready_file = self.log_dir / "moto.ready"
        ready_file.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "murmur_test_servers._moto", "--host", self.host, "--port", "0"]
        argv += ["--ready-file", str(ready_file)]
        self._proc = proc = spawn(argv, log=self.log_path, detached=self.detached)
        deadline = time.monotonic() + self.startup_timeout
        while not ready_file.exists() or not ready_file.read_text().endswith("\n"):
            if proc.poll() is not None:
                raise ServerStartError(f"moto (pid {proc.pid}) exited during startup\n{tail(self.log_path)}")
            if time.monotonic() > deadline:
                stop_popen(proc)
                raise ServerStartError(f"moto not ready after {self.startup_timeout}s\n{tail(self.log_path)}")
            time.sleep(0.02)
        self.port = int(ready_file.read_text().strip())
        wait_listening(
            self.host,
            self.port,
            alive=lambda: proc.poll() is None,
            timeout=self.startup_timeout,
            what="moto",
            logs=[self.log_path],
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._proc is not None:
            stop_popen(self._proc)

    def __enter__(self) -> DynamoDBServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SerialisedMoto:
    """moto's DynamoDB app served one request at a time.

    moto's handlers read, modify and write items in plain Python without locks: under
    concurrent writers it loses or doubles updates (concurrent ADDs, concurrent transactions),
    which real DynamoDB never does. One lock around the app restores per-item atomicity at
    about the same speed, since moto is single-threaded at heart anyway.

    After each request it also drops moto's registry of every model instance it ever made (kept
    only for its dashboard): TransactWriteItems deep-copies the whole table per item for rollback,
    and without this the copies pile up (over a GB in a few hundred transactions).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:

        from moto.core.model_instances import reset_model_data
        from moto.moto_server.werkzeug_app import (  # heavy import: only when DynamoDB is used
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        # werkzeug logs every request at INFO otherwise.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialised(environ: Any, start_response: Any) -> list[bytes]:
            with lock:
                try:
                    return list(app(environ, start_response))
                finally:
                    reset_model_data()

        self._server = make_server(host, port, serialised, threaded=True, request_handler=MotoRequestHandler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-serialised", daemon=True)

    def start(self) -> SerialisedMoto:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
