"""Typed adapter options: parsing, env vars, defaults, prefixes, and secrets kept out of messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from murmur import AdapterSpec, ConfigError, Option
from murmur.plugins import is_secret, mask_secrets, parse_options, shown_options

SPEC = AdapterSpec(
    "demo",
    "live",
    "every option type",
    lambda o, c: None,
    options=(
        Option("brokers", "str", required=True, env="DEMO_BROKERS", help="host:port list"),
        Option("partitions", "int", 1),
        Option("ratio", "float", 0.5),
        Option("verbose", "bool", False),
        Option("extra", "json", None),
        Option("ca", "path", None),
        Option("out", "path", None, must_exist=False),
        Option("poll", "duration", "500ms"),
        Option("topics", "list", None),
        Option("start", "str", "latest", choices=("earliest", "latest")),
        Option("password", "str", None, secret=True, env="DEMO_PASSWORD"),
        Option("kafka.*", help="passed to the client"),
    ),
)


def parse(given: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    return parse_options(SPEC, {"brokers": "b:9092", **given}, flag="-S", env=env or {})


def test_types_defaults_and_prefixes(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    got = parse(
        {
            "partitions": "8",
            "ratio": "2",
            "verbose": "yes",
            "extra": '{"a": [1]}',
            "ca": str(ca),
            "out": str(tmp_path / "new.txt"),
            "poll": "1m30s",
            "topics": "a, b,,c",
            "start": "earliest",
            "kafka.sasl.username": "u",
            "kafka.linger.ms": "5",
        }
    )
    assert got == {
        "brokers": "b:9092",
        "partitions": 8,
        "ratio": 2.0,
        "verbose": True,
        "extra": {"a": [1]},
        "ca": ca,
        "out": tmp_path / "new.txt",
        "poll": 90.0,
        "topics": ["a", "b", "c"],
        "start": "earliest",
        "password": None,
        "kafka.*": {"sasl.username": "u", "linger.ms": "5"},
    }
    defaults = parse({})
    assert defaults["poll"] == 0.5
    assert defaults["partitions"] == 1
    assert defaults["kafka.*"] == {}


def test_toml_values_arrive_typed() -> None:
    got = parse({"partitions": 3, "verbose": True, "topics": ["x", "y"], "poll": 2, "extra": {"k": 1}})
    assert (got["partitions"], got["verbose"], got["topics"], got["poll"], got["extra"]) == (
        3,
        True,
        ["x", "y"],
        2.0,
        {"k": 1},
    )


def test_env_vars_fill_missing_options_and_flags_win() -> None:
    env = {"DEMO_BROKERS": "env:1", "DEMO_PASSWORD": "pw-from-env"}
    assert parse_options(SPEC, {}, env=env)["brokers"] == "env:1"
    assert parse_options(SPEC, {"brokers": "flag:2"}, env=env)["brokers"] == "flag:2"
    assert parse_options(SPEC, {}, env=env)["password"] == "pw-from-env"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"partitions": "eight"}, "-S partitions: expected an integer, got 'eight'"),
        ({"partitions": True}, "-S partitions: expected an integer"),
        ({"ratio": "half"}, "-S ratio: expected a number"),
        ({"verbose": "maybe"}, "-S verbose: expected true or false"),
        ({"extra": "{nope"}, "-S extra: expected JSON"),
        ({"ca": "/no/such/file.pem"}, "-S ca: '/no/such/file.pem' does not exist"),
        ({"poll": "soon"}, "-S poll: expected a duration such as 30s"),
        ({"start": "middle"}, "-S start: expected one of earliest, latest, got 'middle'"),
        ({"colour": "red"}, "-S colour: live source 'demo' has no option 'colour' (its options: brokers, partitions"),
    ],
)
def test_bad_values_name_the_option_and_the_expected_form(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(given)
    assert message in str(info.value)
    assert info.value.option is not None


def test_required_option_names_its_env_var() -> None:
    with pytest.raises(
        ConfigError,
        match=r"-S brokers=\.\.\.: required by live source 'demo' \(host:port list\), or set \$DEMO_BROKERS",
    ):
        parse_options(SPEC, {}, env={})


def test_dashes_are_accepted_for_underscores() -> None:
    spec = AdapterSpec("x", "source", "", lambda o, c: None, options=(Option("batch_size", "int", 1),))
    assert parse_options(spec, {"batch-size": "4"}) == {"batch_size": 4}


def test_labels_say_where_a_value_came_from() -> None:
    with pytest.raises(ConfigError, match=r"^murmur.toml:4: \[source\] partitions: expected an integer"):
        parse_options(
            SPEC,
            {"brokers": "b", "partitions": "x"},
            labels={"partitions": "murmur.toml:4: [source] partitions"},
            env={},
        )


def test_secrets_are_never_echoed() -> None:
    secret_spec = AdapterSpec("s", "store", "", lambda o, c: None, options=(Option("token", "int", secret=True),))
    with pytest.raises(ConfigError) as info:
        parse_options(secret_spec, {"token": "abc-secret-value"})
    assert "abc-secret-value" not in str(info.value)
    assert "****" in str(info.value)
    assert is_secret(SPEC, "kafka.sasl.password")
    assert is_secret(SPEC, "kafka.ssl.key.location")
    assert not is_secret(SPEC, "kafka.linger.ms")
    assert is_secret(SPEC, "password")
    shown = shown_options(SPEC, parse({"password": "hunter2", "kafka.sasl.password": "pw", "kafka.linger.ms": "5"}))
    assert shown["password"] == "****"
    assert shown["kafka.*"] == {"sasl.password": "****", "linger.ms": "5"}


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mongodb://root:s3cret@h:27017/db", "mongodb://root:****@h:27017/db"),
        ("mongodb+srv://u:p%40ss@cluster.example/x", "mongodb+srv://u:****@cluster.example/x"),
        ("redis://:onlypw@h", "redis://:****@h"),
        ("https://h/path?token=abc&x=1", "https://h/path?token=****&x=1"),
        ("mongodb://h:27017/db", "mongodb://h:27017/db"),
    ],
)
def test_uri_passwords_are_masked(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked
