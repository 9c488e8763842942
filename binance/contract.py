"""The trade contract: what a valid aggregate trade is, stated once for every reader.

Every byte that becomes an `AggTrade` passes these rules, whether it arrived as a
WebSocket frame, a REST answer, an ndjson line of an S3 object or a row of a Binance
public-data CSV file (``binance.parse``); the bulk loader applies the same constants in
SQL. A line that breaks any rule is rejected with a reason naming the field; nothing is
clamped, rounded or guessed.

=================  ==========================================================================
field              rule
=================  ==========================================================================
symbol ``s``       ``SYMBOL_PATTERN``: upper-case ASCII letters and digits, with single ``_``
                   between them (futures names: ``BTCUSD_PERP``), ``SYMBOL_MIN_LENGTH`` to
                   ``SYMBOL_MAX_LENGTH`` (2-32) characters. Stored with a binary collation.
ids ``a f l``      integers, ``0 <= id < ID_LIMIT`` (2^63: a signed BIGINT). ``first <= last``,
                   and ``last - first < MAX_TRADES_PER_AGG`` (2^31).
price ``p``,       text matching ``DECIMAL_PATTERN``: plain decimal digits, at most
quantity ``q``     ``DECIMAL_INTEGER_DIGITS`` (12) before the point and ``DECIMAL_PLACES`` (8)
                   after it, no sign, exponent, ``_``, space or leading zero; greater than zero.
                   So ``0 < value <= DECIMAL_MAX`` (999999999999.99999999): DECIMAL(20, 8).
sums              a kline's volumes (``binance.klines``): the same grammar with up to
                   ``BASE_SUM_INTEGER_DIGITS`` (22) or ``QUOTE_SUM_INTEGER_DIGITS`` (34) digits
                   before the point, zero allowed: a minute's sums, sized like its columns.
trade time ``T``   ms since the epoch, or µs when ``>= MICROSECONDS_FROM`` (made ms); within
                   ``[EARLIEST_TRADE_MS, now + FUTURE_TOLERANCE_MS]``: 2017-07-01 (before
                   Binance opened) to one day ahead of the reader's clock.
``m``, ``M``       JSON ``true``/``false`` (CSV: ``True``/``False``/``true``/``false``).
the event          a JSON object with exactly the keys Binance sends, each once:
                   ``e`` (``"aggTrade"``), ``E`` (an id-sized integer), ``s a p q f l T m M``;
                   optionally wrapped as a combined-stream frame ``{"stream": ..., "data": ...}``;
                   valid UTF-8 JSON. Anything else (other keys, nesting, a repeated key) is a reject.
=================  ==========================================================================

Why the bounds hold every minute row without overflow (columns in ``sql/mysql/``): we
assume at most ``MAX_AGG_TRADES_PER_MINUTE`` (2^31 - 1) aggregate trades of one symbol in
one minute: 35 million a second, 25 times Binance's advertised matching-engine capacity
of 1.4 million orders a second (every aggregate trade consumes one taker order), and 280
GiB of ``agg_trades`` rows for that one minute, more than the database can hold. Under
that bound a minute's sums fit their columns: counts in BIGINT, individual trades
``< 2^31 * 2^31 = 2^62`` in BIGINT, quantity ``< 2^31 * 10^12 < 10^22`` in DECIMAL(30, 8),
quote volume ``< 2^31 * 10^24 < 10^34`` in DECIMAL(50, 16).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from binance.errors import BadLineError

# -- the bounds, as named constants (the bulk loader's SQL applies the same) ----------------

SYMBOL_PATTERN = r"[A-Z0-9]+(?:_[A-Z0-9]+)*"  # a full match; RE2 (DuckDB), PCRE and Python agree
SYMBOL_MIN_LENGTH = 2
SYMBOL_MAX_LENGTH = 32

ID_LIMIT = 2**63  # ids are 0 <= id < ID_LIMIT
MAX_TRADES_PER_AGG = 2**31  # last - first < MAX_TRADES_PER_AGG

DECIMAL_INTEGER_DIGITS = 12
DECIMAL_PLACES = 8


def decimal_pattern(integer_digits: int) -> str:
    """The one decimal grammar, with at most ``integer_digits`` before the point."""
    return rf"(?:0|[1-9][0-9]{{0,{integer_digits - 1}}})(?:\.[0-9]{{1,{DECIMAL_PLACES}}})?"


DECIMAL_PATTERN = decimal_pattern(DECIMAL_INTEGER_DIGITS)  # a full match, then > 0
DECIMAL_MAX = Decimal("999999999999.99999999")
# Sums over a minute (a kline's volumes), sized like the minute columns: quantities below
# 2^31 * 10^12 < 10^22 (DECIMAL(30, 8)), quote amounts below 10^34. Zero is a valid sum.
BASE_SUM_INTEGER_DIGITS = 22
QUOTE_SUM_INTEGER_DIGITS = 34

EARLIEST_TRADE_MS = 1_498_867_200_000  # 2017-07-01T00:00:00Z
FUTURE_TOLERANCE_MS = 86_400_000  # a trade may be stamped up to a day ahead of our clock
MICROSECONDS_FROM = 10**14  # 10^14 ms is the year 5138, 10^14 µs is 1973

MAX_AGG_TRADES_PER_MINUTE = 2**31 - 1  # the assumption the minute columns are sized for

# The keys of a WebSocket aggTrade event, in Binance's order; each must appear exactly once.
EVENT_KEYS = ("e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M")
EVENT_TYPE = "aggTrade"

_SYMBOL = re.compile(SYMBOL_PATTERN).fullmatch
_DECIMAL = re.compile(DECIMAL_PATTERN).fullmatch
_ID_TEXT = re.compile(r"0|[1-9][0-9]{0,18}").fullmatch
_SYMBOL_RULE = (
    f"{SYMBOL_MIN_LENGTH} to {SYMBOL_MAX_LENGTH} upper-case ASCII letters and digits, "
    "with single '_' between them"
)


def _decimal_rule(integer_digits: int) -> str:
    return (
        f"plain decimal text: digits, at most {integer_digits} before an optional point and "
        f"{DECIMAL_PLACES} after it, no sign, exponent, '_', space or leading zero"
    )


_DECIMAL_RULE = _decimal_rule(DECIMAL_INTEGER_DIGITS)

# Valid decimal texts seen lately and their values. Prices and quantities repeat (the sample's
# 10,000 figures hold 2,871 distinct texts), so most fields cost one dict lookup; a Decimal is
# immutable, so sharing one is safe, and it saves memory too. Bounded: emptied when full.
# Parsers read them directly in their hot loop (a hit needs no call); only valid values enter.
DECIMAL_CACHE: dict[str, Decimal] = {}
SYMBOL_CACHE: set[str] = set()  # valid symbols seen; a handful
_DECIMALS_MAX = 32_768
_SYMBOLS_MAX = 4_096


def latest_trade_ms(now_ms: int) -> int:
    """The latest trade time accepted by a reader whose clock says ``now_ms``."""
    return now_ms + FUTURE_TOLERANCE_MS


def checked_symbol(text: str, field: str = "s (symbol)") -> str:
    """``text`` if it is a symbol, else `BadLineError` saying why."""
    if text in SYMBOL_CACHE:
        return text
    if (
        not isinstance(text, str)
        or not SYMBOL_MIN_LENGTH <= len(text) <= SYMBOL_MAX_LENGTH
        or _SYMBOL(text) is None
    ):
        raise BadLineError(f"field {field}: {_shown(text)} is not a symbol ({_SYMBOL_RULE})")
    if len(SYMBOL_CACHE) >= _SYMBOLS_MAX:
        SYMBOL_CACHE.clear()
    SYMBOL_CACHE.add(text)
    return text


def plain_decimal(text: str, field: str) -> Decimal:
    """The value of a price or quantity text, or `BadLineError` saying why not."""
    value = DECIMAL_CACHE.get(text)
    if value is not None:
        return value
    if not isinstance(text, str) or _DECIMAL(text) is None:
        raise BadLineError(f"field {field}: {_shown(text)} is not {_DECIMAL_RULE}")
    value = Decimal(text)
    if not value:
        raise BadLineError(f"field {field}: {text!r} is not greater than zero")
    if len(DECIMAL_CACHE) >= _DECIMALS_MAX:
        DECIMAL_CACHE.clear()
    DECIMAL_CACHE[text] = value
    return value


_SUMS = {
    digits: re.compile(decimal_pattern(digits)).fullmatch
    for digits in (BASE_SUM_INTEGER_DIGITS, QUOTE_SUM_INTEGER_DIGITS)
}


def sum_decimal(text: str, field: str, integer_digits: int = BASE_SUM_INTEGER_DIGITS) -> Decimal:
    """The value of a sum's text (a kline's volume): the decimal grammar with
    ``integer_digits`` before the point, zero allowed; else `BadLineError` saying why."""
    if not isinstance(text, str) or _SUMS[integer_digits](text) is None:
        raise BadLineError(f"field {field}: {_shown(text)} is not {_decimal_rule(integer_digits)}")
    return DECIMAL_CACHE.get(text) or Decimal(text)


def checked_id(value: int, field: str) -> int:
    if not 0 <= value < ID_LIMIT:
        raise BadLineError(f"field {field}: {value} is not an id (0 <= id < 2^63)")
    return value


def id_from_text(text: str, field: str) -> int:
    """A CSV id: plain digits, no sign, space or ``_`` (``int()`` would take all three)."""
    if _ID_TEXT(text) is None:
        raise BadLineError(f"field {field}: {_shown(text)} is not an id (plain digits, below 2^63)")
    return checked_id(int(text), field)


def checked_span(first: int, last: int) -> None:
    if last < first:
        raise BadLineError(f"last trade id {last} is below first trade id {first}")
    if last - first >= MAX_TRADES_PER_AGG:
        raise BadLineError(
            f"last trade id {last} - first trade id {first} = {last - first} is not below 2^31: "
            "no aggregate trade holds that many trades"
        )


def trade_ms(time: int, latest_ms: int, field: str = "T (trade_time)") -> int:
    """A trade time in ms (µs made ms), inside the accepted window, else `BadLineError`."""
    ms = time // 1000 if time >= MICROSECONDS_FROM else time
    if ms < EARLIEST_TRADE_MS:
        raise BadLineError(f"field {field}: {time} is before 2017-07-01, when Binance opened")
    if ms > latest_ms:
        raise BadLineError(
            f"field {field}: {time} is after {_iso(latest_ms)}, a day ahead of this reader's clock"
        )
    return ms


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def _shown(value: object) -> str:
    """A field's value for a message: its repr, cut short (a reject may be 64 KiB long)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
