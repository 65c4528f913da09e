"""Helpers shared by murmur-mongo's tests (named so as not to clash with other distributions' tests)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterable
from typing import Any

from murmur import Record


def flatten(batches: Iterable[list[Record]]) -> list[Record]:
    return [r for batch in batches for r in batch]


def sums(docs: Iterable[dict[str, Any]], key: str = "customer", value: str = "amount") -> dict[str, int]:
    """Per-key sums computed directly from documents: the recount totals must equal."""
    out: dict[str, int] = {}
    for d in docs:
        out[d[key]] = out.get(d[key], 0) + d[value]
    return out


class TcpProxy:
    """A loopback TCP forwarder to ``host:port`` whose connections can be cut, to stand in for a
    network failure or failover between a real client and the real server."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.blocked = False
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.blocked:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self, *, block: bool = True) -> None:
        """Drop every open connection; with ``block``, refuse new ones until :meth:`heal`."""
        self.blocked = block
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def heal(self) -> None:
        self.blocked = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()
