"""The pure core: trades in, one exact row per (symbol, UTC minute) out.

No I/O here. The same functions serve the Lambda (over the trades stored for a minute),
the ``cryptotrades aggregate`` command (over files) and the benchmarks.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter

from binance.events import MINUTE_MS, AggTrade

# Sums must never round: a context far wider than any day's total, where rounding traps.
EXACT = decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow])
_ZERO = Decimal(0)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_by_agg_id = attrgetter("agg_id")


@dataclass(frozen=True, slots=True)
class MinuteRow:
    """One minute of one market, counted by the taker's side.

    A BUY is a trade whose taker bought (``m`` false), a SELL one whose taker sold.
    Counts are aggregate trades (the original project's ``TOTAL_COUNT_*``); ``trades_*`` count the
    individual trades inside them, which is what Binance's klines call trades.
    """

    symbol: str
    minute: int  # start of the UTC minute, ms since the epoch
    count_buy: int
    count_sell: int
    btc_buy: Decimal
    btc_sell: Decimal
    usd_buy: Decimal
    usd_sell: Decimal
    trades_buy: int
    trades_sell: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    first_agg_id: int
    last_agg_id: int

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.minute / 1000, tz=UTC)


# The table's column for each field, in order: the original project's names first.
COLUMNS: dict[str, str] = {
    "symbol": "symbol",
    "minute": "TIME",
    "count_buy": "TOTAL_COUNT_BUY",
    "count_sell": "TOTAL_COUNT_SELL",
    "btc_buy": "TOTAL_BTC_BUY",
    "btc_sell": "TOTAL_BTC_SELL",
    "usd_buy": "TOTAL_USD_BUY",
    "usd_sell": "TOTAL_USD_SELL",
    "trades_buy": "TRADES_BUY",
    "trades_sell": "TRADES_SELL",
    "open": "PRICE_OPEN",
    "high": "PRICE_HIGH",
    "low": "PRICE_LOW",
    "close": "PRICE_CLOSE",
    "first_agg_id": "FIRST_AGG_ID",
    "last_agg_id": "LAST_AGG_ID",
}

# Decimal places of each decimal column: prices and BTC as Binance quotes them (8),
# USD as the exact product of two of those (16).
PLACES: dict[str, int] = {
    "btc_buy": 8, "btc_sell": 8, "usd_buy": 16, "usd_sell": 16,
    "open": 8, "high": 8, "low": 8, "close": 8,
}  # fmt: skip


def minute_rows(trades: Iterable[AggTrade]) -> list[MinuteRow]:
    """Rows for every (symbol, minute) the trades touch, sorted by symbol then minute.

    A trade seen more than once (same symbol and agg id) counts once, so the rows do not
    depend on order, on how the trades were split, or on repeats.
    """
    minutes: dict[tuple[str, int], dict[int, AggTrade]] = {}
    for trade in trades:
        key = (trade.symbol, trade.trade_time - trade.trade_time % MINUTE_MS)
        by_id = minutes.get(key)
        if by_id is None:
            minutes[key] = {trade.agg_id: trade}
        elif trade.agg_id not in by_id:
            by_id[trade.agg_id] = trade
    return [summarize(symbol, minute, by_id.values()) for (symbol, minute), by_id in sorted(minutes.items())]


def summarize(symbol: str, minute: int, trades: Iterable[AggTrade]) -> MinuteRow:
    """The row of one minute from its distinct trades (any order, at least one)."""
    ordered = sorted(trades, key=_by_agg_id)
    if not ordered:
        raise ValueError(f"no trades for {symbol} at minute {minute}")
    buys = [t for t in ordered if not t.is_buyer_maker]
    sells = [t for t in ordered if t.is_buyer_maker]
    prices = [t.price for t in ordered]
    with decimal.localcontext(EXACT):
        return MinuteRow(
            symbol=symbol,
            minute=minute,
            count_buy=len(buys),
            count_sell=len(sells),
            btc_buy=sum([t.qty for t in buys], _ZERO),
            btc_sell=sum([t.qty for t in sells], _ZERO),
            usd_buy=sum([t.price * t.qty for t in buys], _ZERO),
            usd_sell=sum([t.price * t.qty for t in sells], _ZERO),
            trades_buy=sum([t.last_trade_id - t.first_trade_id + 1 for t in buys]),
            trades_sell=sum([t.last_trade_id - t.first_trade_id + 1 for t in sells]),
            open=prices[0],
            high=max(prices),
            low=min(prices),
            close=prices[-1],
            first_agg_id=ordered[0].agg_id,
            last_agg_id=ordered[-1].agg_id,
        )


def combined(earlier: MinuteRow, later: MinuteRow) -> MinuteRow:
    """The row of one minute from the rows of two runs of its distinct trades, every agg id
    of ``earlier`` below every one of ``later``: how the store folds a minute read in chunks
    ordered by agg id, so a minute of any size costs one chunk of memory."""
    if (earlier.symbol, earlier.minute) != (later.symbol, later.minute) or (
        earlier.last_agg_id >= later.first_agg_id
    ):
        raise ValueError(
            f"rows of {earlier.symbol} at {earlier.minute} are not consecutive runs of one minute"
        )
    with decimal.localcontext(EXACT):
        return MinuteRow(
            symbol=earlier.symbol,
            minute=earlier.minute,
            count_buy=earlier.count_buy + later.count_buy,
            count_sell=earlier.count_sell + later.count_sell,
            btc_buy=earlier.btc_buy + later.btc_buy,
            btc_sell=earlier.btc_sell + later.btc_sell,
            usd_buy=earlier.usd_buy + later.usd_buy,
            usd_sell=earlier.usd_sell + later.usd_sell,
            trades_buy=earlier.trades_buy + later.trades_buy,
            trades_sell=earlier.trades_sell + later.trades_sell,
            open=earlier.open,
            high=max(earlier.high, later.high),
            low=min(earlier.low, later.low),
            close=later.close,
            first_agg_id=earlier.first_agg_id,
            last_agg_id=later.last_agg_id,
        )


def record(row: MinuteRow) -> dict[str, str | int]:
    """The row as the table holds it: column names, TIME as UTC text, decimals as exact
    strings at their column's places (so equal numbers print alike)."""
    out: dict[str, str | int] = {}
    with decimal.localcontext(EXACT):
        for (name, column), value in zip(COLUMNS.items(), astuple(row), strict=True):
            if name == "minute":
                out[column] = minute_text(value)
            elif name in PLACES:
                out[column] = str(value.quantize(Decimal(1).scaleb(-PLACES[name])))
            else:
                out[column] = value
    return out


def minute_text(minute_ms: int) -> str:
    """The TIME column's text for a minute: 'YYYY-MM-DD HH:MM:SS', UTC."""
    return datetime.fromtimestamp(minute_ms / 1000, tz=UTC).strftime(TIME_FORMAT)


def minute_ms(value: datetime | str) -> int:
    """A TIME value (a datetime from MySQL, text from SQLite or a file) -> ms since the epoch."""
    moment = value if isinstance(value, datetime) else datetime.strptime(value, TIME_FORMAT)
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)
