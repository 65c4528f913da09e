"""SIGKILLed bootstraps and live workers: restart them and the totals are still exact.

Kill points come from a seeded ``random.Random`` (so a failure reproduces) and are defined by
observed progress (a stored checkpoint, a committed offset), not by time. Between crashes the
generator keeps changing orders, so replays and resumed scans meet documents that moved on.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from orderstats_helpers import Orderstats, Proc, committed_offsets, end_offsets, wait_for

SEGMENT = "segment/0/1"


def kill_at(proc: Proc, reached: Callable[[], bool]) -> None:
    """SIGKILL ``proc`` as soon as ``reached()``; it must still be running then."""
    wait_for(lambda: reached() or not proc.alive(), timeout=300, interval=0.02, message=proc.stderr)
    assert proc.alive(), f"{proc.args[1]} ended before its kill point:\n{proc.stderr()}"
    proc.kill()


def at_least(measure: Callable[[], int], target: int) -> Callable[[], bool]:
    return lambda: measure() >= target


def test_bootstrap_killed_five_times_and_resumed_gives_exact_totals(orderstats: Orderstats) -> None:
    world = orderstats
    rng = random.Random(3)
    gen = world.generator(seed=31)
    gen.run(orders=400, changes=80)
    args = world.bootstrap_args("-S", "batch_size=20", "--resume", "-q")

    def done() -> int:
        return int((world.meta(SEGMENT) or {}).get("done", 0))

    # The first kill lands right after the handoff is stored (before any batch); the others after
    # seeded amounts of applied progress, each beyond the last.
    thresholds = sorted(rng.sample(range(20, len(gen.orders) - 120), 4))
    points: list[Callable[[], bool]] = [lambda: world.meta("handoff") is not None]
    points += [at_least(done, target) for target in thresholds]
    seen: list[int] = []
    for i, reached in enumerate(points):
        kill_at(world.spawn(args, f"bootstrap-{i}"), reached)
        seen.append(done())
        gen.run(changes=10)  # writes between crashes: after the handoff, so the live phase has them

    assert seen == sorted(seen) and seen[-1] >= thresholds[-1], seen
    final = world.run(world.bootstrap_args("-S", "batch_size=20", "--resume", "--json", "-q"), label="bootstrap-final")
    summary = final.summary
    assert summary["resumed"] is True
    assert summary["dead_letters"] == 0
    assert 0 < summary["records"] < len(gen.orders)  # it continued from the checkpoint, not from the start

    live = world.drain(world.live_args("--json", "-q"), group=f"murmur.{world.pipeline}", label="live")
    assert live.summary["dead_letters"] == 0
    world.assert_exact()


def test_live_worker_killed_five_times_gives_exact_totals(orderstats: Orderstats) -> None:
    world = orderstats
    rng = random.Random(4)
    gen = world.generator(seed=41)
    gen.run(orders=200, changes=40)
    world.run(world.bootstrap_args("-q"), label="bootstrap")
    group = f"murmur.{world.pipeline}"

    def committed() -> int:
        return int(committed_offsets(world.brokers, world.topic, group))

    stop = world.in_background(gen, rate=40)  # changes keep arriving while the workers come and go
    kills = []
    for i in range(5):
        # Kill once the worker has committed a seeded amount beyond where it started: mid-stream,
        # with more records fetched, applied and in flight behind that commit.
        target = committed() + rng.randint(1, 40)
        kill_at(world.spawn(world.live_args("-q"), f"live-{i}"), at_least(committed, target))
        kills.append(committed())
    stop.set()
    world.stop_background()

    assert kills == sorted(kills)
    final = world.drain(world.live_args("--json", "-q"), group=group, label="live-final")
    assert final.summary["dead_letters"] == 0
    assert committed() == end_offsets(world.brokers, world.topic)  # everything applied and committed
    world.assert_exact()


def test_then_killed_in_its_live_phase_resumes_with_exact_totals(orderstats: Orderstats) -> None:
    world = orderstats
    gen = world.generator(seed=81)
    gen.run(orders=150, changes=30)
    group = f"murmur.{world.pipeline}"
    then = world.bootstrap_args("--then", "kafka", *world.kafka_options("-H"), "--json", "-q")

    def committed() -> int:
        return int(committed_offsets(world.brokers, world.topic, group))

    proc = world.spawn(then, "then")
    wait_for(lambda: (world.meta(SEGMENT) or {}).get("finished") or not proc.alive(), timeout=300, message=proc.stderr)
    gen.run(changes=120)  # the live phase has started (or is about to): these are its records
    kill_at(proc, at_least(committed, random.Random(8).randint(1, 100)))
    gen.run(changes=30)

    again = world.finish(world.spawn([*then, "--resume"], "then-resumed"), group=group)
    summary = again.summary
    assert summary["already_finished"] is True  # the bootstrap is not repeated
    assert summary["mode"] == "bootstrap+live"
    assert summary["phases"]["live"]["records"] > 0
    assert summary["dead_letters"] == 0
    world.assert_exact()
