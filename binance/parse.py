"""Parsers: one Binance line (WebSocket event or public-data CSV row) -> one `AggTrade`.

Every parser either returns a valid trade or raises `BadLineError` whose message names
the field and what was wrong with it. Callers that read many lines turn that error into
a rejected line (see `binance.files`); one bad line never costs the good ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import msgspec

from binance.errors import BadLineError
from binance.events import WIRE_NAMES, AggTrade

# Binance quotes prices and quantities with at most 8 decimal places; our columns hold
# exactly that many, so a value with more places would be rounded by the database.
PLACES = 8
_QUANTUM = Decimal(1).scaleb(-PLACES)
_LIMIT = Decimal(10) ** 12  # DECIMAL(20, 8): twelve digits before the point
_ZERO = Decimal(0)
# Times above this are microseconds (Binance spot files from 2025 on), below milliseconds:
# 10**14 ms is the year 5138, 10**14 µs is 1973.
_MICROSECONDS_FROM = 10**14

_DECODER = msgspec.json.Decoder(AggTrade)
_BATCH_DECODER = msgspec.json.Decoder(list[AggTrade])
_ANY_JSON = msgspec.json.Decoder()
_FIELD_BY_WIRE = {wire: word for word, wire in WIRE_NAMES.items()}


def parse_event(line: bytes | str) -> AggTrade:
    """Parse one WebSocket event: an aggTrade object, or a combined-stream wrapper of one.

    Examples
    --------
    >>> parse_event(b'{"e":"aggTrade","s":"BTCUSDT","a":1,"p":"2.5","q":"0.1",'
    ...             b'"f":7,"l":8,"T":1767225600039,"m":true}').trade_count
    2
    """
    raw = line.encode() if isinstance(line, str) else line
    try:
        trade = _DECODER.decode(raw)
    except msgspec.MsgspecError:
        return _parse_event_slowly(raw)  # finds out precisely what is wrong, or unwraps
    return _checked(trade)


def parse_event_batch(data: bytes) -> list[AggTrade]:
    """Parse newline-delimited aggTrade events in one decoder call, the fast path for a
    whole S3 object. Raises `BadLineError` without saying which line: callers that need
    the line parse line by line with `parse_event` when this fails.
    """
    body = data.strip().replace(b"\n", b",")
    try:
        trades = _BATCH_DECODER.decode(b"[" + body + b"]")
    except msgspec.MsgspecError as exc:
        raise BadLineError(str(exc)) from exc
    return [_checked(trade) for trade in trades]


def _parse_event_slowly(raw: bytes) -> AggTrade:
    try:
        obj = _ANY_JSON.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadLineError(f"invalid JSON: {exc}") from exc
    if isinstance(obj, dict) and "data" in obj and "stream" in obj:
        obj = obj["data"]  # combined stream: {"stream": "btcusdt@aggTrade", "data": {...}}
    if not isinstance(obj, dict):
        raise BadLineError(f"expected a JSON object, got {type(obj).__name__}")
    event_type = obj.get("e", "aggTrade")
    if event_type != "aggTrade":
        raise BadLineError(f"unknown event type {event_type!r}, expected 'aggTrade'")
    try:
        trade = msgspec.convert(obj, AggTrade)
    except msgspec.ValidationError as exc:
        raise BadLineError(_describe(exc)) from exc
    return _checked(trade)


def _describe(exc: msgspec.ValidationError) -> str:
    """msgspec says "... - at `$.p`"; say which of our fields that is."""
    text = str(exc)
    for wire, word in _FIELD_BY_WIRE.items():
        text = text.replace(f"`$.{wire}`", f"field '{wire}' ({word})")
        text = text.replace(f"field `{wire}`", f"field '{wire}' ({word})")
    return text


def parse_csv_row(fields: Sequence[str], symbol: str) -> AggTrade:
    """Parse one row of a Binance public-data aggTrades CSV.

    Spot (8 columns, no header) and futures (7 columns) layouts::

        agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker[,is_best_match]

    ``transact_time`` is in milliseconds or (spot, 2025 on) microseconds; booleans are
    ``True``/``False`` or ``true``/``false``.
    """
    if len(fields) not in (7, 8):
        raise BadLineError(f"expected 7 or 8 columns, got {len(fields)}")
    agg_id, price, qty, first_id, last_id, time, maker = fields[:7]
    return _checked(
        AggTrade(
            symbol=symbol,
            agg_id=_integer(agg_id, "agg_trade_id"),
            price=_decimal(price, "price"),
            qty=_decimal(qty, "quantity"),
            first_trade_id=_integer(first_id, "first_trade_id"),
            last_trade_id=_integer(last_id, "last_trade_id"),
            trade_time=_integer(time, "transact_time"),
            is_buyer_maker=_boolean(maker, "is_buyer_maker"),
        )
    )


def to_milliseconds(time: int) -> int:
    """Binance times are ms, or µs in newer spot files; answer ms either way."""
    return time // 1000 if time >= _MICROSECONDS_FROM else time


def _checked(trade: AggTrade) -> AggTrade:
    """The value rules that JSON types cannot express; one quick test for a good trade."""
    price, qty = trade.price, trade.qty
    try:
        good = (
            _ZERO < price < _LIMIT
            and _ZERO < qty < _LIMIT
            and price.quantize(_QUANTUM) == price
            and qty.quantize(_QUANTUM) == qty
            and 0 <= trade.first_trade_id <= trade.last_trade_id
            and trade.agg_id >= 0
            and 0 < trade.trade_time < _MICROSECONDS_FROM
            and trade.symbol
        )
    except InvalidOperation:  # NaN refuses to be compared
        good = False
    return trade if good else _explained(trade)


def _explained(trade: AggTrade) -> AggTrade:
    """A trade that failed the quick test: the precise reason, or a µs time made ms."""
    for name, value in (("price", trade.price), ("qty", trade.qty)):
        if not value.is_finite():
            raise BadLineError(f"field {name}: {value} is not a finite number")
        if not _ZERO < value < _LIMIT:
            raise BadLineError(f"field {name}: {value} is not between 0 and 10^12 (exclusive)")
        if value.quantize(_QUANTUM) != value:
            raise BadLineError(f"field {name}: {value} has more than {PLACES} decimal places")
    if trade.agg_id < 0 or trade.first_trade_id < 0:
        raise BadLineError(f"negative id: agg id {trade.agg_id}, first trade id {trade.first_trade_id}")
    if trade.last_trade_id < trade.first_trade_id:
        raise BadLineError(
            f"last trade id {trade.last_trade_id} is below first trade id {trade.first_trade_id}"
        )
    if trade.trade_time <= 0:
        raise BadLineError(f"field trade_time: {trade.trade_time} is not a positive time")
    if not trade.symbol:
        raise BadLineError("field symbol is empty")
    return msgspec.structs.replace(trade, trade_time=to_milliseconds(trade.trade_time))


def _integer(text: str, field: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadLineError(f"field {field}: {text!r} is not an integer") from None


def _decimal(text: str, field: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise BadLineError(f"field {field}: {text!r} is not a decimal number") from None


def _boolean(text: str, field: str) -> bool:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise BadLineError(f"field {field}: {text!r} is not true or false")
