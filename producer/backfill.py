"""Pages of aggTrades and klines from Binance's REST API, asked for within Binance's limits.

`RestPages.page` keeps asking until it has an answer it can use: it waits out 429 and 418
for as long as ``Retry-After`` says, backs off (capped, jittered) when Binance or the
network fails, and paces itself so this minute's weight stays under ``rest_weight_limit``.
Only an answer that retrying cannot change (a 4xx such as 400 bad symbol, 403, 451 region)
or a body that stays unreadable ends it, with `binance.errors.RestError`: the service then
logs the ids as a hole.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from binance.errors import RestError, RestUnreachableError
from binance.rest import (
    KLINES_REQUEST_WEIGHT,
    REQUEST_WEIGHT,
    AnswerKind,
    KlinePage,
    RestClient,
    RestPage,
    RestTrade,
    agg_trades_path,
    klines_from_rest,
    klines_path,
    parse_agg_trades,
)
from producer.logs import LogGate, held_back
from producer.sequence import id_in_range
from producer.settings import ProducerSettings
from producer.stats import Stats, reject
from producer.timing import rest_retry_delay, weight_wait

logger = logging.getLogger(__name__)

T = TypeVar("T")

UNREADABLE_ANSWERS_ALLOWED = 3  # a 200 whose body is not trades: retried this often, then given up
REJECT_LOG_INTERVAL = 10.0  # unusable REST items are logged at most this often
# A REST kline counts as closed only this long after its close time by our clock: a clock a
# little ahead of Binance's must not take the minute still open for a final one.
KLINE_SETTLE_MS = 5_000


class RestPages:
    """Fetches one page at a time; one caller at a time (the service's processing task)."""

    def __init__(
        self,
        settings: ProducerSettings,
        stats: Stats,
        *,
        client: RestClient | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._stats = stats
        self._client = client or RestClient(settings.rest_url, settings.rest_timeout)
        self._clock = clock
        self._rand = rand
        self._used_weight: int | None = None
        self._weight_reported_at = 0.0
        self._reject_log = LogGate(REJECT_LOG_INTERVAL)

    def close(self) -> None:
        self._client.close()

    async def page(
        self, symbol: str, from_id: int | None, limit: int, give_up_after: float | None = None
    ) -> list[RestTrade]:
        """Up to ``limit`` trades of ``symbol`` from agg id ``from_id`` on (None: the newest), in id order.

        Retries until an answer is usable; `RestError` when retrying cannot help, or when no
        usable answer came within ``give_up_after`` seconds (default ``backfill_give_up``).
        """
        path = agg_trades_path(symbol, from_id, limit)
        return await self._ask(
            path,
            REQUEST_WEIGHT,
            lambda body: self._usable(parse_agg_trades(body, symbol, from_id), symbol, path),
            f"{symbol} from id {'(newest)' if from_id is None else from_id}",
            give_up_after,
        )

    async def klines(
        self, symbol: str, start_time: int | None, limit: int, give_up_after: float | None = None
    ) -> KlinePage:
        """The closed 1-minute klines of ``symbol`` opening at ``start_time`` (ms) or later, up to ``limit``
        (None: the newest ``limit`` klines, the newest of them maybe still open and so left out).

        Same retrying as `page`; the items left out are counted (``rest_item``) and logged.
        """
        path = klines_path(symbol, start_time, limit)

        def read(body: bytes) -> KlinePage:
            now = int(self._clock() * 1000)
            page = klines_from_rest(body, symbol, start_time, now, now - KLINE_SETTLE_MS)
            self._report(page.rejected, symbol, path)
            return page

        return await self._ask(
            path,
            KLINES_REQUEST_WEIGHT,
            read,
            f"{symbol} klines from {'(newest)' if start_time is None else start_time}",
            give_up_after,
        )

    async def _ask(
        self, path: str, weight: int, read: Callable[[bytes], T], what: str, give_up_after: float | None
    ) -> T:
        """GET ``path`` until an answer ``read`` can use (it raises `RestError` for one it cannot)."""
        give_up_at = time.monotonic() + (
            self._settings.backfill_give_up if give_up_after is None else give_up_after
        )
        attempt = 0
        unreadable = 0
        while True:
            wait = weight_wait(
                self._used_weight,
                self._weight_reported_at,
                weight,
                self._settings.rest_weight_limit,
                self._clock(),
            )
            if wait > 0:
                logger.info(
                    "REST weight %s of %d used this minute: waiting %.1f s before %s",
                    self._used_weight,
                    self._settings.rest_weight_limit,
                    wait,
                    path,
                )
                await asyncio.sleep(wait)
            self._stats.rest_requests += 1
            kind: AnswerKind | None
            retry_after: float | None = None
            try:
                answer = await asyncio.to_thread(self._client.get, path, self._clock())
            except RestUnreachableError as exc:
                kind, reason = None, str(exc)
            else:
                if answer.used_weight is not None:
                    self._used_weight, self._weight_reported_at = answer.used_weight, self._clock()
                kind, retry_after, reason = answer.kind, answer.retry_after, answer.describe()
                if kind is AnswerKind.OK:
                    try:
                        return read(answer.body)
                    except RestError as exc:
                        unreadable += 1
                        if unreadable >= UNREADABLE_ANSWERS_ALLOWED:
                            raise
                        kind, reason = AnswerKind.UNAVAILABLE, str(exc)
                elif kind is AnswerKind.REFUSED:
                    raise RestError(f"GET {self._settings.rest_url}{path} refused: {reason}")
                elif kind in (AnswerKind.RATE_LIMITED, AnswerKind.BANNED):
                    self._stats.rest_rate_limited += 1
            delay = rest_retry_delay(
                kind,
                retry_after,
                attempt,
                base=self._settings.reconnect_min,
                cap=self._settings.reconnect_max,
                rand=self._rand(),
            )
            logger.warning(
                "REST %s for %s: %s; asking again in %.1f s",
                "no answer" if kind is None else kind.value,
                what,
                reason,
                delay,
            )
            attempt += 1
            if time.monotonic() + delay > give_up_at:
                raise RestError(
                    f"GET {self._settings.rest_url}{path}: no usable answer in time (last: {reason})"
                )
            await asyncio.sleep(delay)

    def _usable(self, page: RestPage, symbol: str, path: str) -> list[RestTrade]:
        """The page's trades with ids Binance can have; every item left out counted and logged."""
        problems = list(page.rejected)
        trades = []
        for item in page.trades:
            if id_in_range(item.trade.agg_id):
                trades.append(item)
            else:
                problems.append(f"agg id {str(item.trade.agg_id)[:40]} is outside 0..2**63-1")
        self._report(problems, symbol, path)
        return trades

    def _report(self, problems: list[str], symbol: str, path: str) -> None:
        """Count and log (rate-limited) the items of an answer that were left out."""
        for problem in problems:
            reject(self._stats, "rest_item")
            held = self._reject_log.admit(symbol)
            if held is not None:
                logger.warning(
                    "REST answer to %s: an unusable item left out (%s)%s",
                    path,
                    problem[:300],
                    held_back(held, REJECT_LOG_INTERVAL),
                )
