"""Contract test suites: every adapter's tests subclass the one for its role.

Usage, in an adapter's test module::

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore(tmp_path / "state.db")
            yield s
            s.close()

Each suite states in its docstring which fixtures to provide. The tests assert the
behaviour the runtimes rely on (SPEC §4–§7); an adapter adds tests for what is special to it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest

from murmur._errors import ClaimConflict
from murmur._protocols import ClaimStatus, DeadLetter, Deduper, LiveSource, SnapshotSource, Store
from murmur._records import Change, HandoffToken, Record, utcnow
from murmur._status import RunStatus
from murmur._unit import Contribution, ContributionWrite, StateKey, Unit
from murmur.monoids import Count, Max, Min, SetUnion, Sum, TupleOf


def _wait(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.02)


def _unit(pipeline: str, monoid: Any, writes: dict[str, Any], **kw: Any) -> Unit:
    return Unit(pipeline, monoid, {StateKey(k): v for k, v in writes.items()}, **kw)


class StoreContract:
    """Provide ``store``: a fresh store (tests use unique pipeline names, so it may be shared).

    Optionally override ``absorbed_deduper`` to return a deduper the store ``absorbs`` (for
    the transactional claim tests), and ``pipeline`` for a unique namespace.
    """

    @pytest.fixture
    def store(self) -> Store:
        raise NotImplementedError("subclass StoreContract and provide a `store` fixture")

    @pytest.fixture
    def absorbed_deduper(self, store: Store) -> Deduper | None:
        return None

    @pytest.fixture
    def pipeline(self, request: pytest.FixtureRequest) -> str:
        return f"contract_{request.node.name[:40]}_{time.monotonic_ns() % 10**9}"

    def test_sum_merges_add_up_including_negative_deltas(self, store: Store, pipeline: str) -> None:
        m = Sum()
        store.merge(_unit(pipeline, m, {"a": 5, "b": -3}))
        store.merge(_unit(pipeline, m, {"a": 2, "b": 3}))
        assert store.get_many(pipeline, [StateKey("a"), StateKey("b")], m) == [7, 0]

    def test_counts_are_exact_ints(self, store: Store, pipeline: str) -> None:
        m = Count()
        store.merge(_unit(pipeline, m, {"k": 2**40}))
        store.merge(_unit(pipeline, m, {"k": 1}))
        (value,) = store.get_many(pipeline, [StateKey("k")], m)
        assert value == 2**40 + 1 and isinstance(value, int)

    def test_decimal_sums_stay_exact(self, store: Store, pipeline: str) -> None:
        m = Sum()
        for _ in range(10):
            store.merge(_unit(pipeline, m, {"k": Decimal("0.1")}))
        assert store.get_many(pipeline, [StateKey("k")], m) == [Decimal("1.0")]

    def test_get_many_keeps_input_order_and_reports_missing(self, store: Store, pipeline: str) -> None:
        m = Sum()
        store.merge(_unit(pipeline, m, {f"k{i}": i for i in range(0, 250, 2)}))
        keys = [StateKey(f"k{i}") for i in reversed(range(250))]
        got = store.get_many(pipeline, keys, m)
        assert got == [None if i % 2 else i for i in reversed(range(250))]

    def test_buckets_are_separate_keys(self, store: Store, pipeline: str) -> None:
        m = Sum()
        store.merge(Unit(pipeline, m, {StateKey("k", 0): 1, StateKey("k", 20000): 2, StateKey("k", 20001): 4}))
        got = store.get_many(pipeline, [StateKey("k", 20001), StateKey("k", 0), StateKey("k", 20000)], m)
        assert got == [4, 1, 2]

    def test_pipelines_do_not_share_state(self, store: Store, pipeline: str) -> None:
        m = Sum()
        store.merge(_unit(pipeline, m, {"k": 1}))
        store.merge(_unit(pipeline + "_other", m, {"k": 10}))
        assert store.get_many(pipeline, [StateKey("k")], m) == [1]

    def test_min_max_have_unset_identity_and_take_negatives(self, store: Store, pipeline: str) -> None:
        lo, hi = Min(), Max()
        store.merge(_unit(pipeline + "_min", lo, {"k": -5}))
        store.merge(_unit(pipeline + "_min", lo, {"k": 3}))
        store.merge(_unit(pipeline + "_min", lo, {"k": -5}))
        store.merge(_unit(pipeline + "_max", hi, {"k": -7}))
        store.merge(_unit(pipeline + "_max", hi, {"k": -9}))
        assert store.get_many(pipeline + "_min", [StateKey("k")], lo) == [-5]
        assert store.get_many(pipeline + "_max", [StateKey("k")], hi) == [-7]

    def test_other_monoids_combine_with_the_stored_state(self, store: Store, pipeline: str) -> None:
        s, t = SetUnion(), TupleOf(Sum(), Max())
        store.merge(_unit(pipeline + "_set", s, {"k": frozenset({"a", "b"})}))
        store.merge(_unit(pipeline + "_set", s, {"k": frozenset({"b", "c"})}))
        store.merge(_unit(pipeline + "_tuple", t, {"k": (2, 5)}))
        store.merge(_unit(pipeline + "_tuple", t, {"k": (3, 1)}))
        assert store.get_many(pipeline + "_set", [StateKey("k")], s) == [frozenset({"a", "b", "c"})]
        assert store.get_many(pipeline + "_tuple", [StateKey("k")], t) == [(5, 5)]

    def test_concurrent_merges_lose_nothing(self, store: Store, pipeline: str) -> None:
        m, threads, per = Sum(), 8, 25

        def work() -> None:
            for _ in range(per):
                store.merge(_unit(pipeline, m, {"hot": 1, "also": 2}))

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert store.get_many(pipeline, [StateKey("hot"), StateKey("also")], m) == [threads * per, 2 * threads * per]

    def test_expired_keys_read_as_missing(self, store: Store, pipeline: str) -> None:
        m = Sum()
        past, future = int(time.time()) - 60, int(time.time()) + 3600
        store.merge(
            Unit(
                pipeline,
                m,
                {StateKey("old", 1): 1, StateKey("new", 2): 2},
                expiry={StateKey("old", 1): past, StateKey("new", 2): future},
            )
        )
        assert store.get_many(pipeline, [StateKey("old", 1), StateKey("new", 2)], m) == [None, 2]

    def test_contributions_round_trip_with_tombstones(self, store: Store, pipeline: str) -> None:
        m = Sum()
        live = Contribution((StateKey("c1"), StateKey("c1", 20000)), 42, (1700000000000, 3))
        gone = Contribution((), None, (1700000000001, 0), deleted=True)
        store.merge(
            Unit(pipeline, m, contributions={"d1": ContributionWrite(live, None), "d2": ContributionWrite(gone, None)})
        )
        got = store.get_contributions(pipeline, ["d1", "d2", "d3"], m)
        assert got == {"d1": live, "d2": gone}

    def test_meta_documents(self, store: Store, pipeline: str) -> None:
        assert store.read_meta(pipeline, "segment/0/1") is None
        store.write_meta(pipeline, "segment/0/1", {"position": [1, "a"], "finished": False})
        store.merge(Unit(pipeline, Sum(), meta={"segment/1/2": {"position": 7}}))
        assert store.read_meta(pipeline, "segment/0/1") == {"position": [1, "a"], "finished": False}
        assert set(store.list_meta(pipeline)) == {"segment/0/1", "segment/1/2"}
        first = store.write_meta(pipeline, "handoff", {"token": 1}, only_if_absent=True)
        second = store.write_meta(pipeline, "handoff", {"token": 2}, only_if_absent=True)
        assert first == second == {"token": 1}
        store.delete_meta(pipeline)
        assert store.list_meta(pipeline) == {}

    def test_transactional_merge_records_claims_atomically(
        self, store: Store, pipeline: str, absorbed_deduper: Deduper | None
    ) -> None:
        if absorbed_deduper is None or not store.transactional:
            pytest.skip("store does not absorb a deduper")
        assert store.absorbs(absorbed_deduper)
        m = Sum()
        store.merge(_unit(pipeline, m, {"k": 1}, claims=[f"{pipeline}/e1"]))
        assert absorbed_deduper.contains([f"{pipeline}/e1", f"{pipeline}/e2"]) == {f"{pipeline}/e1"}
        with pytest.raises(ClaimConflict) as info:
            store.merge(_unit(pipeline, m, {"k": 100, "j": 5}, claims=[f"{pipeline}/e2", f"{pipeline}/e1"]))
        assert info.value.event_ids == {f"{pipeline}/e1"}
        # nothing of the conflicting unit was written: not the state, not the other claim
        assert store.get_many(pipeline, [StateKey("k"), StateKey("j")], m) == [1, None]
        assert absorbed_deduper.contains([f"{pipeline}/e2"]) == set()


class DeduperContract:
    """Provide ``deduper``: a fresh deduper. Ids are made unique per test."""

    lease = 30.0

    @pytest.fixture
    def deduper(self) -> Deduper:
        raise NotImplementedError("subclass DeduperContract and provide a `deduper` fixture")

    @pytest.fixture
    def ids(self, request: pytest.FixtureRequest) -> Callable[[int], list[str]]:
        prefix = f"{request.node.name[:30]}-{time.monotonic_ns()}"
        return lambda n: [f"{prefix}/{i}" for i in range(n)]

    def test_claim_then_commit_makes_a_duplicate(self, deduper: Deduper, ids: Callable[[int], list[str]]) -> None:
        a, b = ids(2)
        assert deduper.claim([a, b], self.lease) == {a: ClaimStatus.GRANTED, b: ClaimStatus.GRANTED}
        deduper.commit([a])
        assert deduper.contains([a, b]) == {a}
        deduper.release([b])
        assert deduper.claim([a, b], self.lease) == {a: ClaimStatus.DUPLICATE, b: ClaimStatus.GRANTED}

    def test_pending_claim_is_busy_for_others(self, deduper: Deduper, ids: Callable[[int], list[str]]) -> None:
        (a,) = ids(1)
        assert deduper.claim([a], self.lease)[a] is ClaimStatus.GRANTED
        assert deduper.claim([a], self.lease)[a] is ClaimStatus.BUSY
        assert deduper.contains([a]) == set()

    def test_released_claim_can_be_claimed_again(self, deduper: Deduper, ids: Callable[[int], list[str]]) -> None:
        (a,) = ids(1)
        deduper.claim([a], self.lease)
        deduper.release([a])
        assert deduper.claim([a], self.lease)[a] is ClaimStatus.GRANTED

    def test_expired_lease_is_taken_over(self, deduper: Deduper, ids: Callable[[int], list[str]]) -> None:
        (a,) = ids(1)
        assert deduper.claim([a], 0.3)[a] is ClaimStatus.GRANTED
        # the lease runs out on the store's clock; 120 s is a deadline for a slow machine, not a timing
        _wait(lambda: deduper.claim([a], self.lease)[a] is ClaimStatus.GRANTED, 120, "expired lease never taken over")

    def test_concurrent_claims_have_exactly_one_winner(self, deduper: Deduper, ids: Callable[[int], list[str]]) -> None:
        (a,) = ids(1)
        results: list[ClaimStatus] = []
        barrier = threading.Barrier(16)

        def claim() -> None:
            barrier.wait()
            results.append(deduper.claim([a], self.lease)[a])

        threads = [threading.Thread(target=claim) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert Counter(results)[ClaimStatus.GRANTED] == 1
        assert len(results) == 16

    def test_many_ids_in_one_call(self, deduper: Deduper, ids: Callable[[int], list[str]]) -> None:
        many = ids(250)
        assert set(deduper.claim(many, self.lease).values()) == {ClaimStatus.GRANTED}
        deduper.commit(many)
        assert deduper.contains(many) == set(many)


class SnapshotSourceContract:
    """Provide ``source`` (a snapshot source over known data) and ``expected``: the multiset
    of record values a full scan yields, as a list (compared with ``normalize`` applied).

    Set ``splittable = False`` on sources that cannot split.
    """

    splittable = True

    @pytest.fixture
    def source(self) -> SnapshotSource:
        raise NotImplementedError

    @pytest.fixture
    def expected(self) -> list[Any]:
        raise NotImplementedError

    def normalize(self, value: Any) -> Any:
        return value

    def _all(self, source: SnapshotSource, segment: Any = None, after: Any = None) -> list[Record]:
        return [r for batch in source.scan(segment, after) for r in batch]

    def _key(self, values: Sequence[Any]) -> list[str]:
        return sorted(repr(self.normalize(v)) for v in values)

    def test_capture_then_full_scan(self, source: SnapshotSource, expected: list[Any]) -> None:
        token = source.capture_handoff()
        assert token.source
        records = self._all(source, source.segments(1)[0])
        assert self._key([r.value for r in records]) == self._key(expected)

    def test_batches_are_non_empty_lists(self, source: SnapshotSource) -> None:
        for batch in source.scan(source.segments(1)[0], None):
            assert isinstance(batch, list) and batch

    def test_event_ids_are_unique_and_stable(self, source: SnapshotSource) -> None:
        first = [r.event_id for r in self._all(source, source.segments(1)[0])]
        second = [r.event_id for r in self._all(source, source.segments(1)[0])]
        assert len(set(first)) == len(first)
        assert sorted(map(str, first)) == sorted(map(str, second))

    def test_resume_after_a_position_yields_exactly_the_rest(self, source: SnapshotSource) -> None:
        segment = source.segments(1)[0]
        records = self._all(source, segment)
        cut = len(records) // 2
        rest = self._all(source, segment, records[cut - 1].position)
        assert [r.event_id for r in rest] == [r.event_id for r in records[cut:]]

    def test_changelog_records_name_their_document(self, source: SnapshotSource) -> None:
        if source.default_mode != "changelog":
            pytest.skip("append-mode source")
        for r in self._all(source, source.segments(1)[0]):
            assert isinstance(r.change, Change) and r.change.doc_id

    def test_segments_cover_every_record_once(self, source: SnapshotSource) -> None:
        if not self.splittable:
            pytest.skip("source does not split")
        whole = sorted(str(r.event_id) for r in self._all(source, source.segments(1)[0]))
        parts = [str(r.event_id) for seg in source.segments(4) for r in self._all(source, seg)]
        assert sorted(parts) == whole

    def test_estimated_total_is_close(self, source: SnapshotSource, expected: list[Any]) -> None:
        total = source.estimated_total(None)
        if total is not None:
            assert abs(total - len(expected)) <= max(1, len(expected) // 10)


class LiveSourceContract:
    """The contract of a live source (``murmur.LiveSource``), as the live runtime relies on it.

    Provide two fixtures:

    - ``make_source``: a factory of fresh, unstarted sources over one stream that share
      committed positions (one consumer group). A source that returns its position from
      ``checkpoint()`` instead of committing it (a change stream) is wrapped as the runtime
      runs it: ``CheckpointShelf().wrap(factory)``.
    - ``produce``: appends dict values to that stream, in order.

    Optional: ``read_dead_letters`` returning a callable that lists the error texts of the dead
    letters the source wrote so far (for a source with ``dead_letter``). Class attributes:
    ``poll_timeout``, ``patience`` (seconds to wait for records), ``quiet`` (seconds of polling
    that show nothing more arrives), ``crash_restarts``.
    """

    poll_timeout = 0.5
    patience = 120.0  # a deadline, not a wait: generous, so a heavily loaded machine passes too
    quiet = 1.0
    #: False when a source abandoned without close() keeps the stream from others (a consumer
    #: group member whose client still heartbeats): the crash test is skipped.
    crash_restarts = True

    @pytest.fixture
    def make_source(self) -> Callable[[], LiveSource]:
        raise NotImplementedError("subclass LiveSourceContract and provide a `make_source` fixture")

    @pytest.fixture
    def produce(self) -> Callable[[list[dict[str, Any]]], None]:
        raise NotImplementedError("subclass LiveSourceContract and provide a `produce` fixture")

    @pytest.fixture
    def read_dead_letters(self) -> Callable[[], list[str]] | None:
        return None

    @pytest.fixture
    def tag(self, request: pytest.FixtureRequest) -> str:
        """A value unique to the test, so records of other tests are never mistaken for these."""
        return f"{request.node.name[:30]}-{time.monotonic_ns()}"

    # ------------------------------------------------------------------ helpers

    def _take(self, source: LiveSource, n: int) -> list[Record]:
        got: list[Record] = []
        deadline = time.monotonic() + self.patience
        while len(got) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"got {len(got)} of {n} records")
            got.extend(source.poll(n - len(got), self.poll_timeout))
        return got

    def _take_until(self, source: LiveSource, done: Callable[[list[Record]], bool]) -> list[Record]:
        got: list[Record] = []
        deadline = time.monotonic() + self.patience
        while not done(got):
            if time.monotonic() > deadline:
                raise AssertionError(f"the records expected did not come: got {self._ns(got)}")
            got.extend(source.poll(100, self.poll_timeout))
        return got

    def _rest(self, source: LiveSource) -> list[Record]:
        """Whatever else arrives within ``quiet`` seconds (to show that nothing more does)."""
        got: list[Record] = []
        deadline = time.monotonic() + self.quiet
        while time.monotonic() < deadline:
            got.extend(source.poll(100, min(self.poll_timeout, self.quiet)))
        return got

    def _open(
        self, make_source: Callable[[], LiveSource], handoff: HandoffToken | None = None, checkpoint: Any = None
    ) -> Iterator[LiveSource]:
        src = make_source()
        src.start(handoff, checkpoint)
        try:
            yield src
        finally:
            src.close()

    @staticmethod
    def _ns(records: Sequence[Record]) -> list[int]:
        return sorted(r.value["n"] for r in records)

    def _handoff_now(self, make_source: Callable[[], LiveSource]) -> HandoffToken:
        """A handoff token holding the stream's position now, as a bootstrap captures it."""
        src = make_source()
        try:
            position = src.capture_position()
        finally:
            src.close()
        if position is None:
            pytest.skip("the source does not report its position (capture_position() is None)")
        json.dumps(position)  # it goes into a handoff file
        return HandoffToken("contract", None, utcnow()).with_live(src.name, position)

    def _run(
        self, make_source: Callable[[], LiveSource], store: Store, pipeline: Any, done: Callable[[RunStatus], bool]
    ) -> tuple[RunStatus, list[DeadLetter]]:
        """``live.run`` until ``done(status)``, then a clean stop; returns the status and the
        dead letters the runtime's own sink received."""
        from murmur import live

        letters: list[DeadLetter] = []

        class Sink:
            def write(self, letter: DeadLetter) -> None:
                letters.append(letter)

        stop = threading.Event()
        status = RunStatus(pipeline.name, "live")
        failed: list[BaseException] = []

        def target() -> None:
            try:
                live.run(
                    pipeline, make_source(), store, status=status, stop=stop, dead_letters=Sink(), flush_interval=0.05
                )
            except BaseException as exc:
                failed.append(exc)

        thread = threading.Thread(target=target, name="contract-live-run")
        thread.start()
        try:
            _wait(lambda: done(status) or bool(failed), self.patience * 2, "live.run never reached the expected counts")
        finally:
            stop.set()
            thread.join(self.patience * 2)
        if failed:
            raise failed[0]
        assert not thread.is_alive(), "live.run did not stop"
        return status, letters

    # ------------------------------------------------------------------ delivery and acks

    def test_delivers_what_was_produced(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        produce([{"n": i} for i in range(20)])
        for src in self._open(make_source):
            got = self._take(src, 20)
            assert self._ns(got) == list(range(20))
            assert len({str(r.event_id) for r in got}) == 20, "event ids must be unique"
            for r in got:
                r.ack()

    def test_poll_returns_at_most_max_records(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        produce([{"n": i} for i in range(12)])
        for src in self._open(make_source):
            got: list[Record] = []
            deadline = time.monotonic() + self.patience
            while len(got) < 12:
                assert time.monotonic() < deadline, f"got {len(got)} of 12 records"
                batch = src.poll(5, self.poll_timeout)
                assert len(batch) <= 5
                got.extend(batch)
            assert self._ns(got) == list(range(12))

    def test_a_keepalive_poll_returns_nothing_and_loses_nothing(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        produce([{"n": i} for i in range(6)])
        for src in self._open(make_source):
            first = self._take(src, 1)
            for _ in range(3):  # what the runtime calls while its lanes are full
                assert src.poll(0, 0.0) == []
            rest = self._take(src, 5)
            assert self._ns(first + rest) == list(range(6))

    def test_restart_redelivers_everything_not_acked(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        produce([{"n": i} for i in range(10)])
        for src in self._open(make_source):
            got = self._take(src, 10)
            got.sort(key=lambda r: r.value["n"])
            for r in got[:4] + got[6:]:  # 4 and 5 never acked: nothing after them may commit past them
                r.ack()
        for src in self._open(make_source):
            seen: set[int] = set()
            deadline = time.monotonic() + self.patience
            while not {4, 5} <= seen:
                if time.monotonic() > deadline:
                    raise AssertionError(f"records 4 and 5 were not delivered again (saw {sorted(seen)})")
                seen.update(r.value["n"] for r in src.poll(10, self.poll_timeout))

    def test_a_crash_redelivers_everything_not_acked(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        """A source abandoned without ``close()`` (the process died): a new one delivers every
        record that was not acked (and may deliver acked ones again: at least once)."""
        if not self.crash_restarts:
            pytest.skip("the stream cannot be taken over while an abandoned source holds it")
        produce([{"n": i} for i in range(8)])
        crashed = make_source()
        crashed.start(None, None)
        got = self._take(crashed, 8)
        for r in got[:3]:
            r.ack()
        try:
            for src in self._open(make_source):
                again: set[int] = set()
                deadline = time.monotonic() + self.patience
                while not set(self._ns(got[3:])) <= again:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"unacked records were not delivered again (saw {sorted(again)})")
                    again.update(r.value["n"] for r in src.poll(10, self.poll_timeout))
        finally:
            crashed.close()

    def test_an_unacked_first_record_holds_back_everything_after_it(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        """Contiguous-prefix acks: the first record delivered is first in its partition; with it
        unacked, a restart delivers it again, however many after it were acked."""
        produce([{"n": i} for i in range(8)])
        for src in self._open(make_source):
            got = self._take(src, 8)
            first = got[0].value["n"]
            for r in reversed(got[1:]):  # acked out of order, as concurrent lanes finish
                r.ack()
        for src in self._open(make_source):
            # until that record comes (from whichever partition is fetched first), not for a quiet
            # while: on a slow machine its partition may come a while after another one's
            again = self._take_until(src, lambda got: first in self._ns(got))
            assert first in self._ns(again), f"record {first} was never acked, yet not delivered again"

    def test_acked_records_are_not_delivered_again(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        produce([{"n": i} for i in range(10)])
        for src in self._open(make_source):
            for r in reversed(self._take(src, 10)):  # in any order: the whole prefix is acked
                r.ack()
        produce([{"n": i} for i in range(10, 15)])
        for src in self._open(make_source):
            got = self._take(src, 5) + self._rest(src)
            assert self._ns(got) == list(range(10, 15))

    def test_closing_twice_or_unstarted_is_harmless(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        make_source().close()  # never started (a bootstrap that failed before its live phase)
        produce([{"n": 1}])
        src = make_source()
        src.start(None, None)
        for r in self._take(src, 1):
            r.ack()
        src.close()
        src.close()

    # ------------------------------------------------------------------ positions

    def test_capture_position_is_json(self, make_source: Callable[[], LiveSource]) -> None:
        src = make_source()
        try:
            position = src.capture_position()
        finally:
            src.close()
        assert json.loads(json.dumps(position)) == position

    def test_starts_after_a_handoff(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        produce([{"n": i} for i in range(5)])  # in the snapshot: before the handoff
        token = self._handoff_now(make_source)
        produce([{"n": i} for i in range(5, 12)])
        for src in self._open(make_source, handoff=token):
            got = self._take(src, 7) + self._rest(src)
            assert self._ns(got) == list(range(5, 12))

    def test_checkpoint_is_json_and_covers_only_acked_records(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        produce([{"n": i} for i in range(6)])
        for src in self._open(make_source):
            got = self._take(src, 6)
            for r in got[:3]:  # the first three delivered
                r.ack()
            held = src.checkpoint()
            if held is None:
                pytest.skip("the source commits its position itself (checkpoint() is None)")
            assert json.loads(json.dumps(held)) == held
        for src in self._open(make_source, checkpoint=held):
            again = self._ns(self._take(src, 3) + self._rest(src))
            assert set(self._ns(got[3:])) <= set(again), "records not acked must be delivered again"
            assert got[0].value["n"] not in again, "the first record was acked: the checkpoint must cover it"

    def test_starts_after_a_checkpoint_not_after_a_later_one(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        produce([{"n": i} for i in range(4)])
        for src in self._open(make_source):
            for r in self._take(src, 4):
                r.ack()
            early = src.checkpoint()
            if early is None:
                pytest.skip("the source commits its position itself (checkpoint() is None)")
            produce([{"n": i} for i in range(4, 9)])
            for r in self._take(src, 5):
                r.ack()
        for src in self._open(make_source, checkpoint=early):  # the early one, though a later one was kept
            got = self._take(src, 5) + self._rest(src)
            assert self._ns(got) == list(range(4, 9))

    # ------------------------------------------------------------------ under the live runtime

    def test_the_live_runtime_applies_each_record_once_across_a_restart(
        self, make_source: Callable[[], LiveSource], produce: Callable[[list[dict[str, Any]]], None], tag: str
    ) -> None:
        from murmur import Count, Pipeline
        from murmur.adapters.memory import MemoryStore

        pipeline, store = Pipeline("contract", Count(), key="k"), MemoryStore()
        produce([{"n": i, "k": f"{tag}-{i % 3}"} for i in range(30)])
        first, _ = self._run(make_source, store, pipeline, lambda s: s.applied >= 30)
        produce([{"n": i, "k": f"{tag}-{i % 3}"} for i in range(30, 36)])
        second, _ = self._run(make_source, store, pipeline, lambda s: s.applied >= 6)
        assert (first.applied, second.applied, first.dead_letters + second.dead_letters) == (30, 6, 0)
        assert store.totals("contract") == {f"{tag}-{k}": 12 for k in range(3)}

    def test_poison_records_are_dead_letters_with_their_reason(
        self,
        make_source: Callable[[], LiveSource],
        produce: Callable[[list[dict[str, Any]]], None],
        read_dead_letters: Callable[[], list[str]] | None,
    ) -> None:
        from murmur import Count, Pipeline
        from murmur.adapters.memory import MemoryStore

        pipeline, store = Pipeline("contract", Count(), key="missing_field"), MemoryStore()
        produce([{"n": i} for i in range(4)])
        status, letters = self._run(make_source, store, pipeline, lambda s: s.dead_letters >= 4)
        assert (status.dead_letters, status.applied) == (4, 0)
        probe = make_source()
        own = callable(getattr(probe, "dead_letter", None))
        probe.close()
        if own:  # the source's own destination took them
            assert letters == []
            if read_dead_letters is not None:
                _wait(lambda: len(read_dead_letters()) >= 4, self.patience, "dead letters not readable")
                assert all("missing_field" in text for text in read_dead_letters())
        else:
            assert len(letters) == 4 and all("missing_field" in letter.error for letter in letters)
        # acked once dead-lettered: a restart does not deliver them again
        again, more = self._run(make_source, store, pipeline, lambda s: s.clock() - s.started >= self.quiet)
        assert again.records == 0 and more == []
