"""The snapshot-to-live handoff in Kafka terms: end offsets captured by a bootstrap, read back
when the live source starts, and applied to partitions that have no committed offset yet."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from murmur import ConfigError, HandoffError, HandoffToken, SourceError

from murmur_kafka._config import kafka, kafka_error_text, log, topic_partitions

if TYPE_CHECKING:
    from confluent_kafka import Consumer, TopicPartition

__all__ = [
    "OFFSET_INVALID",
    "TP",
    "Warn",
    "capture_position",
    "check_retention",
    "handoff_stamp",
    "mirror_of",
    "parse_mirror",
    "resolve_handoff",
    "start_offsets",
]

#: (topic, partition)
TP = tuple[str, int]
#: A rate-limited logger: ``warn(key, level, message, *args)``.
Warn = Callable[..., None]

OFFSET_INVALID = -1001  # librdkafka's "no offset" (no committed offset for the partition)


def capture_position(
    consumer: Consumer, topics: Sequence[str], *, brokers: str, timeout: float, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """The end offsets (high watermarks) of every partition: ``{"topic": T, "partitions": {"0": n}}``,
    or ``{"topics": [...]}`` of such entries when reading several topics."""
    ck = kafka()
    entries = []
    for topic in topics:
        try:
            partitions = topic_partitions(
                consumer,
                topic,
                brokers=brokers,
                timeout=timeout,
                settings=settings,
                purpose="capture the handoff position",
            )
        except (ConfigError, SourceError) as exc:
            raise HandoffError(f"{exc}; cannot capture the handoff position") from None
        offsets: dict[str, int] = {}
        for p in partitions:
            try:
                marks = consumer.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=timeout)
            except ck.KafkaException as exc:
                raise HandoffError(
                    f"kafka: cannot read the end offset of {topic}[{p}]: {kafka_error_text(exc, settings)}"
                ) from None
            if marks is None:
                raise HandoffError(f"kafka: no answer for the end offset of {topic}[{p}] within {timeout}s")
            offsets[str(p)] = int(marks[1])
        entries.append({"topic": topic, "partitions": offsets})
    return entries[0] if len(entries) == 1 else {"topics": entries}


def resolve_handoff(handoff: HandoffToken | None, *, start_mode: str, topics: Sequence[str]) -> dict[TP, int] | None:
    """Handoff offsets per partition ({} = start partitions without committed offsets at the earliest;
    None = no handoff)."""
    if handoff is None:
        if start_mode == "handoff":
            raise ConfigError(
                "kafka: start=handoff needs the handoff file of a bootstrap (--from-handoff FILE)", option="start"
            )
        return None
    if start_mode == "latest":
        raise ConfigError(
            "kafka: start=latest cannot be combined with a handoff (records after the snapshot would be "
            "skipped); use start=handoff",
            option="start",
        )
    live = handoff.live
    if not live:
        log.info("kafka: the handoff has no Kafka offsets; partitions without committed offsets start at the earliest")
        return {}
    source = live.get("source")
    if source != "kafka":
        raise HandoffError(
            f"kafka: the handoff was captured for live source {source!r}, not 'kafka'; re-run the bootstrap "
            f"with --handoff-to kafka -H topic={','.join(topics)}"
        )
    position = live.get("position")
    if isinstance(position, Mapping) and "topics" in position:
        entries = position["topics"]
    elif isinstance(position, Mapping) and "topic" in position:
        entries = [position]
    else:
        raise HandoffError("kafka: the handoff's Kafka position is malformed (expected topic and partitions)")
    out: dict[TP, int] = {}
    for entry in entries if isinstance(entries, list) else ():
        topic = entry.get("topic") if isinstance(entry, Mapping) else None
        if topic not in topics:
            raise HandoffError(
                f"kafka: the handoff holds offsets of topic {topic!r}, but this source reads "
                f"{', '.join(topics)}; use the handoff file of a bootstrap run with "
                f"--handoff-to kafka -H topic={','.join(topics)}"
            )
        partitions = entry.get("partitions")
        if not isinstance(partitions, Mapping):
            raise HandoffError(f"kafka: the handoff's offsets of topic {topic!r} are malformed")
        for p, off in partitions.items():
            try:
                out[(str(topic), int(p))] = int(off)
            except (TypeError, ValueError):
                raise HandoffError(f"kafka: the handoff's offset of {topic}[{p}] is not an integer: {off!r}") from None
    return out


def check_retention(consumer: Consumer, handoff: Mapping[TP, int], *, timeout: float, warn: Warn) -> None:
    """A handoff older than the topic's retention would skip deleted records: refuse it."""
    ck = kafka()
    parts = [ck.TopicPartition(t, p) for (t, p) in sorted(handoff)]
    if not parts:
        return
    try:
        committed = consumer.committed(parts, timeout=timeout)
    except ck.KafkaException as exc:
        warn("committed", logging.WARNING, "kafka: cannot read committed offsets (%s)", exc)
        return
    for tp in committed:
        if tp.offset >= 0:
            continue  # a committed offset wins over the handoff
        wanted = handoff[(tp.topic, tp.partition)]
        try:
            marks = consumer.get_watermark_offsets(ck.TopicPartition(tp.topic, tp.partition), timeout=timeout)
        except ck.KafkaException as exc:  # cannot tell: start anyway, librdkafka resets to the earliest
            warn("watermarks", logging.WARNING, "kafka: cannot read the start offsets (%s)", exc)
            return
        if marks is not None and marks[0] > wanted:
            raise HandoffError(
                f"kafka: the handoff starts {tp.topic}[{tp.partition}] at offset {wanted}, but the topic now "
                f"begins at {marks[0]}: records in between were deleted by retention; run the bootstrap again"
            )


def start_offsets(
    consumer: Consumer,
    partitions: Sequence[TopicPartition],
    *,
    handoff: Mapping[TP, int] | None,
    mirror: Mapping[TP, int] | None,
    timeout: float,
    warn: Warn,
    stamp: str | None = None,
) -> dict[TP, int] | None:
    """Set where each newly assigned partition starts. Returns None to leave it to librdkafka
    (committed offset, else ``auto.offset.reset``), else the partitions set to start at a mirrored
    offset (maybe none; the caller then assigns explicitly, and may commit those offsets: they
    are applied prefixes).

    ``mirror`` holds offsets the store recorded inside its own units of work (everything before
    them is applied): a partition starts there when that is past its committed offset, so a crash
    between a unit and the next broker commit replays nothing. ``handoff`` holds a bootstrap's
    offsets: a partition with neither a committed offset nor a mirrored one starts there, and so
    does one whose committed offset continues *another* handoff (its commit metadata is a
    :func:`handoff_stamp` other than ``stamp``): a run after ``--restart`` must not resume where
    the cleared state's run left off, or it would count again what the new snapshot already read.
    """
    ck = kafka()
    wanted = [
        tp
        for tp in partitions
        if (tp.topic, tp.partition) in (mirror or {}) or (tp.topic, tp.partition) in (handoff or {})
    ]
    if not wanted:
        return None
    try:
        committed = consumer.committed([ck.TopicPartition(tp.topic, tp.partition) for tp in wanted], timeout=timeout)
    except ck.KafkaException as exc:
        # Without committed offsets we keep librdkafka's choice (committed, else earliest): slower, never a skip.
        warn("committed", logging.WARNING, "kafka: cannot read committed offsets on assignment (%s)", exc)
        return None
    known = {(c.topic, c.partition): (c.offset, c.metadata) for c in committed if c.error is None}
    chosen: dict[TP, int] = {}
    mirrored_at: dict[TP, int] = {}
    for key, (offset, metadata) in known.items():
        mirrored = (mirror or {}).get(key)
        if mirrored is not None and mirrored > max(offset, -1):
            chosen[key] = mirrored_at[key] = mirrored
        elif key in (handoff or {}) and (offset == OFFSET_INVALID or _other_handoff(metadata, stamp)):
            if offset != OFFSET_INVALID:
                warn(
                    f"stale:{key[0]}",
                    logging.INFO,
                    "kafka: %s[%d] starts at the handoff, not at its committed offset %d (committed by a run"
                    " of an earlier bootstrap of this pipeline)",
                    *key,
                    offset,
                )
            chosen[key] = (handoff or {})[key]
    for tp in partitions:
        key = (tp.topic, tp.partition)
        if key in chosen:
            tp.offset = chosen[key]
    return mirrored_at if chosen else None


_STAMP = "murmur handoff "


def handoff_stamp(handoff: HandoffToken | None) -> str | None:
    """The commit metadata of a run that continues ``handoff`` (when it was captured), or None."""
    if handoff is None:
        return None
    return f"{_STAMP}{handoff.captured_at.isoformat()}"


def _other_handoff(metadata: str | None, stamp: str | None) -> bool:
    """Committed by a run that continued a different handoff than ``stamp`` (never for commits
    without murmur's stamp: another tool's, or an older murmur's)."""
    return stamp is not None and bool(metadata) and str(metadata).startswith(_STAMP) and metadata != stamp


def parse_mirror(checkpoint: Any, topics: Sequence[str]) -> dict[TP, int]:
    """The offsets a previous run mirrored into the store (``{"topic:partition": offset}``), for
    the topics read now; anything else in it is ignored (it only ever speeds a restart up)."""
    out: dict[TP, int] = {}
    if not isinstance(checkpoint, Mapping):
        return out
    for name, offset in checkpoint.items():
        topic, _, partition = str(name).rpartition(":")
        if topic in topics and partition.isdigit() and isinstance(offset, int) and not isinstance(offset, bool):
            out[(topic, int(partition))] = offset
    return out


def mirror_of(handed: Mapping[TP, int]) -> dict[str, int]:
    """The checkpoint form of ``handed`` (offset after the last message handed out, per partition)."""
    return {f"{t}:{p}": off for (t, p), off in handed.items()}
