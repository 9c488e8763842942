"""The Binance contract: events and CSV rows in, exact trades or precise reasons out."""

from __future__ import annotations

import gzip
import json
import zipfile
from decimal import Decimal

import pytest

from binance.errors import BadLineError, UnreadableFileError
from binance.events import AggTrade
from binance.files import describe_file_name, parse_ndjson, read_trades
from binance.parse import parse_csv_row, parse_event
from tests.fixtures.data import SAMPLE_CSV, event_line, sample_csv_rows, sample_trades

# The first line of the real sample, as Binance's WebSocket sends it.
FIRST = (
    b'{"e":"aggTrade","E":1767225600040,"s":"BTCUSDT","a":3800397495,"p":"87648.21000000",'
    b'"q":"0.08185000","f":5723703861,"l":5723703861,"T":1767225600039,"m":true,"M":true}'
)
FIRST_TRADE = AggTrade(
    symbol="BTCUSDT",
    agg_id=3800397495,
    price=Decimal("87648.21000000"),
    qty=Decimal("0.08185000"),
    first_trade_id=5723703861,
    last_trade_id=5723703861,
    trade_time=1767225600039,
    is_buyer_maker=True,
)


def event(**changes: object) -> bytes:
    obj = json.loads(FIRST)
    for key, value in changes.items():
        if value is ...:
            del obj[key]
        else:
            obj[key] = value
    return json.dumps(obj, separators=(",", ":")).encode()


def test_a_websocket_event_parses_to_exact_words():
    trade = parse_event(FIRST)
    assert trade == FIRST_TRADE
    assert trade.is_buy is False  # m = true: the buyer was the maker, the taker sold
    assert trade.trade_count == 1
    assert trade.minute == 1767225600000


def test_a_combined_stream_wrapper_is_unwrapped():
    wrapped = b'{"stream":"btcusdt@aggTrade","data":' + FIRST + b"}"
    assert parse_event(wrapped) == FIRST_TRADE


def test_text_with_spaces_and_other_key_order_parses_the_same():
    spaced = json.dumps(dict(reversed(list(json.loads(FIRST).items()))), indent=1)
    assert parse_event(spaced) == FIRST_TRADE


def test_the_event_type_must_be_there_and_be_aggtrade():
    with pytest.raises(BadLineError, match="missing required field 'e'"):
        parse_event(event(e=...))
    with pytest.raises(BadLineError, match="unknown event type 'trade'"):
        parse_event(event(e="trade", a=1))


def test_microsecond_times_become_milliseconds():
    assert parse_event(event(T=1767225600039409)).trade_time == 1767225600039


def test_a_json_number_price_is_refused_binance_sends_text():
    line = FIRST.replace(b'"p":"87648.21000000"', b'"p":87648.21000001')
    with pytest.raises(BadLineError, match=r"Expected `str`, got `float` - at field 'p' \(price\)"):
        parse_event(line)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"e":"aggTrade",', "invalid JSON"),
        (b"[1, 2]", "expected a JSON object, got an array"),
        (event(e="trade"), "unknown event type 'trade'"),
        (event(q=...), "missing required field 'q' (qty)"),
        (event(a="3800397495"), "Expected `int`, got `str` - at field 'a' (agg_id)"),
        (event(m="true"), "Expected `bool`, got `str` - at field 'm' (is_buyer_maker)"),
        (event(p="abc"), "field p (price): 'abc' is not plain decimal text"),
        (event(p="NaN"), "field p (price): 'NaN' is not plain decimal text"),
        (event(q="Infinity"), "field q (qty): 'Infinity' is not plain decimal text"),
        (event(p="-1.00000000"), "field p (price): '-1.00000000' is not plain decimal text"),
        (event(q="0.00000000"), "field q (qty): '0.00000000' is not greater than zero"),
        (event(q="0.000000001"), "field q (qty): '0.000000001' is not plain decimal text"),
        (event(l=5723703860), "last trade id 5723703860 is below first trade id 5723703861"),
        (event(s=""), "field s (symbol): '' is not a symbol"),
    ],
)
def test_each_bad_line_gets_a_precise_reason(line, reason):
    with pytest.raises(BadLineError) as caught:
        parse_event(line)
    assert reason in str(caught.value)


def test_spot_csv_rows_have_8_columns_python_booleans_and_microseconds():
    trade = parse_csv_row(sample_csv_rows()[0], "BTCUSDT")
    assert trade == FIRST_TRADE


def test_futures_csv_rows_have_7_columns_lowercase_booleans_and_milliseconds():
    trade = parse_csv_row(
        ["3800397495", "87648.2", "0.082", "5723703861", "5723703862", "1767225600039", "false"],
        "BTCUSD_PERP",
    )
    assert (trade.price, trade.qty, trade.trade_count, trade.trade_time, trade.is_buy) == (
        Decimal("87648.2"),
        Decimal("0.082"),
        2,
        1767225600039,
        True,
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["1", "2"], "expected 7 or 8 columns, got 2"),
        (["x", "1", "1", "1", "1", "1767225600039", "True"], "field agg_trade_id: 'x' is not an id"),
        (
            ["1", "1,5", "1", "1", "1", "1767225600039", "True"],
            "field price: '1,5' is not plain decimal text",
        ),
        (
            ["1", "1", "1", "1", "1", "1767225600039", "yes"],
            "field is_buyer_maker: 'yes' is not true or false",
        ),
    ],
)
def test_bad_csv_rows_name_the_field(fields, reason):
    with pytest.raises(BadLineError, match=reason):
        parse_csv_row(fields, "BTCUSDT")


def test_the_real_sample_reads_whole(tmp_path):
    parsed = read_trades(SAMPLE_CSV)
    assert (parsed.lines, len(parsed.trades), parsed.rejects) == (5000, 5000, [])
    ids = [t.agg_id for t in parsed.trades]
    assert ids == list(range(3800397495, 3800402495))  # contiguous, as the README says


@pytest.mark.parametrize("packing", ["csv", "csv.gz", "zip", "header"])
def test_every_packing_of_a_public_data_file_reads_the_same(tmp_path, packing):
    text = SAMPLE_CSV.read_bytes()
    name = f"BTCUSDT-aggTrades-2026-01-01.{packing if packing != 'header' else 'csv'}"
    path = tmp_path / name
    if packing == "csv":
        path.write_bytes(text)
    elif packing == "header":
        header = b"agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
        path.write_bytes(header + text)
    elif packing == "csv.gz":
        path.write_bytes(gzip.compress(text))
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("BTCUSDT-aggTrades-2026-01-01.csv", text)
    parsed = read_trades(path)
    assert parsed.trades == sample_trades()
    assert parsed.rejects == []


def test_the_symbol_comes_from_the_flag_when_the_name_does_not_say_it(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_bytes(SAMPLE_CSV.read_bytes()[:200])
    with pytest.raises(UnreadableFileError, match=r"cannot tell the symbol.*--symbol"):
        read_trades(path)
    assert {t.symbol for t in read_trades(path, symbol="ethusdt").trades} == {"ETHUSDT"}


def test_binance_file_names_are_understood():
    named = describe_file_name("/x/BTCUSDT-aggTrades-2026-01-01_first5000rows.csv")
    assert (named.symbol, named.kind, str(named.day)) == ("BTCUSDT", "aggTrades", "2026-01-01")
    assert describe_file_name("BTCUSDT-1m-2020-01.zip").day is None
    assert describe_file_name("notes.txt") is None


def test_bad_lines_in_an_ndjson_object_keep_their_numbers_and_spare_the_good(tmp_path):
    good = [event_line(t) for t in sample_trades()[:4]]
    data = b"\n".join([good[0], b"not json", good[1], b"", event(e="trade"), good[2], good[3]]) + b"\n"
    parsed = parse_ndjson(data, source="s3://b/k")
    assert [t.agg_id for t in parsed.trades] == [t.agg_id for t in sample_trades()[:4]]
    assert [(r.line, r.text) for r in parsed.rejects] == [(2, "not json"), (5, event(e="trade").decode())]
    assert parsed.lines == 6  # the blank line is not a line of data
    path = tmp_path / "capture.ndjson"
    path.write_bytes(data)
    assert read_trades(path).rejects == parsed.rejects
