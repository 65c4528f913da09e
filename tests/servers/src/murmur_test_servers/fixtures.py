"""pytest plugin (entry point `murmur_servers`): server fixtures, `unique_name`, and `--slow`.

Servers are session-scoped and start lazily: only when a test asks for the fixture. Give every
test its own database/topic/group/table names (`unique_name`) so that nothing needs resetting.
This module is imported by every pytest run in the monorepo, so it imports nothing heavy at module
level (moto, pymongo, boto3 load only when a fixture is used).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from .dynamodb import DynamoDBServer
from .dynamodb import env as aws_env
from .faults import FaultProxy
from .kafka import KafkaBroker
from .mongo import MongoServer


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False, help="run tests marked @pytest.mark.slow")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running test, skipped unless pytest is given --slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow test: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """nx-27017 on 127.0.0.1: .uri, .host, .port, .log_path."""
    server = MongoServer(tmp_path_factory.mktemp("mongo"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_uri(mongo_server: MongoServer) -> str:
    return mongo_server.uri


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """librdkafka mock cluster: .bootstrap, .create_topic(name, partitions)."""
    broker = KafkaBroker(log_dir=tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def dynamodb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoDBServer]:
    """moto in this process: .endpoint, .env(), .client_kwargs().

    Also exports dummy AWS credentials and region into os.environ for the session, so that no
    boto3 client made by a test can pick up real credentials (restored afterwards).
    """
    server = DynamoDBServer(tmp_path_factory.mktemp("dynamodb"), in_process=True)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in aws_env().items():
            mp.setenv(key, value)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def dynamodb_endpoint(dynamodb_server: DynamoDBServer) -> str:
    return dynamodb_server.endpoint


@pytest.fixture
def dynamodb_faults(dynamodb_endpoint: str) -> Iterator[FaultProxy]:
    """A fresh FaultProxy in front of the session's DynamoDB endpoint: point clients at .url."""
    with FaultProxy(dynamodb_endpoint) as proxy:
        yield proxy


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """unique_name("orders") -> "orders_1a2b3c4d": per-test names on session-scoped servers."""

    def make(prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex[:8]}"

    return make
