"""The dashboard's JSON API over a real database (SQLite and MariaDB), through real HTTP.

The database holds the 5,000 real trades of tests/data and a few hand-made ones, stored
through Store.ingest as the Lambda stores them. Every number the API answers is checked
against values computed here, independently, from the trades themselves: plain Python
sums over Decimal, not the views or the aggregation core.
"""

from __future__ import annotations

import decimal
import json
import re
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pymysql
import pytest

from binance.events import AggTrade
from dashboard.errors import DashboardError
from dashboard.pool import DATABASE_ERRORS, StorePool
from dashboard.server import DashboardServer, start_dashboard
from minutes.store import open_store
from tests.fixtures.dashboard import Filled, fill_with_sample
from tests.fixtures.data import sample_trades
from tests.fixtures.servers import mysql_admin

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"
WIDE = decimal.Context(prec=80)
MINUTE = 60_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def iso(minute: int) -> str:
    return datetime.fromtimestamp(minute / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def places(value: Decimal, digits: int) -> str:
    """Exact at `digits` places; refuses to round (a sum of 8-place values has 8 places)."""
    quantized = value.quantize(Decimal(1).scaleb(-digits), context=WIDE)
    assert quantized == value, f"{value} does not fit {digits} places"
    return f"{quantized:f}"


def average(usd: Decimal, btc: Decimal) -> str | None:
    """USD / BTC rounded half up to 8 places, as the views define it; None without volume."""
    if btc == 0:
        return None
    quotient = WIDE.divide(usd, btc)
    return f"{quotient.quantize(Decimal('1e-8'), rounding=decimal.ROUND_HALF_UP, context=WIDE):f}"


# -- hand-made trades: a second UTC day with gaps, one-sided minutes, and another market


def handmade() -> list[AggTrade]:
    def trade(symbol, agg_id, price, qty, first, last, when, seller_took):
        return AggTrade(symbol, agg_id, Decimal(price), Decimal(qty), first, last, ms(when), seller_took)

    return [
        trade("BTCUSDT", 4_000_000_001, "90000.12345678", "0.00100000", 10, 12, "2026-01-02 00:00:05", False),
        trade(
            "BTCUSDT", 4_000_000_002, "90001.00000000", "0.50000000", 13, 13, "2026-01-02 00:00:59.999", False
        ),
        # 30 minutes before 00:41: inside 00:40's running sum, just outside 00:41's
        trade("BTCUSDT", 4_000_000_003, "89990.00000000", "0.30000000", 14, 14, "2026-01-02 00:11:20", False),
        trade("BTCUSDT", 4_000_000_004, "89999.99999999", "1.23456789", 15, 20, "2026-01-02 00:40:00", True),
        trade("BTCUSDT", 4_000_000_005, "90010.00000000", "0.00000001", 21, 21, "2026-01-02 00:41:00", False),
        trade("BTCUSDT", 4_000_000_006, "90005.50000000", "2.00000000", 22, 25, "2026-01-02 00:41:30", True),
        # A lower price in another minute of the same hour: as text, '999.5' would be its high.
        trade("ETHUSDT", 0, "999.50000000", "1.00000000", 0, 0, "2026-01-01 00:04:00", True),
        trade("ETHUSDT", 1, "3000.00000000", "10.00000000", 1, 1, "2026-01-01 00:05:00", False),
        trade("ETHUSDT", 2, "3001.00000000", "5.00000000", 2, 3, "2026-01-01 00:05:10", True),
    ]


NEWEST = ms("2026-01-02 00:41:00")
NOW = ms("2026-01-02 00:45:30")  # the server's clock in these tests: the newest minute is 270 s old


# -- what the API must answer, computed from the trades


@dataclass
class Minute:
    count_buy: int = 0
    count_sell: int = 0
    trades_buy: int = 0
    trades_sell: int = 0
    btc_buy: Decimal = Decimal(0)
    btc_sell: Decimal = Decimal(0)
    usd_buy: Decimal = Decimal(0)
    usd_sell: Decimal = Decimal(0)
    prices: list[tuple[int, Decimal]] | None = None  # (agg id, price)


def expected_minutes(trades: list[AggTrade], symbol: str) -> dict[int, Minute]:
    minutes: dict[int, Minute] = defaultdict(Minute)
    for t in trades:
        if t.symbol != symbol:
            continue
        row = minutes[t.trade_time // MINUTE * MINUTE]
        usd = WIDE.multiply(t.price, t.qty)
        fills = t.last_trade_id - t.first_trade_id + 1
        if t.is_buyer_maker:  # the taker sold
            row.count_sell += 1
            row.trades_sell += fills
            row.btc_sell += t.qty
            row.usd_sell = WIDE.add(row.usd_sell, usd)
        else:
            row.count_buy += 1
            row.trades_buy += fills
            row.btc_buy += t.qty
            row.usd_buy = WIDE.add(row.usd_buy, usd)
        row.prices = [*(row.prices or []), (t.agg_id, t.price)]
    return dict(sorted(minutes.items()))


def in_window(minutes: dict[int, Minute], start: int, end: int) -> dict[int, Minute]:
    return {m: row for m, row in minutes.items() if start <= m < end}


# -- the world


@dataclass
class World:
    server: DashboardServer
    filled: Filled
    url: str

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        return http_get(self.server.url + path.lstrip("/"))


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def migrated(url: str) -> None:
    with open_store(url) as store:
        store.migrate()


@pytest.fixture
def world(db_url) -> Iterator[World]:
    with open_store(db_url) as store:
        store.migrate()
        filled = fill_with_sample(store, sample_trades() + handmade())
    with start_dashboard(db_url, dead_letters=lambda: 7, clock=lambda: NOW / 1000) as server:
        yield World(server, filled, db_url)


# -- panels


def test_minute_panels_are_exact(world):
    btc = expected_minutes(world.filled.trades, "BTCUSDT")
    windows = {
        "": (ms("2026-01-01 23:42:00"), NEWEST + MINUTE),  # the default: the last hour of data
        "?start=2026-01-01T00:05:00Z&end=2026-01-01T00:13:00Z": (
            ms("2026-01-01 00:05:00"),
            ms("2026-01-01 00:13:00"),
        ),
        "?range=7d&symbol=btcusdt": (NEWEST + MINUTE - 7 * 1440 * MINUTE, NEWEST + MINUTE),
    }
    for query, (start, end) in windows.items():
        rows = in_window(btc, start, end)
        assert rows, query
        times = [iso(m) for m in rows]
        for path in ("prices", "spread", "usd", "candles"):
            status, body = world.get(f"/api/{path}{query}")
            assert status == 200, body
            assert (body["window"]["start"], body["window"]["end"]) == (iso(start), iso(end))
            assert body["symbol"] == "BTCUSDT"
            assert body["newest_minute"] == iso(NEWEST)
            assert body["series"]["time"] == times, (path, query)
            check = globals()[f"check_{path}"]
            check(body["series"], rows, btc)


def check_prices(series, rows, _all):
    assert series["avg_price_buy"] == [average(r.usd_buy, r.btc_buy) for r in rows.values()]
    assert series["avg_price_sell"] == [average(r.usd_sell, r.btc_sell) for r in rows.values()]


def check_spread(series, rows, all_minutes):
    spread = {m: WIDE.subtract(r.usd_buy, r.usd_sell) for m, r in all_minutes.items()}
    assert series["usd_spread"] == [places(spread[m], 16) for m in rows]
    # The 30 minutes ending at each minute, reaching before the window where they must.
    running = [sum((v for k, v in spread.items() if m - 29 * MINUTE <= k <= m), Decimal(0)) for m in rows]
    assert series["usd_spread_30m"] == [places(v, 16) for v in running]


def check_usd(series, rows, _all):
    assert series["total_usd_buy"] == [places(r.usd_buy, 16) for r in rows.values()]
    assert series["total_usd_sell"] == [places(r.usd_sell, 16) for r in rows.values()]


def check_candles(series, rows, _all):
    by_id = [sorted(r.prices) for r in rows.values()]
    assert series["open"] == [places(p[0][1], 8) for p in by_id]
    assert series["close"] == [places(p[-1][1], 8) for p in by_id]
    assert series["high"] == [places(max(price for _, price in p), 8) for p in by_id]
    assert series["low"] == [places(min(price for _, price in p), 8) for p in by_id]
    deltas = [r.btc_buy - r.btc_sell for r in rows.values()]
    assert series["btc_delta"] == [places(d, 8) for d in deltas]
    assert series["btc_delta_cumulative"] == [
        places(sum(deltas[: i + 1], Decimal(0)), 8) for i in range(len(deltas))
    ]
    assert series["trades"] == [r.trades_buy + r.trades_sell for r in rows.values()]


# -- past a week: hours and days, checked against the trades themselves (not the minute rows)


@dataclass
class Bucket:
    prices: list[tuple[int, Decimal]]  # (agg id, price) of every trade in it
    btc_buy: Decimal = Decimal(0)
    btc_sell: Decimal = Decimal(0)
    usd_buy: Decimal = Decimal(0)
    usd_sell: Decimal = Decimal(0)
    trades: int = 0


def expected_buckets(trades: list[AggTrade], symbol: str, size: int) -> dict[int, Bucket]:
    buckets: dict[int, Bucket] = {}
    for t in trades:
        if t.symbol != symbol:
            continue
        bucket = buckets.setdefault(t.trade_time // size * size, Bucket([]))
        bucket.prices.append((t.agg_id, t.price))
        bucket.trades += t.last_trade_id - t.first_trade_id + 1
        usd = WIDE.multiply(t.price, t.qty)
        if t.is_buyer_maker:
            bucket.btc_sell += t.qty
            bucket.usd_sell = WIDE.add(bucket.usd_sell, usd)
        else:
            bucket.btc_buy += t.qty
            bucket.usd_buy = WIDE.add(bucket.usd_buy, usd)
    return dict(sorted(buckets.items()))


HOUR = 60 * MINUTE
DAY = 24 * HOUR
COARSE = {  # query: (grain, bucket size, window start, window end, running sum span)
    "?range=30d": ("hour", HOUR, ms("2025-12-03 01:00"), ms("2026-01-02 01:00"), 24 * HOUR),
    "?range=24h&grain=hour": ("hour", HOUR, ms("2026-01-01 01:00"), ms("2026-01-02 01:00"), 24 * HOUR),
    "?start=2025-06-01T00:30:00Z&end=2026-01-02T23:59:00Z": (
        "day",
        DAY,
        ms("2025-06-01"),
        ms("2026-01-03"),
        7 * DAY,
    ),
    "?start=2026-01-01T00:10:00%2B09:00&end=2026-01-09T00:00:00Z&symbol=ETHUSDT": (
        "hour",
        HOUR,
        ms("2025-12-31 15:00"),
        ms("2026-01-09 00:00"),
        24 * HOUR,
    ),
}


@pytest.mark.parametrize("query", COARSE)
def test_windows_past_a_week_are_served_by_the_hour_or_day_exactly(world, query):
    grain, size, start, end, span = COARSE[query]
    symbol = "ETHUSDT" if "ETHUSDT" in query else "BTCUSDT"
    every = expected_buckets(world.filled.trades, symbol, size)
    buckets = {t: b for t, b in every.items() if start <= t < end}
    assert buckets, query
    for path in ("prices", "spread", "usd", "candles", "totals"):
        status, body = world.get(f"/api/{path}{query}")
        assert status == 200, (path, body)
        assert body["window"]["grain"] == grain
        assert (body["window"]["start"], body["window"]["end"]) == (iso(start), iso(end)), path
        if path == "totals":  # the cards sum the same whole hours or days as the charts
            minutes = in_window(expected_minutes(world.filled.trades, symbol), start, end)
            assert body["totals"] == totals_of(minutes)
            continue
        series = body["series"]
        assert series["time"] == [iso(t) for t in buckets], path
        if path == "prices":
            assert series["avg_price_buy"] == [average(b.usd_buy, b.btc_buy) for b in buckets.values()]
            assert series["avg_price_sell"] == [average(b.usd_sell, b.btc_sell) for b in buckets.values()]
        elif path == "usd":
            assert series["total_usd_buy"] == [places(b.usd_buy, 16) for b in buckets.values()]
            assert series["total_usd_sell"] == [places(b.usd_sell, 16) for b in buckets.values()]
        elif path == "spread":
            label = {HOUR: "24h", DAY: "7d"}[size]
            assert body["rolling"] == label
            spread = {t: b.usd_buy - b.usd_sell for t, b in every.items()}
            running = [sum((v for k, v in spread.items() if t - span < k <= t), Decimal(0)) for t in buckets]
            assert series["usd_spread"] == [places(spread[t], 16) for t in buckets]
            assert series[f"usd_spread_{label}"] == [places(v, 16) for v in running]
        else:
            ordered = [sorted(b.prices) for b in buckets.values()]
            assert series["open"] == [places(p[0][1], 8) for p in ordered]  # the first trade's
            assert series["close"] == [places(p[-1][1], 8) for p in ordered]  # the last trade's
            assert series["high"] == [places(max(price for _, price in p), 8) for p in ordered]
            assert series["low"] == [places(min(price for _, price in p), 8) for p in ordered]
            deltas = [b.btc_buy - b.btc_sell for b in buckets.values()]
            assert series["btc_delta"] == [places(d, 8) for d in deltas]
            assert series["btc_delta_cumulative"] == [
                places(sum(deltas[: i + 1], Decimal(0)), 8) for i in range(len(deltas))
            ]
            assert series["trades"] == [b.trades for b in buckets.values()]


def test_a_grain_too_fine_for_the_window_is_named(world):
    status, body = world.get("/api/candles?range=30d&grain=minute")
    assert status == 400 and body["parameter"] == "grain"
    assert "at most 7 days" in body["error"]


def test_symbols_are_the_markets_in_the_database(world):
    status, body = world.get("/api/symbols")
    assert status == 200
    assert body == {
        "default": "BTCUSDT",
        "symbols": [
            {"symbol": "BTCUSDT", "newest_minute": iso(NEWEST)},
            {"symbol": "ETHUSDT", "newest_minute": "2026-01-01T00:05:00Z"},
        ],
    }


def test_spot_checks_against_published_numbers(world):
    """Minute 00:00 of 2026-01-01 against Binance's own kline (tests/data/README.md)."""
    status, body = world.get("/api/candles?start=2026-01-01T00:00:00Z&end=2026-01-01T00:01:00Z")
    assert status == 200
    series = body["series"]
    assert [series[k][0] for k in ("open", "high", "low", "close")] == [
        "87648.21000000",
        "87648.22000000",
        "87632.74000000",
        "87648.00000000",
    ]
    assert series["trades"] == [1193]


def totals_of(rows: dict[int, Minute]) -> dict[str, Any]:
    usd_buy = sum((r.usd_buy for r in rows.values()), Decimal(0))
    usd_sell = sum((r.usd_sell for r in rows.values()), Decimal(0))
    count_buy = sum(r.count_buy for r in rows.values())
    count_sell = sum(r.count_sell for r in rows.values())
    return {
        "minutes": len(rows),
        "total_count_buy": count_buy,
        "total_count_sell": count_sell,
        "total_count": count_buy + count_sell,
        "trades": sum(r.trades_buy + r.trades_sell for r in rows.values()),
        "total_btc_buy": places(sum((r.btc_buy for r in rows.values()), Decimal(0)), 8),
        "total_btc_sell": places(sum((r.btc_sell for r in rows.values()), Decimal(0)), 8),
        "total_usd_buy": places(usd_buy, 16),
        "total_usd_sell": places(usd_sell, 16),
        "usd_net": places(usd_buy - usd_sell, 16),
        "first_minute": iso(min(rows)) if rows else None,
        "last_minute": iso(max(rows)) if rows else None,
    }


def test_totals_are_exact(world):
    btc = expected_minutes(world.filled.trades, "BTCUSDT")
    eth = expected_minutes(world.filled.trades, "ETHUSDT")
    cases = {
        "/api/totals?range=30d": (btc, NEWEST + MINUTE - 30 * 1440 * MINUTE, NEWEST + MINUTE),
        "/api/totals": (btc, NEWEST + MINUTE - 60 * MINUTE, NEWEST + MINUTE),
        "/api/totals?start=2026-01-01T09:00:00%2B09:00&end=2026-01-01T00:13:00Z": (
            btc,
            ms("2026-01-01 00:00:00"),
            ms("2026-01-01 00:13:00"),
        ),
        "/api/totals?symbol=ETHUSDT&range=24h": (
            eth,
            ms("2026-01-01 00:06:00") - 1440 * MINUTE,
            ms("2026-01-01 00:06:00"),
        ),
        "/api/totals?range=1h&anchor=now": (
            btc,
            NOW - NOW % MINUTE + MINUTE - 60 * MINUTE,
            NOW - NOW % MINUTE + MINUTE,
        ),
        "/api/totals?start=2025-06-01T00:00:00Z&end=2025-06-02T00:00:00Z": (
            btc,
            ms("2025-06-01"),
            ms("2025-06-02"),
        ),
    }
    for path, (minutes, start, end) in cases.items():
        status, body = world.get(path)
        assert status == 200, body
        assert body["totals"] == totals_of(in_window(minutes, start, end)), path
    # the whole sample: 5,000 real trades, 16,028 individual trades
    _, body = world.get("/api/totals?start=2026-01-01T00:00:00Z&end=2026-01-01T00:13:00Z")
    assert (body["totals"]["total_count"], body["totals"]["trades"], body["totals"]["minutes"]) == (
        5000,
        16028,
        13,
    )


def test_daily_is_exact(world):
    btc = expected_minutes(world.filled.trades, "BTCUSDT")
    status, body = world.get("/api/daily")
    assert status == 200, body
    assert body["source"] == "daily_totals"
    assert body["days"] == {"first": "2025-12-03", "last": "2026-01-02"}
    days: dict[str, dict[int, Minute]] = defaultdict(dict)
    for minute, row in btc.items():
        days[iso(minute)[:10]][minute] = row
    series = body["series"]
    assert series["day"] == ["2026-01-01", "2026-01-02"]
    for index, (day, rows) in enumerate(sorted(days.items())):
        totals = totals_of(rows)
        usd_buy = sum((r.usd_buy for r in rows.values()), Decimal(0))
        usd_sell = sum((r.usd_sell for r in rows.values()), Decimal(0))
        btc_buy = sum((r.btc_buy for r in rows.values()), Decimal(0))
        btc_sell = sum((r.btc_sell for r in rows.values()), Decimal(0))
        assert series["total_count_buy"][index] == totals["total_count_buy"], day
        assert series["total_count_sell"][index] == totals["total_count_sell"], day
        assert series["total_count"][index] == totals["total_count"], day
        assert series["trades_buy"][index] == sum(r.trades_buy for r in rows.values())
        assert series["trades_sell"][index] == sum(r.trades_sell for r in rows.values())
        assert series["total_usd_buy"][index] == totals["total_usd_buy"]
        assert series["total_usd_sell"][index] == totals["total_usd_sell"]
        assert series["total_btc_buy"][index] == totals["total_btc_buy"]
        assert series["avg_price_buy"][index] == average(usd_buy, btc_buy), day
        assert series["avg_price_sell"][index] == average(usd_sell, btc_sell), day
        assert series["minutes"][index] == len(rows)
    # a window inside one day asks for that day only
    _, one = world.get("/api/daily?start=2026-01-02T00:00:00Z&end=2026-01-02T01:00:00Z")
    assert one["series"]["day"] == ["2026-01-02"]


def test_health(world):
    filled = world.filled
    status, body = world.get("/api/health")
    assert status == 200, body
    assert body["newest_minute"] == iso(NEWEST)
    assert body["newest_minute_age_s"] == 270
    assert body["status"] == "lagging"
    assert body["now"] == "2026-01-02T00:45:30Z"
    assert body["objects_processed"] == filled.objects
    assert body["objects_with_rejects"] == 1
    assert body["lines_read"] == filled.lines
    assert body["lines_rejected"] == filled.rejected == 2
    assert body["lines_accepted"] == filled.lines - filled.rejected
    assert body["duplicate_trades"] == filled.duplicates == 1
    assert body["redeliveries"] == filled.redeliveries
    assert (body["dead_letters"], body["dead_letters_note"]) == (7, None)
    assert body["last_processed"].endswith("Z")
    _, eth = world.get("/api/health?symbol=ethusdt")
    assert eth["newest_minute"] == "2026-01-01T00:05:00Z"
    assert eth["status"] == "stale"


# -- parameters


BAD = [
    ("/api/prices?range=2h", "range"),
    ("/api/prices?range=30d&grain=minute", "grain"),
    ("/api/usd?grain=fortnight", "grain"),
    ("/api/candles?anchor=yesterday", "anchor"),
    ("/api/spread?start=2026-01-01T00:00:00Z", "end"),
    ("/api/usd?start=2026-01-01T00:00:00&end=2026-01-01T01:00:00Z", "start"),
    ("/api/usd?start=2026-01-01T01:00:00Z&end=2026-01-01T00:00:00Z", "end"),
    ("/api/candles?start=2026-01-01T00:00:00Z&end=2027-02-05T00:01:00Z", "end"),  # past 400 days
    ("/api/symbols?symbol=BTCUSDT", "symbol"),
    ("/api/totals?start=soon&end=2026-01-01T00:00:00Z", "start"),
    ("/api/totals?range=1h&start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z", "range"),
    ("/api/daily?symbol=BTC%2FUSDT", "symbol"),
    ("/api/daily?colour=red", "colour"),
    ("/api/prices?range=1h&range=24h", "range"),
    ("/api/health?range=1h", "range"),
    ("/api/config?x=1", "x"),
]


@pytest.mark.parametrize(("path", "parameter"), BAD)
def test_bad_parameters_are_answered_400_naming_them(sqlite_url, path, parameter):
    migrated(sqlite_url)
    with start_dashboard(sqlite_url) as server:
        status, body = http_get(server.url + path.lstrip("/"))
    assert status == 400
    assert body["parameter"] == parameter
    assert body["error"].startswith(f"{parameter}: ")


def test_unknown_paths_and_methods(sqlite_url):
    migrated(sqlite_url)
    with start_dashboard(sqlite_url) as server:
        status, body = http_get(server.url + "api/trades")
        assert status == 404 and "/api/totals" in body["error"]
        status, body = http_get(server.url + "etc/passwd")
        assert status == 404
        request = urllib.request.Request(server.url + "api/totals", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=60)
        assert caught.value.code == 405
        assert caught.value.headers["Allow"] == "GET, HEAD"


# -- the database's side


def test_a_database_without_tables_is_answered_503(db_url):
    if db_url.startswith("sqlite"):
        open_store(db_url).close()  # the file exists, empty
    with start_dashboard(db_url) as server:
        for path in ("api/totals", "api/health", "api/daily", "api/symbols"):
            status, body = http_get(server.url + path)
            assert status == 503, body
            assert "no cryptotrades tables yet" in body["error"] and "migrate" in body["error"]
            assert body["reason"] == "no_tables"  # what the page words for people


def test_sessions_cannot_write(db_url):
    """Even with the writer's URL, the dashboard's connections refuse to write."""
    migrated(db_url)
    pool = StorePool(db_url)
    store = pool.open_one()
    try:
        for statement in (
            "DELETE FROM trade_minutes",
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'x', 'now')",
        ):
            with pytest.raises(DATABASE_ERRORS):
                store.execute(statement)
    finally:
        store.close()
        pool.close()


def test_an_unusable_database_fails_at_start():
    with pytest.raises(DashboardError, match="cannot open the database"):
        start_dashboard("mysql://reader:secret@127.0.0.1:1/cryptotrades")


def documented_grants() -> list[str]:
    """The read-only user's statements, as docs/dashboard.md gives them."""
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"```sql\n(CREATE USER.*?)```", text, re.DOTALL)
    assert block, f"{DOCS} has no ```sql block starting with CREATE USER"
    return [s.strip() for s in block.group(1).split(";") if s.strip()]


def test_the_documented_read_only_user_is_enough(mysql_url):
    migrated(mysql_url)
    with open_store(mysql_url) as store:
        fill_with_sample(store, sample_trades()[:500])
    database = urlsplit(mysql_url).path.lstrip("/")
    user, password = f"ct_reader_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = mysql_admin()
    statements = [
        s.replace("cryptotrades.", f"`{database}`.")
        .replace("'dashboard'", f"'{user}'")
        .replace("<password>", password)
        for s in documented_grants()
    ]
    assert any(s.startswith("CREATE USER") for s in statements)
    assert all(s.startswith(("CREATE USER", "GRANT SELECT ON")) for s in statements)
    try:
        with admin.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        reader = f"mysql://{user}:{password}@127.0.0.1:{urlsplit(mysql_url).port}/{database}"
        with start_dashboard(reader, dead_letters=None) as server:
            for path in (
                "totals",
                "daily",
                "prices",
                "spread",
                "usd",
                "candles",
                "health",
                "config",
                "symbols",
            ):
                status, body = http_get(f"{server.url}api/{path}")
                assert status == 200, (path, body)
                assert password not in json.dumps(body)
            _, health = http_get(f"{server.url}api/health")
            assert health["dead_letters"] is None and "not reported" in health["dead_letters_note"]
        with pytest.raises(pymysql.MySQLError):  # and the user itself cannot write
            connection = pymysql.connect(host="127.0.0.1", user=user, password=password, database=database)
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM trade_minutes")
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


# -- dead letters


@pytest.mark.parametrize(
    ("hook", "count", "note"),
    [
        (None, None, "not reported: the dashboard runs without"),
        (lambda: 0, 0, None),
        (lambda: None, None, "no dead-letter count yet"),
        (lambda: 1 / 0, None, "ZeroDivisionError"),
        (lambda: "3", None, "not a count"),
    ],
)
def test_dead_letter_hook(sqlite_url, hook: Callable[[], Any] | None, count, note):
    migrated(sqlite_url)
    with start_dashboard(sqlite_url, dead_letters=hook) as server:
        status, body = http_get(server.url + "api/health")
    assert status == 200
    assert body["dead_letters"] == count
    if note is None:
        assert body["dead_letters_note"] is None
    else:
        assert note in body["dead_letters_note"]
    assert body["status"] == "empty" and body["newest_minute"] is None
