"""Windowed reads over a fixed clock: last N buckets, ranges, retention, and clear option errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from murmur import ConfigError, Pipeline, StateKey, Unit, Window, parse_duration
from murmur._read import Reader
from murmur.monoids import Count, SetUnion, Sum
from murmur.testing import MemoryStore

NOW = dt.datetime(2024, 3, 10, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


class Clock:
    """A settable clock shared by the store (expiry) and the reader ("now")."""

    def __init__(self, when: dt.datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now


def write(store: MemoryStore, pipeline: Pipeline, events: list[tuple[Any, dt.datetime]]) -> None:
    """What a runtime does: extract keys and buckets, fold per key, set retention as expiry."""
    assert pipeline.monoid is not None
    unit = Unit(pipeline.name, pipeline.monoid)
    for value, when in events:
        keys, element = pipeline.extract(value, when)
        for key in keys:
            old = unit.writes.get(key)
            unit.writes[key] = element if old is None else pipeline.monoid.combine(old, element)
            if pipeline.window is not None and (expiry := pipeline.window.expiry(key.bucket)) is not None:
                unit.expiry[key] = expiry
    store.merge(unit)
    store.write_meta(pipeline.name, "pipeline", pipeline.describe())


def ten_days(retention: str | None = "90d") -> tuple[MemoryStore, Pipeline, Clock]:
    """10 events today, 9 yesterday, ..., 1 nine days ago, on key ``page``."""
    clock = Clock(NOW)
    store = MemoryStore(clock=clock)
    window = Window("day", parse_duration(retention) if retention else None)
    pipeline = Pipeline("views", Count(), key="=page", window=window)
    write(store, pipeline, [({}, NOW - d * DAY) for d in range(10) for _ in range(10 - d)])
    return store, pipeline, clock


@pytest.mark.parametrize(("last", "total"), [("1d", 10), ("2d", 19), ("3d", 27), ("7d", 49), ("10d", 55), ("30d", 55)])
def test_last_n_days_folds_today_and_the_days_before(last: str, total: int) -> None:
    store, _, clock = ten_days()
    reader = Reader.open(store, "views", clock=clock)
    assert reader.get_window("page", last) == total
    assert reader.get_window("page", dt.timedelta(days=int(last[:-1]))) == total


def test_a_span_shorter_than_a_bucket_still_reads_the_current_bucket() -> None:
    store, _, clock = ten_days()
    reader = Reader.open(store, "views", clock=clock)
    assert reader.get_window("page", "1h") == 10
    assert reader.get_window("page", "36h") == 19


def test_get_without_last_folds_everything_within_retention() -> None:
    store, _, clock = ten_days()
    reader = Reader.open(store, "views", clock=clock)
    assert reader.get("page") == 55
    assert reader.value("page") == 55


def test_get_many_keeps_input_order_with_none_for_missing_keys() -> None:
    store, _, clock = ten_days()
    reader = Reader.open(store, "views", clock=clock)
    assert reader.get_many(["page", "nope", "page"], last="2d") == [19, None, 19]
    assert reader.value("nope", last="2d") is None


def test_get_range_folds_buckets_overlapping_start_to_end() -> None:
    store, _, clock = ten_days()
    reader = Reader.open(store, "views", clock=clock)
    midnight = NOW.replace(hour=0)
    assert reader.get_range("page", midnight - 2 * DAY, midnight) == 8 + 9
    assert reader.get_range("page", midnight - 2 * DAY + dt.timedelta(hours=1), midnight - DAY) == 8
    assert reader.get_range("page", midnight - DAY, NOW.replace(tzinfo=None)) == 9 + 10  # naive = UTC
    assert reader.get_range("page", midnight - 30 * DAY, midnight - 20 * DAY) is None
    with pytest.raises(ConfigError, match="before start"):
        reader.get_range("page", midnight, midnight - DAY)


def test_expired_buckets_read_as_missing() -> None:
    store, pipeline, clock = ten_days(retention="3d")
    reader = Reader.open(store, "views", clock=clock)
    # Bucket D-3 is kept until the end of day D; D-4 expired at the start of today.
    assert reader.get("page") == 10 + 9 + 8 + 7
    assert reader.get_window("page", "10d") == 34
    # The store itself honours expiry, even for a reader that does not know the retention.
    unaware = Reader(store, "views", Count(), Window("day"), clock=clock)
    assert unaware.get_window("page", "10d") == 34
    clock.now += DAY.total_seconds()
    assert reader.get_window("page", "10d") == 10 + 9 + 8
    assert store.get_many("views", [StateKey("page", pipeline.window.bucket(NOW - 3 * DAY))], Count()) == [None]  # type: ignore[union-attr]


def test_windowed_reads_fold_any_monoid_oldest_first() -> None:
    clock = Clock(NOW)
    store = MemoryStore(clock=clock)
    pipeline = Pipeline("seen", SetUnion(), key="=k", value="day", window=Window("day"))
    write(store, pipeline, [({"day": f"d{d}"}, NOW - d * DAY) for d in range(5)])
    reader = Reader.open(store, "seen", clock=clock)
    assert reader.value("k", last="3d") == ["d0", "d1", "d2"]


def test_minute_buckets_over_a_day_are_read_in_chunks() -> None:
    clock = Clock(NOW)
    store = MemoryStore(clock=clock)
    pipeline = Pipeline("clicks", Sum(), key="=k", value="n", window=Window("minute", dt.timedelta(days=2)))
    write(
        store, pipeline, [({"n": n}, NOW - dt.timedelta(minutes=m)) for m, n in [(0, 1), (30, 2), (1439, 4), (1440, 8)]]
    )
    reader = Reader.open(store, "clicks", clock=clock)
    assert reader.buckets(last="1d")[-1] == pipeline.window.bucket(NOW)  # type: ignore[union-attr]
    assert len(reader.buckets(last="1d")) == 1440
    assert reader.get_window("k", "1d") == 7
    assert reader.get_window("k", "31m") == 3
    assert reader.get("k") == 15


def test_non_windowed_pipeline_reads_all_time_state() -> None:
    store = MemoryStore()
    pipeline = Pipeline("totals", Sum(), key="=k", value="n")
    write(store, pipeline, [({"n": 2}, NOW), ({"n": 3}, NOW - 400 * DAY)])
    reader = Reader.open(store, "totals")
    assert reader.window is None
    assert reader.get("k") == 5
    with pytest.raises(ConfigError, match="no time window") as info:
        reader.get_window("k", "7d")
    assert info.value.option == "window"
    with pytest.raises(ConfigError, match="no time window"):
        reader.get_range("k", NOW - DAY, NOW)


def test_window_without_retention_needs_last_for_a_plain_get() -> None:
    store, _, clock = ten_days(retention=None)
    reader = Reader.open(store, "views", clock=clock)
    with pytest.raises(ConfigError, match="without retention") as info:
        reader.get("page")
    assert info.value.option == "window"
    assert reader.get_window("page", "7d") == 49


def test_open_rebuilds_monoid_and_window_from_the_stored_description() -> None:
    store, pipeline, clock = ten_days()
    reader = Reader.open(store, "views", clock=clock)
    assert reader.monoid == pipeline.monoid
    assert reader.window == pipeline.window


def test_open_of_an_undescribed_pipeline_names_it() -> None:
    with pytest.raises(ConfigError, match="pipeline 'ghost'") as info:
        Reader.open(MemoryStore(), "ghost")
    assert info.value.option == "name"


# ------------------------------------------------------------------------ parse errors


@pytest.mark.parametrize("text", ["7x", "", "d7", "7 days", "1h30"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--retention: ") as info:
        parse_duration(text, option="--retention")
    assert info.value.option == "--retention"


@pytest.mark.parametrize("text", ["fortnight", "day:9q", "minute:-5m", "week:7d"])
def test_bad_windows_name_the_window_option(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^window: ") as info:
        Window.parse(text)
    assert info.value.option == "window"


@pytest.mark.parametrize("last", ["soon", "-1d", "0d"])
def test_bad_read_spans_name_the_window_option(last: str) -> None:
    store, _, clock = ten_days()
    reader = Reader.open(store, "views", clock=clock)
    with pytest.raises(ConfigError, match="window") as info:
        reader.get_window("page", last)
    assert info.value.option == "window"


def test_durations_parse_compound_units() -> None:
    assert parse_duration("1h30m") == dt.timedelta(minutes=90)
    assert parse_duration("250ms") == dt.timedelta(milliseconds=250)
    assert parse_duration("2w") == dt.timedelta(days=14)
    assert parse_duration("45") == dt.timedelta(seconds=45)
    assert Window.parse("day:90d") == Window("day", dt.timedelta(days=90))
    assert Window.parse("day:90d").describe() == "day:90d"
