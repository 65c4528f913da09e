"""Plugins: hookspecs, adapter specs and their typed options, and the entry-point loader."""

from __future__ import annotations

from murmur.plugins._hooks import MurmurSpec, hookimpl, hookspec
from murmur.plugins._loader import PluginInfo, PluginLoadError, Registry, create, load
from murmur.plugins._options import is_secret, mask_secrets, parse_options, shown_options
from murmur.plugins._spec import KINDS, AdapterContext, AdapterSpec, Kind, Option

__all__ = [
    "KINDS",
    "AdapterContext",
    "AdapterSpec",
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
    "load",
    "mask_secrets",
    "parse_options",
    "shown_options",
]
