"""Readers for trade data at rest: captured streams (ndjson) and Binance public-data CSV files.

A file may be plain, ``.gz`` or ``.zip`` (Binance's own packaging). Its format is told by
its first line: ``{`` starts newline-delimited events, anything else is an aggTrades CSV,
with or without header. CSV rows carry no symbol: it comes from Binance's file name
(``BTCUSDT-aggTrades-2026-01-01.zip``) or from the caller.
"""

from __future__ import annotations

import gzip
import itertools
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from binance.errors import BadLineError, UnreadableFileError
from binance.events import AggTrade
from binance.parse import parse_csv_row, parse_event, parse_event_batch

_DATA_FILE_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9_]+)-(?P<kind>aggTrades|trades|\d+[smhdwM])-(?P<period>\d{4}-\d{2}(?:-\d{2})?)"
)


# COIN-M (inverse) futures: BTCUSD_PERP, BTCUSD_250328. Their quantities are contracts (100 USD
# each for BTC), not coins, so summing them as BTC would be wrong by orders of magnitude.
_COIN_MARGINED = re.compile(r"^[A-Z0-9]+USD_(?:PERP|\d{6})$")


def refuse_coin_margined(symbol: str, where: str | Path) -> None:
    """Raise `UnreadableFileError` for a COIN-M futures market, which we cannot value yet."""
    if _COIN_MARGINED.match(symbol):
        raise UnreadableFileError(
            f"{where}: {symbol} is a COIN-M (inverse) futures market: its quantities are contracts "
            "(100 USD each for BTCUSD_PERP), not coins; cryptotrades values spot markets only and "
            "refuses the file rather than mis-value it"
        )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that is not a trade, kept with why and where."""

    line: int
    reason: str
    text: str


@dataclass(slots=True)
class Parsed:
    """What one source held: its trades in order, and its rejected lines."""

    source: str
    trades: list[AggTrade] = field(default_factory=list)
    rejects: list[Rejected] = field(default_factory=list)
    lines: int = 0  # lines that held something (blank lines and a CSV header are not counted)


@dataclass(frozen=True, slots=True)
class FileName:
    """What Binance's public-data file name says: ``BTCUSDT-aggTrades-2026-01-01.zip``."""

    symbol: str
    kind: str  # "aggTrades", "trades", or a kline interval such as "1m"
    day: date | None  # a daily file covers this whole UTC day; None for monthly files


def describe_file_name(path: str | Path) -> FileName | None:
    """Read Binance's naming convention; None for a name that does not follow it."""
    match = _DATA_FILE_NAME.match(Path(path).name)
    if match is None:
        return None
    period = match["period"]
    day = date.fromisoformat(period) if len(period) == 10 else None
    return FileName(symbol=match["symbol"], kind=match["kind"], day=day)


def parse_ndjson(data: bytes, source: str = "<bytes>") -> Parsed:
    """Parse newline-delimited aggTrade events, such as one S3 object written by Vector."""
    try:
        trades = parse_event_batch(data)  # all good: one decoder call for the whole object
    except BadLineError:
        return _parse_event_lines(data.split(b"\n"), source)  # find each bad line and why
    return Parsed(source=source, trades=trades, lines=len(trades))


def read_trades(path: str | Path, symbol: str | None = None) -> Parsed:
    """Read every trade of a captured stream or a public-data aggTrades file.

    ``symbol`` names the market of a CSV file whose name does not; it is ignored for
    events, which carry their own.
    """
    path = Path(path)
    lines = iter_lines(path)
    head: list[bytes] = []
    for line in lines:  # the first line with something on it tells the format
        head.append(line)
        if line.strip():
            break
    if not head or not head[-1].strip():
        return Parsed(source=str(path))
    restored = itertools.chain(head, lines)
    if head[-1].lstrip().startswith(b"{"):
        return _parse_event_lines(restored, str(path))
    if symbol is None:
        named = describe_file_name(path)
        if named is None:
            raise UnreadableFileError(
                f"{path}: cannot tell the symbol of a CSV file named {path.name!r}; "
                "name it like BTCUSDT-aggTrades-2026-01-01.csv or pass --symbol"
            )
        symbol = named.symbol
    refuse_coin_margined(symbol.upper(), path)
    return _parse_csv_lines(restored, symbol.upper(), str(path))


def iter_lines(path: Path) -> Iterator[bytes]:
    """The raw lines of a plain, gzip or zip file (every member of a zip, in order)."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as stream:
            yield from stream
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if not members:
                raise UnreadableFileError(f"{path}: the zip archive is empty")
            for info in members:
                with archive.open(info) as stream:
                    yield from stream
    else:
        with path.open("rb") as stream:
            yield from stream


def _parse_event_lines(lines: Iterable[bytes], source: str) -> Parsed:
    # The hot loop of the aggregator: JSON allows the trailing "\r\n", so lines go to the
    # parser as they are, and only a failing line is looked at twice.
    parsed = Parsed(source=source)
    add, rejects = parsed.trades.append, parsed.rejects
    for number, line in enumerate(lines, 1):
        try:
            add(parse_event(line))
        except BadLineError as exc:
            if line.strip():  # a blank line (a trailing newline makes one) is not data
                rejects.append(Rejected(number, str(exc), line.rstrip(b"\r\n").decode("utf-8", "replace")))
    parsed.lines = len(parsed.trades) + len(rejects)
    return parsed


def _parse_csv_lines(lines: Iterable[bytes], symbol: str, source: str) -> Parsed:
    parsed = Parsed(source=source)
    trades, rejects = parsed.trades, parsed.rejects
    for number, line in enumerate(lines, 1):
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text.strip():
            continue
        fields = text.split(",")
        if number == 1 and fields[0].strip().lstrip("\ufeff") == "agg_trade_id":
            continue  # the header of newer futures files
        try:
            trades.append(parse_csv_row(fields, symbol))
        except BadLineError as exc:
            rejects.append(Rejected(number, str(exc), text))
    parsed.lines = len(trades) + len(rejects)
    return parsed
