"""A live worker for crash tests: ``python kafka_worker.py BROKERS TOPIC GROUP DB PIPELINE [UNTIL_IDLE]``.

Counts events per ``user`` from a kafka topic into a SQLite store with the SQLite deduper on the
same file (claim and apply in one transaction). Tests SIGKILL it at random points.
"""

from __future__ import annotations

import logging
import sys

from murmur import Count, Pipeline, live
from murmur.plugins import load


def main(argv: list[str]) -> int:
    brokers, topic, group, db, name = argv[:5]
    until_idle = float(argv[5]) if len(argv) > 5 else None
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(relativeCreated)d %(name)s %(message)s")
    registry = load()
    source = registry.build(
        "live",
        "kafka",
        {
            "brokers": brokers,
            "topic": topic,
            "group": group,
            "poll_batch": "100",
            "commit_interval": "300ms",
            "kafka.session.timeout.ms": "1500",
            "kafka.heartbeat.interval.ms": "300",
        },
        pipeline=name,
    )
    store = registry.build("store", "sqlite", {"path": db})
    dedup = registry.build("dedup", "sqlite", {"path": db})
    status = live.run(
        Pipeline(name, key="user", monoid=Count()),
        source,
        store,
        dedup=dedup,
        until_idle=until_idle,
        flush_interval=0.1,
    )
    print(f"applied={status.applied} skipped={status.dedup_skips}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
