"""The plugin host: built-ins and ``murmur`` entry points, declared up front, imported when used.

``load()`` reads what every plugin declares (``murmur-plugin.json``, see ``_declared``) without
importing it; a plugin module is imported, and registers through the pluggy hooks, the first time
one of its adapters is looked up (``find``/``get``/``build``), shown, or one of its commands runs.
Built-in adapters (``murmur.adapters._plugin``) go the same way as third parties. A plugin that
fails to import or register is listed with its error and the others keep working;
``MURMUR_STRICT_PLUGINS=1`` makes that fatal and ``MURMUR_DISABLE_PLUGINS=a,b`` skips entry points
by name.

This is the core's plugin API (the CLI uses nothing else): ``load``, ``Registry`` and its
``adapters``/``of_kind``/``named``/``find``/``get``/``build``/``load_all``/``commands``,
``PluginInfo``, ``create``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping

from murmur._errors import ConfigError, MurmurError
from murmur.plugins._declared import GROUP, KINDS, Declaration, Declared, find_entry_points, kind_name, read_declaration

# Not typing's: `murmur plugins list` runs this module and must not pay for typing, dataclasses
# (the specs) or pluggy; those load when a plugin is imported.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import pluggy
    import typer

    from murmur.plugins._spec import AdapterContext, AdapterSpec

    _SpecMapping = Mapping[tuple[str, str], AdapterSpec]
else:
    _SpecMapping = Mapping

__all__ = ["BUILTINS", "CORE_PLUGIN", "PluginInfo", "PluginLoadError", "Registry", "create", "describe_error", "load"]

#: The built-in adapters' plugin module, and the short name it is listed under.
BUILTINS = ("murmur.adapters._plugin",)
CORE_PLUGIN = "core"


class PluginInfo:
    """One plugin: ``status`` is ``ok``, ``error``, ``conflict``, ``stale`` (its declaration does not
    match what it registers) or ``disabled``.

    ``loaded`` says whether its module has been imported; a declared plugin that was never needed
    is ``ok`` and not loaded. ``adapters`` are ``(kind, name)`` pairs, ``commands`` its sub-commands.
    """

    def __init__(
        self,
        name: str,
        module: str,
        distribution: str,
        version: str,
        status: str = "ok",
        error: str | None = None,
    ) -> None:
        self.name = name
        self.module = module
        self.distribution = distribution
        self.version = version
        self.status = status
        self.error = error
        self.adapters: list[tuple[str, str]] = []
        self.commands: dict[str, str] = {}
        self.loaded = False
        self.declared = False

    def __repr__(self) -> str:
        return f"PluginInfo({self.name!r}, {self.module!r}, status={self.status!r}, loaded={self.loaded})"


class PluginLoadError(ConfigError):
    """A plugin failed to load and ``MURMUR_STRICT_PLUGINS`` is set."""


class Registry:
    """Adapters by ``(kind, name)``: declared ones (cheap) and registered specs (plugin imported)."""

    def __init__(self) -> None:
        self._pm: pluggy.PluginManager | None = None
        self.plugins: list[PluginInfo] = []
        #: (kind, name) -> what is known without importing: declared or registered.
        self._known: dict[tuple[str, str], Declared] = {}
        self._specs: dict[tuple[str, str], AdapterSpec] = {}
        #: plugin name -> how to import its module (declared plugins not imported yet).
        self._pending: dict[str, Callable[[], object]] = {}

    # ------------------------------------------------------------------ plugins

    @property
    def pm(self) -> pluggy.PluginManager:
        if self._pm is None:  # pluggy loads only once some plugin registers
            import pluggy

            from murmur.plugins._hooks import PROJECT, MurmurSpec

            self._pm = pluggy.PluginManager(PROJECT)
            self._pm.add_hookspecs(MurmurSpec)
        return self._pm

    def info(self, name: str) -> PluginInfo | None:
        return next((p for p in self.plugins if p.name == name), None)

    def declare(self, info: PluginInfo, declaration: Declaration, importer: Callable[[], object]) -> None:
        """Know ``info``'s adapters and commands from its declaration; import it on first use."""
        self.plugins.append(info)
        info.declared = True
        for adapter in declaration.adapters:
            if adapter.kind not in KINDS or not adapter.name:
                info.status = "error"
                info.error = (
                    f"{declaration.path}: adapter {adapter.name!r} has kind {adapter.kind!r} (not one of {KINDS})"
                )
                continue
            held = self._known.get((adapter.kind, adapter.name))
            if held is not None:
                info.status, info.error = "conflict", _conflict(adapter.kind, adapter.name, held.distribution)
                continue
            adapter.plugin, adapter.distribution, adapter.version = info.name, info.distribution, info.version
            self._known[(adapter.kind, adapter.name)] = adapter
            info.adapters.append((adapter.kind, adapter.name))
        info.commands = dict(declaration.commands)
        self._pending[info.name] = importer

    def add(self, plugin: object, info: PluginInfo) -> None:
        """Register ``plugin`` (an imported module or object with hooks) and collect its adapters.

        On failure its adapters are rolled back and ``info`` is marked.
        """
        if info not in self.plugins:
            self.plugins.append(info)
        self._register(plugin, info)

    def _register(self, plugin: object, info: PluginInfo) -> None:
        info.loaded = True
        declared = set(info.adapters) if info.declared else set()
        registered: list[tuple[str, str]] = []

        from murmur.plugins._spec import AdapterSpec

        def register(spec: AdapterSpec) -> None:
            if not isinstance(spec, AdapterSpec) or spec.kind not in KINDS or not spec.name:
                raise TypeError(f"register() wants an AdapterSpec with a name and a kind in {KINDS}, got {spec!r:.80}")
            key = (spec.kind, spec.name)
            held = self._known.get(key)
            if held is not None and held.plugin != info.name:  # first one wins: built-ins, then by name
                info.status, info.error = "conflict", _conflict(spec.kind, spec.name, held.distribution)
                return
            full = spec.with_origin(info.distribution, info.version)
            self._specs[key] = full
            self._known[key] = _declared_from(full, info.name)
            registered.append(key)

        try:
            self.pm.register(plugin, name=info.name)
            self.pm.check_pending()
            self._only(plugin, "murmur_register")(register=register)
        except Exception as exc:
            for key in {*registered, *declared}:
                self._specs.pop(key, None)
                self._known.pop(key, None)
            info.adapters.clear()
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            info.status, info.error = "error", describe_error(exc)
            return
        missing = sorted(declared - set(registered))
        for key in missing:
            self._known.pop(key, None)
        info.adapters = [*[k for k in info.adapters if k not in missing], *[k for k in registered if k not in declared]]
        if missing and info.status == "ok":
            kind, name = missing[0]
            info.status = "stale"  # the rest of the plugin works; its declaration needs regenerating
            info.error = (
                f"declares {kind_name(kind)} {name!r} but does not register it (stale {info.module} declaration?)"
            )

    def _only(self, plugin: object, hook: str) -> Any:
        return self.pm.subset_hook_caller(hook, remove_plugins=[p for p in self.pm.get_plugins() if p is not plugin])

    def ensure(self, name: str) -> PluginInfo | None:
        """Import and register plugin ``name`` if it was only declared so far; its info (None: unknown)."""
        info = self.info(name)
        importer = self._pending.pop(name, None)
        if info is None or importer is None:
            return info
        try:
            plugin = importer()
        except (Exception, SystemExit) as exc:
            for key in info.adapters:
                self._known.pop(key, None)
            info.adapters.clear()
            info.loaded = True
            info.status, info.error = "error", describe_error(exc)
            return info
        self._register(plugin, info)
        return info

    def load_all(self) -> None:
        """Import every declared plugin (``plugins show`` of everything, ``--check``)."""
        for name in list(self._pending):
            self.ensure(name)

    def commands(self) -> dict[str, tuple[str, str]]:
        """Sub-commands plugins declare or added: ``name -> (help, plugin)``."""
        out: dict[str, tuple[str, str]] = {}
        for info in self.plugins:
            if info.status in ("ok", "conflict", "stale"):
                for command, help_text in info.commands.items():
                    out.setdefault(command, (help_text, info.name))
        return out

    def add_cli(self, app: typer.Typer, only: str | None = None) -> None:
        """Let each loaded plugin (or just ``only``, loading it) add its sub-commands."""
        if only is not None:
            self.ensure(only)
        for info in self.plugins:
            if not info.loaded or info.status == "error" or (only is not None and info.name != only):
                continue
            plugin = self.pm.get_plugin(info.name)
            if plugin is None:
                continue
            try:
                self._only(plugin, "murmur_cli")(app=app)
            except Exception as exc:
                info.status, info.error = "error", f"murmur_cli: {describe_error(exc)}"

    # ------------------------------------------------------------------ lookup and building

    def adapters(self) -> list[Declared]:
        """Every known adapter, by name then kind, without importing any plugin."""
        return sorted(self._known.values(), key=lambda a: (a.name, KINDS.index(a.kind)))

    def of_kind(self, kind: str) -> list[Declared]:
        return sorted((a for (k, _), a in self._known.items() if k == kind), key=lambda a: a.name)

    def named(self, name: str) -> list[Declared]:
        return [a for a in self.adapters() if a.name == name]

    def find(self, kind: str, name: str) -> AdapterSpec | None:
        """The spec of adapter ``(kind, name)``, importing its plugin if needed; None if unknown.

        A plugin that fails to import here raises a ConfigError saying so.
        """
        key = (kind, name)
        spec = self._specs.get(key)
        if spec is not None:
            return spec
        known = self._known.get(key)
        if known is None:
            return None
        info = self.ensure(known.plugin)
        spec = self._specs.get(key)
        if spec is None and info is not None and info.status != "ok":
            raise ConfigError(
                f"{kind_name(kind)} {name!r} comes from plugin {info.name!r} ({info.distribution}),"
                f" which failed to load: {info.error}"
            )
        return spec

    def get(self, kind: str, name: str, *, flag: str | None = None) -> AdapterSpec:
        """The spec, or a ConfigError listing the available ones (and plugins that failed to load)."""
        spec = self.find(kind, name)
        if spec is not None:
            return spec
        raise ConfigError(self.unknown(kind, name, flag), option=flag)

    def unknown(self, kind: str, name: str, flag: str | None = None) -> str:
        """The message for an unknown adapter: what exists, a near miss, which package provides it."""
        from murmur.plugins._hints import suggest

        prefix = f"{flag}: " if flag else ""
        if not name.strip():
            return f"{prefix}expected a {kind_name(kind)} name, got an empty value"
        names = [a.name for a in self.of_kind(kind)]
        message = f"{prefix}unknown {kind_name(kind)} {name!r}"
        other = [kind_name(a.kind) for a in self.named(name)]
        hint = suggest(name, names, kind=kind)
        if other:
            message += f" ({name!r} is a {' and a '.join(other)})"
        elif hint:
            message += f"; {hint}"
        return message + f" (available: {', '.join(names) or 'none'})" + self.failed_hint()

    def failed_hint(self) -> str:
        """``"; plugins that failed to load: ..."`` (empty if none): one may have provided a missing name."""
        broken = [p for p in self.plugins if p.status == "error"]
        if not broken:
            return ""
        return "; plugins that failed to load: " + ", ".join(f"{p.name} ({p.error})" for p in broken)

    def context(self, pipeline: str | None = None) -> AdapterContext:
        from murmur.plugins._spec import AdapterContext

        def make_decoder(name: str, options: Mapping[str, Any]) -> Any:
            return self.build("decoder", name, options, flag="decoder", pipeline=pipeline)

        return AdapterContext(make_decoder=make_decoder, pipeline=pipeline)

    def build(
        self, kind: str, name: str, given: Mapping[str, Any], *, flag: str = "-S", pipeline: str | None = None
    ) -> Any:
        """Validate ``given`` and call the factory of adapter ``(kind, name)``."""
        from murmur.plugins._options import parse_options

        spec = self.get(kind, name, flag=flag)
        return create(spec, parse_options(spec, given, flag=flag), self.context(pipeline))

    @property
    def specs(self) -> Mapping[tuple[str, str], AdapterSpec]:
        """Registered specs by ``(kind, name)``; looking one up imports its plugin, iterating imports all."""
        return _Specs(self)


class _Specs(_SpecMapping):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __getitem__(self, key: tuple[str, str]) -> AdapterSpec:
        try:
            spec = self.registry.find(*key)
        except ConfigError:
            spec = None
        if spec is None:
            raise KeyError(key)
        return spec

    def __iter__(self) -> Iterator[tuple[str, str]]:
        self.registry.load_all()
        return iter(list(self.registry._specs))

    def __len__(self) -> int:
        self.registry.load_all()
        return len(self.registry._specs)


def _conflict(kind: str, name: str, holder: str) -> str:
    return f"{kind} {name!r} is already registered by {holder}; this one is ignored"


def _declared_from(spec: AdapterSpec, plugin: str) -> Declared:
    return Declared(
        spec.name,
        spec.kind,
        spec.description,
        spec.guarantees,
        [o.name for o in spec.options],
        plugin=plugin,
        distribution=spec.distribution,
        version=spec.version,
    )


def create(spec: AdapterSpec, options: Mapping[str, Any], context: AdapterContext) -> Any:
    """``spec.factory(options, context)``; an unexpected failure becomes a ConfigError naming the adapter."""
    try:
        return spec.factory(options, context)
    except MurmurError:
        raise
    except Exception as exc:
        raise ConfigError(f"cannot create {kind_name(spec.kind)} {spec.name!r}: {describe_error(exc)}") from exc


def _importer(target: str) -> Callable[[], object]:
    def load_it() -> object:
        import importlib

        module, _, attr = target.partition(":")
        obj: object = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr.strip() else ():
            obj = getattr(obj, part)
        return obj

    return load_it


def load(
    *,
    entry_points: Iterable[Any] | None = None,
    env: Mapping[str, str] | None = None,
    builtins: Iterable[str] = BUILTINS,
) -> Registry:
    """A registry with the built-ins and every entry point of the ``murmur`` group.

    Declared plugins (``murmur-plugin.json``) are not imported here; the others are, one at a time.
    ``entry_points`` (for tests) are objects with ``name``, ``value`` and optionally ``dist``.
    """
    from murmur import __version__

    environ = os.environ if env is None else env
    disabled = {n.strip() for n in environ.get("MURMUR_DISABLE_PLUGINS", "").split(",") if n.strip()}
    reg = Registry()
    found: list[tuple[str, str, str, str]] = [(CORE_PLUGIN, m, "murmur-core", __version__) for m in builtins]
    if entry_points is None:
        points = sorted(find_entry_points(GROUP), key=lambda e: (e.name, e.value))
        found += [(ep.name, ep.value, ep.distribution, ep.version) for ep in points]
    else:
        for ep in sorted(entry_points, key=lambda e: (e.name, e.value)):
            dist = getattr(ep, "dist", None)
            found.append((ep.name, ep.value, dist.name if dist else "?", dist.version if dist else ""))
    seen: set[tuple[str, str]] = set()
    for name, value, distribution, version in found:
        if (name, value) in seen:  # the same distribution found twice on sys.path
            continue
        seen.add((name, value))
        info = PluginInfo(name, value, distribution, version)
        if name in disabled:
            info.status = "disabled"
            reg.plugins.append(info)
            continue
        try:
            declaration = read_declaration(value)
        except ValueError as exc:
            info.error = str(exc)  # a broken declaration: fall back to importing the plugin
            declaration = None
        if declaration is not None:
            reg.declare(info, declaration, _importer(value))
            continue
        note = info.error
        try:
            plugin = _importer(value)()
        except (Exception, SystemExit) as exc:
            info.status, info.error, info.loaded = "error", describe_error(exc), True
            reg.plugins.append(info)
            continue
        info.error = None
        reg.add(plugin, info)
        if note and info.status == "ok":
            info.error = note
    if environ.get("MURMUR_STRICT_PLUGINS", "").strip().lower() not in ("", "0", "false", "no"):
        reg.load_all()  # strict: every plugin must import, declared or not
        failed = [p for p in reg.plugins if p.status in ("error", "conflict")]
        if failed:
            first = failed[0]
            raise PluginLoadError(
                f"plugin {first.name!r} ({first.distribution}) failed to load: {first.error}"
                + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
                + "; unset MURMUR_STRICT_PLUGINS or disable it with MURMUR_DISABLE_PLUGINS"
            )
    return reg


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of a plugin's failure, secrets masked."""
    from murmur.plugins._masking import mask_secrets

    return mask_secrets(f"{type(exc).__name__}: {exc}")
