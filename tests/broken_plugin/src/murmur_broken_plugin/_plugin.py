"""Fails on import, as a plugin with a missing dependency or a bug would."""

from __future__ import annotations

raise RuntimeError("murmur-broken-plugin is broken on purpose (it tests plugin isolation)")
