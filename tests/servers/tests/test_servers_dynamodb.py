"""moto DynamoDB through the dynamodb fixtures, with a real boto3 client."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import boto3

from murmur_test_servers.dynamodb import REGION, DynamoDBServer, client_kwargs


def make_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_fixture_shape(dynamodb_server: DynamoDBServer, dynamodb_endpoint: str) -> None:
    assert dynamodb_endpoint == f"http://127.0.0.1:{dynamodb_server.port}"
    assert dynamodb_server.env()["AWS_ENDPOINT_URL_DYNAMODB"] == dynamodb_endpoint
    # Dummy credentials are exported for the session so no test can reach real AWS by accident.
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert os.environ["AWS_DEFAULT_REGION"] == REGION


def test_update_item_add_counts(dynamodb_endpoint: str, unique_name: Callable[[str], str]) -> None:
    client = boto3.client("dynamodb", **client_kwargs(dynamodb_endpoint))
    table = unique_name("counters")
    make_table(client, table)
    for delta in (3, 4):
        client.update_item(
            TableName=table,
            Key={"pk": {"S": "a"}},
            UpdateExpression="ADD n :d",
            ExpressionAttributeValues={":d": {"N": str(delta)}},
        )
    item = client.get_item(TableName=table, Key={"pk": {"S": "a"}}, ConsistentRead=True)["Item"]
    assert item == {"pk": {"S": "a"}, "n": {"N": "7"}}
