"""The producer service: Binance's aggTrade WebSocket stream into Kafka, losing nothing.

Public API
----------
For ``python -m producer`` and ``cryptotrades produce`` (`producer.command`), and for the
one-box pipeline, which runs the producer in its own process::

    from producer.service import ProducerThread, Stats, run
    from producer.settings import ProducerSettings

    settings = ProducerSettings(
        binance_ws_url=fake.ws_url, binance_rest_url=fake.rest_url,  # or the defaults: Binance itself
        kafka_bootstrap="127.0.0.1:9092", topic="cryptotrades",
        state_file=Path("data/onebox/producer-state.json"), health_address="",
    )

    # async: returns once ``stop`` is set and the shutdown is over (reading stopped, Kafka
    # given up to shutdown_timeout to confirm, state file written). Raises on a fault it
    # cannot ride out (a bad state file, a Kafka configuration librdkafka refuses).
    stop = asyncio.Event()
    stats = Stats()
    await run(settings, stop, stats)

    # sync: the same on a thread with its own event loop
    with ProducerThread(settings) as producer:          # start() ... stop() on leaving
        producer.wait_until(lambda s: s.produced >= 5000, timeout=60)
        producer.stats.snapshot()                       # counters, readable at any time

`Stats` (producer/stats.py) counts received, produced (confirmed by Kafka), backfilled,
duplicates, gaps, holes, reconnects, rotations…; ``stats.released`` and ``stats.confirmed``
give the last agg id per symbol handed to Kafka and confirmed by it.

How it works
------------
- Connections: one combined stream for all symbols. A supervisor reconnects with capped,
  jittered exponential backoff, forever, within Binance's 300 connections per 5 minutes.
  Before the 24-hour cut (``rotate_after``), or when Binance sends ``serverShutdown``, it
  opens a second connection (make-before-break); the new one's trades are held until the old
  one has released everything before them, then the new one takes over and the old closes.
- Every frame goes through one queue to one processing task, which asks `producer.sequence`
  what each trade is: the next id (released), a duplicate (dropped, counted) or past a gap
  (the missing ids are fetched from REST and released first, so Kafka sees ids in order).
- No frame ends the stream: whatever decoding one frame raises is caught, and the frame is
  counted by reason (``stats.rejected``) and logged, rate-limited. Ids are trusted only when
  they agree with Binance: a jump ahead (or a first trade) is released only once REST knows
  an id that high; one REST does not know is held until the stream's next trade, and
  rejected when that trade is below it (docs/producer.md, "When the stream and REST
  disagree"). A resume point above REST's newest id is corrected, loudly.
- `producer.sink.KafkaSink` produces idempotently and checks every delivery report; when it
  holds ``buffer_messages`` unconfirmed trades the processing task waits, the queue fills,
  and reading stops (Binance may then drop us: the reconnect's gap is filled from REST).
- Every new connection (not a rotation's) first asks REST for the newest trade and fetches
  what happened while nobody listened, so a downtime is filled at once, even in a quiet market.
- Closed 1-minute klines (``<symbol>@kline_1m`` on the same connection) are checked with
  ``binance.klines.parse_kline_event`` and published to the same topic, once each, in open-time
  order, on a path of their own that never touches the trade sequencing; on every new
  connection the ones missed are fetched from REST ``/api/v3/klines`` (docs/producer.md, "Klines").
- The state file holds, per symbol, the last id Kafka confirmed (and the last kline's open
  time); at start the service resumes after the later of that and the last id in the topic's
  tail. A gap is fetched up to ``max_backfill`` trades (beyond, a hole is logged with its
  ids); REST answers that retrying cannot change, or REST failing for ``backfill_give_up``,
  also end in a logged hole.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
from confluent_kafka import KafkaException
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from binance.errors import BadLineError, BinanceError, RestError
from binance.events import MINUTE_MS, AggTrade
from binance.klines import parse_kline_event
from binance.parse import parse_event
from binance.rest import MAX_LIMIT, RestTrade
from binance.streams import (
    Frame,
    FrameKind,
    combined_stream_url,
    kline_is_open,
    looks_like_trade,
    read_frame,
)
from producer.backfill import RestPages
from producer.errors import StateFileError
from producer.health import start_health_server
from producer.logs import LogGate, held_back
from producer.resume import read_topic_tail
from producer.sequence import (
    Held,
    IdRange,
    Jump,
    Verdict,
    classify,
    corrected_mark,
    handover_ready,
    id_in_range,
    judge_jump,
    plan_gap,
    probe_range,
    read_page,
    resume_points,
    settle_held,
    watermark,
)
from producer.settings import ProducerSettings
from producer.sink import KafkaSink
from producer.state import load_state, save_state
from producer.stats import Stats, log_line, reject
from producer.timing import (
    CONNECTION_WINDOW,
    CONNECTIONS_PER_WINDOW,
    backoff_delay,
    connect_wait,
    next_attempt,
    rotation_delay,
)

__all__ = ["ProducerThread", "Stats", "run"]

logger = logging.getLogger(__name__)

QUEUE_FRAMES = 10_000  # frames read and not yet processed; readers wait beyond this
WS_MAX_QUEUE = 1024  # frames websockets buffers per connection before it stops reading the socket
WS_MAX_FRAME = 1 << 20
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0
HEALTHY_CONNECTION = 10.0  # a connection that lived this long resets the reconnect backoff
HELD_LIMIT = 100_000  # trades a rotation's new connection may hold before it takes over anyway
EMPTY_PAGES_ALLOWED = 5  # REST pages with none of the wanted ids before they are given up
EMPTY_PAGE_PAUSE = 1.0  # REST may lag the stream by a moment
CATCH_UP_GIVE_UP = 30.0  # a catch-up is a shortcut: when REST fails, the stream's next trade shows the gap
TAIL_TIMEOUT = 10.0  # reading the topic's tail at start
MARK_RECHECK_PAUSE = 2.0  # REST's newest below our last id: ask again after this, REST may lag a moment
MARK_RECHECK_INTERVAL = 30.0  # an unchecked resume point and a stream of repeats: check it this often
REJECT_LOG_INTERVAL = 10.0  # frames not published: one line per reason at most this often
KLINE_BACKFILL_MINUTES = 7 * 1440  # klines one catch-up or gap may fetch from REST: a week, 11 pages
WEBSOCKET_TOO_BIG = 1009  # the close code websockets sends when a frame exceeds max_size


class _Role(enum.Enum):
    PRIMARY = "primary"  # its trades are released
    STANDBY = "standby"  # the new connection of a rotation: its trades are held
    RETIRED = "retired"  # replaced; closing


class _Connection:
    """One WebSocket connection and what the service knows of it."""

    def __init__(self, number: int, socket: ClientConnection, opened_at: float, role: _Role) -> None:
        self.name = f"conn-{number}"
        self.socket = socket
        self.opened_at = opened_at
        self.role = role
        self.trades = 0  # trades handled (parsed and offered) so far
        self.delivered = 0  # trade frames read off the socket (handling may lag behind, e.g. during a 429)
        self.held: list[tuple[AggTrade, bytes]] = []
        self.first_ids: dict[str, int] = {}
        self.ended = asyncio.Event()
        self.promoted = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None


class _Suspect:
    """A trade that jumped ahead and is not known to be Binance's yet (`producer.sequence.settle_held`)."""

    __slots__ = ("event", "rest_answered", "trade", "why")

    def __init__(self, trade: AggTrade, event: bytes, rest_answered: bool, why: str) -> None:
        self.trade = trade
        self.event = event
        self.rest_answered = rest_answered  # False: REST could not be asked at all
        self.why = why


# Whatever decoding one event can raise besides BadLineError (deep nesting is a RecursionError).
_DECODING_ERRORS = (RecursionError, ValueError, OverflowError, msgspec.MsgspecError)

_END = object()  # queue item: the connection's reader has finished
_PROMOTE = object()  # queue item: the supervisor asks that this standby take over now
_CATCH_UP = object()  # queue item: a new connection (not a rotation's): fetch what happened meanwhile


async def _first_of(*waits: Awaitable[Any], timeout: float | None = None) -> None:
    """Wait until one of ``waits`` is done, or ``timeout``; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Service:
    def __init__(
        self,
        settings: ProducerSettings,
        stats: Stats,
        sink: KafkaSink,
        pages: RestPages,
        start_ids: Mapping[str, int | None],
        saved: Mapping[str, int],
        known: Mapping[str, list[int]] | None = None,
        kline_starts: Mapping[str, int] | None = None,
    ) -> None:
        self._settings = settings
        # Per symbol, the open time of the last kline released (None: start from the live stream).
        self._kline_last: dict[str, int | None] = {
            symbol: (kline_starts or {}).get(symbol) for symbol in settings.symbols
        }
        self._kline_saved = dict(kline_starts or {})  # kept for symbols no longer configured
        self._stats = stats
        self._sink = sink
        self._pages = pages
        self._last: dict[str, int | None] = dict(start_ids)
        self._saved = dict(saved)  # kept for symbols no longer configured
        # Ids the state file and the topic's tail hold: where to resume if the last one is not Binance's.
        self._known: dict[str, list[int]] = {symbol: list(ids) for symbol, ids in (known or {}).items()}
        self._checked: set[str] = set()  # symbols whose last id REST has been seen to know
        self._last_check: dict[str, float] = {}
        self._suspects: dict[str, _Suspect] = {}  # per symbol, a jump waiting for the stream's next trade
        self._reject_log = LogGate(REJECT_LOG_INTERVAL)
        self._symbols = frozenset(settings.symbols)
        self._url = combined_stream_url(settings.ws_url, settings.symbols)
        self._queue: asyncio.Queue[tuple[_Connection, Any]] = asyncio.Queue(QUEUE_FRAMES)
        self._primary: _Connection | None = None
        self._standby: _Connection | None = None
        self._rotate_now = asyncio.Event()
        self._connect_times: deque[float] = deque(maxlen=CONNECTIONS_PER_WINDOW)
        self._numbers = itertools.count(1)
        self._rand = random.random
        self._loop = asyncio.get_running_loop()
        self._closing: set[asyncio.Task[None]] = set()

    # -- the whole -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        workers = {
            asyncio.create_task(self._supervise(), name="supervisor"),
            asyncio.create_task(self._process(), name="processor"),
            asyncio.create_task(self._sink.run(), name="kafka-poller"),
            asyncio.create_task(self._log_periodically(), name="stats-log"),
            asyncio.create_task(self._save_periodically(), name="state-saver"),
        }
        stopper = asyncio.create_task(stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait(workers | {stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopper}:
                task.result()  # a worker only ends by failing: raise its error
                raise RuntimeError(f"{task.get_name()} ended on its own")
            logger.info(
                "stopping: reading ends, Kafka gets up to %g s to confirm", self._settings.shutdown_timeout
            )
        finally:
            # Stop reading first, then the rest.
            supervisor = next(task for task in workers if task.get_name() == "supervisor")
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
            await self._close_connections()
            for task in workers | {stopper}:
                task.cancel()
            await asyncio.gather(*workers, stopper, return_exceptions=True)

    def confirmed_kline_times(self) -> dict[str, int]:
        """Per symbol, the open time of the last kline such that Kafka has all up to it (holes aside)."""
        times = dict(self._kline_saved)
        for symbol, last in self._kline_last.items():
            first = self._sink.first_unconfirmed_kline(symbol)
            mark = last if first is None else first - MINUTE_MS
            if mark is not None and (symbol not in times or mark >= times[symbol]):
                times[symbol] = mark
                self._stats.kline_confirmed[symbol] = mark
        return times

    def confirmed_ids(self) -> dict[str, int]:
        """Per symbol, the last id such that Kafka has every id up to it (holes aside)."""
        ids = dict(self._saved)
        for symbol, last in self._last.items():
            mark = watermark(last, self._sink.first_unconfirmed(symbol))
            if mark is not None:
                ids[symbol] = mark
                self._stats.confirmed[symbol] = mark
        return ids

    # -- connections ---------------------------------------------------------------------------

    async def _supervise(self) -> None:
        attempt = 0
        ever_connected = False
        while True:
            primary = self._primary
            if primary is None:
                if attempt:
                    delay = backoff_delay(
                        attempt - 1,
                        base=self._settings.reconnect_min,
                        cap=self._settings.reconnect_max,
                        rand=self._rand(),
                    )
                    logger.info("reconnecting to Binance in %.1f s (attempt %d)", delay, attempt + 1)
                    await asyncio.sleep(delay)
                try:
                    connection = await self._open(_Role.PRIMARY)
                except Exception as exc:  # the one broad catch: whatever fails, back off and retry
                    attempt += 1
                    logger.warning(
                        "cannot connect to %s: %s",
                        self._url,
                        exc,
                        exc_info=not isinstance(exc, OSError | TimeoutError | BinanceError),
                    )
                    continue
                if ever_connected:
                    self._stats.reconnects += 1
                ever_connected = True
                self._primary = connection
                self._update_connected()
                await self._queue.put((connection, _CATCH_UP))
                continue
            rotate_in = rotation_delay(primary.opened_at, self._loop.time(), self._settings.rotate_after)
            await _first_of(primary.ended.wait(), self._rotate_now.wait(), timeout=rotate_in)
            if primary.ended.is_set() and self._primary is primary:
                lived = self._loop.time() - primary.opened_at
                attempt = next_attempt(attempt, primary.delivered, lived, HEALTHY_CONNECTION)
                self._primary = None
                self._update_connected()
                continue
            reason = (
                "serverShutdown" if self._rotate_now.is_set() else f"{self._settings.rotate_after:g} s old"
            )
            attempt = await self._rotate(primary, reason, attempt)

    async def _open(self, role: _Role) -> _Connection:
        wait = connect_wait(self._connect_times, self._loop.time())
        if wait > 0:
            logger.warning(
                "Binance allows %d connections per %g s: waiting %.0f s",
                CONNECTIONS_PER_WINDOW,
                CONNECTION_WINDOW,
                wait,
            )
            await asyncio.sleep(wait)
        self._connect_times.append(self._loop.time())
        socket = await connect(
            self._url,
            ping_interval=self._settings.ws_ping_interval,
            ping_timeout=self._settings.ws_ping_timeout,
            open_timeout=OPEN_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
            max_size=WS_MAX_FRAME,
            max_queue=WS_MAX_QUEUE,
            user_agent_header="cryptotrades-producer",
        )
        connection = _Connection(next(self._numbers), socket, self._loop.time(), role)
        connection.reader = asyncio.create_task(self._read(connection), name=connection.name)
        self._stats.connections_open += 1
        logger.info("%s open (%s): %s", connection.name, role.value, self._url)
        return connection

    async def _rotate(self, old: _Connection, reason: str, attempt: int) -> int:
        """Replace ``old`` make-before-break; answer the reconnect attempt count to go on with."""
        logger.info("%s: replacing it (%s), make-before-break", old.name, reason)
        try:
            new = await self._open(_Role.STANDBY)
        except Exception as exc:  # the supervisor's broad catch: keep the old one, try again later
            delay = backoff_delay(
                attempt,
                base=self._settings.reconnect_min,
                cap=self._settings.reconnect_max,
                rand=self._rand(),
            )
            logger.warning(
                "%s: cannot open its replacement (%s); trying again in %.1f s", old.name, exc, delay
            )
            await _first_of(old.ended.wait(), asyncio.sleep(delay))
            return attempt + 1
        self._rotate_now.clear()
        self._standby = new
        await _first_of(
            new.promoted.wait(), old.ended.wait(), new.ended.wait(), timeout=self._settings.rotation_overlap
        )
        if not new.promoted.is_set():
            if new.ended.is_set() and not old.ended.is_set():
                logger.warning(
                    "%s: its replacement %s closed before taking over; keeping it", old.name, new.name
                )
                return attempt + 1
            # Overlap over (or the old one is gone): the new one takes over after what is queued.
            await self._queue.put((new, _PROMOTE))
            await new.promoted.wait()
        self._stats.rotations += 1
        self._primary = new
        self._update_connected()
        self._retire(old)
        return 0

    def _retire(self, connection: _Connection) -> None:
        connection.role = _Role.RETIRED
        task = asyncio.create_task(connection.socket.close(1000, "replaced"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_connections(self) -> None:
        connections = [c for c in (self._primary, self._standby) if c is not None]
        for connection in connections:
            connection.role = _Role.RETIRED
            if connection.reader is not None:
                connection.reader.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT + 1):
                await asyncio.gather(
                    *(c.socket.close(1000, "shutting down") for c in connections),
                    *self._closing,
                    return_exceptions=True,
                )
        self._primary = self._standby = None
        self._update_connected()

    async def _read(self, connection: _Connection) -> None:
        socket, put = connection.socket, self._queue.put
        try:
            while True:
                frame = await socket.recv(decode=False)
                if looks_like_trade(frame):
                    connection.delivered += 1
                await put((connection, frame))
        except ConnectionClosed as exc:
            if exc.sent is not None and exc.sent.code == WEBSOCKET_TOO_BIG:
                self._reject(connection, "too_large", f"a frame over {WS_MAX_FRAME} bytes: {exc}", b"")
            if connection.role is not _Role.RETIRED:
                logger.warning(
                    "%s closed after %d trades (%d handled so far): %s",
                    connection.name,
                    connection.delivered,
                    connection.trades,
                    exc,
                )
        finally:
            connection.ended.set()
            self._stats.connections_open -= 1
            self._update_connected()
        if connection.role is not _Role.RETIRED:
            await put((connection, _END))

    def _update_connected(self) -> None:
        primary = self._primary
        connected = primary is not None and not primary.ended.is_set()
        if connected != self._stats.connected:
            self._stats.connected = connected
            self._stats.disconnected_since = None if connected else time.monotonic()

    # -- processing ----------------------------------------------------------------------------

    async def _process(self) -> None:
        get = self._queue.get
        while True:
            connection, item = await get()
            if item is _END:
                await self._on_end(connection)
            elif item is _PROMOTE:
                await self._promote(connection)
            elif item is _CATCH_UP:
                await self._catch_up(connection)
            else:
                await self._on_frame(connection, item)

    async def _on_frame(self, connection: _Connection, data: bytes) -> None:
        try:
            frame = read_frame(data)
            trade = self._trade_of(connection, frame) if frame.kind is FrameKind.AGG_TRADE else None
        except BinanceError as exc:
            # Not released: the next good trade finds the gap it may leave, and REST fills it.
            self._reject(connection, "unreadable", str(exc), data)
            return
        except Exception as exc:  # the one broad catch per frame: no frame ends the stream
            self._reject(connection, "internal", f"{type(exc).__name__}: {exc}", data, exc_info=True)
            return
        if trade is not None:
            if connection.role is _Role.STANDBY:
                await self._hold(connection, trade, frame.event)
                return
            await self._offer(connection, trade, frame.event)
            standby = self._standby
            if standby is not None and standby.first_ids and handover_ready(self._last, standby.first_ids):
                await self._promote(standby)
        elif frame.kind is FrameKind.SERVER_SHUTDOWN:
            self._stats.server_shutdowns += 1
            logger.warning(
                "%s: Binance announced a server shutdown; replacing the connection now", connection.name
            )
            if connection.role is _Role.PRIMARY and self._standby is None:  # else: being replaced already
                self._rotate_now.set()
        elif frame.kind is FrameKind.KLINE:
            await self._on_kline(connection, frame.event)
        elif frame.kind is FrameKind.ERROR:
            self._reject(connection, "error_frame", "the server says", frame.event, level=logging.ERROR)
        elif frame.kind is not FrameKind.AGG_TRADE:
            self._reject(
                connection, "other_event", f"a {frame.kind.value} frame", frame.event, level=logging.INFO
            )

    def _trade_of(self, connection: _Connection, frame: Frame) -> AggTrade | None:
        """The trade in an aggTrade frame, or None when it may not be published (counted, logged)."""
        try:
            trade = parse_event(frame.event)
        except (BadLineError, *_DECODING_ERRORS) as exc:
            # Not released: the next good trade finds the gap it leaves, and REST fills it.
            self._reject(connection, "not_a_trade", str(exc), frame.event)
            return None
        self._stats.received += 1
        connection.trades += 1
        if trade.symbol not in self._symbols:
            self._reject(
                connection, "wrong_symbol", f"symbol {trade.symbol[:40]!r} was not asked for", frame.event
            )
            return None
        if not id_in_range(trade.agg_id):
            self._reject(connection, "id_out_of_range", f"agg id {str(trade.agg_id)[:40]}", frame.event)
            return None
        return trade

    def _reject(
        self,
        connection: _Connection,
        reason: str,
        detail: str,
        data: bytes,
        *,
        level: int = logging.WARNING,
        exc_info: bool = False,
    ) -> None:
        """Count a frame that is not published, by reason; log it, at most one line per reason every 10 s."""
        reject(self._stats, reason)
        held = self._reject_log.admit(reason)
        if held is not None:
            logger.log(
                level,
                "%s: frame not published (%s: %s): %r%s",
                connection.name,
                reason,
                detail[:300],
                data[:300],
                held_back(held, REJECT_LOG_INTERVAL),
                exc_info=exc_info,
            )

    # -- klines: Binance's own closed 1-minute klines, beside the trades -----------------------
    #
    # Kept apart from the trade sequencing above: a kline frame never moves, holds or
    # confirms a trade id. Klines are released in open-time order per symbol, each once;
    # any connection's closed kline may be the one (during a rotation both hear it).

    async def _on_kline(self, connection: _Connection, event: bytes) -> None:
        if kline_is_open(event):
            self._stats.klines_open += 1  # an update of the minute still open: not final, not published
            return
        try:
            kline = parse_kline_event(event)
        except (BadLineError, *_DECODING_ERRORS) as exc:
            self._reject(connection, "not_a_kline", str(exc), event)
            return
        self._stats.klines_received += 1
        if kline.symbol not in self._symbols:
            self._reject(connection, "wrong_kline", f"symbol {kline.symbol[:40]!r} was not asked for", event)
            return
        last = self._kline_last.get(kline.symbol)
        if last is not None and kline.open_time <= last:
            self._stats.kline_duplicates += 1
            return
        if last is not None and kline.open_time > last + MINUTE_MS:
            logger.warning(
                "%s: %s klines from %s to before %s are missing; fetching them from REST",
                connection.name,
                kline.symbol,
                _minute(last + MINUTE_MS),
                _minute(kline.open_time),
            )
            await self._fetch_klines(kline.symbol, kline.open_time)
            last = self._kline_last.get(kline.symbol)
            if last is not None and kline.open_time <= last:
                self._stats.kline_duplicates += 1  # REST had it already
                return
            if last is not None and kline.open_time > last + MINUTE_MS:
                self._give_up_klines(
                    kline.symbol, last + MINUTE_MS, kline.open_time, "REST lists none of them"
                )
        await self._release_kline(kline.symbol, kline.open_time, event)

    async def _release_kline(self, symbol: str, open_time: int, event: bytes) -> None:
        await self._sink.produce_kline(symbol, open_time, event)
        self._kline_last[symbol] = open_time
        self._stats.kline_released[symbol] = open_time

    async def _fetch_klines(self, symbol: str, before: int | None) -> None:
        """Release from REST, page by page, the closed klines after the last one released, up to
        (not including) ``before``; None: up to the newest closed one REST lists. At most
        `KLINE_BACKFILL_MINUTES` back from there; what lies before is logged as a hole."""
        last = self._kline_last.get(symbol)
        if last is None:
            return
        end = before
        if end is None:
            try:
                newest = await self._pages.klines(symbol, None, 2, give_up_after=CATCH_UP_GIVE_UP)
            except RestError as exc:
                logger.warning(
                    "cannot ask REST for the newest %s kline (%s): the stream's next kline will show any gap",
                    symbol,
                    exc,
                )
                return
            if not newest.klines:
                return
            end = newest.klines[-1].kline.open_time + MINUTE_MS
        start = last + MINUTE_MS
        earliest = end - KLINE_BACKFILL_MINUTES * MINUTE_MS
        if start < earliest:
            self._give_up_klines(symbol, start, earliest, f"more than {KLINE_BACKFILL_MINUTES} minutes back")
            start = earliest
        fetched = 0
        while start < end:
            limit = max(1, min(MAX_LIMIT, (end - start) // MINUTE_MS))
            try:
                page = await self._pages.klines(symbol, start, limit, give_up_after=CATCH_UP_GIVE_UP)
            except RestError as exc:
                self._give_up_klines(symbol, start, end, f"REST: {exc}")
                return
            page_start = start
            for item in page.klines:
                open_time = item.kline.open_time
                if open_time >= end:
                    break
                if open_time > start:
                    self._give_up_klines(symbol, start, open_time, "REST does not list them")
                await self._release_kline(symbol, open_time, item.event)
                self._stats.klines_backfilled += 1
                fetched += 1
                start = open_time + MINUTE_MS
            if start == page_start:
                if before is not None and page.klines:  # REST lists later minutes, none of these
                    self._give_up_klines(symbol, start, end, "REST does not list them")
                break  # else nothing newer is closed yet (REST may lag the stream a moment)
            if page.reached_open:
                break
        if fetched:
            logger.info("%s: %d klines from REST, up to %s", symbol, fetched, _minute(start - MINUTE_MS))

    def _give_up_klines(self, symbol: str, start: int, end: int, why: str) -> None:
        minutes = (end - start) // MINUTE_MS
        self._stats.kline_holes += minutes
        logger.error(
            "%s: KLINE HOLE: the klines of %d minutes from %s will not be in Kafka: %s",
            symbol,
            minutes,
            _minute(start),
            why,
        )
        self._kline_last[symbol] = end - MINUTE_MS

    async def _hold(self, connection: _Connection, trade: AggTrade, event: bytes) -> None:
        """A rotation's new connection: keep its trades until it may take over."""
        connection.first_ids.setdefault(trade.symbol, trade.agg_id)
        connection.held.append((trade, event))
        if handover_ready(self._last, connection.first_ids) or len(connection.held) >= HELD_LIMIT:
            await self._promote(connection)

    async def _promote(self, connection: _Connection) -> None:
        if connection.role is not _Role.STANDBY:
            return  # taken over already, or gone
        old = self._primary
        if old is not None and old is not connection:
            old.role = _Role.RETIRED
        connection.role = _Role.PRIMARY
        self._standby = None
        held, connection.held = connection.held, []
        logger.info(
            "%s takes over from %s (%d trades heard during the overlap)",
            connection.name,
            old.name if old else "nobody",
            len(held),
        )
        for trade, event in held:
            await self._offer(connection, trade, event)
        connection.promoted.set()

    async def _on_end(self, connection: _Connection) -> None:
        standby = self._standby
        if connection.role is _Role.PRIMARY and standby is not None and standby is not connection:
            await self._promote(standby)  # the old one went first: the new one carries on
        elif connection.role is _Role.STANDBY:
            connection.held.clear()
            if self._standby is connection:
                self._standby = None

    async def _offer(self, connection: _Connection, trade: AggTrade, event: bytes) -> None:
        symbol, agg_id = trade.symbol, trade.agg_id
        last = self._last.get(symbol)
        if last is not None and agg_id == last + 1 and symbol not in self._suspects:
            await self._release(symbol, agg_id, event)  # by far the most common case
            return
        suspect = self._suspects.get(symbol)
        if suspect is not None:
            if not await self._settle(connection, suspect, agg_id):
                self._stats.duplicates += 1
                return
            last = self._last.get(symbol)
        verdict = classify(last, agg_id)
        if verdict is Verdict.NEXT:
            await self._release(symbol, agg_id, event)
        elif verdict is Verdict.DUPLICATE:
            self._stats.duplicates += 1
            if connection.trades == 1:
                logger.info(
                    "%s: first trade %s %d is at or below the last released %s: dropping repeats",
                    connection.name,
                    symbol,
                    agg_id,
                    last,
                )
            if (
                symbol not in self._checked
                and self._loop.time() - self._last_check.get(symbol, -MARK_RECHECK_INTERVAL)
                >= MARK_RECHECK_INTERVAL
            ):
                # Repeats of an id REST has not confirmed yet: is our last id Binance's at all?
                await self._catch_up_symbol(connection, symbol)
        else:
            await self._jump(connection, trade, event, last)

    async def _jump(self, connection: _Connection, trade: AggTrade, event: bytes, last: int | None) -> None:
        """A trade that moves the last id forward by more than one: released only if REST knows its id."""
        symbol, agg_id = trade.symbol, trade.agg_id
        probe = probe_range(last, agg_id, MAX_LIMIT)
        try:
            page = await self._pages.page(symbol, probe.first, len(probe))
        except RestError as exc:
            self._suspects[symbol] = _Suspect(trade, event, False, f"REST could not be asked: {exc}")
            logger.warning(
                "%s: %s agg id %d jumps ahead of the last released %s, and REST cannot be asked (%s): "
                "holding it until the stream's next trade shows whether it is Binance's",
                connection.name,
                symbol,
                agg_id,
                last,
                exc,
            )
            return
        newest = page[-1].trade.agg_id if page else None
        if judge_jump(agg_id, newest, rest_answered=True) is not Jump.CONFIRMED:
            self._suspects[symbol] = _Suspect(
                trade, event, True, f"REST lists nothing from {probe.first} up to it (newest there: {newest})"
            )
            return
        await self._confirmed(connection, trade, event, last, probe, page)

    async def _confirmed(
        self,
        connection: _Connection,
        trade: AggTrade,
        event: bytes,
        last: int | None,
        probe: IdRange,
        page: list[RestTrade],
    ) -> None:
        """REST knows the jump's id: fill the gap before it (the probe page is its newest part), release it.

        When the probe page lists the trade itself, it must agree with REST; if it does not,
        REST's record of that id is released instead (the stream's frame is counted and logged).
        """
        symbol, agg_id = trade.symbol, trade.agg_id
        on_rest = next((item for item in page if item.trade.agg_id == agg_id), None)
        if on_rest is not None and on_rest.trade != trade:
            self._reject(
                connection,
                "contradicts_rest",
                f"{symbol} agg id {agg_id} is not the trade REST has under that id; publishing REST's",
                event,
            )
            event = on_rest.event
        if last is None:
            logger.info(
                "%s: %s starts at agg id %d (nothing saved: the live stream from here)",
                connection.name,
                symbol,
                agg_id,
            )
            self._checked.add(symbol)
        elif agg_id > last + 1:
            await self._fill_gap(connection, symbol, last, agg_id, (probe.first, page))
        await self._release(symbol, agg_id, event)

    async def _settle(self, connection: _Connection, suspect: _Suspect, agg_id: int) -> bool:
        """The stream's next trade ``agg_id`` after a suspect jump: True when it is to be handled on."""
        symbol, held_id = suspect.trade.symbol, suspect.trade.agg_id
        last = self._last.get(symbol)
        settled = settle_held(last, held_id, agg_id)
        if settled is Held.KEEP:
            return False
        del self._suspects[symbol]
        if settled is Held.REJECT:
            self._reject(
                connection,
                "unconfirmed_jump",
                f"{symbol} agg id {held_id} jumped ahead of the last released {last}, {suspect.why}, "
                f"and the stream went on at {agg_id}, below it",
                suspect.event,
            )
            return True
        # The stream went on past the suspect.
        if not suspect.rest_answered:
            logger.warning(
                "%s: the stream went on past %s agg id %d (at %d) while REST could not be asked: taking it",
                connection.name,
                symbol,
                held_id,
                agg_id,
            )
            if last is not None and held_id > last + 1:
                self._stats.gaps += 1
                self._give_up(symbol, IdRange(last + 1, held_id - 1), suspect.why)
            await self._release(symbol, held_id, suspect.event)
            return True
        # REST said no; it may have lagged the stream: ask once more now.
        probe = probe_range(last, held_id, MAX_LIMIT)
        try:
            page = await self._pages.page(symbol, probe.first, len(probe))
        except RestError as exc:
            page, newest, why = [], None, f"REST could not be asked again: {exc}"
        else:
            newest = page[-1].trade.agg_id if page else None
            why = f"REST still lists nothing that high (newest from {probe.first}: {newest})"
        if judge_jump(held_id, newest, rest_answered=True) is Jump.CONFIRMED:
            await self._confirmed(connection, suspect.trade, suspect.event, last, probe, page)
        else:
            self._reject(
                connection,
                "unconfirmed_jump",
                f"{symbol} agg id {held_id} jumped ahead of the last released {last}, {why}",
                suspect.event,
            )
        return True

    async def _catch_up(self, connection: _Connection) -> None:
        """Fill what happened while no connection listened, up to the newest trade REST knows.

        Without this a restart or reconnect would find its gap only with the next live trade;
        in a quiet market that may be a while, and the downtime would wait for it.
        """
        for symbol in self._settings.symbols:
            if self._last.get(symbol) is not None:  # else nothing saved: it starts from the live stream
                await self._catch_up_symbol(connection, symbol)
        for symbol in self._settings.symbols:
            await self._fetch_klines(symbol, None)  # nothing saved: klines start from the live stream

    async def _catch_up_symbol(self, connection: _Connection, symbol: str) -> None:
        """Check the last id against REST's newest (correcting one ahead of it), then fetch up to it."""
        self._last_check[symbol] = self._loop.time()
        newest_id = await self._newest(connection, symbol)
        last = self._last.get(symbol)
        if newest_id is None or last is None:
            return
        if newest_id < last:
            await asyncio.sleep(MARK_RECHECK_PAUSE)  # REST may lag the stream by a moment
            newest_id = await self._newest(connection, symbol)
            last = self._last.get(symbol)
            if newest_id is None or last is None:
                return
            if newest_id < last:
                self._correct_mark(symbol, last, newest_id)
                last = self._last[symbol]
        self._checked.add(symbol)
        suspect = self._suspects.get(symbol)
        if suspect is not None and suspect.trade.agg_id <= newest_id:
            del self._suspects[symbol]  # REST knows it now: it comes with the fill below
        if newest_id <= last:
            return
        self._stats.gaps += 1
        logger.warning(
            "%s: %s ids %s happened while no connection listened; fetching them from REST",
            connection.name,
            symbol,
            IdRange(last + 1, newest_id),
        )
        plan = plan_gap(last, newest_id + 1, self._settings.max_backfill)
        if plan.hole is not None:
            self._give_up(
                symbol, plan.hole, f"more than max_backfill={self._settings.max_backfill} trades back"
            )
        if plan.fill is not None:
            await self._backfill(symbol, plan.fill)

    async def _newest(self, connection: _Connection, symbol: str) -> int | None:
        """The newest agg id REST knows for ``symbol``; None when it cannot say (logged)."""
        try:
            newest = await self._pages.page(symbol, None, 1, give_up_after=CATCH_UP_GIVE_UP)
        except RestError as exc:
            logger.warning(
                "%s: cannot ask REST for the newest %s trade (%s): the stream will show any gap",
                connection.name,
                symbol,
                exc,
            )
            return None
        return newest[-1].trade.agg_id if newest else None

    def _correct_mark(self, symbol: str, last: int, newest: int) -> None:
        """The last id is above REST's newest: it was never Binance's. Resume from one REST knows."""
        if self._sink.first_unconfirmed(symbol) is not None:
            logger.error(
                "%s: the last id %d is above REST's newest %d, but trades are on their way to Kafka: "
                "not moving it now",
                symbol,
                last,
                newest,
            )
            return
        known = self._known.get(symbol, [])
        resume = corrected_mark(last, newest, known)
        if resume is None:
            return
        unknown = [agg_id for agg_id in known if agg_id > newest]
        self._last[symbol] = resume
        self._saved[symbol] = resume
        self._stats.released[symbol] = self._stats.confirmed[symbol] = resume
        self._stats.resume_corrections += 1
        self._stats.last_correction_at = time.monotonic()
        logger.error(
            "%s: RESUME POINT AHEAD OF BINANCE: the last agg id %d (from the state file %s and the "
            "topic's tail) is above %d, the newest id REST knows; resuming after %d instead. "
            "Ids in the topic that Binance does not know: %s",
            symbol,
            last,
            self._settings.state_file,
            newest,
            resume,
            unknown[:20] or "none seen in its tail",
        )

    async def _release(self, symbol: str, agg_id: int, event: bytes) -> None:
        await self._sink.produce(symbol, agg_id, event)
        self._last[symbol] = agg_id
        self._stats.released[symbol] = agg_id

    async def _fill_gap(
        self,
        connection: _Connection,
        symbol: str,
        last: int,
        next_id: int,
        prefetched: tuple[int, list[RestTrade]] | None = None,
    ) -> None:
        self._stats.gaps += 1
        plan = plan_gap(last, next_id, self._settings.max_backfill)
        logger.warning(
            "%s: %s ids %s missing before %d; fetching them from REST",
            connection.name,
            symbol,
            IdRange(last + 1, next_id - 1),
            next_id,
        )
        if plan.hole is not None:
            self._give_up(
                symbol, plan.hole, f"more than max_backfill={self._settings.max_backfill} trades back"
            )
        if plan.fill is not None:
            await self._backfill(symbol, plan.fill, prefetched)

    async def _backfill(
        self, symbol: str, wanted: IdRange, prefetched: tuple[int, list[RestTrade]] | None = None
    ) -> None:
        """Release ``wanted`` from REST page by page; ``prefetched``: a page already asked from that id on."""
        started = self._loop.time()
        next_id, empty_pages = wanted.first, 0
        while next_id <= wanted.last:
            remaining = IdRange(next_id, wanted.last)
            if prefetched is not None and next_id >= prefetched[0]:
                page, prefetched = prefetched[1], None
            else:
                limit = min(MAX_LIMIT, len(remaining))
                if prefetched is not None:
                    limit = min(limit, prefetched[0] - next_id)  # up to where the prefetched page starts
                try:
                    page = await self._pages.page(symbol, next_id, limit)
                except RestError as exc:
                    self._give_up(symbol, remaining, f"REST: {exc}")
                    return
            step = read_page([item.trade.agg_id for item in page], remaining)
            if not step.take and not step.holes:
                empty_pages += 1
                if empty_pages > EMPTY_PAGES_ALLOWED:
                    self._give_up(symbol, remaining, f"REST lists none of them after {empty_pages} pages")
                    return
                await asyncio.sleep(EMPTY_PAGE_PAUSE)
                continue
            empty_pages = 0
            for hole in step.holes:
                self._give_up(symbol, hole, "REST does not list them (as valid trades)")
            for index in step.take:
                item = page[index]
                await self._release(symbol, item.trade.agg_id, item.event)
            self._stats.backfilled += len(step.take)
            next_id = step.next_id
        logger.info("%s: filled %s from REST in %.1f s", symbol, wanted, self._loop.time() - started)

    def _give_up(self, symbol: str, hole: IdRange, why: str) -> None:
        self._stats.holes += 1
        self._stats.hole_trades += len(hole)
        self._stats.last_hole_at = time.monotonic()
        logger.error("%s: HOLE: agg ids %s will not be in Kafka: %s", symbol, hole, why)

    # -- periodic work -------------------------------------------------------------------------

    async def _log_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._settings.log_interval)
            self.confirmed_ids()
            self.confirmed_kline_times()
            logger.info("stats %s", log_line(self._stats.snapshot()))

    async def _save_periodically(self) -> None:
        saved: tuple[dict[str, int], dict[str, int]] | None = None
        while True:
            await asyncio.sleep(self._settings.state_interval)
            ids, klines = self.confirmed_ids(), self.confirmed_kline_times()
            if (ids, klines) == saved:
                continue
            try:
                await asyncio.to_thread(save_state, self._settings.state_file, ids, time.time(), klines)
            except StateFileError as exc:
                logger.error("%s (trying again in %g s)", exc, self._settings.state_interval)
                continue
            saved = ids, klines


def _minute(ms: int) -> str:
    """A minute for a log line: ``2026-01-01T00:00Z``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


async def run(settings: ProducerSettings, stop: asyncio.Event, stats: Stats | None = None) -> Stats:
    """Run the producer until ``stop`` is set; see the module docstring."""
    stats = stats if stats is not None else Stats()
    saved = await asyncio.to_thread(load_state, settings.state_file)
    tail: dict[str, list[int]] = {}
    if settings.resume_from_kafka:
        try:
            tail = await asyncio.to_thread(read_topic_tail, settings, TAIL_TIMEOUT)
        except KafkaException as exc:
            logger.warning(
                "cannot read the tail of topic %s (%s): resuming from the state file alone "
                "(if the last run crashed, a few trades may be sent twice)",
                settings.topic,
                exc,
            )
    in_kafka = {symbol: ids[-1] for symbol, ids in tail.items() if ids}
    starts = resume_points(settings.symbols, saved.last_agg_ids, in_kafka)
    known = {symbol: list(tail.get(symbol, ())) for symbol in settings.symbols}
    for symbol, agg_id in saved.last_agg_ids.items():
        known.setdefault(symbol, []).append(agg_id)
    for symbol, start in starts.items():
        logger.info(
            "%s resumes after agg id %s (state file %s: %s, topic %s: %s)",
            symbol,
            start,
            settings.state_file,
            saved.last_agg_ids.get(symbol),
            settings.topic,
            in_kafka.get(symbol),
        )
        if start is not None:
            stats.released[symbol] = stats.confirmed[symbol] = start
    sink = KafkaSink(settings, stats)
    sink.start()
    pages = RestPages(settings, stats)
    for symbol, open_time in saved.last_kline_open_times.items():
        if symbol in settings.symbols:
            stats.kline_released[symbol] = stats.kline_confirmed[symbol] = open_time
    service = _Service(
        settings, stats, sink, pages, starts, saved.last_agg_ids, known, saved.last_kline_open_times
    )
    health: asyncio.Server | None = None
    try:
        address = settings.health_host_port
        if address is not None:
            health = await start_health_server(*address, stats)
        stats.running = True
        await service.run(stop)
    finally:
        left = await sink.drain(settings.shutdown_timeout)
        if left:
            logger.error(
                "Kafka did not confirm %d trades within %g s: the state file stops before them, "
                "and the next start fetches them again",
                left,
                settings.shutdown_timeout,
            )
        ids, klines = service.confirmed_ids(), service.confirmed_kline_times()
        try:
            await asyncio.to_thread(save_state, settings.state_file, ids, time.time(), klines)
            logger.info("state saved to %s: %s, klines %s", settings.state_file, ids, klines)
        except StateFileError as exc:
            logger.error("%s", exc)
        sink.close()
        pages.close()
        if health is not None:
            health.close()
        stats.running = False
        logger.info("stopped: %s", log_line(stats.snapshot()))
    return stats


class ProducerThread:
    """`run` on its own event loop in a daemon thread, for sync code (see the module docstring)."""

    def __init__(self, settings: ProducerSettings, stats: Stats | None = None) -> None:
        self.settings = settings
        self.stats = stats if stats is not None else Stats()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="producer", daemon=True)

    def start(self) -> ProducerThread:
        self._thread.start()
        self._ready.wait()
        return self

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await run(self.settings, self._stop, self.stats)

        try:
            asyncio.run(main())
        except BaseException as exc:
            self.error = exc
            logger.error("the producer thread failed: %s", exc, exc_info=True)
        finally:
            self._ready.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Ask it to stop and wait for the shutdown (drain, state file); re-raise its failure."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have ended meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    def wait_until(self, condition: Callable[[Stats], bool], timeout: float) -> bool:
        """Poll ``condition(stats)`` until it holds (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self.stats):
                return True
            if not self._thread.is_alive():
                if self.error is not None:
                    raise self.error
                return condition(self.stats)
            time.sleep(0.02)
        return condition(self.stats)

    def __enter__(self) -> ProducerThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
