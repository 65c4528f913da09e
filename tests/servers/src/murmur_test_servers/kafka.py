"""Kafka protocol on loopback: librdkafka's mock cluster, kept alive by kafka_holder.py."""

from __future__ import annotations

import contextlib
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from . import kafka_holder
from ._proc import ServerStartError, spawn, stop_popen, tail

_EOF = object()
# Kafka's legal topic names; also guarantees a name cannot smuggle a newline into the line protocol.
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


class KafkaHolderError(RuntimeError):
    """The holder refused a command (e.g. the topic already exists) or is gone."""


class KafkaBroker:
    """A 1-broker mock Kafka cluster in a holder subprocess.

    Attached (default): commands go over the holder's stdin/stdout. Detached (the `up` CLI): the
    holder runs in its own session and listens on `control_socket`; see create_topic_via_socket().
    """

    def __init__(
        self,
        topics: Iterable[tuple[str, int]] = (),
        log_dir: Path | str | None = None,
        *,
        startup_timeout: float = 30.0,
        reply_timeout: float = 10.0,
        detached: bool = False,
        control_socket: Path | str | None = None,
    ):
        self.topics = list(topics)
        self.log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="murmur-kafka-"))
        self.startup_timeout = startup_timeout
        self.reply_timeout = reply_timeout
        self.detached = detached
        self.control_socket = Path(control_socket) if control_socket is not None else None
        if detached and self.control_socket is None:
            raise ValueError("a detached holder needs a control_socket to be reachable")
        self.bootstrap = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[object] = queue.Queue()
        self._command_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.log_dir / "kafka-holder.log"

    @property
    def _stdout_path(self) -> Path:
        return self.log_dir / "kafka-holder.out"

    def start(self) -> KafkaBroker:
        argv = [sys.executable, kafka_holder.__file__, *(f"{name}:{n}" for name, n in self.topics)]
        if self.control_socket is not None:
            argv += ["--control", str(self.control_socket)]
        if self.detached:
            # No pipes: the `up` CLI exits right away and `eval "$(...)"` must not wait on our fds.
            argv.append("--detached")
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with self._stdout_path.open("wb") as out:
                self._proc = spawn(argv, log=self.log_path, detached=True, stdout=out.fileno())
        else:
            self._proc = spawn(argv, log=self.log_path, detached=False, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            threading.Thread(target=self._pump_stdout, name="kafka-holder-stdout", daemon=True).start()
        try:
            ready = self._read_line(self.startup_timeout, starting=True)
        except BaseException:
            self.stop()
            raise
        if not ready.startswith("READY "):
            self.stop()
            raise ServerStartError(f"kafka holder said {ready!r}, expected READY\n{tail(self.log_path)}")
        self.bootstrap = ready.split(" ", 1)[1].strip()
        return self

    def _pump_stdout(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        for raw in proc.stdout:
            self._lines.put(raw.decode(errors="replace").rstrip("\n"))
        self._lines.put(_EOF)

    def _read_line(self, timeout: float, *, starting: bool = False) -> str:
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + timeout
        what = "kafka holder" + (" startup" if starting else "")
        while True:
            line = self._next_line(min(0.05, max(0.0, deadline - time.monotonic())))
            if line is _EOF or (line is None and proc.poll() is not None and self.detached):
                raise ServerStartError(f"{what}: holder (pid {proc.pid}) exited\n{tail(self.log_path)}")
            if isinstance(line, str):
                return line
            if time.monotonic() > deadline:
                raise ServerStartError(f"{what}: no answer after {timeout}s\n{tail(self.log_path)}")

    def _next_line(self, wait: float) -> object:
        if not self.detached:
            try:
                return self._lines.get(timeout=wait)
            except queue.Empty:
                return None
        # Detached: stdout goes to a file; only the READY line is ever read from it.
        text = self._stdout_path.read_text(errors="replace") if self._stdout_path.exists() else ""
        if "\n" in text:
            return text.splitlines()[0]
        time.sleep(wait)
        return None

    def create_topic(self, name: str, partitions: int) -> None:
        """Create a topic with an exact partition count (the mock's AdminClient cannot)."""
        check_topic_name(name)
        if self.detached:
            assert self.control_socket is not None
            create_topic_via_socket(self.control_socket, name, partitions, timeout=self.reply_timeout)
            return
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise KafkaHolderError(f"kafka holder is not running\n{tail(self.log_path)}")
        with self._command_lock:  # one request/answer pair on the pipe at a time
            self._drop_stale_answers()
            proc.stdin.write(f"topic {name} {partitions}\n".encode())
            proc.stdin.flush()
            try:
                answer = self._read_line(self.reply_timeout)
            except ServerStartError as exc:
                raise KafkaHolderError(str(exc)) from exc
        if answer != "OK":
            raise KafkaHolderError(f"create_topic({name!r}, {partitions}): {answer}")

    def _drop_stale_answers(self) -> None:
        """Discard answers to earlier commands that timed out, so replies stay paired with requests."""
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return
            if line is _EOF:
                self._lines.put(_EOF)
                return

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()  # the holder also exits on stdin EOF
        stop_popen(self._proc)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def holder_command(control_socket: Path | str, line: str, *, timeout: float = 10.0) -> str:
    """Send one line-protocol command to a detached holder's control socket and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(control_socket))
        except OSError as exc:
            raise KafkaHolderError(f"cannot reach the kafka holder at {control_socket}: {exc}") from exc
        sock.sendall(line.rstrip("\n").encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                raise KafkaHolderError(f"kafka holder at {control_socket} closed the connection")
            answer += chunk
    return answer.decode().strip()


def check_topic_name(name: str) -> None:
    if not _TOPIC_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"invalid Kafka topic name {name!r} (allowed: 1-249 of [A-Za-z0-9._-])")


def create_topic_via_socket(control_socket: Path | str, name: str, partitions: int, *, timeout: float = 10.0) -> None:
    check_topic_name(name)
    answer = holder_command(control_socket, f"topic {name} {partitions}", timeout=timeout)
    if answer != "OK":
        raise KafkaHolderError(f"create_topic({name!r}, {partitions}): {answer}")
