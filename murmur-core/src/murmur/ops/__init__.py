"""Operating a run: Prometheus ``/metrics``, ``/healthz`` and ``/readyz`` (``murmur run --metrics-port``).

Needs the ``metrics`` extra (``pip install 'murmur-core[metrics]'``) for :class:`Exporter`;
:class:`Health` alone does not.
"""

from __future__ import annotations

from murmur.ops._exporter import Exporter, require_prometheus
from murmur.ops._health import DEFAULT_STALL_SECONDS, Health, Verdict

__all__ = ["DEFAULT_STALL_SECONDS", "Exporter", "Health", "Verdict", "require_prometheus"]
