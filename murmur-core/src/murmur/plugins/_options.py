"""Typed adapter options: turn ``-S name=value`` text (or TOML values) into what a factory gets.

Every error is a ``ConfigError`` whose message names the option and the expected form, and
never repeats a secret value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from murmur._errors import ConfigError
from murmur.plugins._masking import MASK, mask_secrets
from murmur.plugins._spec import AdapterSpec, Option, kind_name

__all__ = ["MASK", "SECRET_WORDS", "is_secret", "mask_secrets", "parse_options", "shown_options"]

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})
#: Pass-through options (``kafka.sasl.password``) are secret when their name holds one of these.
SECRET_WORDS = ("password", "secret", "token", "key")


def is_secret(spec: AdapterSpec, name: str) -> bool:
    """Whether the value of option ``name`` must never be printed."""
    opt = spec.option(name)
    if opt is None:
        return False
    if opt.secret:
        return True
    return opt.is_prefix and any(word in name.lower() for word in SECRET_WORDS)


def parse_options(
    spec: AdapterSpec,
    given: Mapping[str, Any],
    *,
    flag: str = "-S",
    env: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Validate ``given`` against ``spec.options`` and return every declared option, typed.

    Values may be text (from the command line) or already typed (from TOML). Missing options
    come from their ``env`` variable, else their default. A prefix option (``kafka.*``) maps to
    a dict of the given suffixes (``{"bootstrap.servers": "..."}``), values as text.
    Types: ``str``, ``int``, ``float``, ``bool``, ``json``, ``path`` (a ``Path``; must exist
    unless ``must_exist=False``), ``duration`` (``30s``, ``5m`` ⇒ float seconds), ``list``
    (comma-separated ⇒ list of str). ``labels`` names where a given value came from (a config
    file line) for messages; the default is ``<flag> <name>``.
    """
    environ = os.environ if env is None else env
    what = f"{kind_name(spec.kind)} {spec.name!r}"
    out: dict[str, Any] = {}
    passthrough: dict[str, dict[str, str]] = {opt.name: {} for opt in spec.options if opt.is_prefix}
    for name, raw in given.items():
        opt = spec.option(name) or spec.option(name.replace("-", "_"))
        if opt is None:
            declared = ", ".join(o.name for o in spec.options) or "none"
            label = (labels or {}).get(name) or f"{flag} {name}"
            raise ConfigError(f"{label}: {what} has no option {name!r} (its options: {declared})", option=name)
        if opt.is_prefix:
            passthrough[opt.name][name[len(opt.name) - 1 :]] = raw if isinstance(raw, str) else json.dumps(raw)
        else:
            out[opt.name] = _convert(spec, opt, raw, (labels or {}).get(name) or f"{flag} {opt.name}")
    for opt in spec.options:
        if opt.is_prefix:
            out[opt.name] = passthrough[opt.name]
        elif opt.name in out:
            continue
        elif opt.env and environ.get(opt.env):
            out[opt.name] = _convert(spec, opt, environ[opt.env], f"${opt.env} (option {opt.name})")
        elif opt.required:
            hint = f" ({opt.help})" if opt.help else ""
            env_hint = f", or set ${opt.env}" if opt.env else ""
            raise ConfigError(f"{flag} {opt.name}=...: required by {what}{hint}{env_hint}", option=opt.name)
        elif opt.default is None:
            out[opt.name] = None
        else:
            out[opt.name] = _convert(spec, opt, opt.default, f"{flag} {opt.name} (default)")
    return out


def _convert(spec: AdapterSpec, opt: Option, raw: Any, label: str) -> Any:
    shown = MASK if is_secret(spec, opt.name) else repr(raw)
    text = raw.strip() if isinstance(raw, str) else None

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{label}: expected {expected}, got {shown}", option=opt.name)

    value: Any
    if opt.type == "str":
        value = raw if isinstance(raw, str) else str(raw)
    elif opt.type == "int":
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise bad("an integer")
        try:
            value = int(text) if text is not None else raw
        except ValueError:
            raise bad("an integer") from None
    elif opt.type == "float":
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise bad("a number")
        try:
            value = float(text) if text is not None else float(raw)
        except ValueError:
            raise bad("a number") from None
    elif opt.type == "bool":
        if isinstance(raw, bool):
            value = raw
        elif text is not None and text.lower() in _TRUE | _FALSE:
            value = text.lower() in _TRUE
        else:
            raise bad("true or false")
    elif opt.type == "json":
        try:
            value = json.loads(text) if text is not None else raw
        except ValueError as exc:
            raise bad(f"JSON ({exc})") from None
    elif opt.type == "path":
        if text is None or not text:
            raise bad("a file path")
        value = Path(os.path.expanduser(text))
        if opt.must_exist and not value.exists():
            raise ConfigError(f"{label}: {str(value)!r} does not exist", option=opt.name)
    elif opt.type == "duration":
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            value = float(raw)
        elif text is not None:
            from murmur._windows import parse_duration

            try:
                value = parse_duration(text, option=label).total_seconds()
            except ConfigError:
                raise bad("a duration such as 30s, 5m, 12h, 250ms") from None
        else:
            raise bad("a duration such as 30s, 5m, 12h, 250ms")
    elif opt.type == "list":
        if isinstance(raw, (list, tuple)):
            value = [str(v) for v in raw]
        elif text is not None:
            value = [part.strip() for part in text.split(",") if part.strip()]
        else:
            raise bad("a comma-separated list")
    else:  # a plugin declared a type we do not know: hand the value over unchanged
        value = raw
    if opt.choices is not None:
        for item in value if isinstance(value, list) else [value]:
            if item not in opt.choices:
                raise ConfigError(f"{label}: expected one of {', '.join(opt.choices)}, got {shown}", option=opt.name)
    return value


def shown_options(spec: AdapterSpec, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` ready to print: secrets masked, paths as text, URIs without passwords."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        opt = spec.option(name)
        if opt is not None and opt.is_prefix and isinstance(value, Mapping):
            prefix = name[:-1]
            out[name] = {k: MASK if is_secret(spec, prefix + k) else mask_secrets(str(v)) for k, v in value.items()}
        elif value is not None and is_secret(spec, name):
            out[name] = MASK
        elif isinstance(value, Path):
            out[name] = str(value)
        elif isinstance(value, str):
            out[name] = mask_secrets(value)
        else:
            out[name] = value
    return out
