"""Checkpoints: kept by the state store in its meta key space, per pipeline.

Documents (names are stable; other processes and ``murmur get`` read them):
- ``pipeline``: the pipeline description (monoid, window…); a run whose monoid or window differs
  from the stored one is refused, since mixing them would corrupt the state.
- ``handoff``: the token captured before the first scan; the first writer wins, so separate
  processes sharing one scan agree on it.
- ``plan``: the segment descriptors of the scan (first writer wins, likewise).
- ``segment/<i>/<n>``: position of the applied prefix, counts, and whether it finished.
- ``live/<source>``: a live source's position, for sources that do not commit on their own.
- ``run/<mode>``: what the last run of that mode did (records read, applied, dead-lettered,
  the dead-letter file), written by ``murmur run`` when it ends, so later messages tell the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from murmur._errors import CheckpointExists, ConfigError
from murmur._pipeline import Pipeline
from murmur._protocols import Store
from murmur._records import HandoffToken, utcnow

PIPELINE = "pipeline"
HANDOFF = "handoff"
PLAN = "plan"


def segment_name(index: int, count: int) -> str:
    return f"segment/{index}/{count}"


def live_name(source: str) -> str:
    return f"live/{source}"


def run_name(mode: str) -> str:
    return f"run/{mode}"


__all__ = [
    "HANDOFF",
    "PIPELINE",
    "PLAN",
    "Checkpoints",
    "SegmentCheckpoint",
    "live_name",
    "run_name",
    "segment_name",
]


@dataclass
class SegmentCheckpoint:
    position: Any = None
    done: int = 0
    finished: bool = False
    #: Dead letters of the batches applied before this checkpoint's own (exact once finished).
    dead_letters: int = 0

    def to_doc(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "done": self.done,
            "finished": self.finished,
            "dead_letters": self.dead_letters,
            "updated": _now(),
        }


def _now() -> str:
    return utcnow().isoformat()


class Checkpoints:
    """The checkpoint documents of one pipeline in one store."""

    def __init__(self, store: Store, pipeline: str) -> None:
        self.store = store
        self.pipeline = pipeline
        self.docs = store.list_meta(pipeline)

    def _started(self, own: list[str] | None) -> list[str]:
        """Checkpoints this run would continue: its own segments', or any bootstrap's at all."""
        if own is not None:
            return [n for n in own if n in self.docs]
        return [n for n in self.docs if n == HANDOFF or n.startswith("segment/")]

    def describe_existing(self) -> str:
        """``finished, 20 records read (0 applied, 20 dead-lettered) in 1 segment(s)``.

        A segment checkpoint counts the records *read*; what became of them is in the last
        run's ``run/bootstrap`` document, when the run that wrote them recorded one.
        """
        segs = {n: d for n, d in self.docs.items() if n.startswith("segment/")}
        finished = sum(1 for d in segs.values() if d.get("finished"))
        done = sum(int(d.get("done", 0)) for d in segs.values())
        state = "finished" if segs and finished == len(segs) else "unfinished"
        last = self.docs.get(run_name("bootstrap"))
        outcome = ""
        if last is not None:
            applied, dead = last.get("applied", 0), last.get("dead_letters", 0)
            outcome = f" ({applied} applied, {dead} dead-lettered in the last run)"
        return f"{state}, {done} records read{outcome} in {len(segs)} segment(s)"

    def live_positions(self) -> dict[str, dict[str, Any]]:
        """The stored positions of live sources, by source name."""
        return {n.removeprefix("live/"): d for n, d in self.docs.items() if n.startswith("live/")}

    def record_run(self, mode: str, outcome: dict[str, Any]) -> None:
        """Keep what a run did (``run/<mode>``), for the messages of later runs."""
        self.docs[run_name(mode)] = self.store.write_meta(self.pipeline, run_name(mode), {**outcome, "updated": _now()})

    def apply_policy(self, policy: str, own: list[str] | None = None) -> bool:
        """Refuse, keep (resume) or drop (restart) existing checkpoints; True if resuming.

        ``own`` names the segment checkpoints of a run that does only part of a shared scan
        (``--segment i``): only those count, and a restart resets only those, since other
        processes share the handoff and the plan.
        """
        if policy not in ("refuse", "resume", "restart"):
            raise ConfigError(f"checkpoints: expected refuse, resume or restart, not {policy!r}", option="checkpoints")
        started = self._started(own)
        if not started:
            return False
        if policy == "refuse":
            raise CheckpointExists(
                f"pipeline {self.pipeline!r} already has a bootstrap checkpoint ({self.describe_existing()}); "
                "pass --resume to continue it or --restart to start over",
                option="resume",
            )
        if policy == "resume":
            return True
        if own is None:
            # The state stays, so the description of what built it must stay too.
            kept = self.docs.get(PIPELINE)
            self.store.delete_meta(self.pipeline)
            self.docs = {}
            if kept is not None:
                self.docs[PIPELINE] = self.store.write_meta(self.pipeline, PIPELINE, kept)
        else:
            for name in started:
                self.docs[name] = self.store.write_meta(self.pipeline, name, SegmentCheckpoint().to_doc())
        return False

    def ensure_pipeline(self, pipeline: Pipeline) -> None:
        """Record the pipeline's description, refusing a different monoid or window under the same name."""
        desc = pipeline.describe()
        old = self.docs.get(PIPELINE) or self.store.read_meta(self.pipeline, PIPELINE)
        if old is not None:
            for field, option in (("monoid", "monoid"), ("window", "window")):
                if old.get(field) != desc.get(field):
                    raise ConfigError(
                        f"pipeline {self.pipeline!r} was built with {field} {old.get(field)!r}, this run uses "
                        f"{desc.get(field)!r}; pick another --name (or drop the old state)",
                        option=option,
                    )
        self.store.write_meta(self.pipeline, PIPELINE, {**desc, "updated": _now()})

    def handoff(self) -> HandoffToken | None:
        doc = self.docs.get(HANDOFF)
        return HandoffToken.from_json(doc["token"], origin="checkpoint") if doc else None

    def share_handoff(self, token: HandoffToken) -> HandoffToken:
        """Keep ``token`` unless another process stored one first; return the one stored."""
        doc = self.store.write_meta(self.pipeline, HANDOFF, {"token": token.to_json()}, only_if_absent=True)
        return HandoffToken.from_json(doc["token"], origin="checkpoint")

    def share_plan(self, segments: list[Any]) -> list[Any]:
        doc = self.store.write_meta(self.pipeline, PLAN, {"segments": segments}, only_if_absent=True)
        stored = list(doc["segments"])
        if len(stored) != len(segments):
            raise ConfigError(
                f"pipeline {self.pipeline!r} was started with {len(stored)} segment(s), not {len(segments)}; "
                f"pass --segments {len(stored)} or --restart",
                option="segments",
            )
        return stored

    def stored_plan(self) -> list[Any] | None:
        doc = self.docs.get(PLAN)
        return list(doc["segments"]) if doc else None

    def segment(self, index: int, count: int) -> SegmentCheckpoint:
        doc = self.docs.get(segment_name(index, count))
        if doc is None:
            return SegmentCheckpoint()
        return SegmentCheckpoint(
            doc.get("position"), int(doc.get("done", 0)), bool(doc.get("finished")), int(doc.get("dead_letters", 0))
        )

    def finish(self, index: int, count: int, cp: SegmentCheckpoint) -> None:
        cp.finished = True
        self.store.write_meta(self.pipeline, segment_name(index, count), cp.to_doc())
