"""A local fake of Binance's spot market data: aggTrade and 1-minute kline WebSocket streams,
REST ``aggTrades`` and ``klines``.

It serves recorded trades on 127.0.0.1 (port 0 picks a free port) with the wire formats of
the real thing, one port for both protocols. Tests use it in place of Binance, and so does
the one-box pipeline for ``cryptotrades run --replay FILE --speed X``.

Use from async code::

    from binance.files import read_trades
    from onebox.fake_binance import FakeBinance

    async with FakeBinance(read_trades(path).trades, speed=0) as fake:
        fake.ws_url    # "ws://127.0.0.1:PORT": ws_url of ProducerSettings
        fake.rest_url  # "http://127.0.0.1:PORT": rest_url of ProducerSettings
        ...

Use from sync code (the server runs its own event loop in a daemon thread; every method
below is also available on the runner and is carried over to that loop)::

    with FakeBinanceThread(trades, speed=10) as fake:
        fake.ws_url, fake.rest_url, fake.stats.frames_sent

Streams: ``/ws/<symbol>@aggTrade`` (raw events) and ``/stream?streams=a@aggTrade/b@aggTrade``
(combined frames ``{"stream":…,"data":…}``), events byte-for-byte as Binance writes them
(`binance.streams.event_json`). REST: ``GET /api/v3/aggTrades?symbol=&fromId=&limit=`` in
Binance's REST shape (`binance.rest.rest_json`), with ``X-MBX-USED-WEIGHT-1M`` (4 a request).

Klines: given ``klines`` (rows of a public-data 1m klines file, `binance.klines.read_klines`),
``<symbol>@kline_1m`` (alone or in a combined stream) sends each one, closed (``"x":true``),
when the market's clock passes its minute's end, and ``GET /api/v3/klines?symbol=&interval=1m
&startTime=&limit=`` lists those closed so far (weight 2). The market's clock is the time of the
last trade published (speed 0), or the first trade's time plus the elapsed time times ``speed``
(so at speed 0 the minute of the last trade never closes). The file has no trade ids, so the
events carry ``"f":-1,"L":-1`` (ids not known), as the producer's REST-rendered ones do. The fake
sends no updates of open minutes (Binance sends one every two seconds or so) and REST lists no
open minute: the producer ignores both.

The market
----------
``trades`` is the market's history to come, in agg-id order per symbol. The fake publishes
them over time: with ``speed > 0`` a trade happens at ``start + (T - T_first) / speed``
(1 = real time, 60 = an hour a minute); with ``speed == 0`` as fast as the fastest open
connection takes them (the market waits while nobody listens). A connection receives only
trades published after it opened, like Binance's: what happened while a client was away is
only on REST, which answers from every trade published so far.

- ``limit`` / `allow` (n): publish at most the first n trades (tests pause the market).
- `advance` (n): publish up to the n-th trade now, while nobody needs to be listening.

Faults
------
- ``ping_interval`` / ``pong_timeout``: ping every connection; drop one that has not
  answered within the timeout (Binance: every 20 s, one minute).
- ``connection_lifetime``: close every connection this many seconds after it opened
  (Binance's 24-hour cut, shortened).
- `drop_connections` (lose=n): abort every open connection now, like a network failure;
  ``lose`` trades are published while the clients are away.
- `skip` (ids): the streams leave these agg ids out; REST still has them.
- `shutdown_notice` (): send ``{"e":"serverShutdown",…}`` on every open connection and close
  them ``shutdown_grace`` seconds later.
- `rate_limit` (count, retry_after, status=429): answer the next ``count`` REST requests with
  ``status`` (429, or 418 for a ban) and ``Retry-After``.
- `inject` (after_id, *frames, binary=False): send these raw frames, once, right after the
  trade ``after_id`` on the first connection that sends it (frames Binance never would: the
  hostile tests' tests/fixtures/hostile_binance.py builds them).

`stats` (a `FakeStats`) counts what happened, for tests to check.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from binance.errors import BinanceError
from binance.events import MINUTE_MS, AggTrade
from binance.klines import Kline
from binance.rest import (
    AGG_TRADES_PATH,
    KLINES_PATH,
    KLINES_REQUEST_WEIGHT,
    MAX_LIMIT,
    REQUEST_WEIGHT,
    USED_WEIGHT_HEADER,
    rest_json,
    rest_klines_json,
)
from binance.streams import (
    StreamPath,
    combined_frame,
    event_json,
    kline_event_json,
    kline_stream_name,
    parse_stream_path,
    server_shutdown_event,
    stream_name,
)

logger = logging.getLogger(__name__)
# websockets logs every HTTP answer and connection at INFO: one line per REST call is noise here.
_websockets_logger = logging.getLogger(f"{__name__}.websockets")
_websockets_logger.setLevel(logging.WARNING)

T = TypeVar("T")

_TOO_MANY_REQUESTS = '{"code":-1003,"msg":"Too many requests; current limit exceeded."}'


@dataclass
class FakeStats:
    """What the fake saw and did; plain counters, read them from any thread."""

    connections_opened: int = 0
    connections_open: int = 0
    max_concurrent: int = 0  # most connections open at once (2 during a make-before-break rotation)
    lifetime_cuts: int = 0  # connections closed by connection_lifetime
    dropped: int = 0  # connections aborted by drop_connections
    pong_timeouts: int = 0  # connections dropped for not answering pings
    shutdown_notices: int = 0  # serverShutdown events sent
    frames_sent: int = 0
    klines_sent: int = 0  # kline frames sent (each connection's counted)
    skipped_sent: int = 0  # trades left out of streams by skip()
    injected_sent: int = 0  # frames sent by inject()
    rest_requests: int = 0
    rest_limited: int = 0  # REST requests answered 429/418
    rest_trades: int = 0  # trades served over REST
    rest_klines: int = 0  # klines served over REST
    rest_times: list[float] = field(default_factory=list)  # time.monotonic() of each REST request
    paths: list[str] = field(default_factory=list)  # stream paths asked for, in order


@dataclass
class _Stream:
    """One open WebSocket connection and what it asked for."""

    number: int
    socket: ServerConnection
    path: StreamPath
    opened: float
    closing: bool = False


class FakeBinance:
    """The fake server on the current event loop; see the module docstring."""

    def __init__(
        self,
        trades: Sequence[AggTrade],
        *,
        klines: Sequence[Kline] = (),
        speed: float = 0.0,
        limit: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval: float | None = 20.0,
        pong_timeout: float | None = 60.0,
        connection_lifetime: float | None = None,
        shutdown_grace: float = 1.0,
    ) -> None:
        if speed < 0:
            raise ValueError(f"speed {speed!r}: expected 0 (as fast as read) or a positive factor")
        self._trades = list(trades)
        self._events = [event_json(trade) for trade in self._trades]
        self._streams = {trade.symbol: stream_name(trade.symbol) for trade in self._trades}
        first_time = self._trades[0].trade_time if self._trades else 0
        self._offsets = [(trade.trade_time - first_time) / 1000.0 for trade in self._trades]
        # Per symbol: the agg ids in order and each one's place in the market's history.
        self._ids: dict[str, list[int]] = {}
        self._places: dict[str, list[int]] = {}
        for place, trade in enumerate(self._trades):
            self._ids.setdefault(trade.symbol, []).append(trade.agg_id)
            self._places.setdefault(trade.symbol, []).append(place)
        self._first_time = first_time
        # Klines in the order they close (open time, then symbol), each with its stream event.
        self._klines = sorted(klines, key=lambda kline: (kline.open_time, kline.symbol))
        self._kline_closes = [kline.open_time + MINUTE_MS - 1 for kline in self._klines]
        self._kline_events = [kline_event_json(k, k.open_time + MINUTE_MS) for k in self._klines]
        self._kline_streams = {k.symbol: kline_stream_name(k.symbol) for k in self._klines}
        self._klines_closed = 0  # how many of them the market's clock has passed
        self.speed = speed
        self._limit = len(self._trades) if limit is None else min(limit, len(self._trades))
        self._host = host
        self._port = port
        self._ping_interval = ping_interval
        self._pong_timeout = pong_timeout
        self._lifetime = connection_lifetime
        self._shutdown_grace = shutdown_grace
        self._published = 0
        self._skip: set[int] = set()
        self._injections: dict[int, list[tuple[bytes, bool]]] = {}  # after agg id: (frame, binary)
        self._rate_limits: list[tuple[int, float]] = []  # (status, retry_after) for the next requests
        self._weight_minute = -1
        self._weight_used = 0
        self._connections: dict[int, _Stream] = {}
        self._changed = asyncio.Event()
        self._waiting = 0
        self._server: Server | None = None
        self._market: asyncio.Task[None] | None = None
        self._market_start = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stats = FakeStats()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FakeBinance:
        self._changed = asyncio.Event()  # bound to the running loop
        self._server = await serve(
            self._serve_stream,
            self._host,
            self._port,
            process_request=self._process_request,
            ping_interval=self._ping_interval,
            ping_timeout=self._pong_timeout,
            compression=None,
            max_queue=None,
            logger=_websockets_logger,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self._market_start = asyncio.get_running_loop().time()
        if self.speed > 0:
            self._market = asyncio.create_task(self._run_market(), name="fake-binance-market")
        logger.info("fake Binance on %s: %d trades, speed %s", self.ws_url, len(self._trades), self.speed)
        return self

    async def stop(self) -> None:
        if self._market is not None:
            self._market.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._market
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeBinance:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self._port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    # -- the market --------------------------------------------------------------------------

    @property
    def published(self) -> int:
        """How many trades have happened so far."""
        return self._published

    @property
    def trades(self) -> list[AggTrade]:
        return self._trades

    def allow(self, count: int) -> None:
        """Let the market publish up to ``count`` trades in all (it never takes one back)."""
        self._limit = max(self._limit, min(count, len(self._trades)))
        self._notify()

    def advance(self, count: int) -> None:
        """Publish up to the ``count``-th trade now: they happen whether or not anyone listens."""
        self._limit = max(self._limit, min(count, len(self._trades)))
        self._publish_to(count)

    def _publish_to(self, count: int) -> None:
        count = min(count, self._limit)
        if count > self._published:
            self._published = count
            self._close_klines(self._trades[count - 1].trade_time)
            self._notify()

    def _close_klines(self, clock_ms: float) -> None:
        """The market's clock reads ``clock_ms``: every kline whose minute ended before it is closed."""
        closed = bisect.bisect_left(self._kline_closes, clock_ms)
        if closed > self._klines_closed:
            self._klines_closed = closed
            self._notify()

    @property
    def klines_closed(self) -> int:
        """How many of the klines have closed so far (sent on the kline streams, listed by REST)."""
        return self._klines_closed

    def _notify(self) -> None:
        if self._waiting:
            self._changed.set()
            self._changed = asyncio.Event()

    async def _wait_change(self) -> None:
        event = self._changed
        self._waiting += 1
        try:
            await event.wait()
        finally:
            self._waiting -= 1

    async def _run_market(self) -> None:
        """speed > 0: publish each trade, and close each kline, when its (scaled) time comes."""
        loop = asyncio.get_running_loop()
        while True:
            self._close_klines(self._first_time + (loop.time() - self._market_start) * self.speed * 1000)
            place = self._published
            dues = []
            if place < self._limit:
                dues.append(self._market_start + self._offsets[place] / self.speed)
            if self._klines_closed < len(self._klines):
                ends_in = (self._kline_closes[self._klines_closed] + 1 - self._first_time) / 1000
                dues.append(self._market_start + ends_in / self.speed)
            if not dues:
                await self._wait_change()
                continue
            due = min(dues)
            delay = due - loop.time()
            if delay > 0:
                # Wake for the due time, or earlier if allow()/advance() changed the market.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wait_change(), delay)
                continue
            elapsed = (loop.time() - self._market_start) * self.speed
            if place < self._limit:
                self._publish_to(bisect.bisect_right(self._offsets, elapsed))

    # -- faults ------------------------------------------------------------------------------

    def skip(self, ids: Iterable[int]) -> None:
        """Leave these agg ids out of every stream (REST keeps them)."""
        self._skip.update(ids)

    def inject(self, after_id: int, *frames: bytes, binary: bool = False) -> None:
        """Send ``frames`` as they are, once, after the trade ``after_id`` (as binary frames if asked)."""
        self._injections.setdefault(after_id, []).extend((frame, binary) for frame in frames)

    def drop_connections(self, lose: int = 0) -> int:
        """Abort every open connection (no close frame); ``lose`` trades happen meanwhile."""
        dropped = 0
        for stream in list(self._connections.values()):
            stream.closing = True
            if stream.socket.transport is not None:
                stream.socket.transport.abort()
            dropped += 1
        self.stats.dropped += dropped
        if lose:
            self.advance(self._published + lose)
        logger.info("fake Binance dropped %d connections, %d trades happen meanwhile", dropped, lose)
        return dropped

    def shutdown_notice(self) -> int:
        """Send serverShutdown on every open connection; close them shutdown_grace seconds later."""
        notice = server_shutdown_event(int(time.time() * 1000))
        count = 0
        for stream in list(self._connections.values()):
            if stream.closing:
                continue
            count += 1
            self._spawn(self._notify_shutdown(stream, notice))
        self.stats.shutdown_notices += count
        return count

    async def _notify_shutdown(self, stream: _Stream, notice: bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await stream.socket.send(notice, text=True)
            await asyncio.sleep(self._shutdown_grace)
            stream.closing = True
            await stream.socket.close(1001, "server shutdown")

    def rate_limit(self, count: int, retry_after: float = 1.0, status: int = 429) -> None:
        """Answer the next ``count`` REST requests with ``status`` and ``Retry-After``."""
        if status not in (418, 429):
            raise ValueError(f"status {status}: Binance limits with 429 and bans with 418")
        self._rate_limits.extend([(status, retry_after)] * count)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- WebSocket ---------------------------------------------------------------------------

    async def _serve_stream(self, socket: ServerConnection) -> None:
        path = parse_stream_path(socket.request.path if socket.request else "")
        self.stats.connections_opened += 1
        number = self.stats.connections_opened
        stream = _Stream(number, socket, path, asyncio.get_running_loop().time())
        self._connections[number] = stream
        self.stats.connections_open = len(self._connections)
        self.stats.max_concurrent = max(self.stats.max_concurrent, len(self._connections))
        self.stats.paths.append(socket.request.path if socket.request else "")
        sender = asyncio.ensure_future(self._send_trades(stream))
        closed = asyncio.ensure_future(socket.wait_closed())
        try:
            done, _ = await asyncio.wait(
                {sender, closed}, timeout=self._lifetime, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                stream.closing = True
                self.stats.lifetime_cuts += 1
                await socket.close(1001, "connection lifetime reached")
        finally:
            for task in (sender, closed):
                task.cancel()
            await asyncio.gather(sender, closed, return_exceptions=True)
            del self._connections[number]
            self.stats.connections_open = len(self._connections)
            sent = socket.protocol.close_sent  # websockets fails a connection whose pong is late with this
            if sent is not None and sent.reason == "keepalive ping timeout":
                self.stats.pong_timeouts += 1

    async def _send_trades(self, stream: _Stream) -> None:
        symbols = set(stream.path.symbols)
        kline_symbols = set(stream.path.kline_symbols)
        combined = stream.path.combined
        socket = stream.socket
        place = self._published  # a connection hears only what happens after it opened
        kline = self._klines_closed  # ... klines too
        trades, events, skip, injections = self._trades, self._events, self._skip, self._injections
        while not stream.closing:
            if place >= self._published:
                if kline < self._klines_closed:
                    kline = await self._send_klines(
                        stream, kline, self._klines_closed, kline_symbols, combined
                    )
                    continue
                if self.speed == 0 and place < self._limit:
                    self._publish_to(place + 1)  # the market waits for its fastest reader
                else:
                    await self._wait_change()
                    continue
            trade = trades[place]
            if kline < self._klines_closed and self._kline_closes[kline] < trade.trade_time:
                # Klines whose minute ended before this trade go first, as the clock passed them first.
                due = bisect.bisect_left(self._kline_closes, trade.trade_time, kline, self._klines_closed)
                kline = await self._send_klines(stream, kline, due, kline_symbols, combined)
                continue
            place += 1
            if trade.symbol not in symbols:
                continue
            if trade.agg_id in skip:
                self.stats.skipped_sent += 1
                continue
            event = events[place - 1]
            frame = combined_frame(self._streams[trade.symbol], event) if combined else event
            await socket.send(frame, text=True)
            self.stats.frames_sent += 1
            if injections and trade.agg_id in injections:
                for extra, binary in injections.pop(trade.agg_id):
                    await socket.send(extra, text=not binary)
                    self.stats.injected_sent += 1

    async def _send_klines(
        self, stream: _Stream, first: int, end: int, symbols: set[str], combined: bool
    ) -> int:
        """Send klines ``first`` up to ``end`` (those of the symbols asked for); answer ``end``."""
        for index in range(first, end):
            kline = self._klines[index]
            if kline.symbol not in symbols:
                continue
            event = self._kline_events[index]
            frame = combined_frame(self._kline_streams[kline.symbol], event) if combined else event
            await stream.socket.send(frame, text=True)
            self.stats.klines_sent += 1
        return end

    # -- HTTP --------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path == AGG_TRADES_PATH:
            return self._answer_agg_trades(connection, request.path)
        if urlsplit(request.path).path == KLINES_PATH:
            return self._answer_klines(connection, request.path)
        try:
            parse_stream_path(request.path)
        except BinanceError as exc:
            return connection.respond(404, f"{exc}\n")
        return None  # a stream: go on with the WebSocket handshake

    def _limited(self, connection: ServerConnection, weight: int) -> Response | None:
        """Count a REST request and its weight; the 429/418 answer when one is due."""
        self.stats.rest_requests += 1
        self.stats.rest_times.append(time.monotonic())
        minute = int(time.time() // 60)
        if minute != self._weight_minute:
            self._weight_minute, self._weight_used = minute, 0
        self._weight_used += weight
        if not self._rate_limits:
            return None
        status, retry_after = self._rate_limits.pop(0)
        self.stats.rest_limited += 1
        response = _json(connection, status, _TOO_MANY_REQUESTS)
        response.headers["Retry-After"] = f"{retry_after:g}"
        response.headers[USED_WEIGHT_HEADER] = str(self._weight_used)
        return response

    def _answer_klines(self, connection: ServerConnection, path: str) -> Response:
        limited = self._limited(connection, KLINES_REQUEST_WEIGHT)
        if limited is not None:
            return limited
        query = parse_qs(urlsplit(path).query)
        symbol = query.get("symbol", [""])[0].upper()
        if symbol not in self._ids and symbol not in self._kline_streams:
            return _json(connection, 400, '{"code":-1121,"msg":"Invalid symbol."}')
        if query.get("interval", [""])[0] != "1m":
            return _json(connection, 400, '{"code":-1120,"msg":"Invalid interval: this fake serves 1m."}')
        try:
            limit = int(query.get("limit", ["500"])[0])
            start = int(query["startTime"][0]) if "startTime" in query else None
        except ValueError:
            return _json(connection, 400, '{"code":-1100,"msg":"Illegal characters found in a parameter."}')
        if not 1 <= limit <= MAX_LIMIT:
            return _json(connection, 400, '{"code":-1100,"msg":"limit must be between 1 and 1000."}')
        closed = [k for k in self._klines[: self._klines_closed] if k.symbol == symbol]
        # Without startTime Binance lists the most recent klines.
        chosen = [k for k in closed if k.open_time >= start][:limit] if start is not None else closed[-limit:]
        self.stats.rest_klines += len(chosen)
        response = _json(connection, 200, rest_klines_json(chosen).decode())
        response.headers[USED_WEIGHT_HEADER] = str(self._weight_used)
        return response

    def _answer_agg_trades(self, connection: ServerConnection, path: str) -> Response:
        limited = self._limited(connection, REQUEST_WEIGHT)
        if limited is not None:
            return limited
        query = parse_qs(urlsplit(path).query)
        symbol = query.get("symbol", [""])[0].upper()
        if symbol not in self._ids:
            return _json(connection, 400, '{"code":-1121,"msg":"Invalid symbol."}')
        try:
            limit = int(query.get("limit", ["500"])[0])
            from_id = int(query["fromId"][0]) if "fromId" in query else None
        except ValueError:
            return _json(connection, 400, '{"code":-1100,"msg":"Illegal characters found in a parameter."}')
        if not 1 <= limit <= MAX_LIMIT:
            return _json(connection, 400, '{"code":-1100,"msg":"limit must be between 1 and 1000."}')
        ids, places = self._ids[symbol], self._places[symbol]
        visible = bisect.bisect_left(places, self._published)  # this symbol's trades published so far
        # Without fromId Binance lists the most recent trades.
        start = max(0, visible - limit) if from_id is None else bisect.bisect_left(ids, from_id, 0, visible)
        chosen = [self._trades[places[i]] for i in range(start, min(visible, start + limit))]
        self.stats.rest_trades += len(chosen)
        response = _json(connection, 200, rest_json(chosen).decode())
        response.headers[USED_WEIGHT_HEADER] = str(self._weight_used)
        return response


def _json(connection: ServerConnection, status: int, text: str) -> Response:
    response = connection.respond(status, text)
    response.headers["Content-Type"] = "application/json;charset=UTF-8"
    return response


class FakeBinanceThread:
    """`FakeBinance` on its own event loop in a daemon thread, for sync code.

    ``with FakeBinanceThread(trades, speed=0) as fake:`` starts it and stops it on exit.
    The fault and market methods of `FakeBinance` are available here with the same names
    and run on the server's loop; `call` runs any function of the server there.
    """

    def __init__(self, trades: Sequence[AggTrade], **options: Any) -> None:
        self._trades = trades
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.server: FakeBinance | None = None

    def start(self) -> FakeBinanceThread:
        self._thread = threading.Thread(target=self._run, name="fake-binance", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        if self.server is None:
            raise RuntimeError("the fake Binance did not start within 30 s")
        return self

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            self.server = await FakeBinance(self._trades, **self._options).start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            await self.server.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(30)

    def __enter__(self) -> FakeBinanceThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def call(self, function: Callable[[FakeBinance], T], timeout: float = 30) -> T:
        """Run ``function(server)`` on the server's loop and return its result."""
        if self._loop is None or self.server is None:
            raise RuntimeError("the fake Binance is not running")
        server = self.server

        async def run() -> T:
            return function(server)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    @property
    def ws_url(self) -> str:
        return self._server().ws_url

    @property
    def rest_url(self) -> str:
        return self._server().rest_url

    @property
    def stats(self) -> FakeStats:
        return self._server().stats

    @property
    def published(self) -> int:
        return self._server().published

    @property
    def trades(self) -> list[AggTrade]:
        return self._server().trades

    @property
    def klines_closed(self) -> int:
        return self._server().klines_closed

    def allow(self, count: int) -> None:
        self.call(lambda server: server.allow(count))

    def advance(self, count: int) -> None:
        self.call(lambda server: server.advance(count))

    def skip(self, ids: Iterable[int]) -> None:
        chosen = list(ids)
        self.call(lambda server: server.skip(chosen))

    def drop_connections(self, lose: int = 0) -> int:
        return self.call(lambda server: server.drop_connections(lose))

    def shutdown_notice(self) -> int:
        return self.call(lambda server: server.shutdown_notice())

    def rate_limit(self, count: int, retry_after: float = 1.0, status: int = 429) -> None:
        self.call(lambda server: server.rate_limit(count, retry_after, status))

    def inject(self, after_id: int, *frames: bytes, binary: bool = False) -> None:
        self.call(lambda server: server.inject(after_id, *frames, binary=binary))

    def _server(self) -> FakeBinance:
        if self.server is None:
            raise RuntimeError("the fake Binance is not running")
        return self.server
