"""A live worker for crash tests: ``python kafka_worker.py BROKERS TOPIC GROUP DB PIPELINE DEDUP``.

Counts events per ``user`` from a kafka topic into a SQLite store; with ``DEDUP`` = ``dedup``
the SQLite deduper on the same file claims each event id (claim and apply in one transaction),
with ``none`` there is no deduper (the offsets mirrored in the store's units keep it exact).
Tests SIGKILL it at random points; SIGTERM stops it cleanly (flush, commit, exit 0), as it
stops the CLI.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from murmur import Count, Pipeline, live
from murmur.plugins import load


def main(argv: list[str]) -> int:
    brokers, topic, group, db, name, dedup_mode = argv[:6]
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
    dedup = registry.build("dedup", "sqlite", {"path": db}) if dedup_mode == "dedup" else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    status = live.run(
        Pipeline(name, key="user", monoid=Count()),
        source,
        store,
        dedup=dedup,
        stop=stop,
        flush_interval=0.1,
    )
    print(f"applied={status.applied} skipped={status.dedup_skips}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
