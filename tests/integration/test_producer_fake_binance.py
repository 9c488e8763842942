"""The fake Binance itself: what producer tests and the one-box replay rely on it to do."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from binance.rest import parse_agg_trades
from binance.streams import combined_frame, event_json, read_frame
from onebox.fake_binance import FakeBinance, FakeBinanceThread
from tests.fixtures.data import sample_trades
from tests.fixtures.producer import until

pytestmark = pytest.mark.integration


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_streams_carry_binance_frames_from_when_the_client_connects():
    trades = sample_trades()[:300]

    async def scenario():
        async with FakeBinance(trades, limit=100) as fake:
            async with connect(f"{fake.ws_url}/stream?streams=btcusdt@aggTrade") as combined:
                first = [await combined.recv(decode=False) for _ in range(100)]
                async with connect(f"{fake.ws_url}/ws/btcusdt@aggTrade") as raw:
                    fake.allow(300)
                    later_combined = [await combined.recv(decode=False) for _ in range(200)]
                    later_raw = [await raw.recv(decode=False) for _ in range(200)]
            return first, later_combined, later_raw

    first, later_combined, later_raw = asyncio.run(scenario())
    assert first == [combined_frame("btcusdt@aggTrade", event_json(t)) for t in trades[:100]]
    # The second client opened after 100 trades: it hears only what came after, unwrapped.
    assert later_raw == [event_json(t) for t in trades[100:]]
    assert [read_frame(frame).event for frame in later_combined] == later_raw


def test_a_client_that_does_not_answer_pings_is_dropped():
    async def scenario():
        async with FakeBinance(sample_trades()[:10], ping_interval=0.1, pong_timeout=0.3) as fake:
            # A bare WebSocket handshake over TCP, then silence: no pong ever goes back.
            reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(
                (
                    "GET /ws/btcusdt@aggTrade HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            status = await reader.readline()
            received = b""
            async with asyncio.timeout(30):
                while chunk := await reader.read(65536):  # ends when the server drops us
                    received += chunk
            writer.close()
            await until(lambda: fake.stats.connections_open == 0, "the server to forget the connection")
            return status, received, fake.stats

    status, received, stats = asyncio.run(scenario())
    assert status.startswith(b"HTTP/1.1 101")
    assert b"\x89" in received  # a ping frame (FIN + opcode 9) came
    assert stats.pong_timeouts == 1


def test_connections_are_closed_at_their_lifetime():
    async def scenario():
        async with FakeBinance(sample_trades()[:10], connection_lifetime=0.3) as fake:
            async with connect(f"{fake.ws_url}/ws/btcusdt@aggTrade") as client:
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await client.recv()
            return closed.value, fake.stats

    closed, stats = asyncio.run(scenario())
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (1001, "connection lifetime reached")
    assert stats.lifetime_cuts == 1


def test_rest_answers_from_published_trades_with_binance_errors_and_limits():
    trades = sample_trades()[:3000]
    with FakeBinanceThread(trades) as fake:
        fake.advance(2000)
        base = f"{fake.rest_url}/api/v3/aggTrades?symbol=BTCUSDT"
        status, headers, body = get(f"{base}&fromId={trades[10].agg_id}&limit=5")
        assert status == 200
        assert [item.trade for item in parse_agg_trades(body, "BTCUSDT").trades] == trades[10:15]
        assert headers["X-MBX-USED-WEIGHT-1M"].isdigit()
        _, _, newest = get(f"{base}&limit=2")  # no fromId: the most recent published trades
        assert [item.trade for item in parse_agg_trades(newest, "BTCUSDT").trades] == trades[1998:2000]
        _, _, beyond = get(f"{base}&fromId={trades[2500].agg_id}")  # not happened yet
        assert beyond == b"[]"
        assert get(f"{fake.rest_url}/api/v3/aggTrades?symbol=ETHUSDT")[0] == 400
        assert json.loads(get(f"{base}&limit=1001")[2])["code"] == -1100
        fake.rate_limit(1, retry_after=2)
        fake.rate_limit(1, retry_after=60, status=418)
        limited, limited_headers, _ = get(f"{base}&limit=1")
        banned, banned_headers, _ = get(f"{base}&limit=1")
        assert (limited, limited_headers["Retry-After"]) == (429, "2")
        assert (banned, banned_headers["Retry-After"]) == (418, "60")
        assert get(f"{base}&limit=1")[0] == 200
        assert get(f"{fake.rest_url}/api/v3/ping")[0] == 404
        assert fake.stats.rest_limited == 2


def test_a_timed_market_publishes_trades_at_their_scaled_times():
    trades = sample_trades()[:500]  # 62 s of market: 0.62 s at speed 100

    async def scenario():
        async with FakeBinance(trades, speed=100) as fake:
            at_start = fake.published
            await until(lambda: fake.published == len(trades), "the whole market")
            return at_start

    at_start = asyncio.run(scenario())
    assert at_start < len(trades)
