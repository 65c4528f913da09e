"""Plugins: hookspecs, adapter specs and their typed options, declarations, and the loader.

Names load on first use: ``murmur plugins list`` reads declarations without pluggy or typer.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from murmur.plugins._declared import Declared
    from murmur.plugins._hooks import MurmurSpec, hookimpl, hookspec
    from murmur.plugins._loader import PluginInfo, PluginLoadError, Registry, create, load
    from murmur.plugins._options import is_secret, mask_secrets, parse_options, shown_options
    from murmur.plugins._spec import KINDS, AdapterContext, AdapterSpec, Kind, Option, kind_name

__all__ = [
    "KINDS",
    "AdapterContext",
    "AdapterSpec",
    "Declared",
    "Kind",
    "MurmurSpec",
    "Option",
    "PluginInfo",
    "PluginLoadError",
    "Registry",
    "create",
    "hookimpl",
    "hookspec",
    "is_secret",
    "kind_name",
    "load",
    "mask_secrets",
    "parse_options",
    "shown_options",
]

_EXPORTS = {
    "Declared": "_declared",
    "MurmurSpec": "_hooks",
    "hookimpl": "_hooks",
    "hookspec": "_hooks",
    "PluginInfo": "_loader",
    "PluginLoadError": "_loader",
    "Registry": "_loader",
    "create": "_loader",
    "load": "_loader",
    "is_secret": "_options",
    "mask_secrets": "_options",
    "parse_options": "_options",
    "shown_options": "_options",
    "KINDS": "_spec",
    "AdapterContext": "_spec",
    "AdapterSpec": "_spec",
    "Kind": "_spec",
    "Option": "_spec",
    "kind_name": "_spec",
}


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'murmur.plugins' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"murmur.plugins.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
