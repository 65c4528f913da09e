"""FaultProxy: an HTTP reverse proxy in front of the DynamoDB endpoint that injects failures on demand.

Requests are forwarded byte for byte (method, path, headers in order including Host, body), so
SigV4 signatures made for the proxy URL stay valid. While a fault rule is active, matching
requests get a DynamoDB-shaped error instead (or a closed socket), and counters record what
happened.

Control it in-process (FaultProxy methods) or from any process over HTTP on the proxy port itself
(FaultClient, or plain curl):

    POST /__fault__  {"action": "throttle", "n": 3}
    POST /__fault__  {"action": "throttle", "seconds": 2, "code": "ThrottlingException"}
    POST /__fault__  {"action": "fail_5xx", "n": 1, "status": 503}
    POST /__fault__  {"action": "drop_connections", "n": 1, "after_forward": true}
    POST /__fault__  {"action": "heal"}
    POST /__fault__  {"action": "reset_counters"}
    GET  /__fault__  -> {"forwarded": 7, "faulted": 3, "throttled": 3, "failed_5xx": 0, "dropped": 0, "active": {...}}

Every action answers with the same JSON as GET. Optional keys for the three faults: "n" (the next n
matching requests), "seconds" (every matching request for that long), both (whichever runs out
first), neither (until heal); "operations": ["UpdateItem", ...] restricts the fault to those
X-Amz-Target operations; "after_forward": true (fail_5xx, drop_connections) forwards the request
first and faults only the response, i.e. the write is applied but the client never learns it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

CONTROL_PATH = "/__fault__"
THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")

# Not forwarded: they describe one hop, and this proxy frames bodies itself.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "transfer-encoding"}
)


@dataclass
class _Rule:
    kind: str  # "throttle" | "fail_5xx" | "drop_connections"
    remaining: int | None
    until: float | None  # time.monotonic() deadline
    status: int
    code: str
    operations: list[str] | None
    after_forward: bool

    def expired(self, now: float) -> bool:
        return (self.remaining is not None and self.remaining <= 0) or (self.until is not None and now >= self.until)

    def describe(self, now: float) -> dict[str, Any]:
        out = asdict(self)
        out["seconds_left"] = None if self.until is None else max(0.0, self.until - now)
        del out["until"]
        return out


@dataclass
class _Counters:
    forwarded: int = 0
    faulted: int = 0
    throttled: int = 0
    failed_5xx: int = 0
    dropped: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)  # faulted requests per X-Amz-Target op


def _dynamodb_error(status: int, code: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", uuid.uuid4().hex.upper()),
        # botocore verifies this checksum on DynamoDB responses when present; a correct one keeps
        # the error on the normal error path instead of a CRC32 mismatch.
        ("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)),
        ("Content-Length", str(len(body))),
    ]
    return status, headers, body


class _FaultControls:
    """The fault API, shared by FaultProxy (in-process) and FaultClient (over HTTP)."""

    def _control(self, payload: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def throttle(
        self,
        n: int | None = None,
        seconds: float | None = None,
        *,
        code: str = "ProvisionedThroughputExceededException",
        operations: list[str] | None = None,
    ) -> dict[str, Any]:
        """Answer matching requests with HTTP 400 and a throttling error code (botocore retries these)."""
        return self._control({"action": "throttle", "n": n, "seconds": seconds, "code": code, "operations": operations})

    def fail_5xx(
        self,
        n: int | None = None,
        seconds: float | None = None,
        *,
        status: int = 500,
        code: str = "InternalServerError",
        operations: list[str] | None = None,
        after_forward: bool = False,
    ) -> dict[str, Any]:
        return self._control(
            {
                "action": "fail_5xx",
                "n": n,
                "seconds": seconds,
                "status": status,
                "code": code,
                "operations": operations,
                "after_forward": after_forward,
            }
        )

    def drop_connections(
        self,
        n: int | None = None,
        seconds: float | None = None,
        *,
        operations: list[str] | None = None,
        after_forward: bool = False,
    ) -> dict[str, Any]:
        """Close the client's socket without an answer (botocore: ConnectionClosedError)."""
        return self._control(
            {
                "action": "drop_connections",
                "n": n,
                "seconds": seconds,
                "operations": operations,
                "after_forward": after_forward,
            }
        )

    def heal(self) -> dict[str, Any]:
        return self._control({"action": "heal"})

    def reset_counters(self) -> dict[str, Any]:
        return self._control({"action": "reset_counters"})

    def stats(self) -> dict[str, Any]:
        return self._control({"action": "stats"})


class FaultProxy(_FaultControls):
    """Reverse proxy on 127.0.0.1:<free port> in front of `upstream` (e.g. the moto endpoint)."""

    def __init__(self, upstream: str, *, host: str = "127.0.0.1", port: int = 0, upstream_timeout: float = 60.0):
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream = upstream
        self._upstream_addr = (parts.hostname, parts.port)
        self._upstream_timeout = upstream_timeout
        self._bind = (host, port)
        self._lock = threading.Lock()
        self._rule: _Rule | None = None
        self._counters = _Counters()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._clients: set[socket.socket] = set()
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Point clients here (stays readable after stop(), for messages)."""
        if self._url is None:
            raise RuntimeError("FaultProxy was never started")
        return self._url

    @property
    def control_url(self) -> str:
        return self.url + CONTROL_PATH

    # Counters as attributes, for terse assertions in tests.
    @property
    def forwarded(self) -> int:
        return self._counters.forwarded

    @property
    def faulted(self) -> int:
        return self._counters.faulted

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        server = ThreadingHTTPServer(self._bind, Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        host, port = server.server_address[:2]
        self._url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        # Keep-alive connections from boto3's pool would otherwise hold handler threads open.
        with self._lock:
            clients, self._clients = list(self._clients), set()
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- control -------------------------------------------------------------------------

    def _control(self, payload: dict[str, Any]) -> dict[str, Any]:
        action = payload.get("action")
        now = time.monotonic()
        with self._lock:
            if action in ("throttle", "fail_5xx", "drop_connections"):
                self._rule = _make_rule(str(action), payload, now)
            elif action == "heal":
                self._rule = None
            elif action == "reset_counters":
                self._counters = _Counters()
            elif action != "stats":
                raise ValueError(f"unknown fault action {action!r}")
            return self._snapshot(now)

    def _snapshot(self, now: float) -> dict[str, Any]:
        if self._rule is not None and self._rule.expired(now):
            self._rule = None
        out = asdict(self._counters)
        out["active"] = None if self._rule is None else self._rule.describe(now)
        return out

    def _claim(self, operation: str) -> _Rule | None:
        """The rule that applies to this request, consuming one of its n; None means forward."""
        now = time.monotonic()
        with self._lock:
            rule = self._rule
            if rule is None:
                return None
            if rule.expired(now):
                self._rule = None
                return None
            if rule.operations is not None and operation not in rule.operations:
                return None
            if rule.remaining is not None:
                rule.remaining -= 1
            counters = self._counters
            counters.faulted += 1
            counters.by_operation[operation] = counters.by_operation.get(operation, 0) + 1
            if rule.kind == "throttle":
                counters.throttled += 1
            elif rule.kind == "fail_5xx":
                counters.failed_5xx += 1
            else:
                counters.dropped += 1
            return rule

    def _count_forwarded(self) -> None:
        with self._lock:
            self._counters.forwarded += 1


def _make_rule(kind: str, payload: dict[str, Any], now: float) -> _Rule:
    n = payload.get("n")
    seconds = payload.get("seconds")
    if n is not None and (not isinstance(n, int) or n < 0):
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if seconds is not None and (not isinstance(seconds, int | float) or seconds < 0):
        raise ValueError(f"seconds must be a non-negative number, got {seconds!r}")
    default_status, default_code = {
        "throttle": (400, "ProvisionedThroughputExceededException"),
        "fail_5xx": (500, "InternalServerError"),
        "drop_connections": (0, ""),
    }[kind]
    status = int(payload.get("status") or default_status)
    if kind == "fail_5xx" and not 500 <= status <= 599:
        raise ValueError(f"fail_5xx status must be 5xx, got {status}")
    operations = payload.get("operations")
    return _Rule(
        kind=kind,
        remaining=n,
        until=None if seconds is None else now + float(seconds),
        status=status,
        code=str(payload.get("code") or default_code),
        operations=list(operations) if operations else None,
        after_forward=bool(payload.get("after_forward")) and kind != "throttle",
    )


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint; boto3 pools connections

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus the client's
        # delayed ACK add ~40 ms to every proxied request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.owner._lock:
            self.owner._clients.add(self.connection)

    def finish(self) -> None:
        with self.owner._lock:
            self.owner._clients.discard(self.connection)
        with contextlib.suppress(OSError):  # the client may already be gone (dropped connection)
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # per-request lines on stderr would drown pytest output

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        body = self._read_body()
        if self.path.split("?", 1)[0] == CONTROL_PATH:
            self._serve_control(body)
            return
        target = self.headers.get("X-Amz-Target", "")
        operation = target.rsplit(".", 1)[-1]
        rule = self.owner._claim(operation)
        if rule is None or rule.after_forward:
            response = self._forward(body)
            if rule is None:
                self.owner._count_forwarded()
                self._respond(*response)
                return
        assert rule is not None
        if rule.kind == "drop_connections":
            self._drop()
            return
        self._respond(*_dynamodb_error(rule.status, rule.code, f"Injected by FaultProxy ({rule.kind})"))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        # A fresh upstream connection per request: no stale keep-alive sockets to moto to reason about.
        conn = http.client.HTTPConnection(*self.owner._upstream_addr, timeout=self.owner._upstream_timeout)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            if chunked:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
            return resp.status, headers, data
        except OSError as exc:
            # The client sees what a gateway in front of DynamoDB would say; tests then see the cause.
            return _dynamodb_error(502, "InternalServerError", f"FaultProxy could not reach upstream: {exc}")
        finally:
            conn.close()

    def _respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        has_length = False
        for name, value in headers:
            if name.lower() == "content-length":
                value, has_length = str(len(body)), True
            self.send_header(name, value)
        if not has_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _serve_control(self, body: bytes) -> None:
        try:
            payload = json.loads(body) if body else {"action": "stats"}
            if self.command == "GET":
                payload = {"action": "stats"}
            if not isinstance(payload, dict):
                raise ValueError("control body must be a JSON object")
            result, status = self.owner._control(payload), 200
        except (ValueError, TypeError) as exc:
            result, status = {"error": str(exc)}, 400
        data = json.dumps(result).encode()
        self._respond(status, [("Content-Type", "application/json")], data)


class FaultClient(_FaultControls):
    """Controls a FaultProxy from another process (or a shell script) through its /__fault__ endpoint."""

    def __init__(self, proxy_url: str, *, timeout: float = 10.0):
        self.control_url = proxy_url.rstrip("/") + CONTROL_PATH
        self.timeout = timeout

    def _control(self, payload: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.control_url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                result: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ValueError(exc.read().decode(errors="replace")) from exc
        return result


class FaultCycle(threading.Thread):
    """Cycles throttles, 503s and connections dropped after the write was applied through a
    proxy, on every operation, each fault used up before some requests go through again — no
    clock involved, so the mix is the same on a fast and a slow machine. ``start()``, then
    ``stop()`` (which heals the proxy); ``rounds`` counts the cycles done."""

    def __init__(self, proxy: Any) -> None:
        super().__init__(daemon=True)
        self.proxy = proxy
        self.done = threading.Event()
        self.rounds = 0

    def _until(self, counter: str, target: int) -> None:
        while not self.done.is_set() and self.proxy.stats()[counter] < target:
            self.done.wait(0.005)

    def run(self) -> None:
        faults = (
            lambda: self.proxy.throttle(n=2),
            lambda: self.proxy.fail_5xx(n=2, status=503),
            lambda: self.proxy.drop_connections(n=2, after_forward=True),
        )
        while not self.done.is_set():
            before = self.proxy.stats()["faulted"]
            faults[self.rounds % 3]()
            self._until("faulted", before + 2)
            self._until("forwarded", self.proxy.stats()["forwarded"] + 3)
            self.rounds += 1

    def stop(self) -> None:
        self.done.set()
        self.join()
        self.proxy.heal()
