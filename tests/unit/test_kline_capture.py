"""Kline capture's pure parts: the stream event, REST klines rendered into it, the state file's marks."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from binance.errors import RestError
from binance.klines import Kline, parse_kline_event
from binance.rest import kline_event_from_rest, klines_from_rest, klines_path, rest_klines_json
from binance.streams import FrameKind, combined_frame, kline_event_json, kline_is_open, read_frame
from producer.errors import StateFileError
from producer.state import decode_state, encode_state
from producer.stats import Stats, log_line

MINUTE = 60_000
OPEN = 1_767_225_600_000  # 2026-01-01 00:00 UTC
KLINE = Kline(
    "BTCUSDT",
    OPEN,
    Decimal("87648.21000000"),
    Decimal("87648.22000000"),
    Decimal("87632.74000000"),
    Decimal("87648.00000000"),
    Decimal("4.08049000"),
    Decimal("357625.77686200"),
    1193,
    Decimal("1.79879000"),
    Decimal("157651.51495070"),
)
# Binance's documented REST kline array shape, with the values above (as Binance prints them).
REST_ITEM = (
    b'[1767225600000,"87648.21000000","87648.22000000","87632.74000000","87648.00000000",'
    b'"4.08049000",1767225659999,"357625.77686200",1193,"1.79879000","157651.51495070","0"]'
)


def later(kline: Kline, minutes: int) -> Kline:
    return dataclasses.replace(kline, open_time=kline.open_time + minutes * MINUTE)


def test_a_closed_kline_event_as_the_stream_sends_it_passes_the_kline_contract_unchanged():
    event = kline_event_json(KLINE, OPEN + MINUTE, 5723703861, 5723705053)
    assert parse_kline_event(event) == KLINE
    assert b'"v":"4.08049000"' in event and b'"x":true' in event  # the decimals as given, not re-rounded
    frame = read_frame(combined_frame("btcusdt@kline_1m", event))
    assert (frame.kind, frame.event, frame.stream) == (FrameKind.KLINE, event, "btcusdt@kline_1m")


def test_only_an_update_of_an_open_minute_is_taken_for_open():
    assert kline_is_open(kline_event_json(KLINE, OPEN + 2000, closed=False))
    assert not kline_is_open(kline_event_json(KLINE, OPEN + MINUTE))
    # Unreadable: not "open", so the contract gets to say what is wrong with it.
    assert not kline_is_open(b'{"e":"kline","k":{"x":"no"}}')
    assert not kline_is_open(b"not json")


def test_the_klines_path_asks_for_one_minute_klines_from_a_time_or_the_newest():
    assert klines_path("BTCUSDT", OPEN, 1000) == (
        "/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=1767225600000&limit=1000"
    )
    assert klines_path("BTCUSDT", None, 2) == "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=2"
    with pytest.raises(RestError, match=r"limit 1001 is outside 1\.\.1000"):
        klines_path("BTCUSDT", OPEN, 1001)


def test_a_rest_kline_becomes_the_stream_event_with_binances_own_bytes():
    close_time, event = kline_event_from_rest(REST_ITEM, "BTCUSDT", answered_at=OPEN + 5 * MINUTE)
    assert close_time == OPEN + MINUTE - 1
    assert event == (
        b'{"e":"kline","E":1767225900000,"s":"BTCUSDT","k":{"t":1767225600000,"T":1767225659999,'
        b'"s":"BTCUSDT","i":"1m","f":-1,"L":-1,"o":"87648.21000000","c":"87648.00000000",'
        b'"h":"87648.22000000","l":"87632.74000000","v":"4.08049000","n":1193,"x":true,'
        b'"q":"357625.77686200","V":"1.79879000","Q":"157651.51495070","B":"0"}}'
    )
    assert parse_kline_event(event) == KLINE  # trade ids unknown (-1), trades known


def test_a_rest_page_stops_at_the_minute_still_open_and_keeps_the_good_beside_the_bad():
    bad = REST_ITEM.replace(b"1767225600000,", b"1767225660000,").replace(b'"4.08049000"', b'"-4"')
    bad = bad.replace(b"1767225659999", b"1767225719999")
    good_later = rest_klines_json([later(KLINE, 2)])[1:-1]
    still_open = rest_klines_json([later(KLINE, 3)])[1:-1]
    body = b"[" + b",".join([REST_ITEM, bad, good_later, still_open]) + b"]"
    page = klines_from_rest(body, "BTCUSDT", OPEN, answered_at=OPEN + 4 * MINUTE - 1)
    assert [item.kline.open_time for item in page.klines] == [OPEN, OPEN + 2 * MINUTE]
    assert len(page.rejected) == 1 and page.rejected[0].startswith("item 1: field k.v (volume)")
    assert page.reached_open
    # With a margin the caller's clock may be ahead by: the minute just closed counts as open too.
    cautious = klines_from_rest(body, "BTCUSDT", OPEN, OPEN + 4 * MINUTE, closed_before=OPEN + 3 * MINUTE)
    assert [item.kline.open_time for item in cautious.klines] == [OPEN, OPEN + 2 * MINUTE]


def test_a_rest_answer_that_is_not_klines_in_order_is_refused_whole():
    with pytest.raises(RestError, match="not a JSON array"):
        klines_from_rest(b'{"code":-1121}', "BTCUSDT", OPEN, OPEN + MINUTE * 10)
    backwards = rest_klines_json([later(KLINE, 1), KLINE])
    with pytest.raises(RestError, match="do not ascend from 1767225600000"):
        klines_from_rest(backwards, "BTCUSDT", OPEN, OPEN + MINUTE * 10)
    with pytest.raises(RestError, match="opens at 1767225600000, not after"):
        klines_from_rest(rest_klines_json([KLINE]), "BTCUSDT", OPEN + MINUTE, OPEN + MINUTE * 10)


def test_the_state_file_keeps_the_last_kline_beside_the_last_agg_id():
    data = encode_state({"BTCUSDT": 3800397495}, 1.5, {"BTCUSDT": OPEN})
    state = decode_state(data, "state.json")
    assert (state.last_agg_ids, state.last_kline_open_times) == ({"BTCUSDT": 3800397495}, {"BTCUSDT": OPEN})
    # A file from before klines were captured has none: klines start from the live stream.
    older = decode_state(b'{"version": 1, "last_agg_ids": {"BTCUSDT": 5}}', "old.json")
    assert older.last_kline_open_times == {}


@pytest.mark.parametrize("value", ["1767225600000", OPEN + 1, -MINUTE, True, 10**15])
def test_a_kline_mark_that_is_not_a_minute_is_refused_naming_the_file_and_symbol(value):
    data = encode_state({}, 0.0, {"BTCUSDT": value})  # type: ignore[dict-item]
    with pytest.raises(StateFileError, match=r"state.json: last kline open time of 'BTCUSDT' is"):
        decode_state(data, "state.json")


def test_health_and_the_stats_line_count_klines():
    stats = Stats(klines_received=3, klines_open=90, klines_produced=3, kline_released={"BTCUSDT": OPEN})
    snapshot = stats.snapshot()
    assert (snapshot["klines_received"], snapshot["klines_open"], snapshot["klines_produced"]) == (3, 90, 3)
    line = log_line(snapshot)
    assert "klines_produced=3" in line and f"kline_released.BTCUSDT={OPEN}" in line
    for name in ("kline_duplicates", "klines_backfilled", "kline_holes"):
        assert f"{name}=0" in line
