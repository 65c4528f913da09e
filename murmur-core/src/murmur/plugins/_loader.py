"""The plugin host: built-ins and ``murmur`` entry points, loaded one at a time into a registry.

Built-in adapters (``murmur.adapters._plugin``) register through the same hooks as third
parties. A plugin that fails to import or register is listed with its error and the others keep
working; ``MURMUR_STRICT_PLUGINS=1`` makes that fatal and ``MURMUR_DISABLE_PLUGINS=a,b`` skips
entry points by name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from murmur._errors import ConfigError, MurmurError
from murmur.plugins._hooks import PROJECT, MurmurSpec
from murmur.plugins._options import mask_secrets, parse_options
from murmur.plugins._spec import KINDS, AdapterContext, AdapterSpec

if TYPE_CHECKING:
    import typer

GROUP = "murmur"
BUILTINS = ("murmur.adapters._plugin",)
KIND_NAMES = {
    "source": "snapshot source",
    "live": "live source",
    "store": "store",
    "dedup": "deduper",
    "decoder": "decoder",
}


@dataclass
class PluginInfo:
    """One loaded (or not) plugin: ``status`` is ``ok``, ``error``, ``conflict`` or ``disabled``."""

    name: str
    module: str
    distribution: str
    version: str
    status: str = "ok"
    error: str | None = None
    adapters: list[tuple[str, str]] = field(default_factory=list)


class PluginLoadError(ConfigError):
    """A plugin failed to load and ``MURMUR_STRICT_PLUGINS`` is set."""


class Registry:
    """Adapter specs by ``(kind, name)``, and the plugins that supplied them."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(MurmurSpec)
        self.specs: dict[tuple[str, str], AdapterSpec] = {}
        self.plugins: list[PluginInfo] = []

    def add(self, plugin: object, info: PluginInfo) -> None:
        """Register ``plugin`` and collect its adapters; on failure roll it back and mark ``info``."""
        self.plugins.append(info)

        def register(spec: AdapterSpec) -> None:
            if not isinstance(spec, AdapterSpec) or spec.kind not in KINDS or not spec.name:
                raise TypeError(f"register() wants an AdapterSpec with a name and a kind in {KINDS}, got {spec!r:.80}")
            held = self.specs.get((spec.kind, spec.name))
            if held is not None:  # first registration wins: built-ins, then entry points by name
                info.status = "conflict"
                info.error = (
                    f"{spec.kind} {spec.name!r} is already registered by {held.distribution}; this one is ignored"
                )
                return
            self.specs[(spec.kind, spec.name)] = replace(spec, distribution=info.distribution, version=info.version)
            info.adapters.append((spec.kind, spec.name))

        try:
            self.pm.register(plugin, name=info.name)
            self.pm.check_pending()
            self._only(plugin, "murmur_register")(register=register)
        except Exception as exc:
            for key in info.adapters:
                self.specs.pop(key, None)
            info.adapters.clear()
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            info.status, info.error = "error", _describe(exc)

    def _only(self, plugin: object, hook: str) -> Any:
        return self.pm.subset_hook_caller(hook, remove_plugins=[p for p in self.pm.get_plugins() if p is not plugin])

    def add_cli(self, app: typer.Typer) -> None:
        """Let each plugin add its sub-commands; a failing plugin is marked and skipped."""
        for info in self.plugins:
            plugin = self.pm.get_plugin(info.name)
            if plugin is None:
                continue
            try:
                self._only(plugin, "murmur_cli")(app=app)
            except Exception as exc:
                info.status, info.error = "error", f"murmur_cli: {_describe(exc)}"

    # ------------------------------------------------------------------ lookup and building

    def of_kind(self, kind: str) -> list[AdapterSpec]:
        return sorted((s for (k, _), s in self.specs.items() if k == kind), key=lambda s: s.name)

    def named(self, name: str) -> list[AdapterSpec]:
        return [s for (_, n), s in sorted(self.specs.items()) if n == name]

    def get(self, kind: str, name: str, *, flag: str | None = None) -> AdapterSpec:
        """The spec, or a ConfigError listing the available ones (and plugins that failed to load)."""
        spec = self.specs.get((kind, name))
        if spec is not None:
            return spec
        available = ", ".join(s.name for s in self.of_kind(kind)) or "none"
        message = f"{flag + ': ' if flag else ''}unknown {KIND_NAMES.get(kind, kind)} {name!r} (available: {available})"
        other = [KIND_NAMES.get(s.kind, s.kind) for s in self.named(name)]
        if other:
            message += f"; {name!r} is a {' and a '.join(other)}"
        raise ConfigError(message + self.failed_hint(), option=flag)

    def failed_hint(self) -> str:
        """``"; plugins that failed to load: ..."`` (empty if none): one may have provided a missing name."""
        broken = [p for p in self.plugins if p.status == "error"]
        if not broken:
            return ""
        return "; plugins that failed to load: " + ", ".join(f"{p.name} ({p.error})" for p in broken)

    def context(self, pipeline: str | None = None) -> AdapterContext:
        def make_decoder(name: str, options: Mapping[str, Any]) -> Any:
            return self.build("decoder", name, options, flag="decoder", pipeline=pipeline)

        return AdapterContext(make_decoder=make_decoder, pipeline=pipeline)

    def build(
        self, kind: str, name: str, given: Mapping[str, Any], *, flag: str = "-S", pipeline: str | None = None
    ) -> Any:
        """Validate ``given`` and call the factory of adapter ``(kind, name)``."""
        spec = self.get(kind, name, flag=flag)
        return create(spec, parse_options(spec, given, flag=flag), self.context(pipeline))


def create(spec: AdapterSpec, options: Mapping[str, Any], context: AdapterContext) -> Any:
    """``spec.factory(options, context)``; an unexpected failure becomes a ConfigError naming the adapter."""
    try:
        return spec.factory(options, context)
    except MurmurError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"cannot create {KIND_NAMES.get(spec.kind, spec.kind)} {spec.name!r}: {_describe(exc)}"
        ) from exc


def load(
    *,
    entry_points: Iterable[metadata.EntryPoint] | None = None,
    env: Mapping[str, str] | None = None,
    builtins: Iterable[str] = BUILTINS,
) -> Registry:
    """A registry with the built-ins and every entry point of the ``murmur`` group, one at a time."""
    import importlib

    from murmur import __version__

    environ = os.environ if env is None else env
    disabled = {n.strip() for n in environ.get("MURMUR_DISABLE_PLUGINS", "").split(",") if n.strip()}
    reg = Registry()
    for module in builtins:
        reg.add(importlib.import_module(module), PluginInfo(module, module, "murmur-core", __version__))
    points = metadata.entry_points(group=GROUP) if entry_points is None else entry_points
    seen: set[tuple[str, str]] = set()
    for ep in sorted(points, key=lambda e: (e.name, e.value)):
        if (ep.name, ep.value) in seen:  # the same distribution found twice on sys.path
            continue
        seen.add((ep.name, ep.value))
        dist = getattr(ep, "dist", None)
        info = PluginInfo(ep.name, ep.value, dist.name if dist else "?", dist.version if dist else "")
        if ep.name in disabled:
            info.status = "disabled"
            reg.plugins.append(info)
            continue
        try:
            plugin = ep.load()
        except (Exception, SystemExit) as exc:
            info.status, info.error = "error", _describe(exc)
            reg.plugins.append(info)
            continue
        reg.add(plugin, info)
    if environ.get("MURMUR_STRICT_PLUGINS", "").strip().lower() not in ("", "0", "false", "no"):
        failed = [p for p in reg.plugins if p.status in ("error", "conflict")]
        if failed:
            first = failed[0]
            raise PluginLoadError(
                f"plugin {first.name!r} ({first.distribution}) failed to load: {first.error}"
                + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
                + "; unset MURMUR_STRICT_PLUGINS or disable it with MURMUR_DISABLE_PLUGINS"
            )
    return reg


def _describe(exc: BaseException) -> str:
    return mask_secrets(f"{type(exc).__name__}: {exc}")
