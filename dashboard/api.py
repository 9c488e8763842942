"""The JSON API: one endpoint per panel, each a function of (store, parameters, context).

| endpoint        | panel                                          | reads                    |
| --------------- | ---------------------------------------------- | ------------------------ |
| `/api/totals`   | trades processed, USD bought, USD sold         | trade_minutes            |
| `/api/daily`    | per day: counts, average buy and sell price    | daily_totals             |
| `/api/prices`   | per minute: average buy and sell price         | minute_prices            |
| `/api/spread`   | per minute: buy minus sell USD, 30-minute sum  | minute_spread            |
| `/api/usd`      | per minute: USD bought and USD sold            | trade_minutes            |
| `/api/candles`  | OHLC, volume delta and its sum, trades/minute  | trade_minutes            |
| `/api/health`   | newest minute's age, ledger, dead letters, the | trade_minutes, processed_objects, |
|                 | check against Binance's klines (last 24 h)     | minute_check, binance_klines |
| `/api/symbols`  | the markets the database holds                 | trade_minutes            |
| `/api/config`   | what the page needs to start                   | nothing                  |

The per-minute chart endpoints (prices, spread, usd, candles) also answer ``differing``: the
minutes of their window that differ from Binance's kline (view ``minute_check``), which the page
marks on the charts. A database without the check's tables (before migration 011) answers
``minute_check: null`` and no marks rather than failing the panels.

Windowed endpoints take ``symbol``, ``range`` + ``anchor`` or ``start`` + ``end``, and
``grain`` (see ``dashboard.window``); every answer names its window and grain. Past a
week the per-minute panels answer per hour or per day, summed exactly by the database
from the minute rows (``dashboard.queries``). A bad parameter is answered 400 with
``{"error": "<parameter>: <what is wrong>", "parameter": "<parameter>"}``; a database
that cannot answer, 503 with a ``reason`` (``no_tables``, ``unavailable``, ``failed``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from binance.events import MINUTE_MS
from dashboard import panels, queries
from dashboard.errors import BadParameterError, DatabaseUnavailableError
from dashboard.pool import DATABASE_ERRORS, StorePool
from dashboard.window import (
    GRAIN_MAX_MINUTES,
    GRAINS,
    MAX_WINDOW_MINUTES,
    RANGES,
    WINDOW_PARAMETERS,
    Window,
    describe,
    iso_time,
    query_parameters,
    resolve,
    symbol_of,
    window_request,
)
from minutes import klines
from minutes.errors import SchemaMissingError
from minutes.store import Store

logger = logging.getLogger(__name__)

MAX_SPAN = MAX_WINDOW_MINUTES  # 400 days: by the day past 90 days, by the hour past a week

# Supplied by the pipeline: how many dead letters it holds now, or None if it cannot tell.
DeadLetterHook = Callable[[], int | None]
NO_HOOK_NOTE = "not reported: the dashboard runs without the pipeline's dead-letter count"


@dataclass(frozen=True, slots=True)
class Context:
    """What every request may use besides its parameters."""

    symbol: str  # the default market
    refresh_seconds: float
    now_ms: int
    dead_letters: DeadLetterHook | None
    database: str  # the store's URL without a password


@dataclass(frozen=True, slots=True)
class Answer:
    status: HTTPStatus
    payload: dict[str, Any]


Panel = Callable[[Store, str, Window], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    panel: Panel
    default_range: str
    max_minutes: int
    source: str  # the view or table it reads, reported with the data
    marks: bool = False  # answers the window's minutes that differ from Binance ("differing")


def _prices(store: Store, symbol: str, window: Window) -> dict[str, Any]:
    if window.grain == "minute":
        rows = queries.minutes(store, queries.PRICES, symbol, window)
        return {"series": panels.series(rows, panels.PRICES)}
    rows = queries.bucket_sums(store, queries.PRICE_SUMS, symbol, window)
    return {"source": "trade_minutes", "series": panels.bucket_prices(rows, window.grain)}


def _spread(store: Store, symbol: str, window: Window) -> dict[str, Any]:
    rolling = panels.ROLLING[window.grain][0]
    if window.grain == "minute":
        rows = queries.minutes(store, queries.SPREAD, symbol, window)
        return {"rolling": rolling, "series": panels.series(rows, panels.SPREAD)}
    # The first buckets' running sums reach back before the window, as the view's do.
    since = window.start_ms - panels.ROLLING[window.grain][1] * MINUTE_MS + window.bucket_ms
    rows = queries.bucket_sums(store, queries.USD_SUMS, symbol, window, since_ms=since)
    return {
        "source": "trade_minutes",
        "rolling": rolling,
        "series": panels.bucket_spread(rows, window.grain, window.start_ms),
    }


def _usd(store: Store, symbol: str, window: Window) -> dict[str, Any]:
    if window.grain == "minute":
        return {"series": panels.series(queries.minutes(store, queries.USD, symbol, window), panels.USD)}
    rows = queries.bucket_sums(store, queries.USD_SUMS, symbol, window)
    return {"series": panels.bucket_usd(rows, window.grain)}


def _candles(store: Store, symbol: str, window: Window) -> dict[str, Any]:
    if window.grain == "minute":
        return {"series": panels.candles(queries.minutes(store, queries.CANDLES, symbol, window))}
    return {"series": panels.bucket_candles(queries.bucket_candles(store, symbol, window), window.grain)}


def _daily(store: Store, symbol: str, window: Window) -> dict[str, Any]:
    days = queries.days_of(window)
    rows = queries.daily(store, symbol, days)
    return {"days": {"first": days.first, "last": days.last}, "series": panels.series(rows, panels.DAILY)}


def _totals(store: Store, symbol: str, window: Window) -> dict[str, Any]:
    return {"totals": panels.totals(queries.totals(store, symbol, window))}


ENDPOINTS: dict[str, Endpoint] = {
    "/api/totals": Endpoint(_totals, "1h", MAX_SPAN, "trade_minutes"),
    "/api/daily": Endpoint(_daily, "30d", MAX_SPAN, "daily_totals"),
    "/api/prices": Endpoint(_prices, "1h", MAX_SPAN, "minute_prices", marks=True),
    "/api/spread": Endpoint(_spread, "1h", MAX_SPAN, "minute_spread", marks=True),
    "/api/usd": Endpoint(_usd, "1h", MAX_SPAN, "trade_minutes", marks=True),
    "/api/candles": Endpoint(_candles, "1h", MAX_SPAN, "trade_minutes", marks=True),
}
OTHER_PATHS = ("/api/health", "/api/symbols", "/api/config")


def answer(path: str, query: str, pool: StorePool, context: Context) -> Answer:
    """The answer to one GET of the API; errors become 400, 404 or 503 with a message."""
    try:
        if path == "/api/config":
            query_parameters(query, ())
            return Answer(HTTPStatus.OK, _config(context))
        if path == "/api/health":
            params = query_parameters(query, ("symbol",))
            symbol = symbol_of(params, context.symbol)
            with pool.lease() as store:
                return Answer(HTTPStatus.OK, _health(store, symbol, context))
        if path == "/api/symbols":
            query_parameters(query, ())
            with pool.lease() as store:
                return Answer(HTTPStatus.OK, _symbols(store, context))
        endpoint = ENDPOINTS.get(path)
        if endpoint is None:
            known = ", ".join([*ENDPOINTS, *OTHER_PATHS])
            return Answer(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {path!r}; the API has {known}"})
        params = query_parameters(query, WINDOW_PARAMETERS)
        symbol = symbol_of(params, context.symbol)
        request = window_request(params, endpoint.default_range, endpoint.max_minutes)
        with pool.lease() as store:
            newest = queries.newest_minute(store, symbol)
            window = resolve(request, newest, context.now_ms)
            body = endpoint.panel(store, symbol, window)
            if endpoint.marks:
                body["differing"] = _differing(store, symbol, window)
        return Answer(
            HTTPStatus.OK,
            {
                "symbol": symbol,
                "source": endpoint.source,  # a coarser grain's answer names its own
                "window": describe(window),
                "newest_minute": None if newest is None else iso_time(newest),
                **body,
            },
        )
    except BadParameterError as exc:
        return Answer(HTTPStatus.BAD_REQUEST, {"error": str(exc), "parameter": exc.parameter})
    except DatabaseUnavailableError as exc:
        logger.warning("%s: %s", path, exc)
        return Answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc), "reason": "unavailable"})
    except DATABASE_ERRORS as exc:
        return _database_failure(path, exc, context)


def _health(store: Store, symbol: str, context: Context) -> dict[str, Any]:
    newest = queries.newest_minute(store, symbol)
    ledger = queries.ledger(store)
    count, note = _dead_letters(context.dead_letters)
    return {
        "symbol": symbol,
        **panels.health(newest, ledger, context.now_ms, count, note),
        "minute_check": _minute_check(store, symbol),
    }


def _minute_check(store: Store, symbol: str) -> dict[str, Any] | None:
    """The check of the 24 h up to the newest stored kline, for this market."""
    try:
        window = klines.recent_window(store)
        summary = None if window is None else klines.check_summary(store, *window, symbol, limit=3)
    except SchemaMissingError:  # a database before migration 011: no check yet, the rest still shown
        store.rollback()
        return None
    return panels.minute_check(summary)


def _differing(store: Store, symbol: str, window: Window) -> list[dict[str, Any]]:
    try:
        return panels.differing(klines.differing_minutes(store, window.start_ms, window.end_ms, symbol))
    except SchemaMissingError:
        store.rollback()
        return []


def _dead_letters(hook: DeadLetterHook | None) -> tuple[int | None, str | None]:
    if hook is None:
        return None, NO_HOOK_NOTE
    try:
        count = hook()
    except Exception as exc:  # the hook is the caller's code: its failure must not take the strip down
        logger.warning("the dead-letter hook failed: %s", exc, exc_info=True)
        return None, f"not reported: the dead-letter count failed ({type(exc).__name__}: {exc})"
    if count is None:
        return None, "not reported: the pipeline has no dead-letter count yet"
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        logger.warning("the dead-letter hook answered %r, not a count", count)
        return None, f"not reported: the dead-letter hook answered {count!r}, not a count"
    return count, None


def _symbols(store: Store, context: Context) -> dict[str, Any]:
    return {
        "default": context.symbol,
        "symbols": [
            {"symbol": symbol, "newest_minute": iso_time(newest)} for symbol, newest in queries.symbols(store)
        ],
    }


def _config(context: Context) -> dict[str, Any]:
    return {
        "symbol": context.symbol,
        "refresh_seconds": context.refresh_seconds,
        "ranges": RANGES,
        "grains": {
            grain: {"minutes": GRAINS[grain], "max_minutes": GRAIN_MAX_MINUTES[grain]} for grain in GRAINS
        },
        "rolling": {grain: label for grain, (label, _) in panels.ROLLING.items()},
        "max_minutes": {path: endpoint.max_minutes for path, endpoint in ENDPOINTS.items()},
        "database": context.database,
        "fresh_age_s": panels.FRESH_AGE_S,
        "lagging_age_s": panels.LAGGING_AGE_S,
    }


def _database_failure(path: str, exc: Exception, context: Context) -> Answer:
    if _is_missing_table(exc):
        logger.warning("%s: the database has no schema yet: %s", path, exc)
        return Answer(
            HTTPStatus.SERVICE_UNAVAILABLE,
            {
                "error": f"{context.database} has no cryptotrades tables yet ({exc}); "
                "apply them with `cryptotrades db migrate --db URL` or start the pipeline",
                "reason": "no_tables",
            },
        )
    logger.error("%s: database error on %s: %s", path, context.database, exc, exc_info=True)
    return Answer(
        HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"{context.database} failed: {exc}", "reason": "failed"}
    )


def _is_missing_table(exc: Exception) -> bool:
    return isinstance(exc, SchemaMissingError)
