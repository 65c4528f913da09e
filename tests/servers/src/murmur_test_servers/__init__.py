"""Real MongoDB-protocol, Kafka-protocol and DynamoDB servers on loopback for Murmur's tests.

The pytest plugin (murmur_test_servers.fixtures) is registered through the `pytest11` entry
point, so installing this distribution is enough to get the fixtures everywhere.
"""

from __future__ import annotations

from murmur_test_servers._running import run_until
from murmur_test_servers._wait import wait_for

__all__ = ["run_until", "wait_for"]
