"""What a command is asked to do: ``-S opt=val`` pairs, a ``murmur.toml`` file, and the pipeline.

The config file (``--config murmur.toml``); every table and key is optional, and command-line
flags override the file::

    [pipeline]
    name = "orders"             # --name
    key = "customer"            # --key   (or keys = ["customer", "country:{country}"])
    value = "amount"            # --value
    monoid = "sum"              # --monoid
    window = "day:90d"          # --window
    event_time = "ts"           # --event-time
    mode = "append"             # --mode
    from = "mypkg.pipes:orders" # --pipeline (a murmur.Pipeline object; the keys above override it)

    [source]                    # also [store], [dedup], [handoff_to] and [dead_letters]
    adapter = "jsonl"           # --source (--store, --dedup, --handoff-to)
    path = "orders.jsonl"       # any other key is an adapter option, like -S path=orders.jsonl

    [run]
    max_attempts = 5            # --max-attempts
    fail_on_error = false       # --fail-on-error
    dead_letters = "bad.jsonl"  # --dead-letters
    segments = 4                # --segments
    fold_helper = false         # --fold-helper / --no-fold-helper (default: decided per input)
    until_idle = 30             # --until-idle (seconds)
    handoff_out = "handoff.json"  # --handoff-out
    metrics_port = 9108         # --metrics-port (/metrics, /healthz, /readyz; off by default)
    metrics_host = "127.0.0.1"  # --metrics-host (default 0.0.0.0: every interface)
    log_format = "json"         # --log-format (human or json)

An adapter table's options apply only when its ``adapter`` is the one the run uses.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from murmur._errors import ConfigError
from murmur._pipeline import Pipeline
from murmur._windows import Window
from murmur.monoids import parse_monoid

ADAPTER_SECTIONS = ("source", "store", "dedup", "handoff_to", "dead_letters")
PIPELINE_KEYS = ("name", "key", "keys", "value", "monoid", "window", "event_time", "mode", "from")
RUN_KEYS: tuple[str, ...] = ("max_attempts", "fail_on_error", "dead_letters", "segments", "until_idle", "handoff_out")
RUN_KEYS += ("fold_helper",)
RUN_KEYS += ("metrics_port", "metrics_host", "log_format")  # operating it (issue 16)
SECTIONS = ("pipeline", *ADAPTER_SECTIONS, "run")
#: What each known [run] value must be (as the flag it stands for parses it).
RUN_TYPES: dict[str, tuple[type, ...]] = {
    "max_attempts": (int,),
    "fail_on_error": (bool,),
    "dead_letters": (str,),
    "segments": (int,),
    "fold_helper": (bool,),
    "until_idle": (int, float),
    "handoff_out": (str,),
    "metrics_host": (str,),
}
_TYPE_WORDS = {str: "text", int: "an integer", float: "a number", bool: "true or false"}


@dataclass
class ConfigFile:
    """A parsed ``murmur.toml`` (or nothing), able to say on which line a key sits."""

    path: Path | None = None
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.data.get(name, {}))

    def where(self, section: str, key: str) -> str:
        """``murmur.toml:7: [source] path`` — for messages about a value from the file."""
        return f"{self.path}:{self.line_of(section, key) or '?'}: [{section}] {key}"

    def line_of(self, section: str, key: str) -> int | None:
        current = None
        pattern = re.compile(rf"""^\s*(["']?){re.escape(key)}\1\s*=""")
        for number, line in enumerate(self.text.splitlines(), 1):
            header = re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line)
            if header:
                current = header.group(1).strip("\"'")
            elif current == section and pattern.match(line):
                return number
        return None

    def line_of_table(self, name: str) -> str:
        for number, line in enumerate(self.text.splitlines(), 1):
            if re.match(rf"^\s*\[+\s*{re.escape(name)}\s*[\].]", line):
                return str(number)
        return "?"

    def adapter(self, section: str) -> str | None:
        value = self.section(section).get("adapter")
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{self.where(section, 'adapter')}: expected an adapter name (text)", option="config")
        return value

    def adapter_options(self, section: str, chosen: str | None) -> tuple[dict[str, Any], dict[str, str]]:
        """Options of ``[section]`` if its adapter is ``chosen`` (or unnamed), and a label for each."""
        table = self.section(section)
        named = table.pop("adapter", None)
        if not table or (named is not None and named != chosen):
            return {}, {}
        return table, {k: self.where(section, k) for k in table}


def load_config(path: Path | None) -> ConfigFile:
    if path is None:
        return ConfigFile()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror or exc})", option="config") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = found.group(1) if found else "?"
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message) if found else message
        raise ConfigError(f"{path}:{line}: invalid TOML: {reason}", option="config") from None
    config = ConfigFile(path, text, data)
    for name, table in data.items():
        if name not in SECTIONS:
            raise ConfigError(
                f"{path}:{config.line_of_table(name)}: unknown table [{name}] (expected: {', '.join(SECTIONS)})",
                option="config",
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {name} must be a table ([{name}])", option="config")
    for name, allowed in (("pipeline", PIPELINE_KEYS), ("run", RUN_KEYS)):
        for key in data.get(name, {}):
            if key not in allowed:
                raise ConfigError(
                    f"{config.where(name, key)}: unknown key (expected one of: {', '.join(allowed)})", option="config"
                )
    _check_types(config)
    return config


def _check_types(config: ConfigFile) -> None:
    """Values of the file are held to what the flags they stand for accept: ``name = 5`` is an error."""

    def fail(section: str, key: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(f"{config.where(section, key)}: expected {expected}, got {value!r}", option="config")

    for key, value in config.section("pipeline").items():
        if key == "keys" and isinstance(value, list):
            if not value or not all(isinstance(v, str) and v.strip() for v in value):
                raise fail("pipeline", key, "a list of key templates (non-empty text)", value)
        elif not isinstance(value, str):
            raise fail("pipeline", key, "text", value)
        elif not value.strip():
            raise fail("pipeline", key, "a value (leave the key out for the default)", value)
    # Parsed here, not only when used: a flag overriding a bad value must not hide it.
    table = config.section("pipeline")
    for key, parse in (("monoid", parse_monoid), ("window", Window.parse)):
        if key in table:
            with _at(config, key, None):
                parse(str(table[key]))
    if "mode" in table and table["mode"] not in ("append", "changelog"):
        raise fail("pipeline", "mode", "append or changelog", table["mode"])
    for key, value in config.section("run").items():
        kinds = RUN_TYPES.get(key)
        if kinds is None:  # a key this version does not type-check here (its flag's parser will)
            continue
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise fail("run", key, _TYPE_WORDS[kinds[-1]], value)
        if isinstance(value, str) and not value.strip():
            raise fail("run", key, "a file name", value)
    for section in ADAPTER_SECTIONS:
        value = config.section(section).get("adapter")
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise fail(section, "adapter", f"an adapter name (text), as for --{section.replace('_', '-')}", value)


def parse_pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    """``["path=x", "batch_size=10"]`` ⇒ a dict; an item without ``=`` is an error naming the flag."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{flag} {item!r}: expected OPTION=VALUE (e.g. {flag} path=data.jsonl)", option=flag)
        out[name.strip()] = value
    return out


# --------------------------------------------------------------------------- the pipeline


@dataclass
class PipelineArgs:
    """Pipeline fields from the command line (``None``: not given)."""

    name: str | None = None
    key: str | None = None
    keys: str | None = None
    value: str | None = None
    monoid: str | None = None
    window: str | None = None
    event_time: str | None = None
    mode: str | None = None
    ref: str | None = None


def build_pipeline(args: PipelineArgs, config: ConfigFile) -> Pipeline:
    """The pipeline from ``--pipeline``/``from`` (if any), with the file's and then the flags' fields over it."""
    table = config.section("pipeline")

    def pick(field_name: str, given: Any) -> Any:
        return given if given is not None else table.get(field_name)

    ref = pick("from", args.ref)
    base = import_pipeline(ref) if ref else None
    fields: dict[str, Any] = {} if base is not None else {"name": ""}  # "" lets Pipeline say what is missing
    name = pick("name", args.name)
    if name is not None:
        fields["name"] = str(name)
    monoid = pick("monoid", args.monoid)
    if monoid is not None:
        with _at(config, "monoid", args.monoid):
            fields["monoid"] = parse_monoid(str(monoid))
    key, keys = args.key, args.keys
    if key is None and keys is None:
        key, keys = table.get("key"), table.get("keys")
    if key is not None and keys is not None:
        raise ConfigError("give --key or --keys, not both", option="keys")
    if key is not None:
        fields["key"], fields["keys"] = str(key), None
    if keys is not None:
        parts = keys if isinstance(keys, list) else str(keys).split(",")
        fields["keys"], fields["key"] = [str(k).strip() for k in parts if str(k).strip()], None
    value = pick("value", args.value)
    if value is not None:
        fields["value"] = str(value)
    window = pick("window", args.window)
    if window is not None:
        with _at(config, "window", args.window):
            fields["window"] = Window.parse(str(window))
    event_time = pick("event_time", args.event_time)
    if event_time is not None:
        fields["event_time"] = str(event_time)
    mode = pick("mode", args.mode)
    if mode is not None:
        if mode not in ("append", "changelog"):
            where = "--mode" if args.mode is not None else config.where("pipeline", "mode")
            raise ConfigError(f"{where}: expected append or changelog, got {mode!r}", option="mode")
        fields["mode"] = mode
    if base is None:
        return Pipeline(**fields)
    return dataclasses.replace(base, **fields)


@contextmanager
def _at(config: ConfigFile, key: str, flag_value: Any) -> Iterator[None]:
    """A value that fails to parse names where it came from: the flag, or the file and line."""
    try:
        yield
    except ConfigError as exc:
        text = str(exc)
        flag = f"--{key.replace('_', '-')}"
        for prefix in (f"{flag}: ", f"{key}: "):
            text = text[len(prefix) :] if text.startswith(prefix) else text
        if flag_value is not None or config.path is None:
            raise ConfigError(f"{flag}: {text}", option=key) from None
        raise ConfigError(f"{config.where('pipeline', key)}: {text}", option="config") from None


def import_pipeline(ref: str) -> Pipeline:
    """``package.module:attr`` or ``path/to/file.py:attr`` ⇒ the ``murmur.Pipeline`` it names."""
    where, sep, attr = str(ref).rpartition(":")
    if not sep or not where or not attr:
        raise ConfigError(f"--pipeline {ref!r}: expected module:attribute or path/file.py:attribute", option="pipeline")
    try:
        if where.endswith(".py") or os.sep in where or "/" in where:
            module = _import_file(Path(where), ref)
        else:
            if os.getcwd() not in sys.path:  # console scripts do not put the working directory on sys.path
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(where)
    except ConfigError:
        raise
    except ModuleNotFoundError as exc:
        raise ConfigError(f"--pipeline {ref!r}: cannot import {where!r} ({exc})", option="pipeline") from exc
    except Exception as exc:  # the user's module raised while importing
        raise ConfigError(
            f"--pipeline {ref!r}: importing {where!r} failed: {type(exc).__name__}: {exc}", option="pipeline"
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"--pipeline {ref!r}: {where!r} has no attribute {attr!r}", option="pipeline") from None
    if not isinstance(obj, Pipeline):
        raise ConfigError(
            f"--pipeline {ref!r}: expected a murmur.Pipeline, got {type(obj).__name__}", option="pipeline"
        )
    return obj


def _import_file(path: Path, ref: str) -> Any:
    if not path.is_file():
        raise ConfigError(f"--pipeline {ref!r}: file {str(path)!r} does not exist", option="pipeline")
    name = f"_murmur_pipeline_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"--pipeline {ref!r}: cannot load {str(path)!r} as Python", option="pipeline")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # let the file import its neighbours
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def merged_options(
    cli: Mapping[str, str], config: ConfigFile, section: str, adapter: str | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The file's options for ``adapter`` overridden by the command line's, and their labels."""
    options, labels = config.adapter_options(section, adapter)
    options.update(cli)
    for name in cli:
        labels.pop(name, None)
    return options, labels
