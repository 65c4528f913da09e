"""The HTTP endpoint: ``/metrics`` (Prometheus text), ``/healthz`` and ``/readyz`` (Kubernetes probes).

A threaded WSGI server from the standard library on a daemon thread; ``prometheus_client``'s
WSGI app renders ``/metrics``. Probes answer ``200 ok`` or ``503`` with the reason, in plain text.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from murmur.ops._health import Health, Verdict

__all__ = ["MetricsServer"]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a hung scraper never holds the process at exit
    allow_reuse_address = True


def _server_class(host: str, port: int) -> type[_Server]:
    """The server class for ``host``'s address family (the standard library's listens on IPv4 only)."""
    family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    if family == socket.AF_INET:
        return _Server
    return type("_Server6", (_Server,), {"address_family": family})


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not worth a line on stderr
        pass


class MetricsServer:
    """Serves ``registry`` and ``health`` on ``host:port`` (port 0: any free port, see :attr:`port`)."""

    def __init__(self, registry: CollectorRegistry, health: Health, *, host: str = "0.0.0.0", port: int = 0) -> None:
        self.health = health
        self._metrics = make_wsgi_app(registry)
        self._server = make_server(host, port, self._app, server_class=_server_class(host, port), handler_class=_Quiet)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="murmur-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz"):
            verdict: Verdict = self.health.healthz() if path == "/healthz" else self.health.readyz()
            body = (verdict.reason + "\n").encode()
            start_response(
                "200 OK" if verdict.ok else "503 Service Unavailable",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
            )
            return [body]
        if path == "/metrics":
            return self._metrics(environ, start_response)  # type: ignore[no-any-return]
        body = b"not found: try /metrics, /healthz or /readyz\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [body]

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
