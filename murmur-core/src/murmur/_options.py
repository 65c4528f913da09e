"""One validated set of run options for both runtimes (:class:`RunOptions`).

``bootstrap.run`` and ``live.run`` each take a long list of keyword arguments; a caller that
runs both (``snapshot_then_stream``, the CLI's ``--then``) wants to state them once, check them
once, and hand each runtime its share. A :class:`RunOptions` is that statement: every knob of
either runtime, validated when it is made (``ConfigError`` naming the option), with
:meth:`RunOptions.bootstrap_kwargs` and :meth:`RunOptions.live_kwargs` giving the keyword
arguments of each runtime. Per-run inputs (``status``, ``stop``, the live phase's handoff token,
the bootstrap's ``handoff_to``) are not options: they are passed to the call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from murmur._errors import ConfigError
from murmur._protocols import DeadLetterSink, Deduper, Recorder

__all__ = ["CheckpointPolicy", "RunOptions", "resolve"]

CheckpointPolicy = Literal["refuse", "resume", "restart"]
_POLICIES = ("refuse", "resume", "restart")

# Options each runtime takes (the rest belong to the other one).
_BOTH = (
    "dedup",
    "retry_backoff",
    "batch_tick",
    "metrics",
    "dead_letters",
    "dedup_fail_closed",
    "lease",
    "flush_interval",
)
_BOOTSTRAP = (
    *_BOTH,
    "max_attempts",
    "fail_on_error",
    "segments",
    "segment",
    "handoff",
    "fold_records",
    "max_fold_keys",
    "fold_helper",
)
_LIVE = (*_BOTH, "until_idle", "lanes", "flush_records")


@dataclass(frozen=True)
class RunOptions:
    """The knobs of a run, for the bootstrap runtime, the live runtime, or both.

    Shared: ``dedup`` (a deduper), ``retry_backoff`` (first and longest wait between retries,
    seconds), ``batch_tick`` (how often batch metrics are reported, seconds), ``metrics`` (a
    recorder), ``dead_letters`` (a sink), ``dedup_fail_closed`` (stop rather than apply without
    the deduper), ``lease`` (seconds a dedup claim is held), ``flush_interval`` (seconds between
    merges of the folded deltas into the store).

    Bootstrap: ``max_attempts`` (per unit of work: then records kept until the merge, with a
    deduper or in changelog mode, are dead letters; a folded unit stops the run), ``fail_on_error``
    (abort on the first dead letter), ``checkpoints`` (``refuse``/``resume``/``restart``; ``None``
    leaves the caller's default), ``segments``/``segment``, ``handoff`` (capture a handoff token),
    ``fold_records`` (at most this many records folded into one unit of work; ``None``: bounded
    by ``flush_interval`` and ``max_fold_keys`` alone), ``max_fold_keys`` (keys folded before a
    merge), ``fold_helper`` (a second process folds every other block of a big file on the
    block path: ``None`` when the file is big and two CPUs are usable, ``True`` from the first
    block wherever it can run, ``False`` never).

    Live: ``until_idle`` (stop after that many seconds without a record; ``None`` runs until
    stopped), ``lanes`` (lanes that merge in parallel, at most the store's ``max_concurrency``,
    for runs with a deduper or in changelog mode, which keep their records until the merge; a run
    that folds records into deltas merges from one lane, its checkpoint in the unit),
    ``flush_records`` (a lane holding that many records merges early).

    ``RunOptions.of(options, **overrides)`` merges keyword arguments into (a copy of) options.
    """

    dedup: Deduper | None = None
    max_attempts: int = 3
    retry_backoff: tuple[float, float] = (0.05, 5.0)
    fail_on_error: bool = False
    batch_tick: float = 1.0
    metrics: Recorder | None = None
    dead_letters: DeadLetterSink | None = None
    dedup_fail_closed: bool = False
    lease: float = 30.0
    checkpoints: CheckpointPolicy | None = None
    segments: int | None = None
    segment: int | None = None
    handoff: bool = True
    fold_records: int | None = None
    max_fold_keys: int = 100_000
    fold_helper: bool | None = None
    until_idle: float | None = None
    lanes: int = 4
    flush_interval: float = 1.0
    flush_records: int = 5000

    def __post_init__(self) -> None:
        def at_least(name: str, value: Any, low: int) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name}: expected an integer of at least {low}, got {value!r}", option=_flag(name))

        def seconds(name: str, value: Any, *, zero: bool) -> None:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if zero else value > 0)
            if not ok:
                limit = "0 or more" if zero else "above 0"
                raise ConfigError(f"{name}: expected a number of seconds {limit}, got {value!r}", option=_flag(name))

        at_least("max_attempts", self.max_attempts, 1)
        if self.fold_records is not None:
            at_least("fold_records", self.fold_records, 1)
        at_least("max_fold_keys", self.max_fold_keys, 1)
        if self.fold_helper not in (None, True, False):
            raise ConfigError(
                f"fold_helper: expected true, false or none, got {self.fold_helper!r}", option="fold-helper"
            )
        at_least("lanes", self.lanes, 1)
        at_least("flush_records", self.flush_records, 1)
        if self.segments is not None:
            at_least("segments", self.segments, 1)
        if self.segment is not None:
            at_least("segment", self.segment, 0)
            if self.segments is not None and self.segment >= self.segments:
                raise ConfigError(
                    f"segment: expected 0 to {self.segments - 1} (with segments={self.segments}), got {self.segment}",
                    option="segment",
                )
        seconds("flush_interval", self.flush_interval, zero=True)
        seconds("batch_tick", self.batch_tick, zero=True)
        seconds("lease", self.lease, zero=False)
        if self.until_idle is not None:
            seconds("until_idle", self.until_idle, zero=False)
        backoff = self.retry_backoff
        if (
            not isinstance(backoff, tuple)
            or len(backoff) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in backoff)
            or not 0 <= backoff[0] <= backoff[1]
        ):
            raise ConfigError(
                f"retry_backoff: expected (first, longest) seconds with 0 <= first <= longest, got {backoff!r}",
                option="retry-backoff",
            )
        if self.checkpoints is not None and self.checkpoints not in _POLICIES:
            raise ConfigError(
                f"checkpoints: expected one of {', '.join(_POLICIES)}, got {self.checkpoints!r}", option="checkpoints"
            )

    @classmethod
    def of(cls, options: RunOptions | None = None, /, **overrides: Any) -> RunOptions:
        """``options`` (or the defaults) with ``overrides`` applied; an unknown name is a TypeError."""
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"unknown run option(s): {', '.join(unknown)}")
        base = options if options is not None else cls()
        return dataclasses.replace(base, **overrides) if overrides else base

    def bootstrap_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`murmur.bootstrap.run` (``checkpoints`` only when set)."""
        out = {name: getattr(self, name) for name in _BOOTSTRAP}
        if self.checkpoints is not None:
            out["checkpoints"] = self.checkpoints
        return out

    def live_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`murmur.live.run` (the handoff token is the caller's)."""
        return {name: getattr(self, name) for name in _LIVE}


def _flag(name: str) -> str:
    """The option as the CLI and the runtimes name it (``fold-records``)."""
    return name.replace("_", "-")


def resolve(runtime: Callable[..., Any], options: RunOptions | None, given: dict[str, Any]) -> RunOptions:
    """The options of one runtime call: ``options`` or its keyword arguments, validated once.

    ``given`` holds the call's knob keywords. With ``options`` they must be left at their
    defaults: a knob passed twice (in ``options`` and beside it) is a TypeError, not a silent pick.
    """
    if options is None:
        return RunOptions(**given)
    defaults = runtime.__kwdefaults__ or {}
    clash = sorted(k for k, v in given.items() if k in defaults and v is not defaults[k] and v != defaults[k])
    if clash:
        raise TypeError(f"pass {', '.join(clash)} inside options=, not beside it")
    return options
