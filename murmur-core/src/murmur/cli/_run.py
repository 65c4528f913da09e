"""``murmur run``: validate everything, build the adapters, run bootstrap or live mode, summarize."""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import typer

from murmur import RunOptions, bootstrap, live, snapshot_then_stream
from murmur._checkpoint import Checkpoints
from murmur._errors import Cancelled, ConfigError, StoreError
from murmur._pipeline import Pipeline
from murmur._protocols import Recorder
from murmur._records import HandoffToken
from murmur._retrying import RetryingDeduper, RetryingStore, RetryPolicy, StoreUnavailable
from murmur._status import RunStatus
from murmur.cli._config import ConfigFile, PipelineArgs, build_pipeline, load_config, merged_options, parse_pairs
from murmur.cli._console import LineConsole, stderr_console
from murmur.cli._jsonlog import JsonLog
from murmur.cli._limits import DeadLetterLimit, parse_retry_for
from murmur.cli._live_start import default_start
from murmur.cli._operate import Operating, check_operating
from murmur.cli._output import dumps, mask, remember_secrets
from murmur.cli._progress import ProgressDisplay, count, plural
from murmur.cli._restart import clear_pipeline, describe_cleared
from murmur.metrics import Fanout
from murmur.plugins import AdapterSpec, Registry, create, parse_options, shown_options

DEFAULT_DEAD_LETTERS = "murmur-dead-letters.jsonl"
DEFAULT_STORE = "sqlite"
DEFAULT_SINK = "jsonl"


@dataclass
class RunArgs:
    """Everything ``murmur run`` was given on the command line (``None``: not given)."""

    source: str | None = None
    store: str | None = None
    dedup: str | None = None
    pipeline: PipelineArgs = field(default_factory=PipelineArgs)
    source_opts: list[str] = field(default_factory=list)
    store_opts: list[str] = field(default_factory=list)
    dedup_opts: list[str] = field(default_factory=list)
    handoff_opts: list[str] = field(default_factory=list)
    config: Path | None = None
    resume: bool = False
    restart: bool = False
    handoff_out: Path | None = None
    from_handoff: Path | None = None
    handoff_to: str | None = None
    then: str | None = None
    segment: int | None = None
    segments: int | None = None
    fold_helper: bool | None = None
    no_handoff: bool = False
    until_idle: float | None = None
    dead_letters: Path | None = None
    #: The dead-letter sink adapter (default jsonl, whose file --dead-letters names) and its -L options.
    sink: str | None = None
    sink_opts: list[str] = field(default_factory=list)
    fail_on_error: bool = False
    max_attempts: int | None = None
    retry_for: str | None = None
    max_dead_letters: str | None = None
    force: bool = False
    live: bool = False
    json: bool = False
    quiet: bool = False
    metrics_port: int | None = None
    metrics_host: str | None = None
    log_format: str | None = None


@dataclass
class _Adapter:
    section: str
    flag: str
    spec: AdapterSpec
    options: dict[str, Any]


class _Plan:
    """A validated run: nothing has been built or touched yet."""

    def __init__(self, registry: Registry, args: RunArgs) -> None:
        self.registry = registry
        self.args = args
        self.config: ConfigFile = load_config(args.config)
        run_table = self.config.section("run")
        a = args
        self.pipeline: Pipeline = build_pipeline(a.pipeline, self.config)
        self.max_attempts = _pick(a.max_attempts, run_table, "max_attempts", int, self.config)
        retry_for = _pick(a.retry_for, run_table, "retry_for", str, self.config)
        limit = a.max_dead_letters if a.max_dead_letters is not None else run_table.get("max_dead_letters")
        self.max_dead_letters = DeadLetterLimit.parse(limit)
        self.fail_on_error = a.fail_on_error or bool(_pick(None, run_table, "fail_on_error", bool, self.config))
        self.segments = _pick(a.segments, run_table, "segments", int, self.config)
        self.fold_helper = _pick(a.fold_helper, run_table, "fold_helper", bool, self.config)
        self.until_idle = _pick(a.until_idle, run_table, "until_idle", float, self.config)
        dead = _pick(a.dead_letters, run_table, "dead_letters", str, self.config)
        self.dead_letters = Path(dead or DEFAULT_DEAD_LETTERS)
        out = _pick(a.handoff_out, run_table, "handoff_out", str, self.config)
        self.handoff_out = Path(out) if out else None
        self.metrics_port = _pick(a.metrics_port, run_table, "metrics_port", int, self.config)
        self.metrics_host = _pick(a.metrics_host, run_table, "metrics_host", str, self.config)
        self.log_format = _pick(a.log_format, run_table, "log_format", str, self.config) or "human"
        check_operating(self.metrics_port, self.log_format, self.metrics_host)

        # -------- which source, and which runtime
        source_name = a.source or self.config.adapter("source")
        if not source_name:
            raise ConfigError(f"--source: missing; {self._sources()}", option="source")
        snap, stream = registry.find("source", source_name), registry.find("live", source_name)
        # With --then, --until-idle belongs to the live phase that follows the bootstrap.
        wants_live = a.live or a.from_handoff is not None or (a.until_idle is not None and not a.then)
        if wants_live and stream is None:
            why = "--live" if a.live else "--from-handoff" if a.from_handoff is not None else "--until-idle"
            raise ConfigError(f"--source {source_name}: {why} needs a live source; {self._sources()}", option="source")
        if stream is not None and (wants_live or snap is None):
            source_spec, self.live = stream, True
        elif snap is not None:
            source_spec, self.live = snap, False
        else:
            from murmur.plugins._hints import suggest

            names = [a.name for kind in ("source", "live") for a in registry.of_kind(kind)]
            hint = suggest(source_name, names, kind=None)
            raise ConfigError(
                f"--source: unknown source {source_name!r}{'; ' + hint if hint else ''}; {self._sources()}"
                + registry.failed_hint(),
                option="source",
            )
        self._check_flags(source_name)
        self.retry_for = parse_retry_for(retry_for, live=self.live and not a.then)

        # -------- options, all validated before anything is built
        self.source = self._adapter("source", "-S", source_spec, a.source_opts)
        store_name = a.store or self.config.adapter("store") or DEFAULT_STORE
        self.store = self._adapter("store", "-T", registry.get("store", store_name, flag="--store"), a.store_opts)
        dedup_name = a.dedup or self.config.adapter("dedup")
        self.dedup: _Adapter | None = None
        if dedup_name:
            spec = registry.get("dedup", dedup_name, flag="--dedup")
            given = parse_pairs(a.dedup_opts, "-D")
            inherit = self._shared_files(spec, given) if dedup_name == store_name else {}
            self.dedup = self._adapter("dedup", "-D", spec, a.dedup_opts, inherit)
        elif a.dedup_opts:
            raise ConfigError("-D: deduper options given without --dedup", option="dedup")
        handoff_name = a.then or a.handoff_to or (self.config.adapter("handoff_to") if not self.live else None)
        self.handoff_to: _Adapter | None = None
        if handoff_name:
            # --then continues on the very source whose position the bootstrap captures (-H options).
            spec = registry.get("live", handoff_name, flag="--then" if a.then else "--handoff-to")
            self.handoff_to = self._adapter("handoff_to", "-H", spec, a.handoff_opts)
        elif a.handoff_opts:
            raise ConfigError("-H: handoff options given without --handoff-to or --then", option="handoff-to")
        self.then = self.handoff_to if a.then else None
        self.sink = self._sink()
        self.token = HandoffToken.read(a.from_handoff) if a.from_handoff is not None else None
        for label, path in (("--handoff-out", self.handoff_out), ("--dead-letters", self.dead_letters)):
            if path is not None and not path.resolve().parent.is_dir():
                raise ConfigError(
                    f"{label} {path}: directory {str(path.resolve().parent)!r} does not exist", option=label
                )

    def _sink(self) -> _Adapter:
        """The dead-letter sink: ``--dead-letter-sink`` (or ``[dead_letters] adapter``), default jsonl."""
        name = self.args.sink or self.config.adapter("dead_letters") or DEFAULT_SINK
        spec = self.registry.get("sink", name, flag="--dead-letter-sink")
        path = spec.option("path")
        inherit = {"path": str(self.dead_letters)} if path is not None and path.type == "path" else None
        return self._adapter("dead_letters", "-L", spec, self.args.sink_opts, inherit)

    def _sources(self) -> str:
        snap = ", ".join(s.name for s in self.registry.of_kind("source")) or "none"
        stream = ", ".join(s.name for s in self.registry.of_kind("live")) or "none"
        return f"snapshot sources: {snap}; live sources: {stream} (see `murmur plugins list`)"

    def _check_flags(self, source: str) -> None:
        a = self.args
        if a.resume and a.restart:
            raise ConfigError("--resume and --restart: give one, not both", option="resume")
        if a.force and not a.restart:
            raise ConfigError(
                "--force: only with --restart (to restart while a live run may be active)", option="force"
            )
        if a.then:
            self._check_then(source)
        if self.live:
            for flag, given in (
                ("--handoff-to", a.handoff_to),
                ("--handoff-out", self.handoff_out),
                ("--segments", self.segments),
                ("--segment", a.segment),
                ("--fold-helper/--no-fold-helper", a.fold_helper),
                ("--resume", a.resume or None),
                ("--restart", a.restart or None),
                ("--force", a.force or None),
                ("--no-handoff", a.no_handoff or None),
            ):
                if given is not None:
                    raise ConfigError(
                        f"{flag}: applies to a snapshot source (bootstrap); {source!r} is a live source"
                        " (live mode resumes from its stored position by itself)",
                        option=flag,
                    )
        if a.segment is not None and self.segments is None:
            raise ConfigError(
                "--segment: give --segments N too (the number of parts the scan is split into)", option="segment"
            )
        if self.segments is not None and self.segments < 1:
            raise ConfigError(f"--segments: expected at least 1, got {self.segments}", option="segments")
        if a.segment is not None and self.segments is not None and not 0 <= a.segment < self.segments:
            raise ConfigError(
                f"--segment: expected 0 to {self.segments - 1} (with --segments {self.segments}), got {a.segment}",
                option="segment",
            )
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ConfigError(f"--max-attempts: expected at least 1, got {self.max_attempts}", option="max-attempts")
        if self.until_idle is not None and self.until_idle <= 0:
            raise ConfigError(
                f"--until-idle: expected a number of seconds above 0, got {self.until_idle}", option="until-idle"
            )
        if a.no_handoff and (a.handoff_to or self.handoff_out):
            raise ConfigError(
                "--no-handoff: cannot be combined with --handoff-to or --handoff-out", option="no-handoff"
            )

    def _check_then(self, source: str) -> None:
        a = self.args
        if self.live:
            raise ConfigError(
                f"--then {a.then}: continues a bootstrap, so --source must be a snapshot source;"
                f" {source!r} runs live mode (drop --then, or bootstrap from a snapshot source first)",
                option="then",
            )
        if a.handoff_to and a.handoff_to != a.then:
            raise ConfigError(
                f"--then {a.then} and --handoff-to {a.handoff_to}: the live source that continues is the one whose"
                " position the bootstrap captures; give --then alone",
                option="then",
            )
        if a.no_handoff:
            raise ConfigError(
                f"--no-handoff: cannot be combined with --then {a.then} (the live phase starts from the handoff)",
                option="no-handoff",
            )
        if a.segment is not None:
            # A live phase started while other processes still scan could apply a change before their
            # older snapshot read of the same document lands.
            raise ConfigError(
                f"--segment: cannot be combined with --then {a.then}; run every segment to the end, then start"
                " the live workers with `murmur run --source LIVE --from-handoff FILE`",
                option="segment",
            )

    def _adapter(
        self, section: str, flag: str, spec: AdapterSpec, pairs: list[str], inherit: dict[str, str] | None = None
    ) -> _Adapter:
        given, labels = merged_options(parse_pairs(pairs, flag), self.config, section, spec.name)
        for name, value in (inherit or {}).items():
            given.setdefault(name, value)
        options = parse_options(spec, given, flag=flag, labels=labels)
        remember_secrets(spec, options)
        return _Adapter(section, flag, spec, options)

    def _shared_files(self, dedup: AdapterSpec, given: dict[str, str]) -> dict[str, str]:
        """A file-based deduper of the store's kind uses the store's file unless told otherwise."""
        out = {}
        for opt in dedup.options:
            if opt.type == "path" and opt.name not in given and self.store.spec.option(opt.name) is not None:
                value = self.store.options.get(opt.name)
                if value is not None:
                    out[opt.name] = str(value)
        return out

    @property
    def policy(self) -> str:
        return "resume" if self.args.resume else "restart" if self.args.restart else "refuse"


def _pick(given: Any, table: dict[str, Any], key: str, kind: type, config: ConfigFile) -> Any:
    if given is not None:
        return given
    value = table.get(key)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{config.where('run', key)}: expected {kind.__name__}, got {value!r}", option="config")
    return value


class _Signals:
    """SIGINT/SIGTERM set ``stop`` (finish in-flight work, checkpoint, exit); a second SIGINT aborts."""

    def __init__(self, stop: threading.Event, display: ProgressDisplay) -> None:
        self.stop = stop
        self.display = display
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop.set()
        self.display.stopping = f"{signal.Signals(signum).name}: stopping (Ctrl-C again to abort)"

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _close(*things: Any) -> None:
    for thing in things:
        if thing is not None:
            try:
                thing.close()
            except Exception as exc:  # closing must not hide the run's outcome
                typer.echo(mask(f"murmur: warning: closing {type(thing).__name__} failed: {exc}"), err=True)


def execute(registry: Registry, args: RunArgs, *, console: LineConsole | None = None) -> int:
    """Validate, build, run, summarize; returns the exit code (errors are raised)."""
    plan = _Plan(registry, args)
    err = console or stderr_console()
    context = registry.context(plan.pipeline.name)
    store = dedup = source = target = None
    sink = create(plan.sink.spec, plan.sink.options, context)
    ops = Operating(plan.pipeline.name, plan.metrics_port, plan.log_format, quiet=args.quiet, host=plan.metrics_host)
    outcome = _Outcome()
    try:
        ops.start(lambda line: err.print(line, markup=False, highlight=False, soft_wrap=True))
        source = create(plan.source.spec, plan.source.options, context)  # first: its checks are the cheapest
        store = create(plan.store.spec, plan.store.options, context)
        dedup = create(plan.dedup.spec, plan.dedup.options, context) if plan.dedup else None
        target = create(plan.handoff_to.spec, plan.handoff_to.options, context) if plan.handoff_to else None
        status = RunStatus(plan.pipeline.name, "live" if plan.live else "bootstrap")
        style = "off" if args.quiet or ops.json else "bars" if err.is_terminal else "plain"
        display = ProgressDisplay(err, status, style=style)
        say = ops.writer(display.write)
        stop = threading.Event()
        # Every store and deduper call rides out transient failures the same way (--retry-for).
        policy = RetryPolicy(
            plan.retry_for,
            stop=stop,
            on_wait=lambda text: say(mask(text)),
            recorder=status,
            pipeline=plan.pipeline.name,
        )
        rstore = RetryingStore(store, policy)

        def observe(phase: RunStatus) -> Recorder | None:
            """A phase's metrics (--metrics-port); the store's retries count in that phase too."""
            recorder: Recorder | None = ops.observe(phase)
            policy.recorder = Fanout(phase, recorder)
            return recorder

        rdedup = RetryingDeduper(dedup, policy) if dedup is not None else None
        outcome.what = getattr(source, "what", None)
        outcome.then_what = getattr(target, "what", None)
        if plan.policy == "restart" and args.segment is None:
            outcome.cleared = clear_pipeline(rstore, rdedup, plan.pipeline.name, force=args.force)
        if (
            not args.quiet
            and plan.policy == "restart"
            and outcome.cleared is None
            and dedup is None
            and (plan.pipeline.mode or source.default_mode) == "append"
        ):
            say(
                "murmur: warning: --restart without --dedup counts again what the earlier run applied;"
                " add --dedup sqlite to make a restart exact"
            )
        token: HandoffToken | None = None
        phases = [status]
        watch = _DeadLetterWatch(plan.max_dead_letters, stop)
        # Start-up objects (modules, plugins) live for the whole run: keep full collections from
        # rescanning them for every few thousand records in flight.
        gc.freeze()
        with (
            ops.logging(display.write),
            _Signals(stop, display),
            display,
            ops.progress(lambda: display.status),
            watch.watching(status),
        ):
            try:
                if plan.live:
                    handoff = plan.token
                    if handoff is None:
                        handoff, outcome.start = default_start(source, Checkpoints(rstore, plan.pipeline.name))
                        say(outcome.start)
                    live.run(
                        plan.pipeline,
                        source,
                        rstore,
                        dedup=rdedup,
                        handoff=handoff,
                        dead_letters=sink,
                        status=status,
                        stop=stop,
                        until_idle=plan.until_idle,
                        metrics=observe(status),
                    )
                    source = None  # live.run closed it
                elif plan.then is not None and target is not None:
                    _then(
                        plan,
                        args,
                        source,
                        target,
                        rstore,
                        rdedup,
                        sink,
                        stop,
                        display,
                        say,
                        observe,
                        outcome,
                        watch,
                        phases,
                    )
                    target = None  # the live phase closed it
                else:
                    extra: dict[str, Any] = {}
                    if plan.max_attempts is not None:
                        extra["max_attempts"] = plan.max_attempts
                    token = bootstrap.run(
                        plan.pipeline,
                        source,
                        rstore,
                        dedup=rdedup,
                        fail_on_error=plan.fail_on_error,
                        checkpoints=plan.policy,  # type: ignore[arg-type]
                        segments=plan.segments,
                        segment=args.segment,
                        fold_helper=plan.fold_helper,
                        handoff_to=target,
                        dead_letters=sink,
                        status=status,
                        stop=stop,
                        handoff=not args.no_handoff,
                        metrics=observe(status),
                        **extra,
                    )
                    _record_run(rstore, plan, status, sink)
                    # Written before any live phase, so a live phase that fails can be restarted from it.
                    if token is not None and plan.handoff_out is not None and not args.no_handoff:
                        token.write(plan.handoff_out)
            except Cancelled:
                if not watch.tripped:
                    raise
            except StoreUnavailable as exc:  # not an Aborted at a dead letter: the store is gone
                raise StoreError(str(exc)) from exc
    finally:
        gc.unfreeze()
        _close(sink, source, target, dedup, store, ops)
    return _summarize(plan, phases, sink, args, err, outcome, watch)


class _Outcome:
    """What the CLI adds to a run's counts: what --restart cleared, where live started, warnings."""

    def __init__(self) -> None:
        self.cleared: dict[str, int] | None = None
        self.start: str | None = None
        self.what: str | None = None  # what the source reads ("collection shop.orders")
        self.then_what: str | None = None  # what the --then live phase reads

    def warnings(self, status: RunStatus, *, then: bool = False) -> list[str]:
        what = self.then_what if then else self.what
        if status.records or status.already_finished or status.resumed or what is None:
            return []
        if status.mode == "live":
            return [f"no records from {what}: it is empty, does not exist, or had nothing new"]
        return [f"{what} is empty or does not exist"]

    def failure(self, plan: _Plan, status: RunStatus, watch: _DeadLetterWatch) -> str | None:
        """Why a run that ended must exit 1 (dead letters), or None."""
        dead = status.dead_letters
        where = f" (see {plan.dead_letters})" if dead else ""
        limit = plan.max_dead_letters
        if watch.tripped or (limit is not None and limit.exceeded(dead, status.records)):
            return (
                f"{plural(dead, 'dead letter')} of {plural(status.records, 'record')} is more than"
                f" --max-dead-letters {plan.max_dead_letters}{where}"
            )
        if status.mode == "bootstrap" and dead and not status.applied:
            first = status.dead_letter_samples[0] if status.dead_letter_samples else "?"
            return f"no record could be applied: all {plural(dead, 'record')} were dead-lettered{where}; first: {first}"
        return None


class _DeadLetterWatch:
    """Stops a run once it has more dead letters than ``--max-dead-letters N`` allows."""

    def __init__(self, limit: DeadLetterLimit | None, stop: threading.Event) -> None:
        self.limit = limit
        self.stop = stop
        self.status: RunStatus | None = None
        self.tripped = False

    @contextlib.contextmanager
    def watching(self, status: RunStatus) -> Iterator[None]:
        self.status = status
        done = threading.Event()
        thread = None
        if self.limit is not None and self.limit.count is not None:  # a percentage is judged at the end
            thread = threading.Thread(target=self._loop, args=(done,), name="murmur-dead-letter-watch", daemon=True)
            thread.start()
        try:
            yield
        finally:
            done.set()
            if thread is not None:
                thread.join()

    def _loop(self, done: threading.Event) -> None:
        assert self.limit is not None
        while not done.wait(0.05):
            status = self.status
            if status is not None and self.limit.exceeded(status.dead_letters, status.records):
                self.tripped = True
                self.stop.set()
                return


def _record_run(store: Any, plan: _Plan, status: RunStatus, sink: Any) -> None:
    """Keep what this bootstrap did next to its checkpoints (``run/bootstrap``), for later messages."""
    if status.already_finished:
        return
    try:
        Checkpoints(store, plan.pipeline.name).record_run(
            "bootstrap",
            {
                "records": status.records,
                "applied": status.applied,
                "dead_letters": status.dead_letters,
                "dead_letters_file": _letters(sink),
            },
        )
    except Exception as exc:  # a note for later messages: never fail the run for it
        typer.echo(mask(f"murmur: warning: could not record the run's counts: {exc}"), err=True)


def _then(
    plan: _Plan,
    args: RunArgs,
    source: Any,
    target: Any,
    store: Any,
    dedup: Any,
    sink: Any,
    stop: threading.Event,
    display: ProgressDisplay,
    say: Callable[[str], None],
    observe: Callable[[RunStatus], Recorder | None],
    outcome: _Outcome,
    watch: _DeadLetterWatch,
    phases: list[RunStatus],
) -> None:
    """``--then``: one :func:`murmur.snapshot_then_stream` call; the display follows its phases."""
    extra: dict[str, Any] = {} if plan.max_attempts is None else {"max_attempts": plan.max_attempts}
    options = RunOptions(
        dedup=dedup,
        fail_on_error=plan.fail_on_error,
        checkpoints=plan.policy,  # type: ignore[arg-type]
        segments=plan.segments,
        fold_helper=plan.fold_helper,
        dead_letters=sink,
        until_idle=plan.until_idle,
        **extra,
    )

    def on_phase(status: RunStatus) -> Recorder | None:
        if status.mode == "bootstrap":
            phases[:] = [status]  # in place: the caller summarizes what ran, even if the run stops
        else:  # the bootstrap ended: its summary and handoff file, before the live phase
            first = phases[0]
            _record_run(store, plan, first, sink)
            token = first.handoff
            # Written before the live phase, so a live phase that fails can be restarted from it.
            if token is not None and plan.handoff_out is not None:
                token.write(plan.handoff_out)
            if outcome.failure(plan, first, watch) is not None:
                raise _BootstrapFailed  # dead letters fail the bootstrap: no live phase
            for line in _lines(plan, first, sink, args, outcome):
                say(mask(line))
            phases.append(status)
        display.status = status
        watch.status = status
        return observe(status)

    try:
        snapshot_then_stream(plan.pipeline, source, target, store, options=options, stop=stop, on_phase=on_phase)
    except _BootstrapFailed:
        pass  # the summary says why (exit 1)


class _BootstrapFailed(Exception):
    """The --then bootstrap ended with a dead-letter failure: the live phase does not start."""


_COUNTS = ("records", "applied", "written_keys", "dead_letters", "dedup_skips", "retries", "elapsed_seconds")


def _summary(phases: list[RunStatus]) -> dict[str, Any]:
    """One phase's summary; with --then the counts of both phases, each phase's own under ``phases``."""
    first = phases[0].summary()
    if len(phases) == 1:
        return first
    parts = [first, *(p.summary() for p in phases[1:])]
    summary = dict(first)
    for name in _COUNTS:
        summary[name] = sum(p[name] for p in parts)
    summary["elapsed_seconds"] = round(summary["elapsed_seconds"], 3)
    elapsed = summary["elapsed_seconds"]
    summary["records_per_second"] = round(summary["records"] / elapsed, 1) if elapsed > 0 else None
    summary["mode"] = "+".join(p["mode"] for p in parts)
    summary["phases"] = {p["mode"]: p for p in parts}
    return summary


def _letters(sink: Any) -> str | None:
    """Where the dead letters went, if any were written and the sink is a file."""
    path = getattr(sink, "path", None)
    written = getattr(sink, "count", None)
    return str(path) if path is not None and written else None


def _summarize(
    plan: _Plan,
    phases: list[RunStatus],
    sink: Any,
    args: RunArgs,
    err: LineConsole,
    outcome: _Outcome,
    watch: _DeadLetterWatch,
) -> int:
    """Print the summary (``--json``: on stdout); the exit code: 1 when dead letters fail the run."""
    summary = _summary(phases)
    letters = _letters(sink)
    handoff = phases[0].handoff
    failure = None
    for status in phases:
        failure = failure or outcome.failure(plan, status, watch)
    warnings = [w for i, status in enumerate(phases) for w in outcome.warnings(status, then=i > 0)]
    summary.update(
        ok=failure is None,
        exit_code=0 if failure is None else 1,
        error=failure,
        warnings=warnings,
        cleared=outcome.cleared,
        live_start=outcome.start,
        max_dead_letters=str(plan.max_dead_letters) if plan.max_dead_letters is not None else None,
        dead_letters_file=letters,
        handoff_file=str(plan.handoff_out) if plan.handoff_out is not None and handoff is not None else None,
        source={
            "adapter": plan.source.spec.name,
            "kind": plan.source.spec.kind,
            "options": shown_options(plan.source.spec, plan.source.options),
        },
        store={"adapter": plan.store.spec.name, "options": shown_options(plan.store.spec, plan.store.options)},
        dedup={"adapter": plan.dedup.spec.name, "options": shown_options(plan.dedup.spec, plan.dedup.options)}
        if plan.dedup
        else None,
    )
    if plan.then is not None:
        summary["then"] = {"adapter": plan.then.spec.name, "options": shown_options(plan.then.spec, plan.then.options)}
    if args.json:
        typer.echo(dumps(summary))
    if not args.quiet:
        # With --then the bootstrap's lines were printed when the live phase began.
        lines = _lines(plan, phases[-1], sink, args, outcome)
        if plan.log_format == "json":
            JsonLog(plan.pipeline.name).emit("info", "summary", lines[0], **summary)
        else:
            for line in lines:
                err.print(mask(line), markup=False, highlight=False, soft_wrap=True)
    for warning in [] if args.quiet else warnings:  # --json keeps them under "warnings"
        if plan.log_format == "json":
            JsonLog(plan.pipeline.name).emit("warning", "warning", warning)
        else:
            typer.echo(mask(f"murmur: warning: {warning}"), err=True)
    if failure is not None:
        if plan.log_format == "json":
            JsonLog(plan.pipeline.name).emit("error", "error", failure, exit_code=1)
        else:
            typer.echo(mask(f"murmur: error: {failure}"), err=True)
        return 1
    return 0


def _lines(plan: _Plan, status: RunStatus, sink: Any, args: RunArgs, outcome: _Outcome) -> list[str]:
    """The human summary of one phase."""
    summary = status.summary()
    letters = _letters(sink)
    lines = []
    name = status.pipeline
    if outcome.cleared is not None and status.mode == "bootstrap":
        lines.append(f"{name} · --restart cleared {describe_cleared(outcome.cleared)}")
    if status.already_finished:
        rest = "continuing live" if plan.then is not None else "nothing to do (pass --restart to run it again)"
        lines.append(f"{name} · already finished, {rest}")
    else:
        what = "live run stopped" if status.mode == "live" else "bootstrap finished"
        lines.append(f"{name} · {what} in {summary['elapsed_seconds']:.1f}s" + (" (resumed)" if status.resumed else ""))
        lines.append(
            f"  records       {count(status.records)} ({count(status.applied)} applied,"
            f" {plural(status.dead_letters, 'dead letter')}, {plural(status.dedup_skips, 'dedup skip')},"
            f" {plural(status.retries, 'retry', 'retries')})"
        )
        lines.append(f"  key writes    {count(status.written_keys)}")
        rate = summary["records_per_second"]
        lines.append(f"  rate          {count(rate) if rate is not None else '-'} records/s")
    if status.dead_letters or not status.already_finished:
        where = f"→ {letters}" if letters else "→ the source's dead-letter destination"
        if not status.dead_letters:
            where = f"(none; they would go to {plan.dead_letters})"
        limit = f", at most {plan.max_dead_letters} allowed" if plan.max_dead_letters is not None else ""
        lines.append(f"  dead letters  {count(status.dead_letters)} {where}{limit}")
        for sample in status.dead_letter_samples[:3]:
            event, _, error = sample.partition(": ")
            lines.append(f"                {error if error.startswith(event) else sample}")
    token = status.handoff
    continues = token is not None and (token.token is not None or token.live or plan.handoff_out is not None)
    if token is not None and continues and status.mode == "bootstrap" and not args.no_handoff:
        if plan.handoff_out is not None:
            written = f"; written to {plan.handoff_out}"
        else:  # with --then it is handed over in process
            written = "" if plan.then is not None else " (save it with --handoff-out FILE)"
        live_part = f", live position for {token.live.get('source')}" if token.live else ""
        lines.append(
            f"  handoff       {token.source} token captured"
            f" {token.captured_at.isoformat(timespec='seconds')}{live_part}{written}"
        )
        if plan.then is not None:
            lines.append(f"  then          live from {plan.then.spec.name}, starting after the handoff")
    return lines
