"""orderstats load generator: orders in Mongo, and their Debezium change events on Kafka.

Every operation writes Mongo first and then publishes the matching Debezium MongoDB-connector
envelope (JSON converter, no schema; ``after`` as an extended-JSON string, keyed by the document
id, a tombstone after each delete), as the connector would after the commit. Versions
(``source.ts_ms``, ``source.ord``) increase like an oplog timestamp: seconds, then a counter.

    python examples/orderstats/generate.py write --orders 200 --changes 100 --seed 1
    python examples/orderstats/generate.py write --for 30 --rate 50        # keep writing for 30 s
    python examples/orderstats/generate.py write --forever                  # until Ctrl-C
    python examples/orderstats/generate.py recount                          # exact totals, from Mongo

Connections default to the test servers' variables (``MURMUR_TEST_MONGO_URI``,
``MURMUR_TEST_KAFKA``), which ``eval "$(python -m murmur_test_servers up ...)"`` exports. The same
seed against the same starting collection writes the same operations. Run one generator at a
time per collection (like one oplog).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

__all__ = ["Envelope", "OrderGenerator", "Stats", "recount"]

DEFAULT_MONGO = "mongodb://127.0.0.1:27017/?directConnection=true"
DEFAULT_KAFKA = "127.0.0.1:9092"
CONNECTOR_VERSION = "2.7.0.Final"

#: The mix of operations after the initial orders: create, amount update, re-assignment, delete.
CHANGE_MIX = (("create", 0.25), ("update", 0.35), ("move", 0.25), ("delete", 0.15))


@dataclass
class Stats:
    """What a generator wrote: operations by kind, and envelopes produced (duplicates included)."""

    ops: Counter[str] = field(default_factory=Counter)
    envelopes: int = 0

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    def describe(self) -> str:
        kinds = ", ".join(
            f"{self.ops[k]} {k}{'' if self.ops[k] == 1 else 's'}"
            for k in ("create", "update", "move", "delete")
            if self.ops[k]
        )
        return f"{self.total} operations ({kinds or 'none'}), {self.envelopes} envelopes"


@dataclass(frozen=True)
class Envelope:
    """One Debezium message: key and value bytes (value ``None`` = tombstone)."""

    key: bytes
    value: bytes | None


class _OplogClock:
    """(seconds, ordinal) like a MongoDB oplog timestamp: strictly increasing within a process.

    A generator started on an existing collection first waits for the next wall second, so its
    versions are above those of any earlier generator on it (they ran before), even for an order id
    that an earlier run deleted and this one creates again.
    """

    def __init__(self, *, fresh: bool) -> None:
        now = time.time()
        if not fresh:
            time.sleep(int(now) + 1 - now)
        self.t = 0
        self.ord = 0

    def tick(self) -> tuple[int, int]:
        t = int(time.time())
        if t > self.t:
            self.t, self.ord = t, 0
        self.ord += 1
        return self.t, self.ord


class OrderGenerator:
    """Writes orders to ``database.collection`` and their change events to ``topic``.

    Order ids are ``o0000001``, ``o0000002``...; customers ``c01``..``c<customers>``; amounts are
    Int64 (``{"$numberLong": ...}`` in the envelopes). ``duplicate=True`` publishes every envelope
    twice. Existing orders (from an earlier run) are loaded, so later runs update and delete them.
    """

    def __init__(
        self,
        mongo_uri: str,
        brokers: str,
        *,
        database: str = "shop",
        collection: str = "orders",
        topic: str = "orders.cdc",
        seed: int = 0,
        customers: int = 8,
        duplicate: bool = False,
        max_amount: int = 500,
    ) -> None:
        from confluent_kafka import Producer
        from pymongo import MongoClient

        self.database, self.collection_name, self.topic = database, collection, topic
        self.customers = customers
        self.duplicate = duplicate
        self.max_amount = max_amount
        self.rng = random.Random(seed)
        self.stats = Stats()
        self._mongo: Any = MongoClient(mongo_uri, serverSelectionTimeoutMS=10_000)
        self.collection = self._mongo[database][collection]
        self.orders: dict[str, dict[str, Any]] = {
            doc["_id"]: {"customer_id": doc["customer_id"], "amount": int(doc["amount"])}
            for doc in self.collection.find({}, {"customer_id": 1, "amount": 1}).sort("_id", 1)
        }
        self._ids = sorted(self.orders)  # for seeded choices that do not depend on dict order
        self._next = 1 + max((int(i[1:]) for i in self._ids), default=0)
        # A collection that never existed has no earlier change events to stay above.
        self._clock = _OplogClock(fresh=collection not in self._mongo[database].list_collection_names())
        self._errors: list[str] = []
        self._producer: Any = Producer(
            {"bootstrap.servers": brokers, "linger.ms": 5, "enable.idempotence": True, "acks": "all"}
        )

    # ---------------------------------------------------------------- operations

    def create(self) -> None:
        from bson.int64 import Int64

        order_id = f"o{self._next:07d}"
        self._next += 1
        doc: dict[str, Any] = {"customer_id": self._customer(), "amount": self.rng.randint(1, self.max_amount)}
        self.collection.insert_one({"_id": order_id, "customer_id": doc["customer_id"], "amount": Int64(doc["amount"])})
        self.orders[order_id] = doc
        self._ids.append(order_id)
        self._publish("c", order_id, "create")

    def update(self) -> None:
        from bson.int64 import Int64

        order_id = self._pick()
        amount = self.rng.randint(1, self.max_amount)
        self.collection.update_one({"_id": order_id}, {"$set": {"amount": Int64(amount)}})
        self.orders[order_id]["amount"] = amount
        self._publish("u", order_id, "update")

    def move(self) -> None:
        order_id = self._pick()
        customer = self._customer(other_than=self.orders[order_id]["customer_id"])
        self.collection.update_one({"_id": order_id}, {"$set": {"customer_id": customer}})
        self.orders[order_id]["customer_id"] = customer
        self._publish("u", order_id, "move")

    def delete(self) -> None:
        order_id = self._pick()
        self.collection.delete_one({"_id": order_id})
        del self.orders[order_id]
        self._ids.remove(order_id)
        self._publish("d", order_id, "delete")

    def change(self) -> str:
        """One operation from the change mix (a create when there is nothing to change)."""
        kind = "create"
        if self.orders:
            kind = self.rng.choices([k for k, _ in CHANGE_MIX], [w for _, w in CHANGE_MIX])[0]
        getattr(self, kind)()
        return kind

    def run(
        self,
        *,
        orders: int = 0,
        changes: int = 0,
        seconds: float | None = None,
        rate: float | None = None,
        stop: threading.Event | None = None,
    ) -> Stats:
        """``orders`` creates, then ``changes`` mixed changes, then mixed changes for ``seconds``
        (``float("inf")``: until ``stop``); at most ``rate`` operations per second. Flushes at the end."""
        stop = stop or threading.Event()
        pace = 1.0 / rate if rate else 0.0
        started = time.monotonic()
        deadline = None if seconds is None else started + seconds
        done = 0

        def keep_going() -> bool:
            if stop.is_set():
                return False
            if done < orders + changes:
                return True
            return deadline is not None and time.monotonic() < deadline

        try:
            while keep_going():
                if done < orders:
                    self.create()
                else:
                    self.change()
                done += 1
                if pace:
                    stop.wait(max(0.0, started + done * pace - time.monotonic()))
                elif done % 500 == 0:
                    self._producer.poll(0)
        finally:
            self.flush()
        return self.stats

    # ---------------------------------------------------------------- Debezium

    def envelope(self, op: str, order_id: str) -> list[Envelope]:
        """The messages Debezium's MongoDB connector publishes for ``op`` on ``order_id`` now."""
        from bson import json_util
        from bson.int64 import Int64

        t, ordinal = self._clock.tick()
        after = None
        if op != "d":
            doc = self.orders[order_id]
            after = json_util.dumps(
                {"_id": order_id, "customer_id": doc["customer_id"], "amount": Int64(doc["amount"])},
                json_options=json_util.CANONICAL_JSON_OPTIONS,
            )
        now_ms = int(time.time() * 1000)
        value = {
            "before": None,  # no pre-images (capture.mode=change_streams_update_full)
            "after": after,
            "updateDescription": None,
            "source": {
                "version": CONNECTOR_VERSION,
                "connector": "mongodb",
                "name": self.database,
                "ts_ms": t * 1000,
                "snapshot": "false",
                "db": self.database,
                "sequence": None,
                "collection": self.collection_name,
                "ord": ordinal,
                "lsid": None,
                "txnNumber": None,
                "wallTime": now_ms,
            },
            "op": op,
            "ts_ms": now_ms,
            "transaction": None,
        }
        key = json.dumps({"id": json.dumps(order_id)}).encode()
        out = [Envelope(key, json.dumps(value).encode())]
        if op == "d":
            out.append(Envelope(key, None))  # the tombstone that lets compaction drop the key
        return out

    def _publish(self, op: str, order_id: str, kind: str) -> None:
        for env in self.envelope(op, order_id):
            for _ in range(2 if self.duplicate else 1):
                self._produce(env)
        self.stats.ops[kind] += 1

    def _produce(self, env: Envelope) -> None:
        while True:
            try:
                self._producer.produce(self.topic, env.value, env.key, on_delivery=self._delivered)
                break
            except BufferError:  # the local queue is full: let it drain
                self._producer.poll(0.1)
        self.stats.envelopes += 1

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._errors.append(str(err))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every envelope is acknowledged by the broker; raise if any was not."""
        if self._producer is None:
            return
        left = self._producer.flush(timeout)
        if left or self._errors:
            raise RuntimeError(f"{left} envelope(s) not delivered to {self.topic}; errors: {self._errors[:3]}")

    def close(self) -> None:
        """Flush, then let go of both clients (a producer left alive keeps reconnecting to a gone broker)."""
        try:
            self.flush()
        finally:
            self._mongo.close()
            self._producer = None

    def __enter__(self) -> OrderGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- helpers

    def _customer(self, other_than: str | None = None) -> str:
        while True:
            customer = f"c{self.rng.randint(1, self.customers):02d}"
            if customer != other_than or self.customers < 2:
                return customer

    def _pick(self) -> str:
        return self._ids[self.rng.randrange(len(self._ids))]


def recount(mongo_uri: str, *, database: str = "shop", collection: str = "orders") -> dict[str, int]:
    """Exact per-customer totals of the collection as it is now (what Murmur's totals must equal)."""
    from pymongo import MongoClient

    client: Any = MongoClient(mongo_uri, serverSelectionTimeoutMS=10_000)
    try:
        totals: Counter[str] = Counter()
        for doc in client[database][collection].find({}, {"customer_id": 1, "amount": 1}):
            totals[doc["customer_id"]] += int(doc["amount"])
        return dict(sorted(totals.items()))
    finally:
        client.close()


# -------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--mongo-uri", default=os.environ.get("MURMUR_TEST_MONGO_URI", DEFAULT_MONGO))
    common.add_argument("--database", default="shop")
    common.add_argument("--collection", default="orders")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("write", parents=[common], help="write orders to Mongo and their envelopes to Kafka")
    write.add_argument("--brokers", default=os.environ.get("MURMUR_TEST_KAFKA", DEFAULT_KAFKA))
    write.add_argument("--topic", default="orders.cdc")
    write.add_argument("--orders", type=int, default=0, help="new orders to create first")
    write.add_argument("--changes", type=int, default=0, help="then this many mixed changes")
    write.add_argument("--for", dest="seconds", type=float, help="then keep writing changes for this many seconds")
    write.add_argument("--forever", action="store_true", help="then keep writing changes until Ctrl-C / SIGTERM")
    write.add_argument("--rate", type=float, help="at most this many operations per second")
    write.add_argument("--seed", type=int, default=0)
    write.add_argument("--customers", type=int, default=8)
    write.add_argument("--duplicate", action="store_true", help="publish every envelope twice")
    count = sub.add_parser("recount", parents=[common], help="print exact per-customer totals from Mongo")
    count.add_argument("--json", action="store_true", help="one JSON object instead of CUSTOMER<TAB>TOTAL lines")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "recount":
        totals = recount(args.mongo_uri, database=args.database, collection=args.collection)
        if args.json:
            print(json.dumps(totals))
        else:
            for customer, total in totals.items():
                print(f"{customer}\t{total}")
        return 0
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    seconds = float("inf") if args.forever else args.seconds
    with OrderGenerator(
        args.mongo_uri,
        args.brokers,
        database=args.database,
        collection=args.collection,
        topic=args.topic,
        seed=args.seed,
        customers=args.customers,
        duplicate=args.duplicate,
    ) as gen:
        stats = gen.run(orders=args.orders, changes=args.changes, seconds=seconds, rate=args.rate, stop=stop)
    print(f"generate: {stats.describe()} to {args.database}.{args.collection} and {args.topic}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
