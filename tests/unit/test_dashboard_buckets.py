"""Minute rows folded into hours and days (pure): exact, the same for both dialects."""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dashboard import panels
from dashboard.buckets import Fold, fold, rolling_sums

HOUR = 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# Candle rows (TIME, open, high, low, close, btc_buy, btc_sell, trades_buy, trades_sell) over
# two hours and a gap, as SQLite answers them (TEXT) ...
SQLITE_CANDLES = [
    ("2026-01-01 00:00:00", "100.00000000", "105.00000000", "99.00000000", "104.00000000",
     "1.00000000", "0.50000000", 3, 2),
    ("2026-01-01 00:01:00", "104.00000000", "110.00000000", "103.00000000", "109.99999999",
     "0.00000001", "2.00000000", 0, 4),
    ("2026-01-01 00:59:00", "99999.00000000", "99999.00000000", "9.00000000", "10.00000000",
     "0.00000000", "0.00000001", 0, 1),
    ("2026-01-01 03:00:00", "50.00000000", "50.00000000", "50.00000000", "50.00000000",
     "3.00000000", "0.00000000", 7, 0),
]  # fmt: skip
# ... and as MySQL does (datetime, Decimal, int).
MYSQL_CANDLES = [
    (datetime.fromisoformat(time), *(Decimal(v) for v in values[:6]), *values[6:])
    for time, *values in SQLITE_CANDLES
]
CANDLE_FOLD = (Fold.FIRST, Fold.MAX, Fold.MIN, Fold.LAST, Fold.SUM, Fold.SUM, Fold.COUNT, Fold.COUNT)


@pytest.mark.parametrize("rows", [SQLITE_CANDLES, MYSQL_CANDLES], ids=["sqlite", "mysql"])
def test_an_hour_opens_with_its_first_minute_and_closes_with_its_last(rows):
    folded = fold(rows, "hour", CANDLE_FOLD)
    assert folded == [
        (
            ms("2026-01-01 00:00"),
            Decimal("100"),
            Decimal("99999"),
            Decimal("9"),
            Decimal("10"),
            Decimal("1.00000001"),
            Decimal("2.50000001"),
            3,
            7,
        ),
        (
            ms("2026-01-01 03:00"),
            Decimal("50"),
            Decimal("50"),
            Decimal("50"),
            Decimal("50"),
            Decimal("3"),
            Decimal("0"),
            7,
            0,
        ),
    ]  # fmt: skip  (hours 01 and 02 had no trades: no bucket, not a zero one)


def test_highs_compare_as_numbers_not_as_text():
    rows = [("2026-01-01 00:00:00", "9999.00000000"), ("2026-01-01 00:01:00", "10000.00000000")]
    assert fold(rows, "hour", (Fold.MAX,)) == [(ms("2026-01-01 00:00"), Decimal("10000"))]
    assert fold(rows, "hour", (Fold.MIN,)) == [(ms("2026-01-01 00:00"), Decimal("9999"))]


def test_a_day_is_a_utc_day():
    rows = [
        ("2025-12-31 23:59:00", "1.0000000000000001"),
        ("2026-01-01 00:00:00", "2.0000000000000000"),
        ("2026-01-01 23:59:00", "0.0000000000000001"),
    ]
    assert fold(rows, "day", (Fold.SUM,)) == [
        (ms("2025-12-31 00:00"), Decimal("1.0000000000000001")),
        (ms("2026-01-01 00:00"), Decimal("2.0000000000000001")),  # exact, where floats would lose it
    ]


def test_sums_that_floats_would_get_wrong_stay_exact():
    rows = [(f"2026-01-01 00:{m:02d}:00", "0.1000000000000000") for m in range(10)]
    ((_, total),) = fold(rows, "hour", (Fold.SUM,))
    assert total == Decimal("1") and sum([0.1] * 10) != 1.0


def test_rows_out_of_order_and_unknown_grains_are_refused():
    rows = [("2026-01-01 01:00:00", "1"), ("2026-01-01 00:00:00", "1")]
    with pytest.raises(ValueError, match="not ordered by TIME"):
        fold(rows, "hour", (Fold.SUM,))
    with pytest.raises(ValueError, match="grain"):
        fold(rows, "week", (Fold.SUM,))
    assert fold([], "day", (Fold.SUM,)) == []


def test_rolling_sums_do_not_reach_across_a_gap():
    values = [(0, Decimal(1)), (HOUR, Decimal(2)), (5 * HOUR, Decimal(4)), (6 * HOUR, Decimal("0.5"))]
    # the 3 hours ending at each: 5h reaches back to 3h, not to 1h
    assert rolling_sums(values, 3 * HOUR) == [Decimal(1), Decimal(3), Decimal(4), Decimal("4.5")]
    assert rolling_sums([], HOUR) == []


def test_hourly_prices_are_weighted_by_volume_not_averaged():
    rows = [  # (TIME, usd_buy, btc_buy, usd_sell, btc_sell)
        ("2026-01-01 00:00:00", "100.0000000000000000", "1.00000000", "0.0000000000000000", "0.00000000"),
        ("2026-01-01 00:30:00", "600.0000000000000000", "3.00000000", "0.0000000000000000", "0.00000000"),
    ]
    # (100 + 600) / (1 + 3) = 175, where the minutes' own averages (100, 200) would give 150
    assert panels.bucket_prices(rows, "hour") == {
        "time": ["2026-01-01T00:00:00Z"],
        "avg_price_buy": ["175.00000000"],
        "avg_price_sell": [None],  # no sells in the hour: a gap, not zero
    }


def test_average_price_rounds_half_up_as_the_views_do():
    assert panels.average_price(Decimal("2"), Decimal("3")) == "0.66666667"
    assert panels.average_price(Decimal("0.000000005"), Decimal("1")) == "0.00000001"
    assert panels.average_price(Decimal("1"), Decimal("0")) is None


def test_hourly_spread_and_its_24_hour_sum_reach_before_the_window():
    rows = [  # (TIME, usd_buy, usd_sell)
        ("2025-12-31 01:00:00", "10.0000000000000000", "0.0000000000000000"),  # in 00:00's sum, not 01:00's
        ("2025-12-31 02:00:00", "5.0000000000000000", "1.0000000000000000"),
        ("2026-01-01 00:59:00", "0.0000000000000000", "3.0000000000000000"),
        ("2026-01-01 01:00:00", "2.0000000000000000", "0.0000000000000000"),
        ("2026-01-01 01:01:00", "2.0000000000000000", "0.0000000000000000"),
    ]
    out = panels.bucket_spread(rows, "hour", start_ms=ms("2026-01-01 00:00"))
    assert out == {
        "time": ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"],
        "usd_spread": ["-3.0000000000000000", "4.0000000000000000"],
        "usd_spread_24h": ["11.0000000000000000", "5.0000000000000000"],  # 10 + 4 - 3; 4 - 3 + 4
    }


def test_daily_candles_and_usd_have_the_minute_panels_shape():
    out = panels.bucket_candles(SQLITE_CANDLES, "day")
    assert out == {
        "time": ["2026-01-01T00:00:00Z"],
        "open": ["100.00000000"],
        "high": ["99999.00000000"],
        "low": ["9.00000000"],
        "close": ["50.00000000"],
        "btc_delta": ["1.50000000"],
        "btc_delta_cumulative": ["1.50000000"],
        "trades": [17],
    }
    usd = panels.bucket_usd([("2026-01-01 00:00:00", "1.5", "2"), ("2026-01-01 12:00:00", "1", "0")], "day")
    assert usd == {
        "time": ["2026-01-01T00:00:00Z"],
        "total_usd_buy": ["2.5000000000000000"],
        "total_usd_sell": ["2.0000000000000000"],
    }


def test_a_sum_that_would_need_rounding_raises():
    rows = [("2026-01-01 00:00:00", "1" + "0" * 80), ("2026-01-01 00:01:00", "0.1")]
    with pytest.raises(decimal.Inexact):
        fold(rows, "hour", (Fold.SUM,))
