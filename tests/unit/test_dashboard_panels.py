"""Database rows into panels (pure): exact decimals, one shape for both dialects."""

from __future__ import annotations

import decimal
from datetime import date, datetime
from decimal import Decimal

import pytest

from dashboard import panels

# The same two minutes as MySQL answers them (datetime, Decimal at the column's scale) and as
# SQLite answers them (TEXT): the API must not tell them apart.
MYSQL_ROWS = [
    (datetime(2026, 1, 1, 0, 0), Decimal("87648.21000000"), None),
    (datetime(2026, 1, 1, 0, 1), Decimal("87650.00000000"), Decimal("87649.50000000")),
]
SQLITE_ROWS = [
    ("2026-01-01 00:00:00", "87648.21000000", None),
    ("2026-01-01 00:01:00", "87650.00000000", "87649.50000000"),
]


def test_both_dialects_give_the_same_series():
    expected = {
        "time": ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"],
        "avg_price_buy": ["87648.21000000", "87650.00000000"],
        "avg_price_sell": [None, "87649.50000000"],  # no sells that minute: a gap, not zero
    }
    assert panels.series(MYSQL_ROWS, panels.PRICES) == expected
    assert panels.series(SQLITE_ROWS, panels.PRICES) == expected


def test_decimals_keep_their_places_and_are_never_rounded():
    assert panels.decimal_text("1.5", 8) == "1.50000000"
    assert panels.decimal_text("0.00000000", 8) == "0.00000000"  # not "0E-8"
    assert panels.decimal_text(Decimal("-0.1000000000000000"), 16) == "-0.1000000000000000"
    assert panels.decimal_text(12, 8) == "12.00000000"
    assert panels.decimal_text(None, 8) is None
    with pytest.raises(decimal.Inexact):  # more places than the column holds: a bug, not a rounding
        panels.decimal_text("0.123456789", 8)


def test_daily_rows_of_either_dialect():
    fields = len(panels.DAILY)
    mysql = [(date(2026, 1, 1), Decimal(3), Decimal(2), Decimal(5), *([Decimal(1)] * (fields - 4)))]
    sqlite = [("2026-01-01", 3, 2, 5, *([1] * 2), *(["1"] * 6), 1)]
    assert panels.series(mysql, panels.DAILY) == panels.series(sqlite, panels.DAILY)
    assert panels.series(sqlite, panels.DAILY)["day"] == ["2026-01-01"]
    assert panels.series(sqlite, panels.DAILY)["total_count"] == [5]


def test_candles_volume_delta_runs_from_the_window_start():
    rows = [
        ("2026-01-01 00:00:00", "10", "12", "9", "11", "1.50000000", "0.25000000", 7, 3),
        ("2026-01-01 00:01:00", "11", "11", "10", "10", "0.00000000", "2.00000000", 0, 4),
        ("2026-01-01 00:03:00", "10", "10", "10", "10", "0.10000000", "0.00000000", 1, 0),
    ]
    out = panels.candles(rows)
    assert out["btc_delta"] == ["1.25000000", "-2.00000000", "0.10000000"]
    assert out["btc_delta_cumulative"] == ["1.25000000", "-0.75000000", "-0.65000000"]
    assert out["trades"] == [10, 4, 1]
    assert out["open"] == ["10.00000000", "11.00000000", "10.00000000"]
    assert out["time"][2] == "2026-01-01T00:03:00Z"


def test_totals_of_an_empty_window_are_zero():
    row = (0, None, None, None, None, None, None, None, None, None, None)
    assert panels.totals(row) == {
        "minutes": 0,
        "total_count_buy": 0,
        "total_count_sell": 0,
        "total_count": 0,
        "trades": 0,
        "total_btc_buy": "0.00000000",
        "total_btc_sell": "0.00000000",
        "total_usd_buy": "0.0000000000000000",
        "total_usd_sell": "0.0000000000000000",
        "usd_net": "0.0000000000000000",
        "first_minute": None,
        "last_minute": None,
    }


def test_totals_net_is_exact():
    sums = ("1.00000000", "2.00000000", "0.1000000000000001", "0.2000000000000000")
    row = (
        2,
        Decimal(3),
        Decimal(4),
        Decimal(9),
        Decimal(8),
        *sums,
        "2026-01-01 00:00:00",
        "2026-01-01 00:01:00",
    )
    out = panels.totals(row)
    assert out["usd_net"] == "-0.0999999999999999"
    assert (out["total_count"], out["trades"]) == (7, 17)
    assert out["last_minute"] == "2026-01-01T00:01:00Z"


@pytest.mark.parametrize(
    ("age", "status"),
    [(None, "empty"), (0, "fresh"), (180, "fresh"), (181, "lagging"), (900, "lagging"), (901, "stale")],
)
def test_freshness(age, status):
    assert panels.freshness(age) == status


def test_health_age_and_ledger():
    ledger = panels.Ledger(13, 1, 5002, 5000, 2, 0, 1, 1_767_225_800_123)
    out = panels.health(1_767_225_720_000, ledger, 1_767_225_960_999, None, "no hook")
    assert out["newest_minute"] == "2026-01-01T00:02:00Z"
    assert out["newest_minute_age_s"] == 240
    assert out["status"] == "lagging"
    assert out["last_processed"] == "2026-01-01T00:03:20.123Z"
    assert (out["objects_processed"], out["objects_with_rejects"], out["lines_rejected"]) == (13, 1, 2)
    assert (out["dead_letters"], out["dead_letters_note"]) == (None, "no hook")


def test_processed_at_of_either_dialect():
    assert panels.timestamp_ms("2026-01-01 00:03:20.123") == panels.timestamp_ms(
        datetime(2026, 1, 1, 0, 3, 20, 123000)
    )
    assert panels.timestamp_ms(None) is None
