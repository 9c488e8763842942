"""`cryptotrades aggregate` and `verify`: the core on files, checked against Binance's klines."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from decimal import Decimal

import pytest

from binance.klines import Kline
from cryptotrades.cli import main
from minutes.aggregate import MinuteRow, minute_rows, record
from minutes.verify import compare, complete_minutes, published_as
from tests.fixtures.data import DATA, SAMPLE_CSV, event_line, sample_trades

TRADES = sample_trades()
ROWS = minute_rows(TRADES)
NEW_YEAR = date(2026, 1, 1)


def kline_fields(row: MinuteRow) -> list[str]:
    """The kline Binance would publish for a minute: 12 columns, 8 decimal places."""

    def d8(value: Decimal) -> str:
        return f"{value:.8f}"

    return [
        str(row.minute),
        d8(row.open),
        d8(row.high),
        d8(row.low),
        d8(row.close),
        d8(row.btc_buy + row.btc_sell),
        str(row.minute + 59_999),
        d8(row.usd_buy + row.usd_sell),
        str(row.trades_buy + row.trades_sell),
        d8(row.btc_buy),
        d8(row.usd_buy),
        "0",
    ]


def kline(row: MinuteRow, **changes: object) -> Kline:
    values = kline_fields(row)
    base = Kline(
        row.symbol,
        row.minute,
        *(Decimal(values[i]) for i in (1, 2, 3, 4, 5, 7)),
        int(values[8]),
        Decimal(values[9]),
        Decimal(values[10]),
    )
    return Kline(**{**{f: getattr(base, f) for f in Kline.__slots__}, **changes})


def write_klines(path, rows_of_fields: list[list[str]], *, zipped: bool = False) -> None:
    text = "".join(",".join(fields) + "\n" for fields in rows_of_fields)
    if zipped:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(path.with_suffix(".csv").name, text)
    else:
        path.write_text(text)


def test_complete_minutes_of_a_daily_file_include_its_first_minute():
    complete = complete_minutes(TRADES, [NEW_YEAR])["BTCUSDT"]
    # 00:00 starts the day; 00:12 is cut off by the 5,000-row slice.
    assert sorted(complete) == [r.minute for r in ROWS[:12]]


def test_without_the_day_the_first_and_last_minutes_are_not_complete():
    assert sorted(complete_minutes(TRADES)["BTCUSDT"]) == [r.minute for r in ROWS[1:12]]


def test_a_missing_trade_makes_its_minute_incomplete():
    missing = TRADES[1000]
    complete = complete_minutes([t for t in TRADES if t is not missing], [NEW_YEAR])["BTCUSDT"]
    assert missing.minute not in complete
    assert len(complete) == 11


def test_rows_that_match_their_klines_agree():
    verdict = compare(ROWS, [kline(row) for row in ROWS], complete_minutes(TRADES, [NEW_YEAR]))
    assert verdict.agrees
    assert (verdict.compared, verdict.skipped, verdict.differences) == (12, 1, [])


@pytest.mark.parametrize(
    ("column", "field", "unit"),
    [
        ("volume", "volume", Decimal("0.00000001")),
        ("quote_volume", "quote_volume", Decimal("0.00000001")),
        ("taker_buy_quote", "taker_buy_quote", Decimal("-0.00000001")),
        ("high", "high", Decimal("0.01")),
        ("trades", "trades", 1),
    ],
)
def test_one_unit_in_the_last_digit_is_a_difference(column, field, unit):
    klines = [kline(row) for row in ROWS]
    klines[3] = kline(ROWS[3], **{field: getattr(klines[3], field) + unit})
    verdict = compare(ROWS, klines, complete_minutes(TRADES, [NEW_YEAR]))
    assert not verdict.agrees
    assert [(d.minute, d.column) for d in verdict.differences] == [(ROWS[3].minute, column)]


def test_published_figures_may_be_our_exact_value_cut_or_rounded():
    assert published_as(Decimal("1.23456789012"), Decimal("1.23456789"))
    assert published_as(Decimal("1.234567895"), Decimal("1.23456790"))  # rounded half up
    assert not published_as(Decimal("1.23456789012"), Decimal("1.23456788"))
    assert published_as(Decimal("4.08049000"), Decimal("4.08049"))
    assert not published_as(Decimal("4.08049000"), Decimal("4.08049001"))
    assert not published_as(7, 8)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_aggregate_prints_exact_sorted_rows_as_csv(capsys):
    status, out, err = run(capsys, "aggregate", str(SAMPLE_CSV))
    assert status == 0
    printed = list(csv.DictReader(io.StringIO(out)))
    assert printed == [{k: str(v) for k, v in record(row).items()} for row in ROWS]
    assert "5000 lines, 5000 trades, 0 rejected, 13 minute rows" in err


def test_aggregate_rejects_bad_lines_with_their_place_and_exits_3(capsys, tmp_path):
    lines = [event_line(t) for t in TRADES[:100]]
    lines[10] = b'{"e":"aggTrade","s":"BTCUSDT"}'
    lines[20] = lines[20].replace(b'"p":"', b'"p":"x')
    path = tmp_path / "capture.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    status, out, err = run(capsys, "aggregate", "--format", "jsonl", str(path))
    assert status == 3
    assert f"{path}:11: Object missing required field 'E' (event_time)" in err
    assert f"{path}:21: field p (price): 'x87648.21000000' is not plain decimal text" in err
    printed = [json.loads(line) for line in out.splitlines()]
    good = [t for i, t in enumerate(TRADES[:100]) if i not in (10, 20)]
    assert printed == [record(row) for row in minute_rows(good)]


def test_aggregate_of_several_files_dedupes_and_sorts(capsys, tmp_path):
    first, second = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    first.write_bytes(b"\n".join(event_line(t) for t in TRADES[2000:]))
    second.write_bytes(b"\n".join(event_line(t) for t in TRADES[:2500]))  # overlaps the first
    status, out, _ = run(capsys, "aggregate", str(first), str(second))
    assert status == 0
    assert [r["TIME"] for r in csv.DictReader(io.StringIO(out))] == [record(r)["TIME"] for r in ROWS]


def test_an_unreadable_file_is_named(capsys, tmp_path):
    status, _, err = run(capsys, "aggregate", str(tmp_path / "missing.csv"))
    assert status == 2
    assert "missing.csv" in err


def test_verify_agrees_with_klines_that_match(capsys, tmp_path):
    path = tmp_path / "BTCUSDT-1m-2026-01-01.zip"
    write_klines(path, [kline_fields(row) for row in ROWS], zipped=True)
    status, out, _ = run(capsys, "verify", "--klines", str(path), "--", str(SAMPLE_CSV))
    assert status == 0
    assert "12 complete minutes compared, 0 differences, 1 klines outside" in out


def test_verify_reports_each_differing_minute_and_column(capsys, tmp_path):
    rows = [kline_fields(row) for row in ROWS]
    rows[0][7] = "357625.77686201"  # quote volume, one unit in the last digit
    rows[5][8] = str(int(rows[5][8]) + 1)  # trades
    path = tmp_path / "BTCUSDT-1m-2026-01-01.csv"
    write_klines(path, rows)
    status, out, _ = run(capsys, "verify", "--klines", str(path), "--", str(SAMPLE_CSV))
    assert status == 1
    assert (
        "2026-01-01 00:00:00 BTCUSDT quote_volume: ours 357625.7768620000000000, kline 357625.77686201" in out
    )
    assert "2026-01-01 00:05:00 BTCUSDT trades:" in out
    assert "2 differences" in out


def test_verify_with_klines_of_other_minutes_has_nothing_to_compare(capsys):
    status, out, _ = run(
        capsys, "verify", "--klines", str(DATA / "BTCUSDT-1m-2020-01-01.zip"), "--", str(SAMPLE_CSV)
    )
    assert status == 4
    assert "0 complete minutes compared, 0 differences, 1440 klines outside" in out


def test_verify_refuses_hourly_klines_row_by_row(capsys):
    status, _, err = run(
        capsys, "verify", "--klines", str(DATA / "BTCUSDT-1h-2026-05-08.zip"), "--", str(SAMPLE_CSV)
    )
    assert status == 4
    assert "only 1-minute klines can be compared" in err


def test_the_real_2020_kline_file_reads_whole_in_milliseconds():
    from binance.klines import read_klines

    klines, rejects = read_klines(DATA / "BTCUSDT-1m-2020-01-01.zip")
    assert (len(klines), rejects) == (1440, [])
    assert klines[0].open_time == 1577836800000
    assert (klines[0].open, klines[0].trades, klines[0].quote_volume) == (
        Decimal("7195.24"),
        493,
        Decimal("371233.51835535"),
    )
