"""Binance's candlesticks (klines), read from public-data files to check our minute rows."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from binance.errors import BadLineError, UnreadableFileError
from binance.events import MINUTE_MS
from binance.files import Rejected, describe_file_name, iter_lines
from binance.parse import to_milliseconds


@dataclass(frozen=True, slots=True)
class Kline:
    """One 1-minute kline row: ``open_time, open, high, low, close, volume, close_time,
    quote_volume, trades, taker_buy_base, taker_buy_quote, ignore``."""

    symbol: str
    open_time: int  # ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    taker_buy_base: Decimal
    taker_buy_quote: Decimal


def parse_kline_row(fields: list[str], symbol: str) -> Kline:
    """One CSV row of a Binance 1-minute klines file (times in ms or µs)."""
    if len(fields) < 11:
        raise BadLineError(f"expected 12 columns, got {len(fields)}")
    try:
        open_time = to_milliseconds(int(fields[0]))
        close_time = to_milliseconds(int(fields[6]))
        numbers = [Decimal(fields[i]) for i in (1, 2, 3, 4, 5, 7, 9, 10)]
        trades = int(fields[8])
    except (ValueError, ArithmeticError) as exc:
        raise BadLineError(f"not a kline row: {exc}") from None
    if close_time - open_time != MINUTE_MS - 1:
        raise BadLineError(
            f"open_time {fields[0]} and close_time {fields[6]} are not one minute apart: "
            "only 1-minute klines can be compared with minute rows"
        )
    open_, high, low, close, volume, quote, buy_base, buy_quote = numbers
    return Kline(symbol, open_time, open_, high, low, close, volume, quote, trades, buy_base, buy_quote)


def read_klines(path: str | Path, symbol: str | None = None) -> tuple[list[Kline], list[Rejected]]:
    """Every kline of a public-data klines file (``BTCUSDT-1m-2020-01-01.zip``)."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFileError(f"{path}: no such file")
    if symbol is None:
        named = describe_file_name(path)
        if named is None:
            raise UnreadableFileError(
                f"{path}: cannot tell the symbol from {path.name!r}; "
                "name it like BTCUSDT-1m-2020-01-01.zip or pass --symbol"
            )
        symbol = named.symbol
    klines: list[Kline] = []
    rejects: list[Rejected] = []
    for number, raw in enumerate(iter_lines(path), 1):
        text = raw.decode("utf-8", "replace").strip()
        if not text or (number == 1 and text.startswith("open_time")):
            continue
        try:
            klines.append(parse_kline_row(text.split(","), symbol.upper()))
        except BadLineError as exc:
            rejects.append(Rejected(number, str(exc), text))
    return klines, rejects
