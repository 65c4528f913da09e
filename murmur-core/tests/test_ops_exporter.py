"""``murmur.ops.Exporter`` in process: scraped over a real socket, its counters equal the run's summary."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
from ops_helpers import get, scrape, value, wait_for

from murmur import Pipeline, RunStatus, Sum, TransientError, bootstrap, live
from murmur.ops import Exporter
from murmur.testing import MemoryLiveSource, MemoryLog, MemorySnapshotSource, MemoryStore

PIPE = Pipeline("orders", Sum(), key="customer", value="amount")
ORDERS = [{"customer": f"c{i % 7}", "amount": i} for i in range(500)]


class ListSink:
    def __init__(self) -> None:
        self.letters: list[Any] = []

    def write(self, letter: Any) -> None:
        self.letters.append(letter)


class LaggingLive(MemoryLiveSource):
    """The in-memory log, reporting its lag per partition like Kafka's ``stats()``."""

    def stats(self) -> dict[str, Any]:
        return {"lag": {str(p): len(e) - self._next.get(p, 0) for p, e in self.log.partitions.items()}}


class OutageStore(MemoryStore):
    """A store whose merges fail with a transient error while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()

    def merge(self, unit: Any) -> None:
        if self.down.is_set():
            raise TransientError("memory: store unreachable (test outage)")
        super().merge(unit)


def test_a_bootstrap_scraped_at_its_end_equals_its_summary_and_the_ground_truth() -> None:
    items: list[Any] = [*ORDERS[:100], {"customer": "c1", "amount": "poison"}, *ORDERS[100:]]
    status = RunStatus("orders", "bootstrap")
    sink = ListSink()
    with Exporter(port=0, host="127.0.0.1") as exporter:
        bootstrap.run(
            PIPE,
            MemorySnapshotSource(items, batch_size=50),
            MemoryStore(),
            segments=2,
            dead_letters=sink,
            status=status,
            metrics=exporter.observe(status),
        )
        got = scrape(exporter.url)
    summary = status.summary()
    labels = {"pipeline": "orders", "mode": "bootstrap"}
    assert value(got, "murmur_records_total", **labels, outcome="applied") == summary["applied"] == 500
    assert value(got, "murmur_records_total", **labels, outcome="dead_lettered") == summary["dead_letters"] == 1
    assert len(sink.letters) == 1
    assert value(got, "murmur_records_total", **labels, outcome="dedup_skipped") == summary["dedup_skips"] == 0
    assert value(got, "murmur_retries_total", **labels) == summary["retries"] == 0
    assert value(got, "murmur_keys_written_total", **labels) == summary["written_keys"] > 0
    for segment, size in (("segment 1/2", 250), ("segment 2/2", 251)):
        assert value(got, "murmur_bootstrap_records_done", pipeline="orders", segment=segment) == size
        assert value(got, "murmur_bootstrap_records_estimated", pipeline="orders", segment=segment) == size
        assert value(got, "murmur_bootstrap_segment_finished", pipeline="orders", segment=segment) == 1
    merges = value(got, "murmur_store_merges_total", **labels)
    assert merges is not None and merges >= 2  # at least one unit of work per segment
    assert value(got, "murmur_store_merge_seconds_count", **labels) == merges
    age = value(got, "murmur_checkpoint_age_seconds", **labels)
    assert age is not None and age >= 0


def test_a_live_run_scraped_while_it_runs_shows_counts_lag_and_probes() -> None:
    log = MemoryLog(partitions=2)
    status = RunStatus("orders", "live")
    stop = threading.Event()
    with Exporter(port=0, host="127.0.0.1") as exporter:
        worker = threading.Thread(
            target=live.run,
            args=(PIPE, LaggingLive(log), MemoryStore()),
            kwargs={"status": status, "stop": stop, "metrics": exporter.observe(status), "flush_interval": 0.05},
        )
        worker.start()
        try:
            wait_for(lambda: get(f"{exporter.url}/readyz")[0] == 200, message="never ready")
            assert get(f"{exporter.url}/healthz") == (200, "ok\n")
            for i, order in enumerate(ORDERS):
                log.append(order, partition=i % 2)
            labels = {"pipeline": "orders", "mode": "live"}

            def caught_up() -> bool:
                got = scrape(exporter.url)
                return value(got, "murmur_records_total", **labels, outcome="applied") == len(ORDERS) and all(
                    value(got, "murmur_live_lag", pipeline="orders", partition=p) == 0 for p in ("0", "1")
                )

            wait_for(caught_up, message=lambda: str(scrape(exporter.url)))
        finally:
            stop.set()
            worker.join(timeout=60)
        got = scrape(exporter.url)
    summary = status.summary()
    assert value(got, "murmur_records_total", **labels, outcome="applied") == summary["applied"] == 500
    assert value(got, "murmur_keys_written_total", **labels) == summary["written_keys"]
    assert value(got, "murmur_retries_total", **labels) == summary["retries"] == 0


def test_readyz_fails_while_the_store_is_down_and_recovers_after() -> None:
    log = MemoryLog()
    store = OutageStore()
    status = RunStatus("orders", "live")
    stop = threading.Event()
    with Exporter(port=0, host="127.0.0.1") as exporter:
        worker = threading.Thread(
            target=live.run,
            args=(PIPE, MemoryLiveSource(log), store),
            kwargs={
                "status": status,
                "stop": stop,
                "metrics": exporter.observe(status),
                "flush_interval": 0.05,
                "retry_backoff": (0.01, 0.05),
            },
        )
        worker.start()
        try:
            wait_for(lambda: get(f"{exporter.url}/readyz")[0] == 200, message="never ready")
            store.down.set()
            log.append({"customer": "c1", "amount": 5})
            wait_for(lambda: get(f"{exporter.url}/readyz")[0] == 503, message="ready through the outage")
            _, reason = get(f"{exporter.url}/readyz")
            assert reason == "store unreachable (retrying): TransientError: memory: store unreachable (test outage)\n"
            assert get(f"{exporter.url}/healthz")[0] == 200
            store.down.clear()
            wait_for(lambda: get(f"{exporter.url}/readyz")[0] == 200, message="not ready after the outage")
            wait_for(lambda: status.applied == 1, message="the record was not applied after the outage")
        finally:
            stop.set()
            worker.join(timeout=60)
        got = scrape(exporter.url)
    retries = value(got, "murmur_retries_total", pipeline="orders", mode="live")
    assert retries == status.summary()["retries"] and retries is not None and retries >= 1


def test_unknown_paths_are_404() -> None:
    with Exporter(port=0, host="127.0.0.1") as exporter:
        assert get(f"{exporter.url}/nope")[0] == 404


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_an_ipv6_host_listens_on_ipv6() -> None:
    with Exporter(port=0, host="::1") as exporter:
        assert exporter.url.startswith("http://[::1]:")
        assert get(f"{exporter.url}/nope")[0] == 404
        assert get(f"{exporter.url}/healthz")[0] in (200, 503)  # (answered: nothing runs yet)
