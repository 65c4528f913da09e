"""murmur-kafka: the Kafka live source, the json/debezium/raw decoders and the dead-letter topic.

The source and decoders load on first attribute access, so importing this package (as the
plugin loader does) never loads librdkafka.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from murmur_kafka.decoders import (
        CountsEventIdFallbacks,
        DebeziumDecoder,
        JsonDecoder,
        ObjectId,
        RawDecoder,
        decode_extended_json,
    )
    from murmur_kafka.dlq import DeadLetterProducer, dead_letter_headers
    from murmur_kafka.source import KafkaRecord, KafkaSource

__all__ = [
    "CountsEventIdFallbacks",
    "DeadLetterProducer",
    "DebeziumDecoder",
    "JsonDecoder",
    "KafkaRecord",
    "KafkaSource",
    "ObjectId",
    "RawDecoder",
    "dead_letter_headers",
    "decode_extended_json",
]

_WHERE = {
    "CountsEventIdFallbacks": "decoders",
    "DebeziumDecoder": "decoders",
    "JsonDecoder": "decoders",
    "ObjectId": "decoders",
    "RawDecoder": "decoders",
    "decode_extended_json": "decoders",
    "DeadLetterProducer": "dlq",
    "dead_letter_headers": "dlq",
    "KafkaRecord": "source",
    "KafkaSource": "source",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'murmur_kafka' has no attribute {name!r}")
    return getattr(importlib.import_module(f"murmur_kafka.{module}"), name)
