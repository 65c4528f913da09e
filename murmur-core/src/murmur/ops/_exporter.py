"""One run's operations endpoint: the Prometheus collector, the health tracker and the HTTP server."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from murmur._status import RunStatus
from murmur.metrics import Fanout
from murmur.ops._health import DEFAULT_STALL_SECONDS, Health

__all__ = ["Exporter", "require_prometheus"]

MISSING = "needs prometheus-client: pip install 'murmur-core[metrics]'"


def require_prometheus() -> None:
    """Raise ImportError naming the extra to install when ``prometheus_client`` is missing."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ImportError(MISSING) from None


class Exporter:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz`` for the phases it is told to :meth:`observe`.

    ::

        with Exporter(port=9108) as exporter:
            status = RunStatus("orders", "live")
            live.run(pipeline, source, store, status=status, metrics=exporter.observe(status))

    ``port=0`` takes any free port (:attr:`port` says which). Raises OSError if it cannot listen.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "0.0.0.0",
        stall_after: float = DEFAULT_STALL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        require_prometheus()
        from murmur.ops._prometheus import RunCollector, new_registry
        from murmur.ops._server import MetricsServer

        self.registry = new_registry()
        self.health = Health(stall_after=stall_after, clock=clock)
        self.collector = RunCollector(self.registry, clock)
        self.server = MetricsServer(self.registry, self.health, host=host, port=port)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def observe(self, status: RunStatus) -> Fanout:
        """Export ``status``; pass the returned Recorder to the runtime as ``metrics=``."""
        return Fanout(self.collector.observe(status), self.health)

    def start(self) -> Exporter:
        self.server.start()
        return self

    def close(self) -> None:
        self.health.finish()
        self.server.close()

    def __enter__(self) -> Exporter:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
