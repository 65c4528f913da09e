"""Operating a run: Prometheus ``/metrics``, ``/healthz`` and ``/readyz`` (``murmur run --metrics-port``).

Needs the ``metrics`` extra (``pip install 'murmur-core[metrics]'``) for :class:`Exporter`;
:class:`Health` alone does not. Names load on first use, so ``murmur status`` (which reads
``murmur.ops._stored``) does not pay for the exporter.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from murmur.ops._exporter import Exporter, require_prometheus
    from murmur.ops._health import DEFAULT_STALL_SECONDS, Health, Verdict

__all__ = ["DEFAULT_STALL_SECONDS", "Exporter", "Health", "Verdict", "require_prometheus"]

_HOMES = {
    "DEFAULT_STALL_SECONDS": "murmur.ops._health",
    "Exporter": "murmur.ops._exporter",
    "Health": "murmur.ops._health",
    "Verdict": "murmur.ops._health",
    "require_prometheus": "murmur.ops._exporter",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'murmur.ops' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
