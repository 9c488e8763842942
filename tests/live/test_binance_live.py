"""Against Binance itself: our minute row of a just-finished minute equals Binance's own kline.

Marked `live` and off by default (`pytest -m live` runs them): Binance is unreachable from
the machines this project is built and tested on, and answers HTTP 451 to US addresses.
Where it is reachable, these are the project's final word on "the numbers are exactly
right": trades fetched from REST, aggregated by our core, compared column by column with
the kline Binance publishes for the same minute; and the live stream's events parse.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from urllib.parse import urlencode

import pytest
import websockets

from binance.events import MINUTE_MS, AggTrade
from binance.klines import parse_kline_row
from binance.parse import parse_event
from binance.rest import AGG_TRADES_PATH, RestClient, agg_trades_path, parse_agg_trades
from binance.streams import ENDPOINTS, combined_stream_url, read_frame
from minutes.aggregate import minute_rows
from minutes.verify import compare

pytestmark = pytest.mark.live

ENDPOINT = ENDPOINTS[os.environ.get("CRYPTOTRADES_BINANCE_ENDPOINT", "binance")]
SYMBOL = "BTCUSDT"


def fetch(client: RestClient, path: str) -> bytes:
    answer = client.get(path, time.time())
    assert answer.status == 200, f"{ENDPOINT.rest_url}{path}: {answer.describe()}"
    return answer.body


def trades_of_minute(client: RestClient, minute: int) -> list[AggTrade]:
    """Every aggregate trade of one minute: the first by time, the rest by id, page by page."""
    query = urlencode(
        {"symbol": SYMBOL, "startTime": minute, "endTime": minute + MINUTE_MS - 1, "limit": 1000}
    )
    page = [t.trade for t in parse_agg_trades(fetch(client, f"{AGG_TRADES_PATH}?{query}"), SYMBOL).trades]
    trades = list(page)
    while page and page[-1].trade_time < minute + MINUTE_MS:
        page = [
            t.trade
            for t in parse_agg_trades(
                fetch(client, agg_trades_path(SYMBOL, trades[-1].agg_id + 1)), SYMBOL
            ).trades
        ]
        trades.extend(page)
    return [t for t in trades if minute <= t.trade_time < minute + MINUTE_MS]


def test_a_finished_minute_equals_binances_own_kline():
    client = RestClient(ENDPOINT.rest_url, timeout=10)
    try:
        minute = (int(time.time() * 1000) // MINUTE_MS - 2) * MINUTE_MS  # finished, and settled
        trades = trades_of_minute(client, minute)
        query = urlencode({"symbol": SYMBOL, "interval": "1m", "startTime": minute, "limit": 1})
        (kline_row,) = json.loads(fetch(client, f"/api/v3/klines?{query}"))
    finally:
        client.close()
    kline = parse_kline_row([str(v) for v in kline_row], SYMBOL)
    assert kline.open_time == minute
    ids = [t.agg_id for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "the REST pages left a hole"
    verdict = compare(minute_rows(trades), [kline], {SYMBOL: {minute}})
    assert verdict.differences == []
    assert verdict.compared == 1


def test_the_live_stream_parses_event_by_event():
    async def listen(seconds: float) -> list[bytes]:
        events = []
        url = combined_stream_url(ENDPOINT.ws_url, ["btcusdt"])
        async with websockets.connect(url, open_timeout=10) as socket:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and len(events) < 200:
                frame = await asyncio.wait_for(socket.recv(), timeout=seconds)
                events.append(read_frame(frame if isinstance(frame, bytes) else frame.encode()).event)
        return events

    events = asyncio.run(listen(20))
    assert events, "no aggTrade event in 20 s"
    trades = [parse_event(event) for event in events]
    assert {t.symbol for t in trades} == {SYMBOL}
    assert [t.agg_id for t in trades] == sorted(t.agg_id for t in trades)
