"""Rows from the database into the API's panels. Pure: plain values in, plain data out.

Decimals leave as exact strings at their column's places (prices and BTC 8, USD 16), so
SQLite (TEXT) and MySQL (DECIMAL) answer byte for byte alike; a value that would need
rounding to fit raises instead of being rounded. Times leave as ISO 8601 UTC (``...Z``).
Series are column-oriented (one list per field), the shape a chart takes.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from binance.events import MINUTE_MS
from dashboard.window import GRAINS, iso_time
from minutes.aggregate import EXACT, minute_ms
from minutes.klines import CheckSummary, MinuteDifference, difference_text, summary_text

PRICE_PLACES = 8
BTC_PLACES = 8
USD_PLACES = 16

# Newest minute's age (seconds since it began) up to which the pipeline counts as keeping up:
# Vector closes an object every minute and the Lambda follows within seconds.
FRESH_AGE_S = 180
LAGGING_AGE_S = 900

# The spread panel's running sum, per grain: its name and how far back it reaches.
# (The minute grain's is the minute_spread view's 30 minutes.)
ROLLING: dict[str, tuple[str, int]] = {
    "minute": ("30m", 30),
    "hour": ("24h", 24 * 60),
    "day": ("7d", 7 * 1440),
}  # label, minutes

Row = Sequence[Any]


def decimal_text(value: Decimal | str | int | None, places: int) -> str | None:
    """An exact decimal at ``places`` places; None stays None (no trades on that side)."""
    if value is None:
        return None
    with decimal.localcontext(EXACT):
        # format "f", not str(): str(Decimal("0.00000000")) is "0E-8"
        return format(Decimal(value).quantize(Decimal(1).scaleb(-places)), "f")


def minute_iso(value: datetime | str | int) -> str:
    """A TIME value (a datetime from MySQL, text from SQLite, or a bucket's epoch ms) as ISO 8601 UTC."""
    return iso_time(value if isinstance(value, int) else minute_ms(value))


def average_price(usd: Decimal, btc: Decimal) -> str | None:
    """USD / BTC rounded half up to 8 places, as the views' ROUND and decimal_div do;
    None without volume (no trades on that side)."""
    if btc == 0:
        return None
    wide = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_UP)
    quotient = wide.divide(usd, btc).quantize(Decimal(1).scaleb(-PRICE_PLACES), context=wide)
    return decimal_text(quotient, PRICE_PLACES)


def day_text(value: date | str) -> str:
    """A DAY value (a date from MySQL, text from SQLite) as YYYY-MM-DD."""
    return value.isoformat() if isinstance(value, date) else str(value)


def timestamp_ms(value: datetime | str | None) -> int | None:
    """A DATETIME(3) from MySQL or SQLite's 'YYYY-MM-DD HH:MM:SS.fff' text (UTC) as epoch ms."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Field:
    """One output column: its name and how a database value becomes JSON."""

    name: str
    convert: Callable[[Any], Any]


def _decimal(places: int) -> Callable[[Any], str | None]:
    return lambda value: decimal_text(value, places)


def _int(value: Any) -> int:
    return int(value)  # MySQL answers SUM(INT) as a Decimal


TIME = Field("time", minute_iso)
PRICES = (
    TIME,
    Field("avg_price_buy", _decimal(PRICE_PLACES)),
    Field("avg_price_sell", _decimal(PRICE_PLACES)),
)
SPREAD = (TIME, Field("usd_spread", _decimal(USD_PLACES)), Field("usd_spread_30m", _decimal(USD_PLACES)))
USD = (TIME, Field("total_usd_buy", _decimal(USD_PLACES)), Field("total_usd_sell", _decimal(USD_PLACES)))
DAILY = (
    Field("day", day_text),
    Field("total_count_buy", _int),
    Field("total_count_sell", _int),
    Field("total_count", _int),
    Field("trades_buy", _int),
    Field("trades_sell", _int),
    Field("total_btc_buy", _decimal(BTC_PLACES)),
    Field("total_btc_sell", _decimal(BTC_PLACES)),
    Field("total_usd_buy", _decimal(USD_PLACES)),
    Field("total_usd_sell", _decimal(USD_PLACES)),
    Field("avg_price_buy", _decimal(PRICE_PLACES)),
    Field("avg_price_sell", _decimal(PRICE_PLACES)),
    Field("minutes", _int),
)


def series(rows: Sequence[Row], fields: Sequence[Field]) -> dict[str, list[Any]]:
    """Rows (in the fields' order) as one list per field."""
    columns: dict[str, list[Any]] = {field.name: [] for field in fields}
    for row in rows:
        for field, value in zip(fields, row, strict=True):
            columns[field.name].append(field.convert(value))
    return columns


def candles(rows: Sequence[Row]) -> dict[str, list[Any]]:
    """The price chart from trade_minutes rows
    ``(TIME, PRICE_OPEN, PRICE_HIGH, PRICE_LOW, PRICE_CLOSE, TOTAL_BTC_BUY, TOTAL_BTC_SELL,
    TRADES_BUY, TRADES_SELL)``, oldest first: OHLC, the volume delta (BTC bought minus sold)
    and its running sum from the window's first minute, and trades per minute."""
    out: dict[str, list[Any]] = {
        name: []
        for name in ("time", "open", "high", "low", "close", "btc_delta", "btc_delta_cumulative", "trades")
    }
    running = Decimal(0)
    with decimal.localcontext(EXACT):
        for time, open_, high, low, close, btc_buy, btc_sell, trades_buy, trades_sell in rows:
            delta = Decimal(btc_buy) - Decimal(btc_sell)
            running += delta
            out["time"].append(minute_iso(time))
            for name, value in (("open", open_), ("high", high), ("low", low), ("close", close)):
                out[name].append(decimal_text(value, PRICE_PLACES))
            out["btc_delta"].append(decimal_text(delta, BTC_PLACES))
            out["btc_delta_cumulative"].append(decimal_text(running, BTC_PLACES))
            out["trades"].append(int(trades_buy) + int(trades_sell))
    return out


def bucket_rows(rows: Sequence[Row], grain: str) -> list[tuple[Any, ...]]:
    """Rows of a per-bucket query, whose time is the bucket's first minute, with the
    bucket's start (epoch ms) instead: the start of its UTC hour or day."""
    size = GRAINS[grain] * MINUTE_MS
    return [(minute_ms(first) // size * size, *values) for first, *values in rows]


def bucket_prices(rows: Sequence[Row], grain: str) -> dict[str, list[Any]]:
    """Average prices per hour or day from ``(first TIME, USD bought, BTC bought, USD sold,
    BTC sold)`` sums: each bucket's USD over its BTC, weighted by volume."""
    averaged = [
        (
            start,
            average_price(Decimal(usd_buy), Decimal(btc_buy)),
            average_price(Decimal(usd_sell), Decimal(btc_sell)),
        )
        for start, usd_buy, btc_buy, usd_sell, btc_sell in bucket_rows(rows, grain)
    ]
    return series(averaged, PRICES)


def bucket_usd(rows: Sequence[Row], grain: str) -> dict[str, list[Any]]:
    """USD bought and sold per hour or day from ``(first TIME, USD bought, USD sold)`` sums."""
    return series(bucket_rows(rows, grain), USD)


def spread_field(grain: str) -> str:
    """The name of the spread panel's running sum at a grain: usd_spread_30m, _24h or _7d."""
    return f"usd_spread_{ROLLING[grain][0]}"


def bucket_spread(rows: Sequence[Row], grain: str, start_ms: int) -> dict[str, list[Any]]:
    """Bought minus sold per hour or day from ``(first TIME, USD bought, USD sold)`` sums,
    with its running sum over the ROLLING span ending at each bucket. The rows reach back
    before ``start_ms`` by that span, so the first buckets' sums are whole; only buckets
    from ``start_ms`` on are answered."""
    with decimal.localcontext(EXACT):
        spreads = [(start, Decimal(buy) - Decimal(sell)) for start, buy, sell in bucket_rows(rows, grain)]
    running = rolling_sums(spreads, ROLLING[grain][1] * MINUTE_MS)
    kept = [
        (start, spread, total)
        for (start, spread), total in zip(spreads, running, strict=True)
        if start >= start_ms
    ]
    usd = _decimal(USD_PLACES)
    return series(kept, (TIME, Field("usd_spread", usd), Field(spread_field(grain), usd)))


def rolling_sums(values: Sequence[tuple[int, Decimal]], span_ms: int) -> list[Decimal]:
    """For each ``(time, value)``, oldest first, the exact sum of the values whose time is
    in the ``span_ms`` ending with it: a gap shortens the sum instead of reaching further
    back, as the minute view's RANGE frame does."""
    sums: list[Decimal] = []
    running = Decimal(0)
    oldest = 0
    with decimal.localcontext(EXACT):
        for time, value in values:
            running += value
            while values[oldest][0] <= time - span_ms:
                running -= values[oldest][1]
                oldest += 1
            sums.append(running)
    return sums


def bucket_candles(rows: Sequence[Row], grain: str) -> dict[str, list[Any]]:
    """Candles per hour or day from rows shaped as ``candles`` takes them, with the bucket's
    first minute as their time (the database took the first open, the last close, the
    highest high, the lowest low and the sums)."""
    return candles(bucket_rows(rows, grain))


def totals(row: Row) -> dict[str, Any]:
    """The window's totals from one row ``(minutes, count_buy, count_sell, trades_buy,
    trades_sell, btc_buy, btc_sell, usd_buy, usd_sell, first TIME, last TIME)``; the sums
    are NULL when the window holds no minute."""
    (
        minutes,
        count_buy,
        count_sell,
        trades_buy,
        trades_sell,
        btc_buy,
        btc_sell,
        usd_buy,
        usd_sell,
        first,
        last,
    ) = row
    zero = Decimal(0)
    usd_buy = Decimal(usd_buy) if usd_buy is not None else zero
    usd_sell = Decimal(usd_sell) if usd_sell is not None else zero
    with decimal.localcontext(EXACT):
        net = usd_buy - usd_sell
    return {
        "minutes": int(minutes),
        "total_count_buy": int(count_buy or 0),
        "total_count_sell": int(count_sell or 0),
        "total_count": int(count_buy or 0) + int(count_sell or 0),
        "trades": int(trades_buy or 0) + int(trades_sell or 0),
        "total_btc_buy": decimal_text(btc_buy if btc_buy is not None else zero, BTC_PLACES),
        "total_btc_sell": decimal_text(btc_sell if btc_sell is not None else zero, BTC_PLACES),
        "total_usd_buy": decimal_text(usd_buy, USD_PLACES),
        "total_usd_sell": decimal_text(usd_sell, USD_PLACES),
        "usd_net": decimal_text(net, USD_PLACES),
        "first_minute": minute_iso(first) if first is not None else None,
        "last_minute": minute_iso(last) if last is not None else None,
    }


def freshness(age_s: int | None) -> str:
    """How the newest minute's age reads: fresh, lagging, stale, or empty (no rows)."""
    if age_s is None:
        return "empty"
    if age_s <= FRESH_AGE_S:
        return "fresh"
    if age_s <= LAGGING_AGE_S:
        return "lagging"
    return "stale"


@dataclass(frozen=True, slots=True)
class Ledger:
    """What processed_objects says, summed."""

    objects: int
    objects_with_rejects: int
    lines: int
    accepted: int
    rejected: int
    duplicates: int
    redeliveries: int
    last_processed_ms: int | None


def health(
    newest_minute_ms: int | None,
    ledger: Ledger,
    now_ms: int,
    dead_letters: int | None,
    dead_letters_note: str | None,
) -> dict[str, Any]:
    """The health strip: how old the newest minute is, what the ledger holds, dead letters."""
    age_s = None if newest_minute_ms is None else (now_ms - newest_minute_ms) // 1000
    return {
        "now": iso_time(now_ms),
        "newest_minute": None if newest_minute_ms is None else iso_time(newest_minute_ms),
        "newest_minute_age_s": age_s,
        "status": freshness(age_s),
        "objects_processed": ledger.objects,
        "objects_with_rejects": ledger.objects_with_rejects,
        "lines_read": ledger.lines,
        "lines_accepted": ledger.accepted,
        "lines_rejected": ledger.rejected,
        "duplicate_trades": ledger.duplicates,
        "redeliveries": ledger.redeliveries,
        "last_processed": None if ledger.last_processed_ms is None else iso_time(ledger.last_processed_ms),
        "dead_letters": dead_letters,
        "dead_letters_note": dead_letters_note,
    }


def minute_check(summary: CheckSummary | None) -> dict[str, Any] | None:
    """The health strip's check against Binance: the counts, the status line and the first
    differing minutes; None before the first kline."""
    if summary is None:
        return None
    return {
        "start": iso_time(summary.start_ms),
        "end": iso_time(summary.end_ms),
        "checked": summary.checked,
        **summary.counts,
        "without_row": summary.without_row,
        "text": summary_text(summary),
        "differing": differing(summary.differing),
    }


def differing(minutes: Sequence[MinuteDifference]) -> list[dict[str, Any]]:
    """Minutes that differ from Binance's kline, for marks on the charts."""
    return [
        {
            "time": iso_time(minute.minute),
            "fields": [f.field for f in minute.fields],
            "text": difference_text(minute),
        }
        for minute in minutes
    ]
