"""Parsers: one Binance line (WebSocket event, REST item, ndjson line, public-data CSV row)
-> one `AggTrade`, under the rules of ``binance.contract``.

Every parser either returns a valid trade or raises `BadLineError` whose message names
the field and what was wrong with it, whatever the input: bytes that are not UTF-8, JSON
nested a million deep, numbers of a thousand digits, repeated keys. Callers that read many
lines turn that error into a rejected line (see `binance.files`); one bad line never costs
the good ones.

The fast path decodes with msgspec straight into `AggTradeEvent` (types, required and
unknown keys, id bounds checked in C), then checks texts through the contract's caches. A
repeated key is the one thing msgspec lets through (it keeps the last): a valid event has
exactly 11 keys and no ``:`` inside its texts, so a line is accepted on the fast path only
when it holds exactly 11 colons; any other line is parsed again strictly (Python's json
with a hook that refuses repeated keys), which also unwraps combined-stream frames and
explains every reject.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from binance.contract import (
    DECIMAL_CACHE,
    EARLIEST_TRADE_MS,
    EVENT_KEYS,
    EVENT_TYPE,
    MAX_TRADES_PER_AGG,
    MICROSECONDS_FROM,
    SYMBOL_CACHE,
    checked_id,
    checked_span,
    checked_symbol,
    id_from_text,
    latest_trade_ms,
    plain_decimal,
    trade_ms,
)
from binance.errors import BadLineError
from binance.events import WIRE_NAMES, AggTrade, AggTradeEvent

UTF8_BOM = b"\xef\xbb\xbf"
_KEY_COUNT = len(EVENT_KEYS)
_EVENT = msgspec.json.Decoder(AggTradeEvent)
_EVENTS = msgspec.json.Decoder(list[AggTradeEvent])
# What msgspec may raise on hostile bytes: its own errors, UnicodeDecodeError (a ValueError)
# for invalid UTF-8 inside a string, RecursionError for deep nesting.
_DECODE_ERRORS = (msgspec.MsgspecError, ValueError, RecursionError)
_FIELD_BY_WIRE = {wire: word for word, wire in WIRE_NAMES.items()} | {"e": "event type", "E": "event_time"}
_AT_FIELD = re.compile(r"at `\$\.(\w+)`|field `(\w+)`")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_event(line: bytes | str, *, now: int | None = None) -> AggTrade:
    """Parse one WebSocket event: an aggTrade object, or a combined-stream wrapper of one.

    ``now`` (ms since the epoch) is the reader's clock for the trade-time window; the
    system clock when not given.

    Examples
    --------
    >>> parse_event(b'{"e":"aggTrade","E":1767225600040,"s":"BTCUSDT","a":1,"p":"2.5",'
    ...             b'"q":"0.1","f":7,"l":8,"T":1767225600039,"m":true,"M":true}').trade_count
    2
    """
    raw = _as_bytes(line)
    latest = latest_trade_ms(now_ms() if now is None else now)
    try:
        event = _EVENT.decode(raw)
    except _DECODE_ERRORS:
        return _parse_strictly(raw, latest)  # finds out precisely what is wrong, or unwraps
    if raw.count(b":") != _KEY_COUNT:
        return _parse_strictly(raw, latest)  # a repeated key, or a ':' inside a text
    return _trades([event], latest)[0]


def parse_event_batch(data: bytes, *, now: int | None = None) -> list[AggTrade]:
    """Parse newline-delimited aggTrade events in one decoder call, the fast path for a
    whole S3 object. Raises `BadLineError` without saying which line: callers that need
    the line parse line by line with `parse_event` when this fails.
    """
    body = data.strip()
    if not body:
        return []
    try:
        events = _EVENTS.decode(b"[" + body.replace(b"\n", b",") + b"]")
    except _DECODE_ERRORS as exc:
        raise BadLineError(f"not a batch of aggTrade events: {exc}") from None
    # One event a line: two objects on one line decode as two events. (A blank line inside the
    # body makes ",," and fails above, so the lines here are the body's newlines plus one.)
    if len(events) != body.count(b"\n") + 1:
        raise BadLineError("some line holds more or less than one event")
    # Every line holds at least 11 colons, so 11 a line on average means exactly 11 each.
    if data.count(b":") != _KEY_COUNT * len(events):
        raise BadLineError("some line repeats a key or holds a ':' inside a text")
    return _trades(events, latest_trade_ms(now_ms() if now is None else now))


def _trades(events: list[AggTradeEvent], latest: int) -> list[AggTrade]:
    """The contract's text, span and time rules, then the trades. The hot loop: a valid
    field costs a cache lookup or a comparison; the contract's functions explain the rest."""
    trades: list[AggTrade] = []
    add = trades.append
    decimal = DECIMAL_CACHE.get
    for event in events:
        symbol, first, last, when = event.s, event.f, event.l, event.T
        price = decimal(event.p) or plain_decimal(event.p, "p (price)")
        qty = decimal(event.q) or plain_decimal(event.q, "q (qty)")
        if symbol not in SYMBOL_CACHE:
            checked_symbol(symbol)
        if not (first <= last and last - first < MAX_TRADES_PER_AGG and EARLIEST_TRADE_MS <= when <= latest):
            checked_span(first, last)
            when = trade_ms(when, latest)  # microseconds become ms here, or it is out of the window
        add(AggTrade(symbol, event.a, price, qty, first, last, when, event.m))
    return trades


def _parse_strictly(raw: bytes, latest: int) -> AggTrade:
    obj = strict_json(raw)
    if isinstance(obj, dict) and obj.keys() == {"stream", "data"}:
        obj = obj["data"]  # combined stream: {"stream": "btcusdt@aggTrade", "data": {...}}
    if not isinstance(obj, dict):
        raise BadLineError(f"expected a JSON object, got {_json_type(obj)}")
    if "e" in obj and obj["e"] != EVENT_TYPE:
        raise BadLineError(f"unknown event type {obj['e']!r}, expected {EVENT_TYPE!r}")
    try:
        event = msgspec.convert(obj, AggTradeEvent)
    except msgspec.ValidationError as exc:
        raise BadLineError(_explained(exc, obj, latest)) from None
    return _trades([event], latest)[0]


class _RepeatedKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKeyError(key)
            seen.add(key)
    return obj


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def strict_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN or Infinity, no key twice in any object."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except _RepeatedKeyError as exc:
        raise BadLineError(f"key {exc.key!r} appears more than once") from None
    except UnicodeDecodeError as exc:
        raise BadLineError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, 4300-digit numbers, deep nesting
        raise BadLineError(f"invalid JSON: {str(exc)[:200]}") from None


def _explained(exc: msgspec.ValidationError, obj: dict[str, Any], latest: int) -> str:
    """msgspec says "... - at `$.a`"; say which of our fields that is, with the contract's
    own words for an id or time out of bounds."""
    text = str(exc)
    match = _AT_FIELD.search(text)
    wire = match and (match[1] or match[2])
    value = obj.get(wire) if wire else None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            if wire == "T":
                trade_ms(value, latest)
            elif wire in ("a", "f", "l", "E"):
                checked_id(value, f"{wire} ({_FIELD_BY_WIRE[wire]})")
        except BadLineError as precise:
            return str(precise)
    text = _AT_FIELD.sub(_field_words, text)
    if "unknown field" in text:
        text += f" (an aggTrade event has exactly the keys {', '.join(EVENT_KEYS)})"
    return text


def _field_words(match: re.Match[str]) -> str:
    wire = match[1] or match[2]
    word = _FIELD_BY_WIRE.get(wire)
    return ("at " if match[1] else "") + f"field {wire!r}" + (f" ({word})" if word else "")


def _json_type(obj: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(obj), f"a {type(obj).__name__}"
    )


def _as_bytes(line: bytes | str) -> bytes:
    if isinstance(line, bytes):
        return line
    if isinstance(line, str):
        try:
            return line.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates in a str
            raise BadLineError(f"not UTF-8: {exc.reason} at character {exc.start}") from None
    if isinstance(line, bytearray | memoryview | msgspec.Raw):
        return bytes(line)
    raise BadLineError(f"expected the bytes of a line, got {type(line).__name__}")


def parse_csv_row(fields: Sequence[str], symbol: str, *, now: int | None = None) -> AggTrade:
    """Parse one row of a Binance public-data aggTrades CSV.

    Spot (8 columns, no header) and futures (7 columns) layouts::

        agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker[,is_best_match]

    ``transact_time`` is in milliseconds or (spot, 2025 on) microseconds; booleans are
    ``True``/``False`` or ``true``/``false``. The same contract as events: plain digits,
    plain decimal text, nothing stripped.
    """
    if len(fields) not in (7, 8):
        raise BadLineError(f"expected 7 or 8 columns, got {len(fields)}")
    agg_id, price, qty, first_id, last_id, when, maker = fields[:7]
    first, last = id_from_text(first_id, "first_trade_id"), id_from_text(last_id, "last_trade_id")
    checked_span(first, last)
    if len(fields) == 8:
        _boolean(fields[7], "is_best_match")
    return AggTrade(
        symbol=checked_symbol(symbol, "symbol"),
        agg_id=id_from_text(agg_id, "agg_trade_id"),
        price=DECIMAL_CACHE.get(price) or plain_decimal(price, "price"),
        qty=DECIMAL_CACHE.get(qty) or plain_decimal(qty, "quantity"),
        first_trade_id=first,
        last_trade_id=last,
        trade_time=trade_ms(
            id_from_text(when, "transact_time"),
            latest_trade_ms(now_ms() if now is None else now),
            "transact_time",
        ),
        is_buyer_maker=_boolean(maker, "is_buyer_maker"),
    )


def to_milliseconds(time: int) -> int:
    """Binance times are ms, or µs in newer spot files; answer ms either way."""
    return time // 1000 if time >= MICROSECONDS_FROM else time


_BOOLEANS = {"True": True, "true": True, "False": False, "false": False}


def _boolean(text: str, field: str) -> bool:
    value = _BOOLEANS.get(text)
    if value is None:
        raise BadLineError(f"field {field}: {text!r} is not true or false")
    return value
