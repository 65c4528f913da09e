"""Plugins: hookspecs, adapter specs, and the entry-point loader."""

from __future__ import annotations

from murmur.plugins._hooks import MurmurSpec, hookimpl, hookspec
from murmur.plugins._spec import KINDS, AdapterContext, AdapterSpec, Kind, Option

__all__ = ["KINDS", "AdapterContext", "AdapterSpec", "Kind", "MurmurSpec", "Option", "hookimpl", "hookspec"]
