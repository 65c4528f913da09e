"""What a plugin registers: an adapter's name, kind, options, guarantees and factory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from murmur.plugins._declared import KIND_NAMES, KINDS, kind_name

__all__ = [
    "KINDS",
    "KIND_NAMES",
    "AdapterContext",
    "AdapterSpec",
    "Factory",
    "Kind",
    "Option",
    "OptionType",
    "kind_name",
]

#: ``source``: snapshot source (bootstrap); ``live``: live source; ``store``; ``dedup``; ``decoder``;
#: ``sink``: where records that cannot be applied go (dead letters).
Kind = Literal["source", "live", "store", "dedup", "decoder", "sink"]
#: Option types the CLI parses and validates before any work starts.
OptionType = Literal["str", "int", "float", "bool", "json", "path", "duration", "list"]


@dataclass(frozen=True)
class Option:
    """One setting of an adapter, given on the command line as ``-S name=value`` (or -T/-D/-H).

    ``env`` is read when the option is not given; ``secret`` values are never printed. A name
    ending in ``.*`` (``kafka.*``) accepts any option with that prefix, passed through as text.
    ``path`` options must name an existing file unless ``must_exist`` is false.
    """

    name: str
    type: OptionType = "str"
    default: Any = None
    help: str = ""
    env: str | None = None
    secret: bool = False
    required: bool = False
    choices: tuple[str, ...] | None = None
    must_exist: bool = True

    @property
    def is_prefix(self) -> bool:
        return self.name.endswith(".*")


@dataclass(frozen=True)
class AdapterContext:
    """What a factory may need besides its options."""

    #: Make a decoder by registered name (live sources that decode payloads use it).
    make_decoder: Callable[[str, Mapping[str, Any]], Any]
    #: The pipeline name, for adapters that namespace by it.
    pipeline: str | None = None


Factory = Callable[[Mapping[str, Any], AdapterContext], Any]


@dataclass(frozen=True)
class AdapterSpec:
    """A registered adapter.

    ``factory(options, context)`` builds it from validated, typed options (every declared
    option present, defaults filled in). ``guarantees`` are short phrases shown by
    ``murmur plugins list``: ``resumable``, ``splittable``, ``transactional claim+apply``,
    ``exactly-once with dedup``, ``at-least-once``...
    """

    name: str
    kind: Kind
    description: str
    factory: Factory
    options: tuple[Option, ...] = ()
    guarantees: tuple[str, ...] = ()
    #: Filled in by the loader: which distribution registered it.
    distribution: str = field(default="", compare=False)
    version: str = field(default="", compare=False)

    def with_origin(self, distribution: str, version: str) -> AdapterSpec:
        """This spec as registered by ``distribution`` ``version`` (the loader fills these in)."""
        return replace(self, distribution=distribution, version=version)

    def option(self, name: str) -> Option | None:
        for opt in self.options:
            if opt.name == name or (opt.is_prefix and name.startswith(opt.name[:-1])):
                return opt
        return None
