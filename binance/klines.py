"""Binance's 1-minute candlesticks (klines), to check our minute rows against.

Two sources, one `Kline`: rows of public-data files (`read_klines`), and the kline contract
for closed klines of the WebSocket stream ``<symbol>@kline_1m`` (`parse_kline_event`), which
the producer checks before publishing and the aggregator checks again before storing. Klines
fetched from REST ``/api/v3/klines`` are rendered into the same event shape by the producer.

The kline contract is the trade contract's (``binance.contract``) applied to a kline event:

=================  ==========================================================================
field              rule
=================  ==========================================================================
the line           at most ``MAX_KLINE_EVENT_BYTES`` (4 KiB; a real one is about 350), UTF-8
                   JSON, no key twice anywhere; a combined-stream frame
                   ``{"stream": ..., "data": ...}`` is unwrapped.
the event          exactly the keys ``e E s k``: ``e`` ``"kline"``, ``E`` an id-sized integer,
                   ``s`` a symbol (the contract's grammar).
``k``              exactly the keys ``KLINE_KEYS``; ``s`` equals the event's ``s``; ``i`` is
                   ``"1m"``; ``x`` is ``true`` (only closed klines are final).
``t``, ``T``       times in the trade window (2017-07-01 to a day ahead of the reader's
                   clock; µs become ms); ``t`` on a whole minute and ``T - t == 59999``.
``o h l c``        prices: the contract's decimal grammar, greater than zero;
                   ``l <= o, c <= h``.
``v V``            base volumes: the same grammar with up to 22 digits before the point
                   (sums of a minute), zero allowed; ``V <= v``.
``q Q``            quote volumes: up to 34 digits before the point, zero allowed; ``Q <= q``.
``n``              trades, an id-sized integer; ``f``, ``L`` (first and last trade id):
                   ids with ``f <= L``, or both -1 when not known (a kline without trades;
                   a kline the producer rendered from REST, which lists no trade ids).
``B``              Binance's "ignore" field: a string of at most 32 characters.
=================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from binance.contract import (
    BASE_SUM_INTEGER_DIGITS,
    QUOTE_SUM_INTEGER_DIGITS,
    checked_id,
    checked_symbol,
    latest_trade_ms,
    plain_decimal,
    sum_decimal,
    trade_ms,
)
from binance.errors import BadLineError, UnreadableFileError
from binance.events import MINUTE_MS
from binance.parse import now_ms, strict_json, to_milliseconds

if TYPE_CHECKING:
    from binance.files import Rejected

KLINE_EVENT_TYPE = "kline"
KLINE_INTERVAL = "1m"
MAX_KLINE_EVENT_BYTES = 4096
# The keys of a kline event and of its ``k`` object, in Binance's order; each exactly once.
KLINE_EVENT_KEYS = ("e", "E", "s", "k")
KLINE_KEYS = ("t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B")
_IGNORE_MAX_LENGTH = 32
_NAMES = {
    "t": "open_time",
    "T": "close_time",
    "s": "symbol",
    "i": "interval",
    "f": "first_trade_id",
    "L": "last_trade_id",
    "o": "open",
    "c": "close",
    "h": "high",
    "l": "low",
    "v": "volume",
    "n": "trades",
    "x": "closed",
    "q": "quote_volume",
    "V": "taker_buy_base",
    "Q": "taker_buy_quote",
    "B": "ignore",
}


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
    # binance.files routes kline lines of event streams here, so it imports this module.
    from binance.files import Rejected, describe_file_name, iter_lines

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


def is_kline_event(line: bytes) -> bool:
    """Whether a line claims to be a kline event (the aggregator's routing test: cheap, no
    parse). A line that claims it and breaks the contract is a bad kline, not a bad trade."""
    head = line[:128]  # the type comes first, after a combined-stream frame's "stream" at most
    return b'"e":"kline"' in head or b'"e": "kline"' in head


def parse_kline_event(line: bytes | str, *, now: int | None = None) -> Kline:
    """One closed 1-minute kline event (the module's contract), or `BadLineError` naming the
    field and what is wrong with it.

    ``now`` (ms since the epoch) is the reader's clock for the time window; the system clock
    when not given.

    Examples
    --------
    >>> parse_kline_event(
    ...     b'{"e":"kline","E":1767225660001,"s":"BTCUSDT","k":{"t":1767225600000,'
    ...     b'"T":1767225659999,"s":"BTCUSDT","i":"1m","f":5723703861,"L":5723705053,'
    ...     b'"o":"87648.21000000","c":"87648.00000000","h":"87648.22000000",'
    ...     b'"l":"87632.74000000","v":"4.08049000","n":1193,"x":true,"q":"357625.77686200",'
    ...     b'"V":"1.79879000","Q":"157651.51495070","B":"0"}}', now=1767225660001).trades
    1193
    """
    raw = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else bytes(line)
    if len(raw) > MAX_KLINE_EVENT_BYTES:
        raise BadLineError(f"a kline event of {len(raw)} bytes is longer than {MAX_KLINE_EVENT_BYTES}")
    obj = strict_json(raw)
    if isinstance(obj, dict) and obj.keys() == {"stream", "data"}:
        obj = obj["data"]  # combined stream: {"stream": "btcusdt@kline_1m", "data": {...}}
    event = _exact_keys(obj, KLINE_EVENT_KEYS, "the kline event")
    if event["e"] != KLINE_EVENT_TYPE:
        raise BadLineError(f"field e (event type): {event['e']!r} is not {KLINE_EVENT_TYPE!r}")
    checked_id(_integer(event, "E", "E (event_time)"), "E (event_time)")
    symbol = checked_symbol(event["s"])
    k = _exact_keys(event["k"], KLINE_KEYS, "field k (the kline)")
    if k["s"] != symbol:
        raise BadLineError(f"field k.s (symbol): {k['s']!r} is not the event's symbol {symbol!r}")
    if k["i"] != KLINE_INTERVAL:
        raise BadLineError(
            f"field k.i (interval): {k['i']!r} is not {KLINE_INTERVAL!r}: only 1-minute klines "
            "can be compared with minute rows"
        )
    if k["x"] is not True:
        raise BadLineError(f"field k.x (closed): {k['x']!r} is not true: only a closed kline is final")
    latest = latest_trade_ms(now_ms() if now is None else now)
    open_time = trade_ms(_integer(k, "t"), latest, _field("t"))
    close_time = trade_ms(_integer(k, "T"), latest, _field("T"))
    if open_time % MINUTE_MS:
        raise BadLineError(f"field {_field('t')}: {k['t']} is not the start of a minute")
    if close_time - open_time != MINUTE_MS - 1:
        raise BadLineError(
            f"field {_field('T')}: {k['T']} is not open_time {k['t']} + 59999 (a 1-minute kline)"
        )
    trades = checked_id(_integer(k, "n"), _field("n"))
    first, last = _trade_id(k, "f"), _trade_id(k, "L")
    # Both -1: the trade ids are not known. A minute without trades has none, and klines from
    # REST /api/v3/klines carry none (the producer renders them into this shape with -1).
    if first > last or (first < 0) != (last < 0):
        raise BadLineError(
            f"fields k.f, k.L (first, last trade id): {first}, {last} do not bound {trades} trades"
        )
    open_, high, low, close = (plain_decimal(k[key], _field(key)) for key in "ohlc")
    if not low <= min(open_, close) or not max(open_, close) <= high:
        raise BadLineError(
            f"fields k.o, k.h, k.l, k.c: low {low} and high {high} "
            f"do not bound open {open_} and close {close}"
        )
    volume, buy_base = (sum_decimal(k[key], _field(key), BASE_SUM_INTEGER_DIGITS) for key in "vV")
    quote, buy_quote = (sum_decimal(k[key], _field(key), QUOTE_SUM_INTEGER_DIGITS) for key in "qQ")
    if buy_base > volume:
        raise BadLineError(f"field {_field('V')}: {buy_base} is more than the volume {volume}")
    if buy_quote > quote:
        raise BadLineError(f"field {_field('Q')}: {buy_quote} is more than the quote volume {quote}")
    if not isinstance(k["B"], str) or len(k["B"]) > _IGNORE_MAX_LENGTH:
        raise BadLineError(f"field {_field('B')}: not a string of at most {_IGNORE_MAX_LENGTH} characters")
    return Kline(symbol, open_time, open_, high, low, close, volume, quote, trades, buy_base, buy_quote)


def _field(key: str) -> str:
    return f"k.{key} ({_NAMES[key]})"


def _exact_keys(obj: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise BadLineError(f"{what}: expected a JSON object, got {type(obj).__name__}")
    missing = [key for key in keys if key not in obj]
    unknown = [key for key in obj if key not in keys]
    if missing or unknown:
        said = "; ".join(
            part
            for part in (
                missing and f"missing {', '.join(missing)}",
                unknown and f"unknown {', '.join(repr(key)[:40] for key in unknown[:5])}",
            )
            if part
        )
        raise BadLineError(f"{what}: {said} (it has exactly the keys {', '.join(keys)})")
    return obj


def _integer(obj: dict[str, Any], key: str, field: str | None = None) -> int:
    value = obj[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadLineError(f"field {field or _field(key)}: {repr(value)[:40]} is not an integer")
    return value


def _trade_id(k: dict[str, Any], key: str) -> int:
    value = _integer(k, key)
    return value if value == -1 else checked_id(value, _field(key))
