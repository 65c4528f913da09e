"""``snapshot_then_stream``: the product's promise in one call (SPEC §5–§7).

Bootstrap from the snapshot source, capturing the live source's position first, then run the
live source from that handoff — or from its own stored position, when an earlier run got that
far — with the same options. The bootstrap resumes by default, so running the same call again
after a crash continues where it stopped instead of counting again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from murmur._errors import ConfigError
from murmur._options import RunOptions
from murmur._pipeline import Pipeline
from murmur._protocols import LiveSource, Recorder, SnapshotSource, Store
from murmur._status import RunStatus
from murmur.metrics import Fanout

__all__ = ["snapshot_then_stream"]

log = logging.getLogger("murmur")


def snapshot_then_stream(
    pipeline: Pipeline,
    snapshot: SnapshotSource,
    live: LiveSource,
    store: Store,
    *,
    options: RunOptions | None = None,
    stop: threading.Event | None = None,
    on_phase: Callable[[RunStatus], Recorder | None] | None = None,
    **kwargs: Any,
) -> RunStatus:
    """Bootstrap ``pipeline`` from ``snapshot`` into ``store``, then stream ``live`` into it.

    ``options`` (a :class:`RunOptions`) and keyword arguments (its field names, e.g.
    ``until_idle=5``, ``dedup=...``) apply to both phases; keyword arguments win. ``checkpoints``
    defaults to ``resume``: a bootstrap that already finished is not repeated, one that was
    interrupted continues after its checkpoints. The live phase starts after the handoff the
    bootstrap captured, unless an earlier live phase got further: then from that position (the
    one ``checkpoint()`` returned, kept in the store, or what the source committed itself).

    ``stop`` ends the run (during the bootstrap: ``Cancelled``; during the live phase: a clean
    stop). ``on_phase`` is called with each phase's own status just before that phase starts
    (``mode`` ``bootstrap``, then ``live``), e.g. to show progress; a Recorder it returns
    receives that phase's metrics too, and its progress if it is a :class:`~murmur.RunObserver`
    (e.g. a Prometheus exporter observing the phase). ``metrics`` observes both phases.

    Returns one :class:`RunStatus` (mode ``bootstrap+live``) with the counts of both phases;
    ``status.phases`` holds each phase's own. ``live`` is closed when this returns or raises,
    as :func:`murmur.live.run` does; ``snapshot``, ``store`` and the deduper stay the caller's.
    """
    from murmur import bootstrap as bootstrap_runtime
    from murmur import live as live_runtime

    opts = RunOptions.of(options, **kwargs)
    if opts.checkpoints is None:
        opts = RunOptions.of(opts, checkpoints="resume")
    if not opts.handoff:
        raise ConfigError(
            "handoff: the live phase starts from the bootstrap's handoff; it cannot be off", option="handoff"
        )
    if opts.segment is not None:
        # A live phase started while other processes still scan could apply a change before their
        # older snapshot read of the same document lands.
        raise ConfigError(
            "segment: run every segment to the end, then the live phase with live.run(handoff=token)",
            option="segment",
        )
    stop = stop or threading.Event()
    total = RunStatus(pipeline.name, "bootstrap+live")
    # The total is one more observer of both phases: their counts and progress add up in it.
    metrics = Fanout(opts.metrics, total)
    try:
        first = RunStatus(pipeline.name, "bootstrap")
        total.phases["bootstrap"] = first  # (with phases, the total keeps the bootstrap's handoff)
        extra = on_phase(first) if on_phase is not None else None
        token = bootstrap_runtime.run(
            pipeline,
            snapshot,
            store,
            **{**opts.bootstrap_kwargs(), "metrics": Fanout(metrics, extra) if extra is not None else metrics},
            handoff_to=live,
            status=first,
            stop=stop,
        )

        second = RunStatus(pipeline.name, "live")
        total.phases["live"] = second
        extra = on_phase(second) if on_phase is not None else None
        live_runtime.run(
            pipeline,
            live,
            store,
            **{**opts.live_kwargs(), "metrics": Fanout(metrics, extra) if extra is not None else metrics},
            handoff=token,
            status=second,
            stop=stop,
        )
    finally:
        total.end()
        # live.run closes the source when it gets that far; a bootstrap that failed, or a live
        # phase that failed while starting, did not. Closing twice is harmless (LiveSource).
        try:
            live.close()
        except Exception as exc:  # closing must not hide why the run failed
            log.warning("closing the live source %s failed: %s", live.name, exc)
    return total
