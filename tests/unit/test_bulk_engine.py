"""The bulk engine against the reference: same rows, same rejected lines, same reasons.

The reference is ``binance.files.read_trades`` (the one trade contract) + ``minutes.aggregate.
minute_rows`` (the pure core). Inputs: every real aggTrades file we hold, and hypothesis-made files
of real trades with duplicates, disorder and every kind of damage, cut into tiny blocks so that
block edges fall everywhere.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance.errors import UnreadableFileError
from binance.files import read_trades
from bulk import engine as bulk
from bulk.engine import aggregate_files
from cryptotrades.cli import main
from minutes.aggregate import minute_rows
from tests.fixtures.data import DATA, SAMPLE_CSV, event_line, sample_csv_rows, sample_trades

SHARED = Path("/work/shared/data/binance")
REAL_FILES = sorted(
    {path.resolve() for folder in (DATA, SHARED) if folder.is_dir() for path in folder.glob("*aggTrades*")}
)


def reference(paths: list[Path], symbol: str | None = None):
    parsed = [read_trades(path, symbol) for path in paths]
    rows = minute_rows(trade for source in parsed for trade in source.trades)
    rejects = [(source.source, r.line, r.reason, r.text) for source in parsed for r in source.rejects]
    return rows, rejects, sum(source.lines for source in parsed)


def assert_same(paths: list[Path], symbol: str | None = None) -> bulk.BulkResult | None:
    try:
        rows, rejects, lines = reference(paths, symbol)
    except UnreadableFileError as exc:  # the file as a whole: the same refusal, the same words
        with pytest.raises(UnreadableFileError) as ours:
            aggregate_files(paths, symbol)
        assert str(ours.value) == str(exc)
        return None
    result = aggregate_files(paths, symbol)
    assert result.rows == rows
    assert [
        (r.source, r.rejected.line, r.rejected.reason, r.rejected.text) for r in result.rejects
    ] == rejects
    assert result.lines == lines
    return result


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_every_real_file_gives_the_reference_rows_on_the_fast_path(path):
    result = assert_same([path])
    assert result.mode == "ordered"
    assert result.reference_lines == 0  # Binance's own spelling: not one line needed the reference


def test_the_real_sample_zipped_gzipped_and_split_in_two_members_gives_the_same_rows(tmp_path):
    data = SAMPLE_CSV.read_bytes()
    zipped = tmp_path / "BTCUSDT-aggTrades-2026-01-01.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BTCUSDT-aggTrades-2026-01-01.csv", data)
    gzipped = tmp_path / "BTCUSDT-aggTrades-2026-01-01.csv.gz"
    gzipped.write_bytes(gzip.compress(data))
    halves = tmp_path / "BTCUSDT-aggTrades-2026-01-02.zip"
    cut = data.index(b"\n", len(data) // 2) - 5  # the first member ends mid-line, without a newline
    with zipfile.ZipFile(halves, "w") as archive:
        archive.writestr("a.csv", data[:cut])
        archive.writestr("b.csv", data[cut:])
    for path in (zipped, gzipped, halves):
        assert_same([path])


def test_a_file_read_twice_counts_each_trade_once_in_general_mode():
    result = assert_same([SAMPLE_CSV, SAMPLE_CSV])
    assert result.mode == "general"


def test_captured_streams_and_csv_files_together_give_the_reference_rows(tmp_path):
    stream = tmp_path / "capture.ndjson"
    stream.write_bytes(b"\n".join(event_line(t) for t in sample_trades()[2000:3000]) + b"\nnot json\n")
    assert_same([SAMPLE_CSV, stream])


# -- hypothesis: damaged, repeated and shuffled real trades -------------------------------

ROWS = sample_csv_rows()

DAMAGE = [
    lambda f: f,  # untouched
    lambda f: [f[0], " " + f[1], *f[2:]],
    lambda f: [f[0], f[1] + "1", *f[2:]],  # a ninth decimal place
    lambda f: [f[0], f[1].rstrip("0"), *f[2:]],  # fewer places: valid, not Binance's spelling
    lambda f: ["0" + f[0], *f[1:]],  # leading zero
    lambda f: ["+" + f[0], *f[1:]],
    lambda f: ["-" + f[0], *f[1:]],
    lambda f: [f[0], "0.00000000", *f[2:]],
    lambda f: [f[0], f[1], "1e-3", *f[3:]],
    lambda f: [f[0], f[1], f[2], f[4], f[3], *f[5:]],  # first > last when they differ
    lambda f: [*f[:5], f[5][:-3], *f[6:]],  # milliseconds instead of microseconds
    lambda f: [*f[:5], "0", *f[6:]],
    lambda f: [*f[:5], str(int(f[5]) * 1000), *f[6:]],  # the year 57,000
    lambda f: [*f[:6], "TRUE", f[7]],
    lambda f: [*f[:6], "maybe", f[7]],
    lambda f: [*f[:6], f[6], "x"],  # the ignored 8th column
    lambda f: f[:7],  # the futures layout
    lambda f: f[:6],  # a column short
    lambda f: [*f, "extra"],
    lambda f: [f[0], f[1].replace(".", "_"), *f[2:]],
    lambda f: ["0x10", *f[1:]],
    lambda f: [f[0], '"' + f[1] + '"', *f[2:]],
    lambda f: [f[0] + "é", *f[1:]],
    lambda f: [str(2**63), *f[1:]],
    lambda f: [f[0], f[1], f[2], f[3], str(int(f[3]) + 50_000), *f[5:]],  # a huge aggregate
    lambda f: [f[0], "999999999999.99999999", "999999999999.99999999", *f[3:]],  # exotic but valid
]
SEPARATORS = [b"\n", b"\n", b"\n", b"\r\n", b"\n\n", b"\n \n"]


@st.composite
def damaged_files(draw):
    picks = draw(st.lists(st.integers(0, len(ROWS) - 1), min_size=1, max_size=60))
    if draw(st.booleans()):
        picks.sort()
    lines = []
    for index in picks:
        damage = draw(st.sampled_from(DAMAGE)) if draw(st.integers(0, 4)) == 0 else DAMAGE[0]
        lines.append(",".join(damage(list(ROWS[index]))).encode())
    parts = []
    for line in lines:
        parts.append(line + draw(st.sampled_from(SEPARATORS)))
    data = b"".join(parts)
    if draw(st.booleans()):
        data = data.rstrip(b"\n")  # no newline at the end
    header = draw(
        st.sampled_from([b"", b"", b"agg_trade_id,price,quantity\n", b"\xef\xbb\xbfagg_trade_id\n"])
    )
    return header + data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=damaged_files(),
    block=st.sampled_from([64, 200, 4096, 1 << 20]),
    rows=st.sampled_from([3, 7, 1 << 20]),
)
def test_damaged_repeated_and_shuffled_files_give_the_reference_rows_and_rejects(
    tmp_path, monkeypatch, data, block, rows
):
    monkeypatch.setattr(bulk, "BLOCK_BYTES", block)
    monkeypatch.setattr(bulk, "MAX_BLOCK_ROWS", rows)
    path = tmp_path / "BTCUSDT-aggTrades-2026-01-01.csv"
    path.write_bytes(data)
    assert_same([path])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=damaged_files(), second=damaged_files())
def test_two_damaged_files_together_give_the_reference_rows(tmp_path, monkeypatch, first, second):
    monkeypatch.setattr(bulk, "BLOCK_BYTES", 256)
    a, b = tmp_path / "BTCUSDT-aggTrades-2026-01-01.csv", tmp_path / "BTCUSDT-aggTrades-2026-01-02.csv.gz"
    a.write_bytes(first)
    b.write_bytes(gzip.compress(second))
    assert_same([a, b])


@pytest.mark.parametrize(
    "name", ["BTCUSD_PERP-aggTrades-2026-01-01.zip", "ETHUSD_250328-aggTrades-2026-01.csv"]
)
def test_coin_margined_futures_files_are_refused_by_name_with_the_reason(tmp_path, name):
    path = tmp_path / name
    body = b"agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    body += b"1,87648.2,5,1,1,1767225600039,true\n"  # 5 contracts of 100 USD, not 5 BTC
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(name.replace(".zip", ".csv"), body)
    else:
        path.write_bytes(body)
    for read in (read_trades, lambda p: aggregate_files([p])):
        with pytest.raises(UnreadableFileError, match=r"COIN-M .* contracts"):
            read(path)


def test_the_cli_refuses_a_coin_margined_file_and_names_it(tmp_path, capsys):
    path = tmp_path / "BTCUSD_PERP-aggTrades-2026-01-01.csv"
    path.write_bytes(b"1,87648.2,5,1,1,1767225600039,true\n")
    assert main(["aggregate", str(path)]) == 2
    assert "BTCUSD_PERP is a COIN-M (inverse) futures market" in capsys.readouterr().err


EVENTS = [event_line(t) for t in sample_trades()[:400]]
EVENT_DAMAGE = [
    lambda e: e,
    lambda e: e + b"," + e,  # two events on one line
    lambda e: b'{"stream":"btcusdt@aggTrade","data":' + e + b"}",
    lambda e: e.replace(b'"a":', b'"a":"').replace(b',"p"', b'","p"'),  # the id as a string
    lambda e: e.replace(b',"m":', b',"a":1,"m":'),  # a repeated key
    lambda e: e[:-1],  # cut short
    lambda e: b"",
    lambda e: b"[]",
    lambda e: e + b" ",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    picks=st.lists(st.tuples(st.integers(0, len(EVENTS) - 1), st.integers(0, 8)), min_size=1, max_size=40),
    block=st.sampled_from([100, 4096, 1 << 20]),
)
def test_damaged_captured_streams_give_the_reference_rows_and_rejects(tmp_path, monkeypatch, picks, block):
    monkeypatch.setattr(bulk, "BLOCK_BYTES", block)
    lines = [
        EVENT_DAMAGE[damage if damage < 3 or index % 3 == 0 else 0](EVENTS[index]) for index, damage in picks
    ]
    path = tmp_path / "capture.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert_same([path])
