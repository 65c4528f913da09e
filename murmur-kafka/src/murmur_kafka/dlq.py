"""The dead-letter topic: poison records are produced there, with headers saying where they came from.

A write returns only once the broker acknowledged it (``acks=all``), so the source may then let
the runtime ack the record and commit past it: a dead letter is never lost between the two.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from murmur import SourceError, TransientError

from murmur_kafka._config import kafka, kafka_error_text, make_client, producer_settings

__all__ = ["HEADER_PREFIX", "DeadLetterProducer", "dead_letter_headers"]

HEADER_PREFIX = "x-murmur-"
#: Header values longer than this are cut (brokers limit the message size, headers included).
MAX_ERROR_BYTES = 8192


def dead_letter_headers(
    *,
    topic: str,
    partition: int,
    offset: int,
    source_name: str,
    error: str,
    kind: str,
    original: Sequence[tuple[str, bytes | None]] | None = None,
    extra: Mapping[str, str] | None = None,
) -> list[tuple[str, bytes]]:
    """The original headers (minus earlier ``x-murmur-*`` ones) followed by Murmur's (SPEC §7)."""
    headers: list[tuple[str, bytes]] = [
        (name, value if value is not None else b"")
        for name, value in (original or ())
        if not name.startswith(HEADER_PREFIX)
    ]
    ours = {
        "x-murmur-source-topic": topic,
        "x-murmur-source-partition": str(partition),
        "x-murmur-source-offset": str(offset),
        "x-murmur-source-name": source_name,
        "x-murmur-error": error,
        "x-murmur-error-kind": kind,
        **(extra or {}),
    }
    for name, text in ours.items():
        raw = text.encode("utf-8", "replace")
        if len(raw) > MAX_ERROR_BYTES:
            raw = raw[: MAX_ERROR_BYTES - 3] + b"..."
        headers.append((name, raw))
    return headers


class DeadLetterProducer:
    """Produces dead letters to one topic and waits for the broker's delivery report."""

    def __init__(self, brokers: str, topic: str, settings: Mapping[str, str], *, timeout: float = 30.0) -> None:
        self.topic = topic
        self.timeout = timeout
        self._settings = dict(settings)
        conf: dict[str, Any] = {
            **producer_settings(settings),
            "bootstrap.servers": brokers,
            "acks": "all",
            "linger.ms": 0,
        }
        conf.setdefault("allow.auto.create.topics", "false")
        conf.setdefault("client.id", "murmur-kafka-dlq")
        self._producer = make_client("producer", conf, self._settings)

    def write(self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        """Produce one dead letter and return once the broker has it.

        Raises ``TransientError`` if it is not acknowledged in time or the broker refused it with
        a retryable error (the caller must not ack the record), ``SourceError`` for a permanent
        refusal (message too large, no authorisation).
        """
        ck = kafka()
        done = threading.Event()
        outcome: list[Any] = []

        def delivered(err: Any, msg: Any) -> None:
            outcome.append(err)
            done.set()

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key, headers=headers, on_delivery=delivered)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                self._producer.poll(0.1)
            except ck.KafkaException as exc:
                raise self._error(exc.args[0]) from exc
            if time.monotonic() > deadline:
                raise TransientError(f"kafka: dead-letter queue for {self.topic!r} stayed full for {self.timeout:.0f}s")
        while not done.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientError(
                    f"kafka: dead letter to {self.topic!r} not acknowledged within {self.timeout:.0f}s"
                )
            # flush() serves delivery callbacks of every thread's messages; ours sets `done`.
            self._producer.flush(min(remaining, 1.0))
        err = outcome[0]
        if err is not None:
            raise self._error(err)

    def _error(self, err: Any) -> Exception:
        ck = kafka()
        text = kafka_error_text(ck.KafkaException(err), self._settings)
        message = f"kafka: dead letter to {self.topic!r} failed: {text}"
        retriable = bool(getattr(err, "retriable", lambda: False)())
        if retriable or err.code() in (
            ck.KafkaError._MSG_TIMED_OUT,
            ck.KafkaError._TRANSPORT,
            ck.KafkaError._TIMED_OUT,
        ):
            return TransientError(message)
        return SourceError(message)

    def close(self) -> None:
        self._producer.flush(self.timeout)
