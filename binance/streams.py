"""Binance's market-data WebSocket streams: endpoints, stream URLs and the frames they carry.

Facts (Binance spot "WebSocket Streams" documentation):

- Raw streams live at ``/ws/<stream>``, combined streams at ``/stream?streams=<s1>/<s2>``; a
  combined frame is ``{"stream":"btcusdt@aggTrade","data":<the raw event>}``. Stream names
  are lower case.
- A connection lives at most 24 hours; the server pings every 20 s and drops a client that
  has not answered within a minute; a ``serverShutdown`` event announces a disconnection.
- 5 incoming messages a second per connection, 300 connections per 5 minutes per IP.

`read_frame` cuts a received frame down to the event bytes *as received*: the ``data``
object of a combined frame is re-sliced from the frame (``msgspec.Raw``), never decoded
and re-encoded, which is what the producer publishes to Kafka.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import msgspec

from binance.errors import BinanceError
from binance.events import AggTrade
from binance.klines import Kline

AGG_TRADE_SUFFIX = "@aggTrade"
KLINE_SUFFIX = "@kline_1m"  # the 1-minute klines: a closed one is checked against our minute row
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A Binance deployment: where its streams and its REST API live."""

    name: str
    ws_url: str
    rest_url: str
    description: str


ENDPOINTS: dict[str, Endpoint] = {
    endpoint.name: endpoint
    for endpoint in (
        Endpoint("binance", "wss://stream.binance.com:9443", "https://api.binance.com", "Binance spot"),
        Endpoint(
            "binance-443", "wss://stream.binance.com:443", "https://api.binance.com", "Binance spot, port 443"
        ),
        Endpoint(
            "vision",
            "wss://data-stream.binance.vision",
            "https://data-api.binance.vision",
            "Binance's market-data-only hosts",
        ),
        Endpoint("us", "wss://stream.binance.us:9443", "https://api.binance.us", "Binance.US"),
    )
}
DEFAULT_ENDPOINT = "binance"


def normalize_symbol(text: str) -> str:
    """``btcusdt`` -> ``BTCUSDT``; raise `BinanceError` for anything that is not a symbol."""
    symbol = text.strip().upper()
    if not _SYMBOL.match(symbol):
        raise BinanceError(f"{text!r} is not a Binance symbol (2 to 20 letters or digits, e.g. BTCUSDT)")
    return symbol


def stream_name(symbol: str) -> str:
    """The aggTrade stream of a symbol: ``BTCUSDT`` -> ``btcusdt@aggTrade``."""
    return f"{symbol.lower()}{AGG_TRADE_SUFFIX}"


def kline_stream_name(symbol: str) -> str:
    """The 1-minute kline stream of a symbol: ``BTCUSDT`` -> ``btcusdt@kline_1m``."""
    return f"{symbol.lower()}{KLINE_SUFFIX}"


def combined_stream_url(ws_url: str, symbols: tuple[str, ...] | list[str], *, klines: bool = True) -> str:
    """The combined stream of ``symbols``: ``wss://…/stream?streams=btcusdt@aggTrade/btcusdt@kline_1m/…``.

    With ``klines`` each symbol's 1-minute kline stream comes along on the same connection
    (Binance allows 1024 streams a connection), so the producer can publish Binance's own
    closed klines beside the trades.
    """
    if not symbols:
        raise BinanceError("a combined stream needs at least one symbol")
    names = [stream_name(s) for s in symbols]
    if klines:
        names += [kline_stream_name(s) for s in symbols]
    return f"{ws_url.rstrip('/')}/stream?streams=" + "/".join(names)


def raw_stream_url(ws_url: str, symbol: str) -> str:
    """The raw (unwrapped) aggTrade stream of one symbol: ``wss://…/ws/btcusdt@aggTrade``."""
    return f"{ws_url.rstrip('/')}/ws/{stream_name(symbol)}"


class StreamPath(NamedTuple):
    """What a stream request path asks for."""

    combined: bool  # /stream?streams=… (frames wrapped) rather than /ws/… (raw events)
    symbols: tuple[str, ...]  # aggTrade streams: upper case, in the order asked
    kline_symbols: tuple[str, ...] = ()  # 1-minute kline streams, likewise


def parse_stream_path(path: str) -> StreamPath:
    """Read ``/ws/btcusdt@aggTrade`` or ``/stream?streams=a@aggTrade/a@kline_1m`` (for servers)."""
    parts = urlsplit(path)
    if parts.path.startswith("/ws/"):
        names, combined = [parts.path[len("/ws/") :]], False
    elif parts.path.rstrip("/") == "/stream":
        streams = parse_qs(parts.query).get("streams", [""])[0]
        names, combined = [name for name in streams.split("/") if name], True
    else:
        raise BinanceError(f"{path!r} is not a stream path (/ws/<stream> or /stream?streams=…)")
    if not names:
        raise BinanceError(f"{path!r} names no stream")
    symbols, kline_symbols = [], []
    for name in names:
        if name.endswith(AGG_TRADE_SUFFIX):
            symbols.append(normalize_symbol(name[: -len(AGG_TRADE_SUFFIX)]))
        elif name.endswith(KLINE_SUFFIX):
            kline_symbols.append(normalize_symbol(name[: -len(KLINE_SUFFIX)]))
        else:
            raise BinanceError(f"stream {name!r} in {path!r} is neither an aggTrade nor a kline_1m stream")
    return StreamPath(combined, tuple(symbols), tuple(kline_symbols))


class FrameKind(enum.Enum):
    AGG_TRADE = "aggTrade"
    KLINE = "kline"  # a kline event: published only when closed (``k.x`` true)
    SERVER_SHUTDOWN = "serverShutdown"  # the server is about to close this connection
    RESPONSE = "response"  # the answer to a SUBSCRIBE/LIST request: {"result": …, "id": …}
    ERROR = "error"  # {"code": …, "msg": …}
    OTHER = "other"  # any other event type: logged, never published


class Frame(NamedTuple):
    kind: FrameKind
    event: bytes  # the event object as received (the inner ``data`` of a combined frame)
    stream: str  # the combined frame's stream name, "" for a raw frame


class _Envelope(msgspec.Struct):
    """Just enough of any frame to tell what it is, without decoding the event itself."""

    stream: str = ""
    data: msgspec.Raw = msgspec.Raw()
    e: str = ""
    result: msgspec.Raw = msgspec.Raw()
    code: msgspec.Raw = msgspec.Raw()


class _EventType(msgspec.Struct):
    e: str = ""


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_EVENT_TYPE = msgspec.json.Decoder(_EventType)
_AGG_TRADE_MARK = b'"e":"aggTrade"'


# Whatever decoding one frame can raise: msgspec's errors, RecursionError for deep nesting,
# ValueError (UnicodeDecodeError among them) and OverflowError. One frame never ends a stream.
_DECODING_ERRORS = (msgspec.MsgspecError, RecursionError, ValueError, OverflowError)


def looks_like_trade(frame: bytes) -> bool:
    """A quick look, without decoding: does this frame carry an aggTrade event (as Binance writes it)?"""
    return _AGG_TRADE_MARK in frame


def read_frame(frame: bytes) -> Frame:
    """Tell what one received frame holds and cut out its event bytes.

    Raises `BinanceError` (and nothing else) when the frame is not a JSON object: malformed,
    not UTF-8, another JSON type, or nested deeper than the decoder goes.

    Examples
    --------
    >>> read_frame(b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","a":1}}').event
    b'{"e":"aggTrade","a":1}'
    """
    try:
        envelope = _ENVELOPE.decode(frame)
    except _DECODING_ERRORS as exc:
        raise BinanceError(f"frame is not a JSON object: {_decoding_problem(exc)}") from None
    if len(envelope.data):
        event = bytes(envelope.data)
        if _AGG_TRADE_MARK in event:
            return Frame(FrameKind.AGG_TRADE, event, envelope.stream)
        try:
            event_type = _EVENT_TYPE.decode(event).e
        except _DECODING_ERRORS as exc:
            raise BinanceError(
                f"the data of stream {envelope.stream[:100]!r} is not a JSON object: {_decoding_problem(exc)}"
            ) from None
        return Frame(_kind_of(event_type), event, envelope.stream)
    if envelope.e:
        return Frame(_kind_of(envelope.e), frame, "")
    if len(envelope.code):
        return Frame(FrameKind.ERROR, frame, "")
    if len(envelope.result):
        return Frame(FrameKind.RESPONSE, frame, "")
    return Frame(FrameKind.OTHER, frame, "")


def _decoding_problem(exc: BaseException) -> str:
    """What was wrong with a frame, in words (a RecursionError says nothing useful on its own)."""
    if isinstance(exc, RecursionError):
        return "nested deeper than the decoder goes"
    return f"{exc} ({type(exc).__name__})" if not isinstance(exc, msgspec.MsgspecError) else str(exc)


def _kind_of(event_type: str) -> FrameKind:
    if event_type == "aggTrade":
        return FrameKind.AGG_TRADE
    if event_type == "kline":
        return FrameKind.KLINE
    if event_type == "serverShutdown":
        return FrameKind.SERVER_SHUTDOWN
    return FrameKind.OTHER


def event_json(trade: AggTrade, event_time: int | None = None) -> bytes:
    """The trade as Binance's WebSocket sends it: compact JSON, decimals as 8-place strings.

    ``event_time`` (``E``) defaults to one millisecond after the trade, as Binance's usually is.
    """
    return (
        f'{{"e":"aggTrade","E":{event_time or trade.trade_time + 1},"s":"{trade.symbol}",'
        f'"a":{trade.agg_id},"p":"{trade.price:.8f}","q":"{trade.qty:.8f}",'
        f'"f":{trade.first_trade_id},"l":{trade.last_trade_id},"T":{trade.trade_time},'
        f'"m":{"true" if trade.is_buyer_maker else "false"},"M":true}}'
    ).encode()


class _KlineState(msgspec.Struct):
    x: bool  # Binance's name for "this kline is closed"


class _KlineEvent(msgspec.Struct):
    k: _KlineState


_KLINE_STATE = msgspec.json.Decoder(_KlineEvent)

# A kline whose trade ids are not known: Binance's REST klines carry none, and a minute without
# trades has none (Binance writes -1 there too).
NO_TRADE_ID = -1


def kline_is_open(event: bytes) -> bool:
    """A quick look: is this kline event one of the updates of a minute still open (``k.x`` false)?

    Binance sends an open minute's kline every couple of seconds and the closed one once;
    only the closed one is final. False also when ``k.x`` cannot be read: the strict kline
    contract (`binance.klines.parse_kline_event`) then says what is wrong with it.
    """
    try:
        return not _KLINE_STATE.decode(event).k.x
    except _DECODING_ERRORS:
        return False


def kline_event_json(
    kline: Kline,
    event_time: int,
    first_trade_id: int = NO_TRADE_ID,
    last_trade_id: int = NO_TRADE_ID,
    *,
    closed: bool = True,
) -> bytes:
    """The kline as Binance's ``<symbol>@kline_1m`` stream sends it (decimals as given, never re-rounded)."""
    symbol = kline.symbol
    return (
        f'{{"e":"kline","E":{event_time},"s":"{symbol}","k":{{"t":{kline.open_time},'
        f'"T":{kline.open_time + 59_999},"s":"{symbol}","i":"1m","f":{first_trade_id},"L":{last_trade_id},'
        f'"o":"{kline.open:f}","c":"{kline.close:f}","h":"{kline.high:f}","l":"{kline.low:f}",'
        f'"v":"{kline.volume:f}","n":{kline.trades},"x":{"true" if closed else "false"},'
        f'"q":"{kline.quote_volume:f}","V":"{kline.taker_buy_base:f}","Q":"{kline.taker_buy_quote:f}",'
        '"B":"0"}}'
    ).encode()


def combined_frame(stream: str, event: bytes) -> bytes:
    """Wrap an event as a combined stream sends it."""
    return b'{"stream":"' + stream.encode() + b'","data":' + event + b"}"


def server_shutdown_event(event_time: int) -> bytes:
    return f'{{"e":"serverShutdown","E":{event_time}}}'.encode()
