"""Opening a store to read it (``murmur get``, ``murmur status``): never creates a database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from murmur._errors import ConfigError
from murmur.cli._config import ConfigFile, merged_options, parse_pairs
from murmur.cli._output import remember_secrets
from murmur.plugins import AdapterSpec, Registry, create, parse_options

__all__ = ["open_for_reading"]


def open_for_reading(
    registry: Registry, cfg: ConfigFile, store: str | None, store_opts: list[str] | None, context: str
) -> tuple[AdapterSpec, dict[str, Any], Any]:
    """The store named by ``--store``/``-T`` (or the config file, else sqlite) opened for reads:
    its spec, its parsed options and the store.

    A path option that names nothing is a usage error: reading must not leave an empty database.
    """
    spec = registry.get("store", store or cfg.adapter("store") or "sqlite", flag="--store")
    given, labels = merged_options(parse_pairs(store_opts, "-T"), cfg, "store", spec.name)
    options = parse_options(spec, given, flag="-T", labels=labels)
    remember_secrets(spec, options)
    for opt in spec.options:
        value = options.get(opt.name)
        if opt.type == "path" and value is not None and not Path(value).exists():
            raise ConfigError(
                f"-T {opt.name}: {str(value)!r} does not exist (nothing has been written there; check the path)",
                option=opt.name,
            )
    return spec, options, create(spec, options, registry.context(context))
