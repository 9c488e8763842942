"""The kline contract (binance/klines.py `parse_kline_event`): a closed 1-minute kline event
as Binance sends it is read exactly, and every loose or impossible form is refused with a
reason naming the field."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance.errors import BadLineError
from binance.files import parse_ndjson
from binance.klines import Kline, is_kline_event, parse_kline_event
from minutes.aggregate import minute_rows
from tests.fixtures.data import event_line, kline_event_line, kline_of, sample_trades

NOW = 1_767_225_660_001  # 2026-01-01T00:01:00.001Z
# The published minute 2026-01-01 00:00 of BTCUSDT, as the kline stream sends it.
PUBLISHED = {
    "e": "kline",
    "E": 1767225660001,
    "s": "BTCUSDT",
    "k": {
        "t": 1767225600000,
        "T": 1767225659999,
        "s": "BTCUSDT",
        "i": "1m",
        "f": 5723703861,
        "L": 5723705053,
        "o": "87648.21000000",
        "c": "87648.00000000",
        "h": "87648.22000000",
        "l": "87632.74000000",
        "v": "4.08049000",
        "n": 1193,
        "x": True,
        "q": "357625.77686200",
        "V": "1.79879000",
        "Q": "157651.51495070",
        "B": "0",
    },
}


def line(**changes: object) -> bytes:
    """The published event with ``k`` keys changed (``k_o="1"``) or event keys (``E=1``);
    ``...`` removes the key."""
    obj = json.loads(json.dumps(PUBLISHED))
    for name, value in changes.items():
        target, key = (obj["k"], name[2:]) if name.startswith("k_") else (obj, name)
        if value is ...:
            del target[key]
        else:
            target[key] = value
    return json.dumps(obj, separators=(",", ":")).encode()


def reason(raw: bytes) -> str:
    with pytest.raises(BadLineError) as caught:
        parse_kline_event(raw, now=NOW)
    return str(caught.value)


def test_the_published_minute_is_read_exactly():
    assert parse_kline_event(line(), now=NOW) == Kline(
        symbol="BTCUSDT",
        open_time=1767225600000,
        open=Decimal("87648.21"),
        high=Decimal("87648.22"),
        low=Decimal("87632.74"),
        close=Decimal("87648.00"),
        volume=Decimal("4.08049"),
        quote_volume=Decimal("357625.776862"),
        trades=1193,
        taker_buy_base=Decimal("1.79879"),
        taker_buy_quote=Decimal("157651.5149507"),
    )


def test_a_combined_stream_frame_is_unwrapped():
    frame = b'{"stream":"btcusdt@kline_1m","data":' + line() + b"}"
    assert parse_kline_event(frame, now=NOW) == parse_kline_event(line(), now=NOW)
    assert is_kline_event(frame) and is_kline_event(line())


def test_a_trade_line_is_not_routed_as_a_kline():
    trade = b'{"e":"aggTrade","E":1767225600040,"s":"BTCUSDT","a":1,"p":"2.5","q":"0.1"}'
    assert not is_kline_event(trade)
    assert "is not 'kline'" in reason(line(e="aggTrade"))


def test_a_kline_without_trades_is_accepted_with_zero_volumes():
    empty = parse_kline_event(
        line(k_f=-1, k_L=-1, k_n=0, k_v="0.00000000", k_q="0.00000000", k_V="0", k_Q="0"), now=NOW
    )
    assert (empty.trades, empty.volume, empty.quote_volume) == (0, 0, 0)


def test_volumes_are_sums_wider_than_one_trade_but_still_bounded():
    big = "9" * 22 + ".12345678"
    assert parse_kline_event(line(k_v=big, k_V="1"), now=NOW).volume == Decimal(big)
    assert "at most 22 before" in reason(line(k_v="1" + "0" * 22))
    assert parse_kline_event(line(k_q="9" * 34, k_Q="1"), now=NOW).quote_volume == Decimal("9" * 34)
    assert "field k.q (quote_volume)" in reason(line(k_q="1" + "0" * 34))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"k_i": "5m"}, "field k.i (interval): '5m' is not '1m'"),
        ({"k_x": False}, "field k.x (closed): False is not true"),
        ({"k_x": 1}, "field k.x (closed)"),
        ({"k_T": 1767225659998}, "field k.T (close_time)"),
        ({"k_T": 1767225719999, "k_t": 1767225600000}, "is not open_time 1767225600000 + 59999"),
        (
            {"k_t": 1767225600001, "k_T": 1767225660000},
            "field k.t (open_time): 1767225600001 is not the start",
        ),
        ({"k_t": 0, "k_T": 59999}, "field k.t (open_time): 0 is before 2017-07-01"),
        ({"k_t": NOW + 2 * 86_400_000}, "field k.t (open_time)"),
        ({"k_t": "1767225600000"}, "field k.t (open_time): '1767225600000' is not an integer"),
        ({"k_n": True}, "field k.n (trades): True is not an integer"),
        ({"k_n": -1}, "field k.n (trades): -1 is not an id"),
        ({"k_n": 2**63}, "field k.n (trades)"),
        ({"k_f": -2}, "field k.f (first_trade_id)"),
        ({"k_f": -1}, "do not bound 1193 trades"),
        ({"k_f": 10, "k_L": 9}, "do not bound"),
        ({"k_o": "087648.21"}, "field k.o (open)"),
        ({"k_h": "1e5"}, "field k.h (high)"),
        ({"k_l": "0"}, "field k.l (low): '0' is not greater than zero"),
        ({"k_c": 87648.0}, "field k.c (close)"),
        ({"k_c": "87648.000000001"}, "field k.c (close)"),
        ({"k_h": "87640.00000000"}, "do not bound open"),
        ({"k_l": "87648.10000000"}, "do not bound open"),
        ({"k_v": "-4.08049000"}, "field k.v (volume)"),
        ({"k_v": "4.080490001"}, "field k.v (volume)"),
        ({"k_V": "5"}, "field k.V (taker_buy_base): 5 is more than the volume 4.08049"),
        ({"k_Q": "357625.77686201"}, "field k.Q (taker_buy_quote)"),
        ({"k_Q": " 1"}, "field k.Q (taker_buy_quote)"),
        ({"k_B": 0}, "field k.B (ignore)"),
        ({"k_s": "ETHUSDT"}, "field k.s (symbol): 'ETHUSDT' is not the event's symbol 'BTCUSDT'"),
        ({"s": "btcusdt", "k_s": "btcusdt"}, "field s (symbol): 'btcusdt' is not a symbol"),
        ({"E": -1}, "field E (event_time): -1 is not an id"),
        ({"E": 2**63}, "field E (event_time)"),
        ({"k_o": ...}, "field k (the kline): missing o"),
        ({"k_z": 1}, "field k (the kline): unknown 'z'"),
        ({"M": True}, "the kline event: unknown 'M'"),
        ({"k": ...}, "the kline event: missing k"),
        ({"k": [1, 2]}, "field k (the kline): expected a JSON object, got list"),
    ],
)
def test_a_kline_outside_the_contract_is_refused_naming_the_field(changes, words):
    assert words in reason(line(**changes))


def test_a_repeated_key_inside_the_kline_is_refused():
    raw = line().replace(b'"n":1193', b'"n":1193,"n":1194')
    assert "key 'n' appears more than once" in reason(raw)


def test_hostile_bytes_are_rejects_not_crashes():
    assert "not UTF-8" in reason(line().replace(b"BTCUSDT", b"BTC\xffUSDT", 1))
    assert "invalid JSON" in reason(line()[:-1])
    assert "longer than 4096" in reason(b"[" * 5000)
    assert "expected a JSON object, got list" in reason(b"[1]")
    assert "NaN is not JSON" in reason(line().replace(b"1193", b"NaN"))


def test_microsecond_times_become_milliseconds():
    kline = parse_kline_event(line(k_t=1767225600000000, k_T=1767225659999999), now=NOW)
    assert kline.open_time == 1767225600000


@given(st.binary(max_size=600))
def test_no_bytes_escape_the_contract_except_as_a_bad_line(raw):
    with contextlib.suppress(BadLineError):
        parse_kline_event(raw, now=NOW)


_KEYS = st.sampled_from(["o", "h", "l", "c", "v", "q", "V", "Q", "n", "f", "L", "t", "T"])
_VALUES = st.one_of(
    st.text(alphabet="0123456789.-e ", max_size=14),
    st.integers(min_value=-2, max_value=2**64),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_any_change_of_kline_values_is_a_kline_or_a_bad_line(changes):
    try:
        kline = parse_kline_event(line(**{f"k_{key}": value for key, value in changes.items()}), now=NOW)
    except BadLineError:
        return
    assert kline.low <= min(kline.open, kline.close) <= max(kline.open, kline.close) <= kline.high
    assert kline.taker_buy_base <= kline.volume and kline.taker_buy_quote <= kline.quote_volume


def test_kline_lines_in_an_object_are_routed_to_the_kline_contract_and_the_trades_stay_whole():
    trades = sample_trades()[:600]
    kline = kline_of(minute_rows(trades)[0])
    good = [event_line(t) for t in trades]
    body = b"\n".join([*good[:300], kline_event_line(kline), *good[300:]]) + b"\n"
    parsed = parse_ndjson(body, now=NOW + 30 * 86_400_000)
    assert (parsed.trades, parsed.klines, parsed.rejects, parsed.lines) == (trades, [kline], [], 601)
    # A bad kline is a reject with its line and reason; the good lines around it still count.
    bad = kline_event_line(kline).replace(b'"i":"1m"', b'"i":"1h"')
    parsed = parse_ndjson(b"\n".join([*good[:300], bad, *good[300:]]), now=NOW + 30 * 86_400_000)
    assert (len(parsed.trades), parsed.klines, parsed.lines) == (600, [], 601)
    (reject,) = parsed.rejects
    assert reject.line == 301 and reject.reason.startswith("kline event: field k.i (interval): '1h'")
