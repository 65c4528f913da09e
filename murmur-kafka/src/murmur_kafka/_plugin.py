"""Registers the ``kafka`` live source and the ``json``, ``debezium`` and ``raw`` decoders.

Nothing heavy is imported here: confluent_kafka loads only when a source is built and used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from murmur import AdapterContext, AdapterSpec, Option, hookimpl

from murmur_kafka._options import START_CHOICES

__all__ = ["GUARANTEES", "SECRET_SETTINGS", "SOURCE_OPTIONS", "SPECS", "murmur_register"]

#: librdkafka settings holding credentials: declared one by one so that they are never printed.
SECRET_SETTINGS = (
    ("kafka.sasl.password", "MURMUR_KAFKA_SASL_PASSWORD"),
    ("kafka.sasl.oauthbearer.client.secret", "MURMUR_KAFKA_OAUTH_CLIENT_SECRET"),
    ("kafka.sasl.oauthbearer.config", None),
    ("kafka.ssl.key.password", "MURMUR_KAFKA_SSL_KEY_PASSWORD"),
    ("kafka.ssl.keystore.password", None),
    ("kafka.ssl.key.pem", None),
)

SOURCE_OPTIONS: tuple[Option, ...] = (
    Option("brokers", required=True, env="MURMUR_KAFKA_BROKERS", help="bootstrap servers: host:port[,host:port...]"),
    Option("topic", "list", required=True, help="topic to read, or a comma-separated list of topics"),
    Option("group", help="consumer group id (default: murmur.<pipeline name>)"),
    Option("decoder", default="json", help="payload decoder: json, debezium, raw (or one a plugin registers)"),
    Option("dlq_topic", help="dead-letter topic for records that cannot be decoded or applied (must exist)"),
    Option(
        "start",
        default="committed",
        choices=START_CHOICES,
        help="where partitions without a committed offset begin (committed = earliest; handoff = the offsets "
        "recorded in --from-handoff); committed offsets always win",
    ),
    Option(
        "event_id",
        help="json decoder: field path of the event id (default, and where it is null or empty: "
        "<topic>:<partition>:<offset>)",
    ),
    Option("event_time", help="field path of the event time (ISO-8601 or epoch s/ms; default: the message timestamp)"),
    Option("poll_batch", "int", default=500, help="most messages taken from the consumer per poll"),
    Option("commit_interval", "duration", default="5s", help="how often the applied prefix is committed"),
    Option("decoder.*", help="an option of the decoder, e.g. -S decoder.key_fields=id,tenant"),
    *(Option(name, secret=True, env=env, help="librdkafka credential") for name, env in SECRET_SETTINGS),
    Option("kafka.*", help="any librdkafka setting, e.g. -S kafka.security.protocol=SASL_SSL"),
)

GUARANTEES = (
    "consumer group",
    "commits only the applied prefix",
    "at-least-once; exactly-once with dedup or changelog mode",
    "dead-letter topic",
    "handoff from a snapshot",
)


def _prefixed(options: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Options under ``prefix``: the ``<prefix>*`` pass-through dict plus options declared one by one."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name == prefix + "*" and isinstance(value, Mapping):
            out.update({k: v for k, v in value.items() if v is not None})
        elif name.startswith(prefix) and name != prefix + "*" and value is not None:
            out[name[len(prefix) :]] = value
    return out


def make_source(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur_kafka.source import KafkaSource

    decoder_options = {k: options[k] for k in ("event_id", "event_time") if options.get(k)}
    decoder_options.update(_prefixed(options, "decoder."))
    decoder = context.make_decoder(str(options.get("decoder") or "json"), decoder_options)
    interval = options.get("commit_interval")
    return KafkaSource(
        brokers=options["brokers"],
        topic=options["topic"],
        group=options.get("group"),
        decoder=decoder,
        dlq_topic=options.get("dlq_topic"),
        start=options.get("start") or "committed",
        poll_batch=options.get("poll_batch") or 500,
        commit_interval=5.0 if interval is None else interval,
        settings=_prefixed(options, "kafka."),
        pipeline=context.pipeline,
    )


def make_json(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur_kafka.decoders import JsonDecoder

    return JsonDecoder(event_id=options.get("event_id"), event_time=options.get("event_time"))


def make_debezium(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur_kafka.decoders import DebeziumDecoder

    return DebeziumDecoder(key_fields=options.get("key_fields"), event_time=options.get("event_time"))


def make_raw(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur_kafka.decoders import RawDecoder

    return RawDecoder(encoding=options.get("encoding") or "utf-8")


SPECS: tuple[AdapterSpec, ...] = (
    AdapterSpec(
        "kafka",
        "live",
        "Kafka topics in a consumer group; commits only what was applied (murmur-kafka)",
        make_source,
        options=SOURCE_OPTIONS,
        guarantees=GUARANTEES,
    ),
    AdapterSpec(
        "json",
        "decoder",
        "JSON payloads; event id and time from field paths",
        make_json,
        options=(
            Option(
                "event_id",
                help="field path of the event id (default, and where it is null or empty: "
                "<topic>:<partition>:<offset>)",
            ),
            Option(
                "event_time",
                help="field path of the event time (ISO-8601 or epoch s/ms; default: the message timestamp)",
            ),
        ),
    ),
    AdapterSpec(
        "debezium",
        "decoder",
        "Debezium change events (MongoDB and relational connectors) as changelog records",
        make_debezium,
        options=(
            Option("key_fields", "list", help="primary-key fields of relational rows (default: the message key)"),
            Option("event_time", help="field path of the event time inside the new document"),
        ),
    ),
    AdapterSpec(
        "raw",
        "decoder",
        "the payload as text (or bytes with encoding=bytes)",
        make_raw,
        options=(Option("encoding", default="utf-8", help="text encoding, or 'bytes' to keep the raw bytes"),),
    ),
)


@hookimpl
def murmur_register(register: Callable[[AdapterSpec], None]) -> None:
    for spec in SPECS:
        register(spec)
