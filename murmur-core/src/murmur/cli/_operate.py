"""``murmur run``'s operating options: ``--metrics-port``/``--metrics-host`` (an
:class:`~murmur.ops.Exporter`) and ``--log-format`` (human lines or :class:`JsonLog`), kept out of
the run logic itself."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from murmur._errors import ConfigError
from murmur._status import RunStatus
from murmur.cli._jsonlog import FORMATS, JsonLog
from murmur.cli._output import routed_logging

__all__ = ["Operating", "check_operating"]


#: Where the metrics endpoint listens unless ``--metrics-host`` says otherwise (every interface, so
#: that a scraper on another machine or outside a container reaches it).
DEFAULT_METRICS_HOST = "0.0.0.0"


def check_operating(metrics_port: int | None, log_format: str, metrics_host: str | None = None) -> None:
    """Validate ``--metrics-port``, ``--metrics-host`` and ``--log-format`` before anything is built."""
    if log_format not in FORMATS:
        raise ConfigError(f"--log-format: expected human or json, got {log_format!r}", option="log-format")
    if metrics_host is not None and not metrics_host.strip():
        raise ConfigError("--metrics-host: empty; give an address such as 127.0.0.1", option="metrics-host")
    if metrics_port is None:
        if metrics_host is not None:
            raise ConfigError("--metrics-host needs --metrics-port (the port to serve on)", option="metrics-host")
        return
    if not 0 <= metrics_port <= 65535:
        raise ConfigError(f"--metrics-port: expected a port from 0 to 65535, got {metrics_port}", option="metrics-port")
    from murmur.ops import require_prometheus

    try:
        require_prometheus()
    except ImportError as exc:
        raise ConfigError(f"--metrics-port {exc}", option="metrics-port") from None


class Operating:
    """The metrics endpoint and the log format of one ``murmur run`` (``close()`` stops the endpoint)."""

    def __init__(
        self, pipeline: str, metrics_port: int | None, log_format: str, *, quiet: bool, host: str | None = None
    ) -> None:
        self.pipeline = pipeline
        self.metrics_port = metrics_port
        self.metrics_host = host or DEFAULT_METRICS_HOST
        self.quiet = quiet
        self.json = JsonLog(pipeline) if log_format == "json" else None
        self.exporter: Any = None

    def start(self, say: Callable[[str], None]) -> None:
        """Listen on ``--metrics-host``:``--metrics-port`` (a port in use, or an address this machine
        does not have, is a usage error) and say where."""
        if self.metrics_port is None:
            return
        from murmur.ops import Exporter

        try:
            self.exporter = Exporter(port=self.metrics_port, host=self.metrics_host).start()
        except OSError as exc:
            where = f"{self.metrics_host}:{self.metrics_port}"
            raise ConfigError(
                f"--metrics-port {self.metrics_port}: cannot listen on {where} ({exc.strerror or exc})",
                option="metrics-port",
            ) from None
        url = self.exporter.url
        if self.json is not None:
            self.json.emit("info", "metrics_listening", f"serving {url}/metrics", url=url, port=self.exporter.port)
        elif not self.quiet:
            say(f"murmur: metrics on {url}/metrics (probes: /healthz, /readyz)")

    def observe(self, status: RunStatus) -> Any:
        """The Recorder to give the runtime for this phase (``None`` without ``--metrics-port``)."""
        return self.exporter.observe(status) if self.exporter is not None else None

    def writer(self, display_write: Callable[[str], None]) -> Callable[[str], None]:
        """Where human messages (warnings, a phase's summary) go."""
        if self.json is None:
            return display_write
        return (lambda text: None) if self.quiet else self.json.write

    def logging(self, display_write: Callable[[str], None]) -> AbstractContextManager[None]:
        if self.json is None:
            return routed_logging(display_write, quiet=self.quiet)
        return self.json.routed(quiet=self.quiet)

    def progress(self, status: Callable[[], RunStatus]) -> AbstractContextManager[None]:
        if self.json is None or self.quiet:
            return nullcontext()
        return self.json.progress(status)

    def close(self) -> None:
        if self.exporter is not None:
            self.exporter.close()
