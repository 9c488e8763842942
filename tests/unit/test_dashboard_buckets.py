"""Hours and days (pure, and SQLite's exact comparisons): the per-bucket sums the database
answers become the minute panels' shapes, exactly, the same for both dialects."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dashboard import panels
from minutes import sqlite_functions

HOUR = 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# Per-hour candle rows as the database answers them: the bucket's first minute, then
# (open, high, low, close, BTC bought, BTC sold, trades bought, trades sold). SQLite ...
SQLITE_CANDLES = [
    ("2026-01-01 00:01:00", "100.00000000", "99999.00000000", "9.00000000", "10.00000000",
     "1.00000001", "2.50000001", 3, 7),
    ("2026-01-01 03:17:00", "50.00000000", "50.00000000", "50.00000000", "50.00000000",
     "3.00000000", "0.00000000", 7, 0),
]  # fmt: skip
# ... and MySQL (datetime, Decimal, and SUM of INT as Decimal).
MYSQL_CANDLES = [
    (datetime.fromisoformat(time), *(Decimal(v) for v in values[:6]), *(Decimal(v) for v in values[6:]))
    for time, *values in SQLITE_CANDLES
]


@pytest.mark.parametrize("rows", [SQLITE_CANDLES, MYSQL_CANDLES], ids=["sqlite", "mysql"])
def test_hourly_candles_start_at_their_hour_whatever_the_dialect(rows):
    assert panels.bucket_candles(rows, "hour") == {
        "time": ["2026-01-01T00:00:00Z", "2026-01-01T03:00:00Z"],  # hours 01 and 02 had no trades
        "open": ["100.00000000", "50.00000000"],
        "high": ["99999.00000000", "50.00000000"],
        "low": ["9.00000000", "50.00000000"],
        "close": ["10.00000000", "50.00000000"],
        "btc_delta": ["-1.50000000", "3.00000000"],
        "btc_delta_cumulative": ["-1.50000000", "1.50000000"],
        "trades": [10, 7],
    }


def test_a_day_is_a_utc_day():
    rows = [("2025-12-31 23:59:00", "1.0000000000000001", "0"), ("2026-01-01 00:00:00", "2", "0.5")]
    assert panels.bucket_usd(rows, "day") == {
        "time": ["2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z"],
        "total_usd_buy": ["1.0000000000000001", "2.0000000000000000"],
        "total_usd_sell": ["0.0000000000000000", "0.5000000000000000"],
    }


def test_hourly_prices_are_weighted_by_volume_not_averaged():
    # (first TIME, USD bought, BTC bought, USD sold, BTC sold), summed over the hour: 100 USD
    # for 1 BTC then 600 for 3 make 175 a BTC, where the minutes' own averages would give 150.
    rows = [("2026-01-01 00:00:00", "700.0000000000000000", "4.00000000", "0", "0")]
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
    rows = [  # (first TIME, USD bought, USD sold) per hour
        ("2025-12-31 01:00:00", "10.0000000000000000", "0.0000000000000000"),  # in 00:00's sum, not 01:00's
        ("2025-12-31 02:30:00", "5.0000000000000000", "1.0000000000000000"),
        ("2026-01-01 00:59:00", "0.0000000000000000", "3.0000000000000000"),
        ("2026-01-01 01:00:00", "4.0000000000000000", "0.0000000000000000"),
    ]
    out = panels.bucket_spread(rows, "hour", start_ms=ms("2026-01-01 00:00"))
    assert out == {
        "time": ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"],
        "usd_spread": ["-3.0000000000000000", "4.0000000000000000"],
        "usd_spread_24h": ["11.0000000000000000", "5.0000000000000000"],  # 10 + 4 - 3; 4 - 3 + 4
    }


def test_rolling_sums_do_not_reach_across_a_gap():
    values = [(0, Decimal(1)), (HOUR, Decimal(2)), (5 * HOUR, Decimal(4)), (6 * HOUR, Decimal("0.5"))]
    # the 3 hours ending at each: 5h reaches back to 3h, not to 1h
    assert panels.rolling_sums(values, 3 * HOUR) == [Decimal(1), Decimal(3), Decimal(4), Decimal("4.5")]
    assert panels.rolling_sums([], HOUR) == []


def test_sums_that_floats_would_get_wrong_stay_exact():
    values = [(i * HOUR, Decimal("0.1000000000000000")) for i in range(10)]
    assert panels.rolling_sums(values, 10 * HOUR)[-1] == Decimal("1.0000000000000000")
    assert sum([0.1] * 10) != 1.0


def test_sqlite_compares_decimal_text_as_numbers():
    connection = sqlite3.connect(":memory:")
    sqlite_functions.register(connection)
    connection.execute("CREATE TABLE t (g INTEGER, x TEXT)")
    connection.executemany(
        "INSERT INTO t VALUES (?, ?)",
        [
            (1, "999.50000000"),
            (1, "3001.00000000"),
            (1, "10000.00000000"),
            (2, None),
            (3, "-0.5"),
            (3, "-10"),
        ],
    )
    rows = connection.execute(
        "SELECT g, decimal_max(x), decimal_min(x), MAX(x), MIN(x) FROM t GROUP BY g ORDER BY g"
    ).fetchall()
    assert rows == [
        (1, "10000.00000000", "999.50000000", "999.50000000", "10000.00000000"),  # SQLite's own: text order
        (2, None, None, None, None),
        (3, "-0.5", "-10", "-10", "-0.5"),
    ]
