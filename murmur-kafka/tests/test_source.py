"""The kafka live source on the real broker: commits, tombstones, poison, dead letters, handoff, rebalance."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import murmur
import pytest
from conftest import Kafka, drain, take
from murmur import ConfigError, DecodeError, HandoffError, HandoffToken, Poison
from murmur.testing import LiveSourceContract
from murmur_test_servers import wait_for


class TestKafkaLiveSourceContract(LiveSourceContract):
    @pytest.fixture
    def stream(self, kafka: Kafka) -> tuple[str, str]:
        return kafka.topic(3), kafka.group()

    @pytest.fixture
    def make_source(self, kafka: Kafka, stream: tuple[str, str]) -> Callable[[], Any]:
        topic, group = stream
        return lambda: kafka.source(topic, group=group)

    @pytest.fixture
    def produce(self, kafka: Kafka, stream: tuple[str, str]) -> Callable[[list[dict[str, Any]]], None]:
        topic, _ = stream
        return lambda values: kafka.produce(topic, values, partition=lambda i: i % 3)


def start_while(source: Any, serve: Callable[[], Any]) -> None:
    """``source.start()`` (which returns once the group assigned it partitions) in a thread, calling
    ``serve`` meanwhile: the other members of the group must poll for a rebalance to complete."""
    errors: list[BaseException] = []

    def start() -> None:
        try:
            source.start(None, None)
        except BaseException as exc:  # noqa: BLE001 — re-raised below
            errors.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    while thread.is_alive():
        serve()
    thread.join()
    if errors:
        raise errors[0]


def _by_offset(records: list[murmur.Record]) -> list[murmur.Record]:
    return sorted(records, key=lambda r: (r.position["partition"], r.position["offset"]))


def test_out_of_order_acks_never_commit_past_an_unapplied_offset(kafka: Kafka) -> None:
    topic, group = kafka.topic(1), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(10)])
    src = kafka.source(topic, group=group, commit_interval="1h")
    src.start(None, None)
    records = _by_offset(take(src, 10))
    for r in reversed(records):  # finish out of order, leaving offset 4 unapplied
        if r.position["offset"] != 4:
            r.ack()
    assert src.commit()
    assert kafka.committed(group, topic) == {0: 4}
    records[4].ack()
    assert src.commit()
    assert kafka.committed(group, topic) == {0: 10}


def test_close_commits_the_acked_prefix_and_the_rest_is_delivered_again(kafka: Kafka) -> None:
    topic, group = kafka.topic(2), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(20)], partition=lambda i: i % 2)
    src = kafka.source(topic, group=group, commit_interval="1h")
    src.start(None, None)
    records = _by_offset(take(src, 20))
    acked = [r for r in records if r.position["offset"] < 6]
    for r in acked:
        r.ack()
    src.close()
    assert kafka.committed(group, topic, 2) == {0: 6, 1: 6}

    again = kafka.source(topic, group=group)
    again.start(None, None)
    rest = drain(again, at_least=8)
    assert sorted((r.position["partition"], r.position["offset"]) for r in rest) == [
        (p, o) for p in range(2) for o in range(6, 10)
    ]
    assert sorted(r.value["n"] for r in rest) == sorted(r.value["n"] for r in records if r not in acked)


def test_periodic_commit_happens_from_poll(kafka: Kafka) -> None:
    topic, group = kafka.topic(1), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(5)])
    src = kafka.source(topic, group=group, commit_interval="200ms")
    src.start(None, None)
    for r in take(src, 5):
        r.ack()

    def committed() -> bool:
        src.poll(10, 0.05)
        return kafka.committed(group, topic) == {0: 5}

    wait_for(committed, 120, message=lambda: f"committed {kafka.committed(group, topic)}")


def test_records_carry_id_key_and_position(kafka: Kafka) -> None:
    topic, group = kafka.topic(1), kafka.group()
    kafka.produce(
        topic, [{"id": "e-1", "at": "2024-05-01T10:00:00Z"}, {"id": "e-2", "at": 1714557600}], keys=["k1", None]
    )
    src = kafka.source(topic, group=group, event_id="id", event_time="at")
    src.start(None, None)
    first, second = _by_offset(take(src, 2))
    assert (first.event_id, first.partition_key) == ("e-1", "k1")
    assert first.event_time == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    assert first.position == {"topic": topic, "partition": 0, "offset": 0}
    assert (second.event_id, second.partition_key) == ("e-2", None)
    assert second.event_time == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)

    plain = kafka.source(topic, group=kafka.group())
    plain.start(None, None)
    assert sorted(str(r.event_id) for r in take(plain, 2)) == [f"{topic}:0:0", f"{topic}:0:1"]


def test_without_event_time_a_record_takes_the_message_timestamp(kafka: Kafka) -> None:
    topic = kafka.topic(1)
    at = [dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC), dt.datetime(2021, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)]
    stamps = [int(t.timestamp() * 1000) for t in at]
    kafka.produce(topic, [{"n": 0, "at": "2030-01-01T00:00:00Z"}, b"plain text"], timestamps=stamps)

    src = kafka.source(topic, group=kafka.group())
    src.start(None, None)
    assert [r.event_time for r in _by_offset(take(src, 2))] == at  # CreateTime, to the millisecond

    raw = kafka.source(topic, group=kafka.group(), decoder="raw")
    raw.start(None, None)
    assert [r.event_time for r in _by_offset(take(raw, 2))] == at

    # An event_time= field path wins over the message timestamp.
    fielded = kafka.source(topic, group=kafka.group(), event_time="at")
    fielded.start(None, None)
    first = _by_offset(take(fielded, 2))[0]
    assert first.event_time == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_a_null_or_empty_event_id_falls_back_to_the_position_and_is_counted(kafka: Kafka) -> None:
    topic = kafka.topic(1)
    kafka.produce(topic, [{"id": "e-1"}, {"id": None}, {"id": ""}, {"id": 7}, {"other": 1}])
    src = kafka.source(topic, group=kafka.group(), event_id="id")
    src.start(None, None)
    records = _by_offset(take(src, 5))
    assert [r.event_id for r in records[:4]] == ["e-1", f"{topic}:0:1", f"{topic}:0:2", "7"]
    assert not any(isinstance(r.value, Poison) for r in records[:4])
    assert isinstance(records[4].value, Poison) and "'id'" in records[4].value.error  # a missing field is poison
    stats = src.stats()
    assert (stats["event_id_fallback"], stats["poison"]) == (2, 1)


def test_tombstones_are_skipped_and_committed_past(kafka: Kafka) -> None:
    topic, group = kafka.topic(1), kafka.group()
    kafka.produce(topic, [{"n": 0}, None, {"n": 2}, None], keys=["a", "a", "b", "b"])
    src = kafka.source(topic, group=group)
    src.start(None, None)
    got = drain(src, at_least=2)
    # the last tombstone must have been read too (a slow fetch may bring it later), or nothing commits past it
    wait_for(lambda: got.extend(src.poll(10, 0.1)) or src.stats()["tombstones"] == 2, 120, message=str(src.stats()))
    assert [r.position["offset"] for r in _by_offset(got)] == [0, 2]
    for r in got:
        r.ack()
    assert src.commit()
    assert kafka.committed(group, topic) == {0: 4}
    assert src.stats()["tombstones"] == 2


def test_undecodable_payloads_become_poison_records_in_place(kafka: Kafka) -> None:
    topic, group = kafka.topic(1), kafka.group()
    kafka.produce(topic, [{"n": 0}, b"{not json", {"n": 2}, b"\xff\xfe"])
    src = kafka.source(topic, group=group)
    src.start(None, None)
    records = _by_offset(take(src, 4))
    assert [isinstance(r.value, Poison) for r in records] == [False, True, False, True]
    assert records[1].value.raw == b"{not json"
    assert "json" in records[1].value.error
    assert records[1].event_id == f"{topic}:0:1"
    assert src.stats()["poison"] == 2


def test_dead_letters_carry_the_original_message_and_every_header(kafka: Kafka) -> None:
    topic, dlq, group = kafka.topic(2), kafka.topic(1, "dlq"), kafka.group()
    kafka.produce(topic, [b"{broken"], keys=["order-7"], partition=1, headers=[("trace", b"abc")])
    kafka.produce(topic, [{"amount": "x"}], keys=["order-8"], partition=0)
    src = kafka.source(topic, group=group, dlq_topic=dlq, pipeline="orders")
    src.start(None, None)
    poison, bad = sorted(take(src, 2), key=lambda r: -r.position["partition"])
    assert isinstance(poison.value, Poison)
    src.dead_letter(poison, DecodeError(poison.value.error), "decode")
    src.dead_letter(bad, murmur.FieldError("amount: expected a number"), "apply")
    assert src.stats()["dead_letters"] == 2

    letters = sorted(kafka.read_all(dlq, 2), key=lambda m: m.key())
    first, second = letters
    assert (first.key(), first.value()) == (b"order-7", b"{broken")
    headers = dict(first.headers())
    assert headers["trace"] == b"abc"
    assert headers["x-murmur-source-topic"] == topic.encode()
    assert headers["x-murmur-source-partition"] == b"1"
    assert headers["x-murmur-source-offset"] == b"0"
    assert headers["x-murmur-source-name"] == b"kafka"
    assert headers["x-murmur-error-kind"] == b"decode"
    assert b"json" in headers["x-murmur-error"]
    assert headers["x-murmur-pipeline"] == b"orders"
    assert (second.key(), second.value()) == (b"order-8", b'{"amount":"x"}')
    second_headers = dict(second.headers())
    assert second_headers["x-murmur-error-kind"] == b"apply"
    assert second_headers["x-murmur-error"] == b"FieldError: amount: expected a number"
    assert second_headers["x-murmur-source-partition"] == b"0"


def test_without_a_dlq_topic_the_source_has_no_dead_letter(kafka: Kafka) -> None:
    src = kafka.source(kafka.topic(1), group=kafka.group())
    assert not hasattr(src, "dead_letter")


def test_a_missing_dlq_topic_is_a_config_error(kafka: Kafka) -> None:
    src = kafka.source(kafka.topic(1), group=kafka.group(), dlq_topic=kafka.names("nope"))
    with pytest.raises(ConfigError, match=r"dlq_topic .* does not exist") as info:
        src.start(None, None)
    assert info.value.option == "dlq_topic"


def test_a_missing_topic_is_a_config_error_naming_it(kafka: Kafka) -> None:
    missing = kafka.names("missing")
    src = kafka.source(missing, group=kafka.group())
    with pytest.raises(ConfigError, match=f"topic '{missing}' does not exist") as info:
        src.start(None, None)
    assert info.value.option == "topic"


def test_stats_report_lag_per_partition_from_watermarks(kafka: Kafka) -> None:
    topic, group = kafka.topic(2), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(10)], partition=lambda i: i % 2)
    src = kafka.source(topic, group=group)
    src.start(None, None)
    records = _by_offset(take(src, 10))
    for r in records:
        if r.position["partition"] == 0 or r.position["offset"] < 2:
            r.ack()

    def lag() -> dict[str, int] | None:
        src.poll(0, 0)
        stats = src.stats()
        return stats["lag"] if stats["lag"] == {f"{topic}:0": 0, f"{topic}:1": 3} else None

    wait_for(lag, 120, message=lambda: f"stats: {src.stats()}")
    assert src.stats()["lag_total"] == 3
    assert src.stats()["records"] == 10


# --------------------------------------------------------------------------- handoff


def _token(position: Any, source: str = "kafka") -> HandoffToken:
    return HandoffToken("mongo", {"_data": "nx:1"}, murmur_now()).with_live(source, position)


def murmur_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_handoff_starts_each_partition_at_the_captured_end_offsets(kafka: Kafka) -> None:
    topic, group = kafka.topic(3), kafka.group()
    kafka.produce(topic, [{"before": i} for i in range(9)], partition=lambda i: i % 3)
    capture = kafka.source(topic)
    position = capture.capture_position()
    capture.close()
    assert position == {"topic": topic, "partitions": {"0": 3, "1": 3, "2": 3}}
    kafka.produce(topic, [{"after": i} for i in range(6)], partition=lambda i: i % 3)

    token = _token(position)
    src = kafka.source(topic, group=group, start="handoff")
    src.start(token, None)
    got = drain(src, at_least=6)
    assert sorted(r.value.get("after", -1) for r in got) == list(range(6))
    for r in got:
        r.ack()
    src.close()

    # committed offsets win over the handoff: a restart with the same handoff does not replay
    kafka.produce(topic, [{"later": 1}], partition=0)
    again = kafka.source(topic, group=group)
    again.start(token, None)
    assert [r.value for r in drain(again, at_least=1)] == [{"later": 1}]
    again.close()

    # ...but commits that continue another handoff (a bootstrap redone with --restart since) do not:
    # the new snapshot read "later" already, so p0 starts at the new handoff's 6, not at its commit 5
    redone = _token({"topic": topic, "partitions": {"0": 6, "1": 5, "2": 5}})
    assert redone.captured_at != token.captured_at
    kafka.produce(topic, [{"newest": 1}], partition=1)
    kafka.produce(topic, [{"newest": 2}], partition=2)
    third = kafka.source(topic, group=group)
    third.start(redone, None)
    assert sorted(r.value["newest"] for r in drain(third, at_least=2)) == [1, 2]
    third.close()


def test_handoff_for_several_topics(kafka: Kafka) -> None:
    a, b, group = kafka.topic(1), kafka.topic(2), kafka.group()
    kafka.produce(a, [{"old": 1}])
    capture = kafka.source(f"{a},{b}")
    position = capture.capture_position()
    assert position == {"topics": [{"topic": a, "partitions": {"0": 1}}, {"topic": b, "partitions": {"0": 0, "1": 0}}]}
    kafka.produce(a, [{"new": 1}])
    kafka.produce(b, [{"new": 2}], partition=1)
    src = kafka.source(f"{a},{b}", group=group)
    src.start(_token(position), None)
    assert sorted(r.value["new"] for r in drain(src, at_least=2)) == [1, 2]


def test_a_handoff_without_offsets_starts_at_the_earliest_offset(kafka: Kafka) -> None:
    topic = kafka.topic(1)
    kafka.produce(topic, [{"n": i} for i in range(3)])
    src = kafka.source(topic, group=kafka.group(), start="handoff")
    src.start(HandoffToken("jsonl", None, murmur_now()), None)
    assert sorted(r.value["n"] for r in drain(src, at_least=3)) == [0, 1, 2]


def test_a_handoff_for_another_topic_is_a_clear_error(kafka: Kafka) -> None:
    topic, other = kafka.topic(1), kafka.topic(1)
    position = kafka.source(other).capture_position()
    src = kafka.source(topic, group=kafka.group())
    with pytest.raises(HandoffError, match=f"offsets of topic '{other}', but this source reads {topic}"):
        src.start(_token(position), None)


def test_a_handoff_for_another_live_source_is_a_clear_error(kafka: Kafka) -> None:
    src = kafka.source(kafka.topic(1), group=kafka.group())
    with pytest.raises(HandoffError, match="captured for live source 'mongo', not 'kafka'"):
        src.start(_token({"_data": "x"}, source="mongo"), None)


def test_start_handoff_without_a_handoff_is_a_usage_error(kafka: Kafka) -> None:
    src = kafka.source(kafka.topic(1), group=kafka.group(), start="handoff")
    with pytest.raises(ConfigError, match="--from-handoff") as info:
        src.start(None, None)
    assert info.value.option == "start"


def test_capture_position_of_a_missing_topic_is_a_handoff_error(kafka: Kafka) -> None:
    with pytest.raises(HandoffError, match="does not exist"):
        kafka.source(kafka.names("missing")).capture_position()


# --------------------------------------------------------------------------- groups


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_two_members_split_partitions_and_nothing_is_skipped(kafka: Kafka, protocol: str) -> None:
    topic, group = kafka.topic(4), kafka.group()
    extra: dict[str, Any] = {}
    if protocol == "consumer":  # KIP-848: the broker owns session timeouts
        extra = {
            "kafka.group.protocol": "consumer",
            "kafka.session.timeout.ms": None,
            "kafka.heartbeat.interval.ms": None,
        }
    kafka.produce(topic, [{"n": i} for i in range(400)], partition=lambda i: i % 4)
    a = kafka.source(topic, group=group, commit_interval="100ms", **extra)
    a.start(None, None)
    first = take(a, 50)
    for r in first:
        r.ack()
    b = kafka.source(topic, group=group, commit_interval="100ms", **extra)
    seen: list[murmur.Record] = list(first)

    def serve_a() -> None:
        for r in a.poll(100, 0.05):
            r.ack()
            seen.append(r)

    start_while(b, serve_a)  # a must take part in the rebalance b's joining starts

    def split() -> bool:
        for src in (a, b):
            for r in src.poll(100, 0.05):
                r.ack()
                seen.append(r)
        return bool(a.stats()["assigned"] and b.stats()["assigned"])

    wait_for(split, 120, message=lambda: f"a={a.stats()} b={b.stats()}")
    produced = {(p, o) for p in range(4) for o in range(100)}
    done = {p: 100 for p in range(4)}

    def everything_applied_and_committed() -> bool:
        for src in (a, b):
            for r in src.poll(100, 0.05):
                r.ack()
                seen.append(r)
        return kafka.committed(group, topic, 4) == done

    wait_for(
        everything_applied_and_committed,
        120,
        message=lambda: f"committed {kafka.committed(group, topic, 4)}; a={a.stats()} b={b.stats()}",
    )
    # a rebalance may deliver some records twice, never skip one
    assert {(r.position["partition"], r.position["offset"]) for r in seen} == produced
    a.close()
    b.close()
    assert kafka.committed(group, topic, 4) == done


def test_settings_reserved_by_murmur_are_refused(kafka: Kafka) -> None:
    with pytest.raises(ConfigError, match="Murmur commits offsets itself") as info:
        kafka.source(kafka.topic(1), group="g", **{"kafka.enable.auto.commit": "true"})
    assert info.value.option == "kafka.enable.auto.commit"
    with pytest.raises(ConfigError, match="-S group=") as info:
        kafka.source(kafka.topic(1), **{"kafka.group.id": "x"})


def test_a_bad_librdkafka_setting_names_it_and_hides_secrets(kafka: Kafka) -> None:
    src = kafka.source(
        kafka.topic(1),
        group=kafka.group(),
        **{"kafka.security.protocol": "carrier-pigeon", "kafka.sasl.password": "hunter2"},
    )
    with pytest.raises(ConfigError) as info:
        src.start(None, None)
    assert "security.protocol" in str(info.value)
    assert info.value.option == "kafka.security.protocol"
    assert "hunter2" not in str(info.value)


def test_acks_that_arrive_after_their_partition_was_revoked_are_ignored(kafka: Kafka) -> None:
    topic, group = kafka.topic(2), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(20)], partition=lambda i: i % 2)
    a = kafka.source(topic, group=group, commit_interval="1h")
    a.start(None, None)
    late = take(a, 20)  # in flight when the group rebalances: not acked yet
    b = kafka.source(topic, group=group, commit_interval="1h")
    start_while(b, lambda: a.poll(0, 0.05))  # a holds back but serves the rebalance

    def rebalanced() -> bool:
        a.poll(0, 0.05)
        b.poll(0, 0.05)
        return bool(a.stats()["rebalances"] >= 2 and b.stats()["assigned"] > 0)

    wait_for(rebalanced, 120, message=lambda: f"a={a.stats()} b={b.stats()}")
    for r in late:  # applied now, but the partitions were revoked meanwhile (eager protocol: all of them)
        r.ack()
    assert a.commit()
    # nothing past the first offset (-1001: no commit; 0: the start position committed on revoke)
    assert max(kafka.committed(group, topic, 2).values()) <= 0
    # what a still owns is delivered to it again, and that copy's acks count
    again = drain(a, at_least=10)  # the one partition a owns now (two members, two partitions)
    for r in again:
        r.ack()
    assert a.commit()
    owned = {r.position["partition"] for r in again}
    committed = kafka.committed(group, topic, 2)
    assert {p for p, off in committed.items() if off == 10} == owned


def test_poll_zero_holds_back_and_nothing_is_lost_or_reordered(kafka: Kafka) -> None:
    topic, group = kafka.topic(1), kafka.group()
    kafka.produce(topic, [{"n": i} for i in range(10)])
    src = kafka.source(topic, group=group)
    src.start(None, None)
    first = take(src, 3)
    for _ in range(10):  # holding back (the runtime is busy): no records, the group is still served
        assert src.poll(0, 0.05) == []
    kafka.produce(topic, [{"n": i} for i in range(10, 20)])
    for _ in range(5):
        assert src.poll(0, 0.05) == []
    rest = take(src, 17)
    assert [r.value["n"] for r in first + rest] == list(range(20))
    assert drain(src, at_least=0, quiet=0.5) == []
