"""Unreachable or misconfigured MongoDB: one line naming what to fix, the right exit code, no waiting.

Real subprocesses of ``murmur``; a closed port (bound, then closed) and the session's nx-27017
server. Nothing here times anything: the point is the message and the exit code.
"""

from __future__ import annotations

import socket

import pytest
from conftest import Coll
from test_cli import murmur, source_opts

PIPELINE = ["--key", "customer", "--monoid", "count", "--name", "orders", "--store", "memory"]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_error_line(stderr: str) -> str:
    # A live run first says where it starts ("live: …"); the failure itself is one line.
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("live: ")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("murmur: error: "), stderr
    assert "Traceback" not in stderr
    assert "Topology" not in stderr
    return lines[0]


@pytest.mark.parametrize("handoff", [True, False], ids=["with-handoff", "no-handoff"])
def test_a_closed_port_fails_the_run_with_host_port_and_cause(closed_port: int, handoff: bool) -> None:
    uri = f"mongodb://bob:hunter2@127.0.0.1:{closed_port}/?directConnection=true"
    extra = [] if handoff else ["--no-handoff"]
    proc = murmur(
        "run", "--source", "mongo", "-S", f"uri={uri}", "-S", "database=shop", "-S", "collection=orders",
        *PIPELINE, *extra, check=1,
    )  # fmt: skip
    line = one_error_line(proc.stderr)
    assert f"cannot reach MongoDB at 127.0.0.1:{closed_port}: connection refused" in line
    assert "gave up after 5 s" in line  # the default server selection timeout
    assert "hunter2" not in line


def test_the_server_selection_timeout_is_an_option(closed_port: int) -> None:
    uri = f"mongodb://127.0.0.1:{closed_port}/?directConnection=true"
    proc = murmur(
        "run", "--source", "mongo-changes", "-S", f"uri={uri}", "-S", "database=shop", "-S", "collection=orders",
        "-S", "server_selection_timeout_ms=300", "-S", "connect_timeout_ms=200", *PIPELINE, "--until-idle", "1",
        check=1,
    )  # fmt: skip
    line = one_error_line(proc.stderr)
    assert line.startswith("murmur: error: mongo-changes: opening the change stream of shop.orders: cannot reach")
    assert "gave up after 0.3 s" in line


def test_credentials_the_server_cannot_check_are_an_authentication_error(coll: Coll) -> None:
    # nx-27017 has no authentication: pymongo's handshake fails inside the driver (KeyError 'payload').
    uri = coll.uri.replace("mongodb://", "mongodb://bob:hunter2@")
    proc = murmur("run", "--source", "mongo", *source_opts(coll, uri), *PIPELINE, "--no-handoff", check=2)
    line = one_error_line(proc.stderr)
    host = coll.uri.split("//", 1)[1].split("/", 1)[0]
    assert f"authentication as 'bob' failed at {host}" in line
    assert "check the user and password in -S uri" in line
    assert "hunter2" not in line


def test_a_collection_name_the_server_rejects_names_the_option(coll: Coll) -> None:
    # nx-27017 keeps collections in SQL tables: `order` is a keyword it cannot count.
    proc = murmur(
        "run", "--source", "mongo", "-S", f"uri={coll.uri}", "-S", f"database={coll.database}",
        "-S", "collection=order", *PIPELINE, "--no-handoff", check=2,
    )  # fmt: skip
    line = one_error_line(proc.stderr)
    assert "rejects the database or collection name" in line
    assert "-S collection" in line
    assert "syntax error" in line  # the server's own words, kept short


def test_a_collection_name_mongodb_forbids_is_refused_before_connecting(coll: Coll) -> None:
    proc = murmur(
        "run", "--source", "mongo", "-S", f"uri={coll.uri}", "-S", "database=shop", "-S", "collection=a$b",
        *PIPELINE, check=2,
    )  # fmt: skip
    assert one_error_line(proc.stderr) == (
        "murmur: error: mongo: -S collection='a$b': MongoDB collection names cannot contain '$'"
    )
