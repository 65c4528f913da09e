"""A MongoDB collection whose changes are published the way Debezium does it (test helper)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import orjson
from conftest import Kafka


class Table:
    """A MongoDB collection's changes as Debezium would publish them, and its final state."""

    def __init__(self, rng: random.Random, *, pre_images: bool = False) -> None:
        self.rng = rng
        self.pre_images = pre_images  # MongoDB 6 pre-images: updates and deletes carry `before`
        self.docs: dict[int, dict[str, Any]] = {}
        self.events: list[tuple[int, bytes | None, bytes]] = []  # (doc id, value, key)
        self.t = 1_700_000_000
        self.ord = 0
        self.next_id = 1

    def _emit(
        self, op: str, doc_id: int, after: dict[str, Any] | None, wrap: bool, before: dict[str, Any] | None = None
    ) -> None:
        self.ord += 1
        if self.ord > 3:
            self.t, self.ord = self.t + 1, 1

        def ext(doc: dict[str, Any] | None) -> str | None:
            return None if doc is None else orjson.dumps({**doc, "_id": {"$numberLong": str(doc_id)}}).decode()

        payload = {
            "before": ext(before) if self.pre_images else None,
            "after": ext(after),
            "source": {
                "connector": "mongodb",
                "db": "shop",
                "collection": "orders",
                "ts_ms": self.t * 1000,
                "ord": self.ord,
            },
            "op": op,
            "ts_ms": self.t * 1000,
        }
        value = orjson.dumps({"schema": {"type": "struct"}, "payload": payload} if wrap else payload)
        key = orjson.dumps({"id": str(doc_id)})
        self.events.append((doc_id, value, key))
        if op == "d":
            self.events.append((doc_id, None, key))  # Debezium's tombstone after a delete

    def step(self) -> None:
        wrap = self.rng.random() < 0.5
        roll = self.rng.random()
        if not self.docs or roll < 0.3:
            doc_id, self.next_id = self.next_id, self.next_id + 1
            self.docs[doc_id] = {"customer": f"c{self.rng.randrange(6)}", "amount": self.rng.randrange(1, 100)}
            self._emit("c", doc_id, self.docs[doc_id], wrap)
            return
        doc_id = self.rng.choice(sorted(self.docs))
        old = self.docs[doc_id]
        if roll < 0.55:
            self.docs[doc_id] = {**old, "amount": self.rng.randrange(1, 100)}
            self._emit("u", doc_id, self.docs[doc_id], wrap, old)
        elif roll < 0.8:
            self.docs[doc_id] = {**old, "customer": f"c{self.rng.randrange(6)}"}
            self._emit("u", doc_id, self.docs[doc_id], wrap, old)
        else:
            del self.docs[doc_id]
            self._emit("d", doc_id, None, wrap, old)

    def totals(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for doc in self.docs.values():
            out[doc["customer"]] += doc["amount"]
        return dict(out)

    def produce(self, kafka: Kafka, topic: str, events: list[tuple[int, bytes | None, bytes]]) -> None:
        kafka.produce(
            topic, [v for _, v, _ in events], keys=[k for _, _, k in events], partition=lambda i: events[i][0] % 3
        )
