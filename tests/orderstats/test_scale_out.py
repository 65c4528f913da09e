"""Scale-out: two bootstrap processes (``--segments 2 --segment i``) and two live workers in one group
give the same totals as one process doing both (``--then``), and as a recount."""

from __future__ import annotations

from orderstats_helpers import RUN_TIMEOUT, Orderstats, committed_offsets, wait_for

from murmur import HandoffToken
from murmur.plugins import load


def test_two_segments_and_two_workers_give_the_totals_of_one_process(orderstats: Orderstats) -> None:
    world = orderstats
    gen = world.generator(seed=71)
    gen.run(orders=300, changes=60)
    group = f"murmur.{world.pipeline}"
    single = f"{world.pipeline}_one"
    tokens = [world.workdir / f"token{i}.json" for i in range(2)]

    # One process, both phases; it keeps consuming until SIGTERM, like a deployed worker.
    then = ["--then", "kafka", *world.kafka_options("-H"), "--json", "-q"]
    one = world.spawn(world.bootstrap_args(*then, pipeline=single, token=world.workdir / "one.json"), "one")
    segments = [
        world.spawn(world.bootstrap_args("--segments", "2", "--segment", f"{i}", "--json", "-q", token=t), "seg")
        for i, t in enumerate(tokens)
    ]
    results = [proc.wait(timeout=RUN_TIMEOUT) for proc in segments]
    for result in results:
        assert result.returncode == 0, result.stderr
        assert result.summary["dead_letters"] == 0
    # Together the two processes read every order once, and both hand off the one shared token.
    # (How the orders are split between them is the mongo source's business: see the test below.)
    assert sum(r.summary["records"] for r in results) == len(gen.orders)
    assert HandoffToken.read(tokens[0]) == HandoffToken.read(tokens[1])
    world.token.write_bytes(tokens[0].read_bytes())

    # Two live workers in one consumer group share the partitions while the changes keep coming.
    workers = [world.spawn(world.live_args("--json", "-q", group=group), "worker") for _ in range(2)]
    stop = world.in_background(gen, rate=50)
    wait_for(lambda: committed_offsets(world.brokers, world.topic, group) > 0, timeout=300, message=workers[0].stderr)
    gen_target = gen.stats.total + 200
    wait_for(lambda: gen.stats.total >= gen_target, timeout=300, message="the generator stalled")
    stop.set()
    world.stop_background()
    summaries = [world.finish(w, group=group).summary for w in workers]
    assert all(s["dead_letters"] == 0 for s in summaries)
    assert all(s["records"] > 0 for s in summaries), [s["records"] for s in summaries]

    one_result = world.finish(one, group=f"murmur.{single}")
    summary = one_result.summary
    assert summary["mode"] == "bootstrap+live"
    assert summary["dead_letters"] == 0

    totals = world.assert_exact()
    assert world.totals(single) == totals


def test_two_segments_each_read_part_of_the_collection(orderstats: Orderstats) -> None:
    world = orderstats
    world.generator(seed=71).run(orders=300, changes=60)  # 305 orders
    source = load().build(
        "source", "mongo", {"uri": world.mongo_uri, "database": world.database, "collection": "orders"}
    )
    try:
        sizes = [sum(len(batch) for batch in source.scan(part, None)) for part in source.segments(2)]
    finally:
        source.close()
    assert sum(sizes) == 305
    assert min(sizes) > 0, sizes
