"""What each panel reads, as parameterised SQL over the views and tables of ``sql/``.

Every statement uses ``?`` placeholders (the store swaps in MySQL's) and runs through the
store, whose SQLite connections carry the decimal functions the SQLite views need. The
one dialect difference formatted into a statement is the name of an exact decimal sum
(a constant of this module, never a value). Minutes are compared as the TIME column's
UTC text, which both databases order correctly.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.panels import Ledger, Row, timestamp_ms
from dashboard.window import Window
from minutes.aggregate import minute_ms, minute_text
from minutes.store import Store

# SQLite holds decimals as TEXT: its SUM would go through floats, its MAX and MIN compare
# text; decimal_sum (the store's), decimal_max and decimal_min (all in minutes.sqlite_functions)
# are exact. MySQL's own are exact over DECIMAL columns.
_DECIMAL_SUM = {"mysql": "SUM", "sqlite": "decimal_sum"}
_DECIMAL_MAX = {"mysql": "MAX", "sqlite": "decimal_max"}
_DECIMAL_MIN = {"mysql": "MIN", "sqlite": "decimal_min"}
# The leading characters of TIME ('YYYY-MM-DD HH:MM:SS' in SQLite, and a DATETIME as text
# in MySQL) that a minute shares with the other minutes of its hour or day.
_BUCKET = {"hour": "SUBSTR(TIME, 1, 13)", "day": "SUBSTR(TIME, 1, 10)"}

_IN_WINDOW = "symbol = ? AND TIME >= ? AND TIME < ?"

NEWEST_MINUTE = "SELECT MAX(TIME) FROM trade_minutes WHERE symbol = ?"
PRICES = f"SELECT TIME, AVG_PRICE_BUY, AVG_PRICE_SELL FROM minute_prices WHERE {_IN_WINDOW} ORDER BY TIME"  # noqa: S608
SPREAD = f"SELECT TIME, USD_SPREAD, USD_SPREAD_30M FROM minute_spread WHERE {_IN_WINDOW} ORDER BY TIME"  # noqa: S608
USD = f"SELECT TIME, TOTAL_USD_BUY, TOTAL_USD_SELL FROM trade_minutes WHERE {_IN_WINDOW} ORDER BY TIME"  # noqa: S608
CANDLES = (
    "SELECT TIME, PRICE_OPEN, PRICE_HIGH, PRICE_LOW, PRICE_CLOSE, TOTAL_BTC_BUY, TOTAL_BTC_SELL,"  # noqa: S608
    f" TRADES_BUY, TRADES_SELL FROM trade_minutes WHERE {_IN_WINDOW} ORDER BY TIME"
)
DAILY = (
    "SELECT DAY, TOTAL_COUNT_BUY, TOTAL_COUNT_SELL, TOTAL_COUNT, TRADES_BUY, TRADES_SELL,"
    " TOTAL_BTC_BUY, TOTAL_BTC_SELL, TOTAL_USD_BUY, TOTAL_USD_SELL, AVG_PRICE_BUY, AVG_PRICE_SELL, MINUTES"
    " FROM daily_totals WHERE symbol = ? AND DAY >= ? AND DAY <= ? ORDER BY DAY"
)
_TOTALS = (
    "SELECT COUNT(*), SUM(TOTAL_COUNT_BUY), SUM(TOTAL_COUNT_SELL), SUM(TRADES_BUY), SUM(TRADES_SELL),"  # noqa: S608
    " {sum}(TOTAL_BTC_BUY), {sum}(TOTAL_BTC_SELL), {sum}(TOTAL_USD_BUY), {sum}(TOTAL_USD_SELL),"
    f" MIN(TIME), MAX(TIME) FROM trade_minutes WHERE {_IN_WINDOW}"
)
# The markets the database holds and the newest minute of each (the primary key answers it).
SYMBOLS = "SELECT symbol, MAX(TIME) FROM trade_minutes GROUP BY symbol ORDER BY symbol"
# Per hour or day, summed in the database: a bucket's first minute (its row's time),
# then exact sums. The views' per-minute values cannot be summed (an average of averages
# is wrong), so these read trade_minutes.
_BUCKET_SUMS = (
    "SELECT MIN(TIME), {sums} FROM trade_minutes WHERE {window} GROUP BY {bucket} ORDER BY MIN(TIME)"
)
USD_SUMS = ("TOTAL_USD_BUY", "TOTAL_USD_SELL")
PRICE_SUMS = ("TOTAL_USD_BUY", "TOTAL_BTC_BUY", "TOTAL_USD_SELL", "TOTAL_BTC_SELL")
# Candles per hour or day: the open of the bucket's first minute and the close of its last
# (joined back by the primary key), the highest high, the lowest low; as CANDLES' rows.
_BUCKET_CANDLES = (
    "SELECT b.FIRST_TIME, o.PRICE_OPEN, b.HIGH, b.LOW, c.PRICE_CLOSE, b.BTC_BUY, b.BTC_SELL,"
    " b.TRADES_BUY, b.TRADES_SELL FROM ("
    "SELECT MIN(TIME) AS FIRST_TIME, MAX(TIME) AS LAST_TIME, {max}(PRICE_HIGH) AS HIGH,"
    " {min}(PRICE_LOW) AS LOW, {sum}(TOTAL_BTC_BUY) AS BTC_BUY, {sum}(TOTAL_BTC_SELL) AS BTC_SELL,"
    " SUM(TRADES_BUY) AS TRADES_BUY, SUM(TRADES_SELL) AS TRADES_SELL"
    " FROM trade_minutes WHERE {window} GROUP BY {bucket}) b"
    " JOIN trade_minutes o ON o.symbol = ? AND o.TIME = b.FIRST_TIME"
    " JOIN trade_minutes c ON c.symbol = ? AND c.TIME = b.LAST_TIME"
    " ORDER BY b.FIRST_TIME"
)
LEDGER = (
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN rejected > 0 THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(line_count), 0), COALESCE(SUM(accepted), 0), COALESCE(SUM(rejected), 0),"
    " COALESCE(SUM(duplicates), 0), COALESCE(SUM(redeliveries), 0), MAX(processed_at)"
    " FROM processed_objects"
)

# Every table and view the dashboard reads: what a read-only user needs SELECT on.
READS = ("trade_minutes", "processed_objects", "daily_totals", "minute_prices", "minute_spread")


@dataclass(frozen=True, slots=True)
class Days:
    """The UTC days a window touches, first and last included."""

    first: str
    last: str


def newest_minute(store: Store, symbol: str) -> int | None:
    ((value,),) = store.execute(NEWEST_MINUTE, (symbol,))
    return None if value is None else minute_ms(value)


def minutes(store: Store, statement: str, symbol: str, window: Window) -> list[Row]:
    """Rows of one per-minute statement (PRICES, SPREAD, USD, CANDLES) in the window."""
    return store.execute(statement, (symbol, minute_text(window.start_ms), minute_text(window.end_ms)))


def bucket_sums(
    store: Store, columns: tuple[str, ...], symbol: str, window: Window, *, since_ms: int | None = None
) -> list[Row]:
    """Per bucket of the window's grain (hour or day), oldest first: the bucket's first
    minute and the exact sums of ``columns`` (USD_SUMS, PRICE_SUMS), over the window or
    from ``since_ms`` (earlier, for a running sum) to its end."""
    decimal_sum = _DECIMAL_SUM[store.dialect]
    sums = ", ".join(f"{decimal_sum}({column})" for column in columns)  # our own constants only
    statement = _BUCKET_SUMS.format(sums=sums, window=_IN_WINDOW, bucket=_BUCKET[window.grain])
    start_ms = window.start_ms if since_ms is None else since_ms
    return store.execute(statement, (symbol, minute_text(start_ms), minute_text(window.end_ms)))


def bucket_candles(store: Store, symbol: str, window: Window) -> list[Row]:
    """Candles per bucket of the window's grain, in CANDLES' row shape, time = first minute."""
    dialect = store.dialect
    statement = _BUCKET_CANDLES.format(
        max=_DECIMAL_MAX[dialect],
        min=_DECIMAL_MIN[dialect],
        sum=_DECIMAL_SUM[dialect],
        window=_IN_WINDOW,
        bucket=_BUCKET[window.grain],
    )
    start, end = minute_text(window.start_ms), minute_text(window.end_ms)
    return store.execute(statement, (symbol, start, end, symbol, symbol))


def symbols(store: Store) -> list[tuple[str, int]]:
    """Every market with rows, and its newest minute (epoch ms)."""
    return [(str(symbol), minute_ms(newest)) for symbol, newest in store.execute(SYMBOLS)]


def totals(store: Store, symbol: str, window: Window) -> Row:
    statement = _TOTALS.format(sum=_DECIMAL_SUM[store.dialect])
    (row,) = store.execute(statement, (symbol, minute_text(window.start_ms), minute_text(window.end_ms)))
    return row


def days_of(window: Window) -> Days:
    """daily_totals groups by UTC day: the days of the window's first and last minute."""
    return Days(_utc_day(window.start_ms), _utc_day(window.end_ms - 1))


def daily(store: Store, symbol: str, days: Days) -> list[Row]:
    return store.execute(DAILY, (symbol, days.first, days.last))


def ledger(store: Store) -> Ledger:
    ((objects, with_rejects, lines, accepted, rejected, duplicates, redeliveries, last),) = store.execute(
        LEDGER
    )
    return Ledger(
        int(objects),
        int(with_rejects),
        int(lines),
        int(accepted),
        int(rejected),
        int(duplicates),
        int(redeliveries),
        timestamp_ms(last),
    )


def _utc_day(ms: int) -> str:
    return minute_text(ms)[:10]
