"""Check minute rows against Binance's own 1-minute klines, column by column.

Only minutes the data covers completely are compared: a minute is complete when the
trades just before and just after it (by agg id) are in the data, or when a daily
public-data file's first or last minute is the day's own first or last.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from binance.events import MINUTE_MS, AggTrade
from binance.klines import Kline
from minutes.aggregate import MinuteRow

_DAY_MS = 24 * 60 * MINUTE_MS


@dataclass(frozen=True, slots=True)
class Difference:
    symbol: str
    minute: int
    column: str  # the kline's column name
    ours: Decimal | int | None  # None: we have no row for a minute the kline says had trades
    kline: Decimal | int


@dataclass(slots=True)
class Verdict:
    compared: int = 0  # complete minutes that both sides have
    skipped: int = 0  # klines of minutes the data does not cover completely
    differences: list[Difference] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return self.compared > 0 and not self.differences


def complete_minutes(trades: Iterable[AggTrade], whole_days: Iterable[date] = ()) -> dict[str, set[int]]:
    """The minutes of each symbol whose every trade is in ``trades``.

    Agg ids rise with time, so a minute is complete when its ids run without a hole and
    the ids just before and just after it are held too. ``whole_days`` are days the data
    is known to start and end with (Binance daily files): there, the day's first and
    last minute need no neighbour outside the day.
    """
    day_starts = {int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000) for d in whole_days}
    day_ends = {start + _DAY_MS - MINUTE_MS for start in day_starts}
    ids: dict[str, set[int]] = defaultdict(set)
    minutes: dict[tuple[str, int], list[int]] = defaultdict(list)
    for trade in trades:
        if trade.agg_id not in ids[trade.symbol]:
            ids[trade.symbol].add(trade.agg_id)
            minutes[(trade.symbol, trade.minute)].append(trade.agg_id)
    complete: dict[str, set[int]] = defaultdict(set)
    for (symbol, minute), held in minutes.items():
        first, last = min(held), max(held)
        if (
            last - first + 1 == len(held)
            and (first - 1 in ids[symbol] or minute in day_starts)
            and (last + 1 in ids[symbol] or minute in day_ends)
        ):
            complete[symbol].add(minute)
    return complete


def compare(rows: Iterable[MinuteRow], klines: Iterable[Kline], complete: dict[str, set[int]]) -> Verdict:
    """Every difference between our rows and the klines, over complete minutes only."""
    ours = {(row.symbol, row.minute): row for row in rows}
    verdict = Verdict()
    for kline in sorted(klines, key=lambda k: (k.symbol, k.open_time)):
        if kline.open_time not in complete.get(kline.symbol, ()):
            verdict.skipped += 1
            continue
        verdict.compared += 1
        row = ours.get((kline.symbol, kline.open_time))
        if row is None:
            if kline.trades:
                verdict.differences.append(
                    Difference(kline.symbol, kline.open_time, "trades", None, kline.trades)
                )
            continue
        for column, mine, theirs in _pairs(row, kline):
            if not published_as(mine, theirs):
                verdict.differences.append(Difference(kline.symbol, kline.open_time, column, mine, theirs))
    return verdict


def _pairs(row: MinuteRow, kline: Kline) -> list[tuple[str, Decimal | int, Decimal | int]]:
    return [
        ("open", row.open, kline.open),
        ("high", row.high, kline.high),
        ("low", row.low, kline.low),
        ("close", row.close, kline.close),
        ("volume", row.btc_buy + row.btc_sell, kline.volume),
        ("quote_volume", row.usd_buy + row.usd_sell, kline.quote_volume),
        ("trades", row.trades_buy + row.trades_sell, kline.trades),
        ("taker_buy_base", row.btc_buy, kline.taker_buy_base),
        ("taker_buy_quote", row.usd_buy, kline.taker_buy_quote),
    ]


def published_as(exact: Decimal | int, published: Decimal | int) -> bool:
    """Whether ``published`` is ``exact`` as Binance would print it.

    Equal numbers agree. When our exact value has more decimal places than Binance
    printed, it agrees if it is our value cut or rounded to those places; so a kline
    one unit off in its last digit is a difference.
    """
    if exact == published:
        return True
    if isinstance(exact, int) or isinstance(published, int):
        return False
    places = -published.as_tuple().exponent
    if not isinstance(places, int) or -exact.as_tuple().exponent <= places:
        return False
    quantum = Decimal(1).scaleb(-places)
    return any(
        exact.quantize(quantum, rounding=mode) == published
        for mode in (ROUND_DOWN, ROUND_HALF_UP, ROUND_HALF_EVEN)
    )
