"""librdkafka configuration shared by the consumer, the dead-letter producer and metadata lookups."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from murmur import ConfigError, SourceError

__all__ = [
    "RateLimitedLog",
    "check_settings",
    "is_secret",
    "kafka",
    "kafka_error_text",
    "librdkafka_log",
    "log",
    "make_client",
    "producer_settings",
    "redact",
    "topic_partitions",
]

log = logging.getLogger("murmur_kafka")
librdkafka_log = logging.getLogger("murmur_kafka.librdkafka")


class _Repeats(logging.Filter):
    """Drops a log line seen (numbers aside) less than ``every`` seconds ago.

    librdkafka logs every reconnect attempt of an unreachable broker, several times a second.
    """

    _DIGITS = re.compile(r"\d+")

    def __init__(self, every: float = 30.0) -> None:
        super().__init__()
        self.every = every
        self._seen: dict[tuple[int, str], float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, self._DIGITS.sub("#", record.getMessage())[:300])
        now = time.monotonic()
        with self._lock:
            if now - self._seen.get(key, -1e9) < self.every:
                return False
            if len(self._seen) > 1000:
                self._seen.clear()
            self._seen[key] = now
        return True


librdkafka_log.addFilter(_Repeats())

#: Settings whose values are credentials: never echoed in errors or logs.
_SECRET_WORDS = ("password", "secret", "oauthbearer.config", "key.pem", "certificate.pem", "jaas")

#: Settings Murmur owns; giving them as ``kafka.<name>`` is a usage error naming the right option.
_OWNED = {
    "bootstrap.servers": "brokers",
    "metadata.broker.list": "brokers",
    "group.id": "group",
}
#: Settings that would let the client commit offsets of records that were not applied.
_FORCED = {"enable.auto.commit": "false", "enable.auto.offset.store": "false"}

#: Consumer-only settings; the dead-letter producer gets everything else (security, client.id...).
_CONSUMER_ONLY_PREFIXES = (
    "group.",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "auto.offset.reset",
    "auto.commit.interval.ms",
    "enable.auto.",
    "enable.partition.eof",
    "fetch.",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "isolation.level",
    "queued.",
    "check.crcs",
    "coordinator.query.interval.ms",
    "allow.auto.create.topics",
    "consume.callback.max.messages",
)


def kafka() -> ModuleType:
    """confluent_kafka, imported on first use so that ``murmur --help`` never loads librdkafka."""
    import confluent_kafka

    return confluent_kafka


def is_secret(setting: str) -> bool:
    return any(word in setting for word in _SECRET_WORDS)


def redact(text: str, settings: Mapping[str, Any]) -> str:
    """``text`` with the value of every secret setting replaced by ``***``."""
    for name, value in settings.items():
        if is_secret(name) and value not in (None, ""):
            text = text.replace(str(value), "***")
    return text


def check_settings(settings: Mapping[str, Any]) -> dict[str, str]:
    """Validate user librdkafka settings (names without the ``kafka.`` prefix); values as text."""
    out: dict[str, str] = {}
    for name, value in settings.items():
        if value is None:
            continue
        if name in _OWNED:
            raise ConfigError(
                f"kafka.{name}: give -S {_OWNED[name]}=... instead of the librdkafka setting", option=f"kafka.{name}"
            )
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if name in _FORCED and text.strip().lower() not in (_FORCED[name], "0"):
            raise ConfigError(
                f"kafka.{name}={text}: Murmur commits offsets itself, only for applied records; remove this setting",
                option=f"kafka.{name}",
            )
        out[name] = text
    return out


def producer_settings(settings: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in settings.items() if not k.startswith(_CONSUMER_ONLY_PREFIXES)}


def kafka_error_text(exc: BaseException, settings: Mapping[str, Any]) -> str:
    """A one-line, secret-free description of a confluent_kafka exception."""
    err = exc.args[0] if exc.args else None
    text = str(err.str()) if err is not None and hasattr(err, "str") else str(exc)
    return redact(text, settings)


def make_client(kind: str, conf: dict[str, Any], settings: Mapping[str, Any]) -> Any:
    """Build a Consumer or Producer; a bad setting is a ConfigError naming it, with secrets redacted."""
    ck = kafka()
    factory = ck.Consumer if kind == "consumer" else ck.Producer
    try:
        return factory(conf)
    except (ck.KafkaException, ValueError, TypeError) as exc:
        text = kafka_error_text(exc, settings)
        option = None
        for name in settings:
            if f'"{name}"' in text or f"`{name}`" in text:
                option = f"kafka.{name}"
        raise ConfigError(f"kafka: invalid client configuration: {text}", option=option) from None


class RateLimitedLog:
    """Logs a repeated condition at most once per ``every`` seconds per key (broker outages repeat)."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, key: str, level: int, message: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -1e9) < self.every:
                return
            self._last[key] = now
        log.log(level, message, *args)


def topic_partitions(
    consumer: Any,
    topic: str,
    *,
    brokers: str,
    timeout: float,
    settings: Mapping[str, Any],
    purpose: str,
    option: str = "topic",
) -> list[int]:
    """The partition numbers of ``topic`` from the brokers' metadata.

    Raises ``SourceError`` when the brokers cannot be reached, ``ConfigError`` naming ``option``
    when the topic does not exist.
    """
    ck = kafka()
    try:
        meta = consumer.list_topics(topic, timeout=timeout)
    except ck.KafkaException as exc:
        text = kafka_error_text(exc, settings)
        raise SourceError(f"kafka: cannot reach brokers {brokers} to {purpose}: {text}") from None
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        what = "dlq_topic" if option == "dlq_topic" else "topic"
        raise ConfigError(f"kafka: {what} {topic!r} does not exist on brokers {brokers}", option=option)
    return sorted(info.partitions)
