"""The freshness probe's answer, from what its two queries return (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lambda_aggregator.freshness import report

NOW = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)


def test_ages_are_counted_from_the_minute_start_and_naive_times_are_utc() -> None:
    newest = [("BTCUSDT", datetime(2026, 1, 1, 11, 58)), ("ETHUSDT", datetime(2026, 1, 1, 11, 0, tzinfo=UTC))]
    answer = report(newest, (42, datetime(2026, 1, 1, 11, 59, 50)), NOW)
    assert answer["symbols"]["BTCUSDT"] == {"newest_minute": "2026-01-01T11:58:00+00:00", "age_seconds": 150}
    assert answer["symbols"]["ETHUSDT"]["age_seconds"] == int(
        timedelta(minutes=60, seconds=30).total_seconds()
    )
    assert answer["objects_processed"] == 42
    assert answer["last_object_processed"] == "2026-01-01T11:59:50+00:00"


def test_an_empty_database_has_no_symbols_and_no_last_object() -> None:
    answer = report([], (0, None), NOW)
    assert answer == {
        "now": NOW.isoformat(),
        "symbols": {},
        "objects_processed": 0,
        "last_object_processed": None,
    }
