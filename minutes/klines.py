"""Binance's klines in the database, and the minute check against them.

Tables and view (``sql/<dialect>/011_minute_check.sql``):

- ``binance_klines``: one closed 1-minute kline per symbol and minute, exact. Stored by the
  aggregator in the same transaction as the trades of the object that carried it
  (`store_klines`). A closed kline is final at Binance, so the same kline again changes
  nothing and a different one for the same minute replaces it (logged: it should not happen).
- ``minute_check``: per symbol and minute, our row beside the kline, ``STATUS`` (``agrees``,
  ``differs``, ``no_kline``, ``pending``) and ``DIFFERING`` (the fields, comma-separated).
- ``minute_check_settings``: the pending delay, in the database so that the view (and anyone
  reading it) applies it; `set_pending_delay` changes it.

`check_summary` counts a window of the view and lists the differing minutes with both values;
`summary_text` is the one line ``cryptotrades status`` and the dashboard show. Everything goes
through the store's public ``execute`` (``?`` placeholders, both dialects).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from binance.events import MINUTE_MS
from binance.klines import Kline
from minutes.aggregate import minute_ms, minute_text
from minutes.store import Store

logger = logging.getLogger(__name__)

AGREES, DIFFERS, NO_KLINE, PENDING = "agrees", "differs", "no_kline", "pending"
STATUSES = (AGREES, DIFFERS, NO_KLINE, PENDING)
DEFAULT_PENDING_S = 120  # the migration's default: late trades may arrive for two minutes
WINDOW_MS = 24 * 60 * MINUTE_MS  # what status, the dashboard and the metrics look at
KLINE_PLACES = 8  # Binance prints every kline decimal with 8 places

_COLUMNS = (
    "symbol, open_time, price_open, price_high, price_low, price_close, volume, quote_volume, trades,"
    " taker_buy_base, taker_buy_quote"
)
_SELECT = f"SELECT {_COLUMNS} FROM binance_klines"  # noqa: S608 - constant columns
_INSERT = f"INSERT INTO binance_klines ({_COLUMNS}, stored_at) VALUES ({', '.join('?' * 12)})"  # noqa: S608
_UPDATE = (
    "UPDATE binance_klines SET price_open = ?, price_high = ?, price_low = ?, price_close = ?, volume = ?,"
    " quote_volume = ?, trades = ?, taker_buy_base = ?, taker_buy_quote = ?, stored_at = ?"
    " WHERE symbol = ? AND open_time = ?"
)
# The view's value columns: (field name as verify and DIFFERING say it, our column, the kline's).
FIELDS = (
    ("open", "PRICE_OPEN", "KLINE_PRICE_OPEN"),
    ("high", "PRICE_HIGH", "KLINE_PRICE_HIGH"),
    ("low", "PRICE_LOW", "KLINE_PRICE_LOW"),
    ("close", "PRICE_CLOSE", "KLINE_PRICE_CLOSE"),
    ("volume", "VOLUME", "KLINE_VOLUME"),
    ("quote_volume", "QUOTE_VOLUME", "KLINE_QUOTE_VOLUME"),
    ("trades", "TRADES", "KLINE_TRADES"),
    ("taker_buy_base", "TAKER_BUY_BASE", "KLINE_TAKER_BUY_BASE"),
    ("taker_buy_quote", "TAKER_BUY_QUOTE", "KLINE_TAKER_BUY_QUOTE"),
)
_VALUE_COLUMNS = ", ".join(f"{ours}, {theirs}" for _, ours, theirs in FIELDS)


@dataclass(frozen=True, slots=True)
class StoredKlines:
    """What `store_klines` did: klines new to the table, replacing a different one, or the same again."""

    new: int = 0
    replaced: int = 0
    same: int = 0


@dataclass(frozen=True, slots=True)
class FieldDifference:
    field: str  # as minutes/verify.py names it: open, ..., trades, taker_buy_quote
    ours: Decimal | int | None  # None: no minute row
    kline: Decimal | int


@dataclass(frozen=True, slots=True)
class MinuteDifference:
    symbol: str
    minute: int  # ms
    fields: tuple[FieldDifference, ...]

    @property
    def without_row(self) -> bool:
        """A kline with trades and no minute row at all."""
        return any(f.ours is None for f in self.fields)


@dataclass(frozen=True, slots=True)
class CheckSummary:
    """The minute check over ``[start_ms, end_ms)``: minutes by status, and the differing ones."""

    start_ms: int
    end_ms: int
    counts: dict[str, int]
    differing: list[MinuteDifference] = field(default_factory=list)  # up to the caller's limit
    without_row: int = 0  # differing minutes that have no row at all (a kline with trades)

    @property
    def checked(self) -> int:
        """Minutes past the delay that have a kline: they agree or differ."""
        return self.counts[AGREES] + self.counts[DIFFERS]


def store_klines(store: Store, klines: Iterable[Kline], *, now_ms: int | None = None) -> StoredKlines:
    """Store closed klines in the caller's transaction: new ones inserted, a different one
    for a stored minute replaces it, the same one again changes nothing."""
    latest: dict[tuple[str, int], Kline] = {}
    for kline in klines:  # a later kline of the same minute wins, as it would one by one
        latest[(kline.symbol, kline.open_time)] = kline
    if not latest:
        return StoredKlines()
    stamp = _stamp(now_ms)
    new = replaced = same = 0
    for (symbol, minute), kline in sorted(latest.items()):
        found = store.execute(f"{_SELECT} WHERE symbol = ? AND open_time = ?", (symbol, minute_text(minute)))
        if not found:
            store.execute(_INSERT, (*_params(kline), stamp))
            new += 1
        elif _kline(found[0]) == kline:
            same += 1
        else:
            logger.warning(
                "kline of %s %s replaced: stored %s, now %s", symbol, minute_text(minute), found[0], kline
            )
            values = _params(kline)
            store.execute(_UPDATE, (*values[2:], stamp, symbol, values[1]))
            replaced += 1
    return StoredKlines(new, replaced, same)


def stored_klines(
    store: Store, symbol: str | None = None, start_ms: int | None = None, end_ms: int | None = None
) -> list[Kline]:
    """Stored klines, by symbol and time; ``start_ms`` inclusive, ``end_ms`` exclusive."""
    where, params = _window("open_time", symbol, start_ms, end_ms)
    found = store.execute(f"{_SELECT}{where} ORDER BY symbol, open_time", params)
    store.rollback()  # end the read, so the next one sees other writers' commits
    return [_kline(values) for values in found]


def newest_kline_minute(store: Store) -> int | None:
    """The open time (ms) of the newest stored kline; None when there is none."""
    ((newest,),) = store.execute("SELECT MAX(open_time) FROM binance_klines")
    store.rollback()
    return None if newest is None else minute_ms(newest)


def pending_delay(store: Store) -> int:
    """Seconds after its close that a minute stays ``pending``."""
    found = store.execute("SELECT pending_seconds FROM minute_check_settings WHERE id = 1")
    store.rollback()
    return int(found[0][0]) if found else DEFAULT_PENDING_S


def set_pending_delay(store: Store, seconds: int) -> None:
    """Change the pending delay (the view reads it on every query)."""
    if seconds < 0:
        raise ValueError(f"the pending delay is at least 0 seconds, not {seconds}")
    with store.writing():
        store.execute("DELETE FROM minute_check_settings WHERE id = 1")
        store.execute("INSERT INTO minute_check_settings (id, pending_seconds) VALUES (1, ?)", (seconds,))


def recent_window(store: Store) -> tuple[int, int] | None:
    """The 24 hours up to the newest stored kline's minute, or None when no kline is stored.

    Ending at the newest kline rather than at the clock keeps the window on the data: live it
    is the last 24 h; for a replay of an old day it is that day."""
    newest = newest_kline_minute(store)
    if newest is None:
        return None
    end = newest + MINUTE_MS
    return end - WINDOW_MS, end


def check_summary(
    store: Store, start_ms: int, end_ms: int, symbol: str | None = None, *, limit: int = 100
) -> CheckSummary:
    """Minutes of ``[start_ms, end_ms)`` by status, and the first ``limit`` differing ones
    with the fields that differ and both values.

    Two queries, counts then the differing minutes' values: on MariaDB, fetching a day's
    values to count them in Python took twice as long (bench/minute_check.py)."""
    where, params = _window("TIME", symbol, start_ms, end_ms)
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in store.execute(
        f"SELECT STATUS, COUNT(*) FROM minute_check{where} GROUP BY STATUS",  # noqa: S608 - constant
        params,
    ):
        counts[str(status)] = int(count)
    differing = differing_minutes(store, start_ms, end_ms, symbol) if counts[DIFFERS] else []
    return CheckSummary(
        start_ms,
        end_ms,
        counts,
        differing[:limit],
        without_row=sum(1 for minute in differing if minute.without_row),
    )


def differing_minutes(
    store: Store, start_ms: int, end_ms: int, symbol: str | None = None
) -> list[MinuteDifference]:
    """The minutes of ``[start_ms, end_ms)`` that differ from their kline, oldest first, with
    the fields that differ and both values."""
    where, params = _window("TIME", symbol, start_ms, end_ms)
    found = store.execute(
        f"SELECT symbol, TIME, DIFFERING, {_VALUE_COLUMNS} FROM minute_check"  # noqa: S608 - constant
        f"{where} AND STATUS = ? ORDER BY symbol, TIME",
        (*params, DIFFERS),
    )
    store.rollback()  # end the read, so the next one sees other writers' commits
    return [_difference(values) for values in found]


def summary_text(summary: CheckSummary | None, *, shown: int = 3) -> str:
    """The status line: ``last 24 h: 1,438 of 1,440 minutes agree with Binance; 2 differ:
    13:07 trades 1192 vs 1193, ...`` (ours first), or that no kline is stored yet."""
    if summary is None:
        return "minute check: no klines stored yet"
    counts = summary.counts
    hours = (summary.end_ms - summary.start_ms) // (60 * MINUTE_MS)
    text = f"last {hours} h: {counts[AGREES]:,} of {summary.checked:,} minutes agree with Binance"
    if counts[DIFFERS]:
        listed = "; ".join(difference_text(minute) for minute in summary.differing[:shown])
        more = " …" if counts[DIFFERS] > min(shown, len(summary.differing)) else ""
        text += f"; {counts[DIFFERS]:,} differ: {listed}{more}"
    extras = [
        f"{counts[NO_KLINE]:,} without a kline" if counts[NO_KLINE] else "",
        f"{counts[PENDING]:,} pending" if counts[PENDING] else "",
    ]
    return "; ".join([text, *(extra for extra in extras if extra)])


def difference_text(minute: MinuteDifference) -> str:
    """``13:07 trades 1192 vs 1193`` (ours vs the kline's), the fields of one minute."""
    when = datetime.fromtimestamp(minute.minute / 1000, tz=UTC)
    if minute.without_row:
        trades = next(f.kline for f in minute.fields if f.field == "trades")
        return f"{when:%H:%M} no row (the kline has {trades} trades)"
    parts = ", ".join(f"{f.field} {_shown(f.ours)} vs {_shown(f.kline)}" for f in minute.fields)
    return f"{when:%H:%M} {parts}"


def _shown(value: Decimal | int | None) -> str:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


def _window(
    column: str, symbol: str | None, start_ms: int | None, end_ms: int | None
) -> tuple[str, list[Any]]:
    where, params = [], []
    if symbol is not None:
        where.append("symbol = ?")
        params.append(symbol)
    if start_ms is not None:
        where.append(f"{column} >= ?")
        params.append(minute_text(start_ms))
    if end_ms is not None:
        where.append(f"{column} < ?")
        params.append(minute_text(end_ms))
    return (f" WHERE {' AND '.join(where)}" if where else ""), params


def _stamp(now_ms: int | None) -> str:
    moment = datetime.now(UTC) if now_ms is None else datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _text(value: Decimal) -> str:
    """A kline decimal as the table holds it: exact, at Binance's 8 places (equal numbers print alike)."""
    return str(value.quantize(Decimal(1).scaleb(-KLINE_PLACES)))


def _params(kline: Kline) -> tuple[Any, ...]:
    return (
        kline.symbol,
        minute_text(kline.open_time),
        _text(kline.open),
        _text(kline.high),
        _text(kline.low),
        _text(kline.close),
        _text(kline.volume),
        _text(kline.quote_volume),
        kline.trades,
        _text(kline.taker_buy_base),
        _text(kline.taker_buy_quote),
    )


def _kline(values: Sequence[Any]) -> Kline:
    symbol, open_time, *numbers = values
    o, h, low, c, volume, quote, trades, buy_base, buy_quote = numbers
    return Kline(
        str(symbol),
        minute_ms(open_time),
        *(Decimal(str(v)) for v in (o, h, low, c, volume, quote)),
        int(trades),
        Decimal(str(buy_base)),
        Decimal(str(buy_quote)),
    )


def _difference(values: Sequence[Any]) -> MinuteDifference:
    symbol, time, differing, *pairs = values
    named = {name: (pairs[2 * i], pairs[2 * i + 1]) for i, (name, _, _) in enumerate(FIELDS)}
    fields = []
    for name in dict.fromkeys(str(differing).split(",")):  # 'trades' may be named twice: no row
        ours, theirs = named[name]
        fields.append(FieldDifference(name, _number(name, ours), _number(name, theirs)))  # type: ignore[arg-type]
    return MinuteDifference(str(symbol), minute_ms(time), tuple(fields))


def _number(name: str, value: Any) -> Decimal | int | None:
    if value is None:
        return None
    return int(value) if name == "trades" else Decimal(str(value))
