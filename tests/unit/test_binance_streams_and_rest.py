"""binance.streams and binance.rest: URLs, frames cut without re-encoding, REST answers and items."""

from __future__ import annotations

import json

import pytest

from binance.errors import BinanceError, RestError
from binance.parse import parse_event
from binance.rest import (
    AnswerKind,
    agg_trades_path,
    event_from_rest,
    parse_agg_trades,
    read_answer,
    rest_json,
    retry_after_seconds,
)
from binance.streams import (
    ENDPOINTS,
    FrameKind,
    combined_frame,
    combined_stream_url,
    event_json,
    normalize_symbol,
    parse_stream_path,
    raw_stream_url,
    read_frame,
    server_shutdown_event,
)
from tests.fixtures.data import sample_trades

# A frame exactly as Binance sends it (2026-01-01, the first trade of tests/data).
FRAME = (
    b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1767225600040,"s":"BTCUSDT","a":3800397495,'
    b'"p":"87648.21000000","q":"0.08185000","f":5723703861,"l":5723703861,"T":1767225600039,"m":true,"M":true}}'
)


def test_endpoints_and_urls():
    assert ENDPOINTS["binance"].ws_url == "wss://stream.binance.com:9443"
    assert ENDPOINTS["vision"].ws_url == "wss://data-stream.binance.vision"
    assert ENDPOINTS["us"].rest_url == "https://api.binance.us"
    assert (
        combined_stream_url("wss://stream.binance.com:9443/", ["BTCUSDT", "ETHUSDT"])
        == "wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade"
        "/btcusdt@kline_1m/ethusdt@kline_1m"
    )
    assert (
        combined_stream_url("ws://127.0.0.1:5", ["BTCUSDT"], klines=False)
        == "ws://127.0.0.1:5/stream?streams=btcusdt@aggTrade"
    )
    assert raw_stream_url("ws://127.0.0.1:5", "BTCUSDT") == "ws://127.0.0.1:5/ws/btcusdt@aggTrade"


def test_symbols_are_checked():
    assert normalize_symbol(" btcusdt ") == "BTCUSDT"
    with pytest.raises(BinanceError, match="'btc/usdt' is not a Binance symbol"):
        normalize_symbol("btc/usdt")


def test_stream_paths_are_read_back():
    assert parse_stream_path("/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade") == (
        True,
        ("BTCUSDT", "ETHUSDT"),
        (),
    )
    assert parse_stream_path("/stream?streams=btcusdt@aggTrade/btcusdt@kline_1m") == (
        True,
        ("BTCUSDT",),
        ("BTCUSDT",),
    )
    assert parse_stream_path("/ws/btcusdt@aggTrade") == (False, ("BTCUSDT",), ())
    assert parse_stream_path("/ws/btcusdt@kline_1m") == (False, (), ("BTCUSDT",))
    with pytest.raises(BinanceError, match="neither an aggTrade nor a kline_1m stream"):
        parse_stream_path("/ws/btcusdt@depth")
    with pytest.raises(BinanceError, match="is not a stream path"):
        parse_stream_path("/api/v3/ping")


def test_a_combined_frame_is_cut_to_the_data_bytes_as_received():
    frame = read_frame(FRAME)
    assert frame.kind is FrameKind.AGG_TRADE
    assert frame.stream == "btcusdt@aggTrade"
    start = FRAME.index(b'"data":') + len(b'"data":')
    assert frame.event == FRAME[start:-1]  # the very bytes, not a re-encoding


def test_the_cut_keeps_whatever_formatting_binance_used():
    spaced = b'{"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "p": "1.50000000", "a": 1}}'
    assert read_frame(spaced).event == b'{"e": "aggTrade", "p": "1.50000000", "a": 1}'


def test_raw_events_and_control_frames():
    raw = event_json(sample_trades()[0])
    assert read_frame(raw) == (FrameKind.AGG_TRADE, raw, "")
    shutdown = server_shutdown_event(1767225600000)
    assert read_frame(shutdown).kind is FrameKind.SERVER_SHUTDOWN
    wrapped = combined_frame("!serverShutdown", shutdown)
    assert read_frame(wrapped).kind is FrameKind.SERVER_SHUTDOWN
    assert read_frame(b'{"result":null,"id":1}').kind is FrameKind.RESPONSE
    assert read_frame(b'{"code":2,"msg":"Invalid request"}').kind is FrameKind.ERROR
    assert read_frame(b'{"e":"trade","a":1}').kind is FrameKind.OTHER
    with pytest.raises(BinanceError, match="frame is not a JSON object"):
        read_frame(b"not json")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"[" * 1000 + b"]" * 1000, "not a JSON object"),
        (b'{"stream":"x","data":' + b"[" * 1000 + b"]" * 1000 + b"}", "nested deeper than the decoder goes"),
        (b'{"e":"aggTrade","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested deeper"),
        (b'{"stream":"x","data":{"e":5}}', "the data of stream 'x'"),
        (b"\xff\xfe{}", "not a JSON object"),
        (b"", "not a JSON object"),
        (b'{"stream":5,"data":{}}', "not a JSON object"),
    ],
)
def test_any_frame_that_cannot_be_decoded_is_a_binance_error_naming_why(frame, message):
    with pytest.raises(BinanceError, match=message):
        read_frame(frame)


def test_event_json_writes_what_binance_writes():
    trades = sample_trades()
    start = FRAME.index(b'"data":') + len(b'"data":')
    assert event_json(trades[0]) == FRAME[start:-1]  # byte for byte, Binance's key order and format
    assert all(parse_event(event_json(trade)) == trade for trade in trades)


def test_agg_trades_path():
    assert agg_trades_path("BTCUSDT", 5) == "/api/v3/aggTrades?symbol=BTCUSDT&fromId=5&limit=1000"
    assert agg_trades_path("BTCUSDT", None, 10) == "/api/v3/aggTrades?symbol=BTCUSDT&limit=10"
    with pytest.raises(RestError, match=r"limit 1001 is outside 1\.\.1000"):
        agg_trades_path("BTCUSDT", 5, 1001)


def test_rest_items_become_websocket_events_keeping_binance_bytes():
    item = (
        b'{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,'
        b'"m":true,"M":true}'
    )
    event = event_from_rest(item, "BTCUSDT")
    assert event == b'{"e":"aggTrade","E":1498793709153,"s":"BTCUSDT",' + item[1:]
    assert json.loads(event)["p"] == "0.01633102"


def test_parse_agg_trades_round_trips_the_recorded_trades():
    trades = sample_trades()[:200]
    page = parse_agg_trades(rest_json(trades), "BTCUSDT", from_id=trades[0].agg_id)
    assert [item.trade for item in page.trades] == trades
    assert page.rejected == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"code":-1121,"msg":"Invalid symbol."}', "is not a JSON array"),
        (b"[" * 1000 + b"]" * 1000, "is not a JSON array"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than the decoder goes"),
        (b"\xff[]", "is not a JSON array"),
    ],
)
def test_a_rest_answer_that_is_not_an_array_is_a_rest_error(body, message):
    with pytest.raises(RestError, match=message):
        parse_agg_trades(body, "BTCUSDT")


def test_bad_rest_items_are_left_out_by_name_and_the_good_ones_kept():
    good = rest_json(sample_trades()[:2])[1:-1].split(b"},{")
    first, second = good[0] + b"}", b"{" + good[1]
    items = [
        b"{}",
        first,
        b'{"a":1,"p":"1","q":"1","f":1,"l":1,"m":true}',
        b'{"a":1,"p":"-1","q":"1","f":1,"l":1,"T":1767225600039,"m":true,"M":true}',
        b'{"a":1,"p":"1","q":"1","f":1,"l":1,"T":1e400,"m":true}',
        second,
    ]
    page = parse_agg_trades(b"[" + b",".join(items) + b"]", "BTCUSDT")
    assert [item.trade for item in page.trades] == sample_trades()[:2]
    assert [line.split(":")[0] for line in page.rejected] == ["item 0", "item 2", "item 3", "item 4"]
    assert "expected a non-empty JSON object" in page.rejected[0]
    assert "no trade time" in page.rejected[1]
    assert "field p (price)" in page.rejected[2]
    assert "no trade time: Number out of range" in page.rejected[3]


def test_rest_ids_must_ascend_from_the_id_asked():
    trades = sample_trades()[:3]
    with pytest.raises(RestError, match="the ids do not ascend"):
        parse_agg_trades(rest_json([trades[1], trades[0]]), "BTCUSDT")
    with pytest.raises(RestError, match=f"not above {trades[1].agg_id - 1}: the ids do not ascend from"):
        parse_agg_trades(rest_json(trades), "BTCUSDT", from_id=trades[1].agg_id)


def test_answers_are_classified_with_their_headers():
    limited = read_answer(429, {"Retry-After": "7", "x-mbx-used-weight-1m": "6004"}, b"{}", now=0)
    assert limited.kind is AnswerKind.RATE_LIMITED
    assert limited.retry_after == 7.0
    assert limited.used_weight == 6004
    assert read_answer(418, {}, b"", now=0).kind is AnswerKind.BANNED
    assert read_answer(503, {}, b"", now=0).kind is AnswerKind.UNAVAILABLE
    assert read_answer(451, {}, b"", now=0).kind is AnswerKind.REFUSED
    assert read_answer(200, {}, b"[]", now=0).kind is AnswerKind.OK
    assert read_answer(400, {}, b'{"code":-1121}', now=0).describe() == 'HTTP 400: {"code":-1121}'


def test_retry_after_as_seconds_or_a_date():
    assert retry_after_seconds("30", now=0) == 30.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:01:00 GMT", now=1767225600.0) == 60.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:00 GMT", now=1767225700.0) == 0.0
    assert retry_after_seconds("soon", now=0) is None
    assert retry_after_seconds(None, now=0) is None
