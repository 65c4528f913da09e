"""FaultProxy in front of moto: boto3 sees real DynamoDB-shaped failures, then recovers."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from murmur_test_servers import wait_for
from murmur_test_servers.dynamodb import client_kwargs
from murmur_test_servers.faults import FaultClient, FaultProxy

# botocore's client-config max_attempts counts *retries* (legacy naming); total_max_attempts=1 is
# the way to say "one attempt, no retry". See test_max_attempts_1_still_retries_once.
NO_RETRY = Config(retries={"total_max_attempts": 1})


def client(url: str, config: Config = NO_RETRY) -> Any:
    return boto3.client("dynamodb", **client_kwargs(url), config=config)


@pytest.fixture
def table(dynamodb_endpoint: str, unique_name: Callable[[str], str]) -> str:
    name = unique_name("faults")
    client(dynamodb_endpoint).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def put(ddb: Any, table: str, pk: str = "a") -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": pk}})


def add_one(ddb: Any, table: str, pk: str) -> None:
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": pk}},
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttle_then_heal(dynamodb_faults: FaultProxy, table: str, code: str) -> None:
    ddb = client(dynamodb_faults.url)
    dynamodb_faults.throttle(code=code)  # no n, no seconds: until heal()
    for _ in range(2):
        with pytest.raises(ClientError) as info:
            put(ddb, table)
        assert info.value.response["Error"]["Code"] == code
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    dynamodb_faults.heal()
    put(ddb, table)
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    stats = dynamodb_faults.stats()
    assert (stats["faulted"], stats["throttled"], stats["forwarded"]) == (2, 2, 2)
    assert stats["by_operation"] == {"PutItem": 2}
    assert stats["active"] is None


def test_throttle_n_counts_down(dynamodb_faults: FaultProxy, table: str) -> None:
    ddb = client(dynamodb_faults.url)
    dynamodb_faults.throttle(n=2)
    for _ in range(2):
        with pytest.raises(ClientError):
            put(ddb, table)
    put(ddb, table)
    assert (dynamodb_faults.faulted, dynamodb_faults.forwarded) == (2, 1)


def test_max_attempts_1_still_retries_once(dynamodb_faults: FaultProxy, table: str) -> None:
    ddb = client(dynamodb_faults.url, Config(retries={"max_attempts": 1}))
    dynamodb_faults.throttle(n=1)
    response = ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert dynamodb_faults.faulted == 1


def test_throttle_for_seconds(dynamodb_faults: FaultProxy, table: str) -> None:
    ddb = client(dynamodb_faults.url)
    dynamodb_faults.throttle(seconds=3.0)  # long enough to be seen on a loaded machine
    with pytest.raises(ClientError):
        put(ddb, table)

    def succeeds() -> bool:
        try:
            put(ddb, table)
        except ClientError:
            return False
        return True

    wait_for(succeeds, timeout=60, interval=0.05, message="throttle window never ended")
    assert dynamodb_faults.stats()["active"] is None


@pytest.mark.parametrize("status", [500, 503])
def test_fail_5xx(dynamodb_faults: FaultProxy, table: str, status: int) -> None:
    ddb = client(dynamodb_faults.url)
    dynamodb_faults.fail_5xx(n=1, status=status)
    with pytest.raises(ClientError) as info:
        put(ddb, table)
    assert info.value.response["Error"]["Code"] == "InternalServerError"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    put(ddb, table)


def test_drop_connections_before_and_after_forward(dynamodb_faults: FaultProxy, table: str) -> None:
    ddb = client(dynamodb_faults.url)
    dynamodb_faults.drop_connections(n=1)
    with pytest.raises(ConnectionClosedError):
        add_one(ddb, table, "before")
    dynamodb_faults.drop_connections(n=1, after_forward=True)
    with pytest.raises(ConnectionClosedError):
        add_one(ddb, table, "after")

    def n(pk: str) -> Any:
        return ddb.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item", {}).get("n")

    assert n("before") is None  # never reached DynamoDB
    assert n("after") == {"N": "1"}  # applied, but the client never heard back
    assert dynamodb_faults.stats()["dropped"] == 2


def test_operations_filter(dynamodb_faults: FaultProxy, table: str) -> None:
    ddb = client(dynamodb_faults.url)
    dynamodb_faults.throttle(operations=["PutItem"])
    ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})
    with pytest.raises(ClientError):
        put(ddb, table)


def test_control_from_another_process(dynamodb_faults: FaultProxy, table: str) -> None:
    script = "import sys; from murmur_test_servers.faults import FaultClient; FaultClient(sys.argv[1]).throttle(n=1)"
    subprocess.run([sys.executable, "-c", script, dynamodb_faults.url], check=True, timeout=30)
    ddb = client(dynamodb_faults.url)
    with pytest.raises(ClientError):
        put(ddb, table)
    with urllib.request.urlopen(dynamodb_faults.control_url, timeout=10) as response:
        assert json.loads(response.read())["throttled"] == 1
    assert FaultClient(dynamodb_faults.url).heal()["active"] is None


def test_bad_control_request_is_400(dynamodb_faults: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown fault action"):
        FaultClient(dynamodb_faults.url)._control({"action": "explode"})
    with pytest.raises(ValueError, match="n must be"):
        FaultClient(dynamodb_faults.url).throttle(n=-1)


class _Recorder(BaseHTTPRequestHandler):
    """Upstream that records exactly what arrives and answers like DynamoDB would to ListTables."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[list[tuple[str, str]], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((list(self.headers.items()), body))
        payload = b'{"TableNames": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[ThreadingHTTPServer]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_headers_and_body_pass_through_untouched(recorder: ThreadingHTTPServer) -> None:
    port = recorder.server_address[1]
    sent: list[Any] = []
    with FaultProxy(f"http://127.0.0.1:{port}") as proxy:
        ddb = client(proxy.url)
        ddb.meta.events.register("before-send", lambda request, **_: sent.append(request))
        ddb.list_tables(Limit=3)
    ((headers, body),) = _Recorder.seen
    request = sent[0]
    expected = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    received = {k.lower(): v for k, v in headers}
    assert body == request.body
    assert received["authorization"].startswith("AWS4-HMAC-SHA256")
    assert received["host"] == proxy.url.removeprefix("http://")  # the Host the client signed
    for name, value in expected.items():
        assert received[name] == value, name
