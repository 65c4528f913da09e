"""Kafka delivers every change twice; DynamoDB throttles and fails for a while: the totals stay exact."""

from __future__ import annotations

from collections.abc import Callable

from orderstats_helpers import Orderstats, committed_offsets, wait_for

from murmur_test_servers.faults import FaultProxy


def test_every_change_delivered_twice_gives_exact_totals(orderstats: Orderstats) -> None:
    world = orderstats
    gen = world.generator(seed=51, duplicate=True)
    gen.run(orders=200, changes=60)
    world.run(world.bootstrap_args("-q"), label="bootstrap")
    gen.run(changes=120)
    after = 120
    # The worker gives the pipeline as flags (the bootstrap used pipeline.py): the same pipeline.
    live = world.drain(world.live_args("--json", "-q", flags=True), group=f"murmur.{world.pipeline}", label="live")
    summary = live.summary
    # Every change after the handoff arrived twice (and the seeded ones from before it are not replayed).
    assert summary["records"] == 2 * after
    assert summary["dead_letters"] == 0
    world.assert_exact()


def test_dynamodb_throttling_and_5xx_pause_the_worker_without_dead_letters(
    orderstats: Orderstats, dynamodb_faults: FaultProxy
) -> None:
    world = orderstats
    proxy = dynamodb_faults
    gen = world.generator(seed=61)
    gen.run(orders=150, changes=30)
    world.run(world.bootstrap_args("-q"), label="bootstrap")
    group = f"murmur.{world.pipeline}"

    gen.run(changes=40)
    stop = world.in_background(gen, rate=40)
    worker = world.spawn(world.live_args("--json", "-q", endpoint=proxy.url), "live")
    # Once the worker is writing through the proxy, fail every DynamoDB request for a while: first
    # throttling, then 500s, then dropped connections whose writes did land (the answer is lost).
    # Past its start-up reads first (a read failing there ends the run, which is not what this tests):
    # once the worker has committed applied changes, the faults below hit its steady-state writes.
    wait_for(
        lambda: committed_offsets(world.brokers, world.topic, group) > 0 or not worker.alive(),
        timeout=300,
        message=worker.stderr,
    )
    assert worker.alive(), worker.stderr()
    faults: list[Callable[[], object]] = [
        # Counted, not timed: a window of seconds could pass unseen on a loaded machine, or outlast
        # the retries of a slowed-down worker. Three faults fit in the attempts one write gets.
        lambda: proxy.throttle(n=3),
        lambda: proxy.fail_5xx(n=3, status=503, code="ServiceUnavailable"),
        lambda: proxy.drop_connections(n=3, operations=["TransactWriteItems"], after_forward=True),
    ]
    for fault in faults:
        fault()
        wait_for(lambda: proxy.stats()["active"] is None, timeout=300, message=lambda: str(proxy.stats()))
        assert worker.alive(), worker.stderr()
    faulted = proxy.stats()
    assert faulted["throttled"] > 0 and faulted["failed_5xx"] > 0 and faulted["dropped"] == 3, faulted
    stop.set()
    world.stop_background()

    summary = world.finish(worker, group=group).summary
    assert summary["retries"] > 0
    assert summary["dead_letters"] == 0
    world.assert_exact()
