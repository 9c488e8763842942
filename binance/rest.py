"""Binance's REST ``GET /api/v3/aggTrades`` and ``GET /api/v3/klines``: request paths, answers, parsing.

Facts (Binance spot REST documentation):

- Parameters ``symbol``, ``fromId``, ``startTime``, ``endTime``, ``limit`` (default 500,
  at most 1000); request weight 4; an IP may spend 6000 weight a minute, and every answer
  says how much it has used in ``X-MBX-USED-WEIGHT-1M``.
- Over the limit the answer is 429 with ``Retry-After`` (seconds); a client that keeps
  going after 429s is banned with 418 (``Retry-After`` again). Binance answers 451 to
  addresses in the United States.
- An item has no event type, event time or symbol::

      {"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":true,"M":true}

  `event_from_rest` turns it into the WebSocket event shape by writing ``"e"``, ``"E"``
  (the trade time: the event time of a trade read later is unknown) and ``"s"`` in front
  of Binance's own bytes, so prices and quantities keep the exact text Binance sent.

- ``GET /api/v3/klines?symbol=&interval=1m&startTime=&limit=`` (limit at most 1000, weight 2)
  lists klines from ``startTime`` on, oldest first, each an array ``[open time, "open",
  "high", "low", "close", "volume", close time, "quote volume", trades, "taker buy base",
  "taker buy quote", "ignore"]``. The last one may be the minute still open.
  `klines_from_rest` renders each closed one as the ``<symbol>@kline_1m`` stream event
  (``"E"`` = the time of the answer, ``"x": true``, trade ids unknown: -1), splicing in
  Binance's own bytes, so the aggregator reads one format whichever way a kline came.

Everything here is pure except `RestClient`, the HTTP call at the edge.
"""

from __future__ import annotations

import enum
import http.client
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit

import msgspec

from binance.errors import BadLineError, RestError, RestUnreachableError
from binance.events import MINUTE_MS, AggTrade
from binance.klines import Kline, parse_kline_event
from binance.parse import parse_event
from binance.streams import NO_TRADE_ID

AGG_TRADES_PATH = "/api/v3/aggTrades"
KLINES_PATH = "/api/v3/klines"
MAX_LIMIT = 1000
REQUEST_WEIGHT = 4
KLINES_REQUEST_WEIGHT = 2
WEIGHT_LIMIT_PER_MINUTE = 6000
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
RETRY_AFTER_HEADER = "Retry-After"


def agg_trades_path(symbol: str, from_id: int | None = None, limit: int = MAX_LIMIT) -> str:
    """The path and query of one request: ``/api/v3/aggTrades?symbol=BTCUSDT&fromId=5&limit=1000``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise RestError(f"limit {limit} is outside 1..{MAX_LIMIT}")
    params: dict[str, str | int] = {"symbol": symbol}
    if from_id is not None:
        if from_id < 0:
            raise RestError(f"fromId {from_id} is negative")
        params["fromId"] = from_id
    params["limit"] = limit
    return f"{AGG_TRADES_PATH}?{urlencode(params)}"


def klines_path(symbol: str, start_time: int | None, limit: int = MAX_LIMIT) -> str:
    """``/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=1767225600000&limit=1000``
    (no ``startTime``: the newest klines)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise RestError(f"limit {limit} is outside 1..{MAX_LIMIT}")
    params: dict[str, str | int] = {"symbol": symbol, "interval": "1m"}
    if start_time is not None:
        if start_time < 0:
            raise RestError(f"startTime {start_time} is negative")
        params["startTime"] = start_time
    params["limit"] = limit
    return f"{KLINES_PATH}?{urlencode(params)}"


class AnswerKind(enum.Enum):
    OK = "ok"
    RATE_LIMITED = "rate limited"  # 429: wait Retry-After, then go on
    BANNED = "banned"  # 418: the IP is banned for Retry-After seconds
    UNAVAILABLE = "unavailable"  # 5xx: Binance's side; retry with backoff
    REFUSED = "refused"  # any other 4xx (bad symbol, 403 firewall, 451 region): retrying will not help


def answer_kind(status: int) -> AnswerKind:
    if 200 <= status < 300:
        return AnswerKind.OK
    if status == 429:
        return AnswerKind.RATE_LIMITED
    if status == 418:
        return AnswerKind.BANNED
    if status >= 500:
        return AnswerKind.UNAVAILABLE
    return AnswerKind.REFUSED


@dataclass(frozen=True, slots=True)
class RestAnswer:
    """One HTTP answer, reduced to what the caller decides on."""

    status: int
    body: bytes
    retry_after: float | None  # seconds, from Retry-After
    used_weight: int | None  # from X-MBX-USED-WEIGHT-1M

    @property
    def kind(self) -> AnswerKind:
        return answer_kind(self.status)

    def describe(self) -> str:
        """Status and the start of the body, for a log line or an error message."""
        text = self.body[:200].decode("utf-8", "replace")
        return f"HTTP {self.status}: {text}"


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (epoch seconds): a number, or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now)
    except (TypeError, ValueError):
        return None


def read_answer(status: int, headers: Mapping[str, str], body: bytes, now: float) -> RestAnswer:
    lowered = {name.lower(): value for name, value in headers.items()}  # header names ignore case
    weight = lowered.get(USED_WEIGHT_HEADER.lower())
    retry = lowered.get(RETRY_AFTER_HEADER.lower())
    return RestAnswer(
        status=status,
        body=body,
        retry_after=retry_after_seconds(retry, now),
        used_weight=int(weight) if weight and weight.strip().isdigit() else None,
    )


class RestTrade(NamedTuple):
    trade: AggTrade
    event: bytes  # the trade in the WebSocket event shape (see `event_from_rest`)


class RestPage(NamedTuple):
    """One aggTrades answer: its usable trades in order, and what was wrong with the others."""

    trades: list[RestTrade]
    rejected: list[str]  # "item 3: field price: ...", one per item left out


class _TradeTime(msgspec.Struct):
    T: int  # Binance's name for the trade time


_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])
_TRADE_TIME = msgspec.json.Decoder(_TradeTime)
# Whatever decoding one answer or item can raise (deep nesting is a RecursionError).
_DECODING_ERRORS = (msgspec.MsgspecError, RecursionError, ValueError, OverflowError)


def event_from_rest(item: bytes, symbol: str) -> bytes:
    """A REST item as the WebSocket event of the same trade (Binance's bytes kept, see above)."""
    body = item.strip()
    if not body.startswith(b"{") or body == b"{}":
        raise BadLineError(f"expected a non-empty JSON object, got {body[:80]!r}")
    try:
        trade_time = _TRADE_TIME.decode(body).T
    except _DECODING_ERRORS as exc:
        problem = "nested deeper than the decoder goes" if isinstance(exc, RecursionError) else exc
        raise BadLineError(f"no trade time: {problem}") from None
    return b'{"e":"aggTrade","E":%d,"s":"%s",' % (trade_time, symbol.encode()) + body[1:]


def parse_agg_trades(body: bytes, symbol: str, from_id: int | None = None) -> RestPage:
    """The trades of one aggTrades answer, in the order given.

    An item that is not a valid trade is left out and described in ``rejected``: the good
    items beside it are kept (the caller sees the id it leaves out missing). `RestError`
    when the answer as a whole is unusable: not a JSON array, or agg ids that do not
    ascend (from ``from_id`` on, when given), as Binance's always do.
    """
    try:
        items = _ITEMS.decode(body)
    except _DECODING_ERRORS as exc:
        problem = "nested deeper than the decoder goes" if isinstance(exc, RecursionError) else exc
        raise RestError(
            f"aggTrades answer for {symbol} is not a JSON array: {body[:200]!r} ({problem})"
        ) from None
    trades: list[RestTrade] = []
    rejected: list[str] = []
    previous = -1 if from_id is None else from_id - 1
    for index, raw in enumerate(items):
        try:
            event = event_from_rest(bytes(raw), symbol)
            trade = parse_event(event)
        except (BadLineError, *_DECODING_ERRORS) as exc:
            rejected.append(f"item {index}: {exc}")
            continue
        if trade.agg_id <= previous:
            raise RestError(
                f"aggTrades answer for {symbol}: item {index} has agg id {trade.agg_id}, "
                f"not above {previous}: the ids do not ascend{'' if from_id is None else f' from {from_id}'}"
            )
        previous = trade.agg_id
        trades.append(RestTrade(trade, event))
    return RestPage(trades, rejected)


class RestKline(NamedTuple):
    kline: Kline
    event: bytes  # the kline in the ``<symbol>@kline_1m`` stream event shape (see `klines_from_rest`)


class KlinePage(NamedTuple):
    """One klines answer: its closed klines in order, what was wrong with the others, and whether
    it ended with a minute still open (there is nothing newer to ask for then)."""

    klines: list[RestKline]
    rejected: list[str]
    reached_open: bool


_KLINE_FIELDS = 12
# The stream event's keys and the array's places of the values spliced in (Binance's bytes).
_KLINE_TEXT_FIELDS = (("o", 1), ("c", 4), ("h", 2), ("l", 3), ("v", 5))
_KLINE_VOLUME_FIELDS = (("q", 7), ("V", 9), ("Q", 10))


def kline_event_from_rest(item: bytes, symbol: str, answered_at: int) -> tuple[int, bytes]:
    """A REST kline array as the closed kline's stream event; ``(close time, event)``.

    `BadLineError` when the item is not a 12-place array with integer times; the event's
    values are checked by the kline contract afterwards.
    """
    try:
        places = _ITEMS.decode(item)
        times = [msgspec.json.decode(bytes(places[i]), type=int) for i in (0, 6)] if len(places) > 6 else []
    except _DECODING_ERRORS as exc:
        problem = "nested deeper than the decoder goes" if isinstance(exc, RecursionError) else exc
        raise BadLineError(f"not a kline array: {problem}") from None
    if len(places) != _KLINE_FIELDS:
        raise BadLineError(f"expected a kline array of {_KLINE_FIELDS} values, got {len(places)}")
    open_time, close_time = times
    raw = [bytes(place) for place in places]
    body = b",".join(b'"%s":%s' % (key.encode(), raw[place]) for key, place in _KLINE_TEXT_FIELDS)
    volumes = b",".join(b'"%s":%s' % (key.encode(), raw[place]) for key, place in _KLINE_VOLUME_FIELDS)
    event = (
        b'{"e":"kline","E":%d,"s":"%s","k":{"t":%d,"T":%d,"s":"%s","i":"1m","f":%d,"L":%d,%s,"n":%s,'
        b'"x":true,%s,"B":%s}}'
        % (
            answered_at,
            symbol.encode(),
            open_time,
            close_time,
            symbol.encode(),
            NO_TRADE_ID,
            NO_TRADE_ID,
            body,
            raw[8],
            volumes,
            raw[11],
        )
    )
    return close_time, event


def klines_from_rest(
    body: bytes, symbol: str, start_time: int | None, answered_at: int, closed_before: int | None = None
) -> KlinePage:
    """The closed klines of one klines answer, in order, as stream events.

    A kline whose close time is not before ``closed_before`` (ms; default ``answered_at``,
    the time of the answer) is taken for the minute still open: it and anything after it
    are left for later (a caller whose clock may run ahead of Binance's passes a margin). An item that breaks
    the kline contract is left out and described in ``rejected``. `RestError` when the
    answer as a whole is unusable: not a JSON array, or open times that do not ascend from
    ``start_time`` on.
    """
    try:
        items = _ITEMS.decode(body)
    except _DECODING_ERRORS as exc:
        problem = "nested deeper than the decoder goes" if isinstance(exc, RecursionError) else exc
        raise RestError(
            f"klines answer for {symbol} is not a JSON array: {body[:200]!r} ({problem})"
        ) from None
    klines: list[RestKline] = []
    rejected: list[str] = []
    previous = -1 if start_time is None else start_time - MINUTE_MS
    for index, raw in enumerate(items):
        try:
            close_time, event = kline_event_from_rest(bytes(raw), symbol, answered_at)
            if close_time >= (answered_at if closed_before is None else closed_before):
                return KlinePage(klines, rejected, True)
            kline = parse_kline_event(event)
        except (BadLineError, *_DECODING_ERRORS) as exc:
            rejected.append(f"item {index}: {exc}")
            continue
        if kline.open_time <= previous:
            raise RestError(
                f"klines answer for {symbol}: item {index} opens at {kline.open_time}, not after {previous}: "
                f"the open times do not ascend{'' if start_time is None else f' from {start_time}'}"
            )
        previous = kline.open_time
        klines.append(RestKline(kline, event))
    return KlinePage(klines, rejected, False)


def rest_klines_json(klines: list[Kline]) -> bytes:
    """Klines as the REST API lists them (for fakes and tests)."""
    return (
        b"["
        + b",".join(
            (
                f'[{k.open_time},"{k.open:f}","{k.high:f}","{k.low:f}","{k.close:f}","{k.volume:f}",'
                f'{k.open_time + MINUTE_MS - 1},"{k.quote_volume:f}",{k.trades},"{k.taker_buy_base:f}",'
                f'"{k.taker_buy_quote:f}","0"]'
            ).encode()
            for k in klines
        )
        + b"]"
    )


def rest_json(trades: list[AggTrade]) -> bytes:
    """Trades as the REST API lists them (for fakes and tests)."""
    return (
        b"["
        + b",".join(
            (
                f'{{"a":{t.agg_id},"p":"{t.price:.8f}","q":"{t.qty:.8f}","f":{t.first_trade_id},'
                f'"l":{t.last_trade_id},"T":{t.trade_time},"m":{"true" if t.is_buyer_maker else "false"},'
                '"M":true}'
            ).encode()
            for t in trades
        )
        + b"]"
    )


class RestClient:
    """One kept-alive HTTP(S) connection to a REST base URL; blocking, for a worker thread.

    Not thread-safe: one caller at a time (the producer backfills one range after another).
    """

    def __init__(self, base_url: str, timeout: float, user_agent: str = "cryptotrades-producer") -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RestError(f"REST base URL {base_url!r}: expected http(s)://host[:port]")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        self._connection: http.client.HTTPConnection | None = None
        self.base_url = base_url

    def get(self, path: str, now: float) -> RestAnswer:
        """GET ``path`` (with its query); `RestUnreachableError` if no answer came back."""
        connection = self._connect()
        try:
            connection.request("GET", self._prefix + path, headers=self._headers)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise RestUnreachableError(f"GET {self.base_url}{path}: {exc!r}") from exc
        if response.will_close:
            self.close()
        return read_answer(response.status, dict(response.getheaders()), body, now)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = kind(self._host, self._port, timeout=self._timeout)
        return self._connection
