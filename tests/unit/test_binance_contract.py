"""The one trade contract (binance/contract.py) against hostile input: every loose form the
issue found is refused with a reason, nothing else ever escapes the parser, and the fast
path and the strict path agree on every line."""

from __future__ import annotations

import gzip
import json
import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from binance import contract
from binance.errors import BadLineError
from binance.files import (
    CorruptFileError,
    LineTooLong,
    ObjectTooLargeError,
    ReadLimits,
    line_batches,
    parse_ndjson,
    read_event_stream,
    read_trades,
)
from binance.parse import _parse_strictly, parse_csv_row, parse_event, parse_event_batch
from tests.fixtures.data import event_line, sample_trades

NOW = 1_767_225_660_000  # 2026-01-01T00:01:00Z, the reader's clock in these tests
FIRST = (
    b'{"e":"aggTrade","E":1767225600040,"s":"BTCUSDT","a":3800397495,"p":"87648.21000000",'
    b'"q":"0.08185000","f":5723703861,"l":5723703861,"T":1767225600039,"m":true,"M":true}'
)


def event(**changes: object) -> bytes:
    obj = json.loads(FIRST)
    for key, value in changes.items():
        if value is ...:
            del obj[key]
        else:
            obj[key] = value
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def reason(line: bytes) -> str:
    with pytest.raises(BadLineError) as caught:
        parse_event(line, now=NOW)
    return str(caught.value)


# -- every loose form of the issue, refused with its reason --------------------------------


@pytest.mark.parametrize(
    ("symbol", "why"),
    [
        ("btcusdt", "lower case"),
        ("BTCUSDT ", "a trailing space"),
        (" BTCUSDT", "a leading space"),
        ("BTCÜSDT", "an accented letter"),
        ("BTC\u0000USDT", "a NUL"),
        ("BTC\tUSDT", "a tab"),
        ("BTC🚀USDT", "an emoji"),
        ("B", "one character"),
        ("A" * 33, "33 characters"),
        ("_BTCUSD", "a leading _"),
        ("BTCUSD_", "a trailing _"),
        ("BTC__USD", "a double _"),
        ("BTC-USDT", "a dash"),
    ],
)
def test_a_symbol_outside_the_grammar_is_refused(symbol, why):
    assert "is not a symbol (2 to 32 upper-case ASCII letters" in reason(event(s=symbol)), why


@pytest.mark.parametrize("symbol", ["BTCUSDT", "BTCUSD_PERP", "BTCUSDT_240628", "1000SHIBUSDT", "A" * 32])
def test_symbols_binance_uses_are_accepted_whole(symbol):
    assert parse_event(event(s=symbol), now=NOW).symbol == symbol


@pytest.mark.parametrize(
    "text",
    [
        "87_648.21",
        " 87648.21",
        "87648.21 ",
        "+87648.21",
        "8.764821e4",
        "8.764821E4",
        "087648.21",
        ".5",
        "5.",
        "1.",
        "1,5",
        "١٢٣",  # Arabic-Indic digits, which Decimal() would read
        "1000000000000",  # 13 digits before the point
        "0.000000001",  # 9 places
        "NaN",
        "Infinity",
        "-0.5",
        "",
    ],
)
def test_only_plain_decimal_text_is_a_price(text):
    assert "is not plain decimal text" in reason(event(p=text))


@pytest.mark.parametrize("text", ["0", "0.0", "0.00000000", "000"])
def test_a_zero_quantity_is_refused(text):
    assert "q (qty)" in reason(event(q=text))


@pytest.mark.parametrize(
    ("field", "value"),
    [("a", 2**64), ("a", 10**30), ("a", 2**63), ("a", -1), ("f", 2**64), ("l", 10**30), ("E", 2**63)],
)
def test_an_id_of_2_to_the_63_or_more_is_refused_never_clamped(field, value):
    line = event(**{field: value, **({"l": value} if field == "f" and value < 2**63 else {})})
    assert "is not an id (0 <= id < 2^63)" in reason(line)


def test_the_largest_ids_are_accepted_exactly():
    top = 2**63 - 1
    trade = parse_event(event(a=top, f=top - 5, l=top), now=NOW)
    assert (trade.agg_id, trade.first_trade_id, trade.last_trade_id, trade.trade_count) == (
        top,
        top - 5,
        top,
        6,
    )


def test_an_aggregate_of_2_to_the_31_trades_or_more_is_refused():
    assert "is not below 2^31" in reason(event(f=0, l=2**31))
    assert parse_event(event(f=0, l=2**31 - 1), now=NOW).trade_count == 2**31


@pytest.mark.parametrize(
    ("time", "why"),
    [
        (0, "the epoch"),
        (1, "1970"),
        (86_400_000, "1970"),
        (1_498_867_199_999, "a millisecond before 2017-07-01"),
        (90_000_000_000_000, "the year 4821"),
        (NOW + 86_400_001, "a day and a millisecond ahead"),
        (10**14, "1973 in microseconds"),
    ],
)
def test_a_trade_time_outside_2017_to_tomorrow_is_refused(time, why):
    assert "field T (trade_time)" in reason(event(T=time)), why


def test_the_time_window_is_inclusive_and_microseconds_become_milliseconds():
    assert parse_event(event(T=1_498_867_200_000), now=NOW).trade_time == 1_498_867_200_000
    assert parse_event(event(T=NOW + 86_400_000), now=NOW).trade_time == NOW + 86_400_000
    assert parse_event(event(T=1767225600039409), now=NOW).trade_time == 1767225600039


@pytest.mark.parametrize("key", ["p", "q", "s", "a", "T", "m", "e", "M"])
def test_a_repeated_key_is_refused_whatever_it_is(key):
    value = json.dumps(json.loads(FIRST)[key]).encode()
    line = FIRST[:-1] + b',"' + key.encode() + b'":' + value + b"}"
    assert f"key '{key}' appears more than once" in reason(line)


def test_a_repeated_key_with_a_missing_one_keeps_the_count_and_is_still_refused():
    # 11 keys in all: M is missing and p appears twice, the case a key count alone would miss.
    line = event(M=...)[:-1] + b',"p":"1.00000000"}'
    assert line.count(b":") == 11
    assert "key 'p' appears more than once" in reason(line)


def test_a_repeated_key_inside_a_combined_stream_frame_is_refused():
    frame = b'{"stream":"btcusdt@aggTrade","data":' + FIRST[:-1] + b',"q":"9.0"}}'
    assert "key 'q' appears more than once" in reason(frame)


def test_unknown_and_missing_keys_are_refused():
    assert "unknown field 'x'" in reason(event(x=1))
    assert "missing required field 'M'" in reason(event(M=...))
    assert "missing required field 'E' (event_time)" in reason(event(E=...))


def test_invalid_utf8_inside_a_string_is_a_reject_not_a_crash():
    line = FIRST.replace(b'"BTCUSDT"', b'"BTC\xff\xfeUSDT"')
    assert "not UTF-8" in reason(line)
    parsed = parse_ndjson(FIRST + b"\n" + line + b"\n" + FIRST.replace(b"3800397495", b"3800397496"))
    assert (len(parsed.trades), [r.line for r in parsed.rejects]) == (2, [2])
    assert "\ufffd" in parsed.rejects[0].text  # kept readable in the quarantine


def test_json_nested_a_million_deep_is_a_reject():
    assert "invalid JSON" in reason(b"[" * 1_000_000 + b"]" * 1_000_000)
    assert "invalid JSON" in reason(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)


def test_numbers_of_thousands_of_digits_are_rejects():
    assert "is not an id" in reason(event(a=10**4000))
    assert "invalid JSON" in reason(FIRST.replace(b"3800397495", b"9" * 5000))
    assert "Expected `int`, got `float`" in reason(FIRST.replace(b"3800397495", b"1e999999"))


def test_nan_and_infinity_literals_are_not_json():
    assert "NaN is not JSON" in reason(FIRST.replace(b"3800397495", b"NaN"))


def test_a_utf8_byte_order_mark_does_not_cost_the_first_trade(tmp_path):
    data = b"\xef\xbb\xbf" + FIRST + b"\n"
    assert parse_ndjson(data, now=NOW).trades == [parse_event(FIRST, now=NOW)]
    stream = list(read_event_stream([data[:2], data[2:]], "s3://b/k", now=NOW))
    assert [len(p.trades) for p in stream] == [1] and stream[0].rejects == []
    path = tmp_path / "capture.ndjson"
    path.write_bytes(data)
    assert len(read_trades(path, now=NOW).trades) == 1


def test_a_str_with_lone_surrogates_is_a_reject():
    assert "not UTF-8" in reason("\ud800")  # type: ignore[arg-type]


def test_any_bytes_like_line_parses_and_anything_else_is_a_reject():
    trade = parse_event(FIRST, now=NOW)
    assert parse_event(bytearray(FIRST), now=NOW) == parse_event(memoryview(FIRST), now=NOW) == trade
    assert "expected the bytes of a line, got int" in reason(5)  # type: ignore[arg-type]


# -- CSV rows: the same contract -------------------------------------------------------------

ROW = [
    "3800397495",
    "87648.21000000",
    "0.08185000",
    "5723703861",
    "5723703861",
    "1767225600039409",
    "True",
    "True",
]


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (0, " 3800397495", "not an id"),
        (0, "+3800397495", "not an id"),
        (0, "3_800_397_495", "not an id"),
        (0, str(2**63), "not an id"),
        (1, "87_648.21", "not plain decimal text"),
        (2, "1e-3", "not plain decimal text"),
        (5, "0", "before 2017-07-01"),
        (6, "TRUE", "not true or false"),
        (7, "maybe", "field is_best_match"),
    ],
)
def test_a_csv_row_obeys_the_same_contract(index, value, message):
    row = list(ROW)
    row[index] = value
    with pytest.raises(BadLineError, match=message):
        parse_csv_row(row, "BTCUSDT", now=NOW)


def test_a_csv_file_with_a_bad_symbol_in_its_name_rejects_every_row(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text(",".join(ROW) + "\n")
    parsed = read_trades(path, symbol="BTC USDT", now=NOW)
    assert parsed.trades == [] and "is not a symbol" in parsed.rejects[0].reason


# -- bounded reading ---------------------------------------------------------------------------


def test_a_gzip_bomb_stops_at_the_byte_limit_without_expanding():
    bomb = gzip.compress(b"0" * (8 * 1024 * 1024))
    with pytest.raises(ObjectTooLargeError, match="more than 1048576 bytes"):
        for _ in read_event_stream([bomb], "s3://b/k", ReadLimits(max_bytes=1024 * 1024), now=NOW):
            pass


def test_a_plain_object_over_the_limit_stops_too():
    with pytest.raises(ObjectTooLargeError):
        list(read_event_stream([FIRST + b"\n"] * 100, "k", ReadLimits(max_bytes=1000), now=NOW))


def test_broken_and_truncated_gzip_are_named():
    whole = gzip.compress(FIRST + b"\n")
    with pytest.raises(CorruptFileError, match="ends before"):
        list(read_event_stream([whole[:-12]], "k", now=NOW))
    with pytest.raises(CorruptFileError, match="not a readable gzip"):
        list(read_event_stream([whole[:10] + b"garbage" + whole[17:]], "k", now=NOW))


def test_several_gzip_members_read_as_one_stream():
    data = gzip.compress(FIRST + b"\n") + gzip.compress(FIRST.replace(b"3800397495", b"3800397496") + b"\n")
    (parsed,) = read_event_stream([data[:7], data[7:40], data[40:]], "k", now=NOW)
    assert [t.agg_id for t in parsed.trades] == [3800397495, 3800397496]


def test_a_line_over_the_limit_is_rejected_without_being_held():
    huge = b"x" * 200_000
    pieces = [FIRST + b"\n" + huge[:1000], huge[1000:], huge[:5] + b"\n" + FIRST + b"\n"]
    lines = [line for batch in line_batches(pieces, max_line=65_536) for line in batch]
    assert lines[0] == FIRST and lines[2] == FIRST
    assert isinstance(lines[1], LineTooLong) and lines[1].length == 200_005 and len(lines[1].head) == 1024
    (parsed,) = read_event_stream(pieces, "k", now=NOW)
    assert len(parsed.trades) == 2
    assert [(r.line, r.reason) for r in parsed.rejects] == [
        (2, "line of 200005 bytes or more is longer than the limit: not read")
    ]


def test_a_valid_event_padded_past_the_line_limit_is_refused():
    padded = FIRST[:-1] + b" " * 70_000 + b"}"
    (parsed,) = read_event_stream([padded + b"\n"], "k", now=NOW)
    assert parsed.trades == [] and "longer than the limit" in parsed.rejects[0].reason


def test_stream_batches_keep_line_numbers_across_batches():
    lines = [event_line(t) for t in sample_trades()[:50]]
    lines[33] = b"not json"
    parsed = list(read_event_stream([b"\n".join(lines)], "k", ReadLimits(batch_lines=10), now=NOW))
    assert len(parsed) == 5
    assert [r.line for p in parsed for r in p.rejects] == [34]
    assert sum(len(p.trades) for p in parsed) == 49


# -- properties: nothing but BadLineError, and the two paths agree ------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


def outcome(parse, line):
    try:
        return parse(line)
    except BadLineError as exc:
        return ("rejected", type(exc))


def strictly(line: bytes):
    return _parse_strictly(line, contract.latest_trade_ms(NOW))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
@example(b"\xef\xbb\xbf{}")
@example(b'{"s":"\xff"}')
def test_random_bytes_only_ever_raise_bad_line_error(data):
    outcome(lambda line: parse_event(line, now=NOW), data)
    outcome(lambda d: parse_ndjson(d, now=NOW), data)


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(contract.EVENT_KEYS), value=JSON)
def test_any_value_in_any_field_is_a_valid_trade_or_a_reason(key, value):
    line = event(**{key: value})
    fast = outcome(lambda raw: parse_event(raw, now=NOW), line)
    assert fast == outcome(strictly, line)
    if not isinstance(fast, tuple):
        assert re.fullmatch(contract.SYMBOL_PATTERN, fast.symbol) and 0 < fast.price <= contract.DECIMAL_MAX


@settings(max_examples=300, deadline=None)
@given(depth=st.integers(1, 3000), shape=st.sampled_from(["[", '{"p":']), key=st.sampled_from("psaT"))
def test_random_nesting_in_any_field_is_a_reject(depth, shape, key):
    closing = "]" if shape == "[" else "}"
    nested = (shape * depth + "1" + closing * depth).encode()
    line = FIRST.replace(f'"{key}":'.encode(), f'"{key}":'.encode() + nested + b',"_":', 1)
    assert outcome(lambda raw: parse_event(raw, now=NOW), line)[0] == "rejected"


@settings(max_examples=300, deadline=None)
@given(
    symbol=st.from_regex(r"\A[A-Z0-9]{1,5}(_[A-Z0-9]{1,5})?\Z"),
    agg_id=st.integers(0, 2**63 - 1),
    first=st.integers(0, 2**63 - 1),
    span=st.integers(0, 2**31 - 1),
    price=st.decimals(min_value=Decimal("0.00000001"), max_value=contract.DECIMAL_MAX, places=8),
    qty=st.decimals(min_value=Decimal("0.00000001"), max_value=contract.DECIMAL_MAX, places=8),
    time=st.integers(contract.EARLIEST_TRADE_MS, NOW + contract.FUTURE_TOLERANCE_MS),
    maker=st.booleans(),
)
def test_every_trade_the_contract_allows_parses_exactly_on_both_paths(
    symbol, agg_id, first, span, price, qty, time, maker
):
    last = min(first + span, 2**63 - 1)
    line = event(s=symbol, a=agg_id, p=f"{price:f}", q=f"{qty:f}", f=first, l=last, T=time, m=maker)
    if len(symbol) < 2:
        assert outcome(lambda raw: parse_event(raw, now=NOW), line)[0] == "rejected"
        return
    trade = parse_event(line, now=NOW)
    assert trade == strictly(line) == parse_event_batch(line + b"\n" + line, now=NOW)[0]
    assert (trade.symbol, trade.agg_id, trade.price, trade.qty, trade.trade_time) == (
        symbol,
        agg_id,
        price,
        qty,
        time,
    )
