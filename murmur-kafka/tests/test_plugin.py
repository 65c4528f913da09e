"""Registration through the plugin hook: specs, options, secrets, lazy imports. No broker needed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from murmur import ConfigError
from murmur.plugins import Registry, is_secret, parse_options, shown_options


def test_the_source_and_decoders_are_registered(registry: Registry) -> None:
    live = registry.get("live", "kafka")
    assert live.distribution == "murmur-kafka"
    assert "commits only the applied prefix" in live.guarantees
    assert {s.name for s in registry.of_kind("decoder")} >= {"json", "debezium", "raw"}
    assert next(p for p in registry.plugins if p.distribution == "murmur-kafka").status == "ok"


def test_credentials_are_secret_and_masked(registry: Registry) -> None:
    spec = registry.get("live", "kafka")
    assert is_secret(spec, "kafka.sasl.password")
    assert is_secret(spec, "kafka.ssl.key.password")
    assert not is_secret(spec, "kafka.security.protocol")
    options = parse_options(
        spec,
        {"brokers": "b:9092", "topic": "t", "kafka.sasl.password": "hunter2", "kafka.security.protocol": "SASL_SSL"},
        env={},
    )
    shown = repr(shown_options(spec, options))
    assert "hunter2" not in shown
    assert "SASL_SSL" in shown


def test_password_can_come_from_the_environment(registry: Registry) -> None:
    spec = registry.get("live", "kafka")
    options = parse_options(spec, {"brokers": "b", "topic": "t"}, env={"MURMUR_KAFKA_SASL_PASSWORD": "s3cret"})
    assert options["kafka.sasl.password"] == "s3cret"


def test_options_reach_the_source_typed(registry: Registry) -> None:
    src = registry.build(
        "live",
        "kafka",
        {
            "brokers": "127.0.0.1:1",
            "topic": "a, b",
            "decoder": "debezium",
            "decoder.key_fields": "tenant,no",
            "commit_interval": "250ms",
            "poll_batch": "50",
            "kafka.fetch.min.bytes": "1",
        },
        pipeline="orders",
    )
    assert src.topics == ["a", "b"]
    assert src.group == "murmur.orders"  # default group: one per pipeline
    assert src.commit_interval == 0.25 and src.max_poll == 50
    assert src.decoder.name == "debezium" and src.decoder.key_fields == ("tenant", "no")
    assert src.default_mode == "changelog"
    assert src.settings == {"fetch.min.bytes": "1"}
    src.close()


def test_decoder_options_are_checked_by_the_decoder(registry: Registry) -> None:
    with pytest.raises(ConfigError, match="has no option 'event_id'"):
        registry.build("live", "kafka", {"brokers": "b", "topic": "t", "decoder": "debezium", "event_id": "id"})
    with pytest.raises(ConfigError, match="unknown decoder 'avro'"):
        registry.build("live", "kafka", {"brokers": "b", "topic": "t", "decoder": "avro"})


def test_start_must_be_a_known_choice(registry: Registry) -> None:
    with pytest.raises(ConfigError, match="committed, earliest, latest, handoff"):
        registry.build("live", "kafka", {"brokers": "b", "topic": "t", "start": "yesterday"})


def test_registration_does_not_import_the_kafka_client() -> None:
    code = (
        "import sys, murmur.plugins as p; reg = p.load(); assert ('live', 'kafka') in reg.specs; "
        "print('confluent_kafka' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
