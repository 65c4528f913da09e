"""The hooks a plugin implements. Built-in adapters use them exactly as third parties do.

A plugin is a module named by an entry point in the ``murmur`` group::

    [project.entry-points.murmur]
    myadapter = "my_package._plugin"

whose functions are marked ``@murmur.hookimpl``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from murmur.plugins._spec import AdapterSpec

__all__ = ["PROJECT", "MurmurSpec", "hookimpl", "hookspec"]

PROJECT = "murmur"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class MurmurSpec:
    @hookspec
    def murmur_register(self, register: Callable[[AdapterSpec], None]) -> None:
        """Call ``register(AdapterSpec(...))`` once for each source, store, deduper or decoder.

        Keep this cheap: import client libraries inside the spec's factory, not here, so that
        ``murmur --help`` stays fast.
        """

    @hookspec
    def murmur_cli(self, app: typer.Typer) -> None:
        """Add commands: ``app.add_typer(sub_app, name="mytool")`` makes ``murmur mytool ...``."""
