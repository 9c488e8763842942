"""How fast the pure core turns aggTrade lines into minute rows, beside two baselines.

Input: the real 5,000-trade sample of tests/data, as Binance's WebSocket lines, repeated
with agg ids and times shifted so every copy is a distinct stretch of trades (the
repetition is labelled in the table). All three are measured in this run, on one thread:

- ``original``: the original project's algorithm, ``json.loads`` and ``float`` per line
  (re-implemented here; it also counts m=true as BUY, which does not change its speed);
- ``duckdb``: DuckDB ``read_json`` + ``GROUP BY`` with exact DECIMAL sums, ``threads=1``,
  what a user might pick instead;
- ``cryptotrades``: ``binance.files.parse_ndjson`` + ``minute_rows``: validation of every
  line with a reason for each reject, dedup by agg id, exact Decimal sums.

A second table measures the bulk engine (``bulk.engine``) on a day-sized public-data file:
the real sample x 400 (2,000,000 trades) spread over one UTC day, as Binance's spot CSV (plain
and zipped), against the same three baselines on the same file, plus the peak memory of each
(its own process). Times there are CPU seconds of this process (``time.process_time``): the
machine is shared, and wall time measures the neighbours.

Run: ``.venv/bin/python bench/aggregate.py [--copies N] [--repeat R] [--day-copies N]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb

from binance.events import MINUTE_MS
from binance.files import parse_ndjson, read_trades
from bulk.engine import aggregate_files
from minutes.aggregate import minute_rows
from tests.fixtures.data import SAMPLE_CSV, event_line, sample_trades

_DAY_US = 86_400_000_000


def build_lines(copies: int) -> list[bytes]:
    """The real sample ``copies`` times; copy k has ids + k*5000 and times + k*13 minutes."""
    trades = sample_trades()
    span = 13 * MINUTE_MS
    out = []
    for k in range(copies):
        for t in trades:
            shifted = t.__class__(
                t.symbol,
                t.agg_id + k * len(trades),
                t.price,
                t.qty,
                t.first_trade_id + k * 100_000,
                t.last_trade_id + k * 100_000,
                t.trade_time + k * span,
                t.is_buyer_maker,
            )
            out.append(event_line(shifted))
    return out


def original(data: bytes) -> dict[int, list[float]]:
    """The seed's way: one json.loads and float() per line, sums in floats."""
    minutes: dict[int, list[float]] = {}
    for line in data.splitlines():
        if not line:
            continue
        event = json.loads(line)
        minute = event["T"] // 60000
        row = minutes.setdefault(minute, [0, 0, 0.0, 0.0, 0.0, 0.0])
        price, qty = float(event["p"]), float(event["q"])
        side = 0 if event["m"] else 1
        row[side] += 1
        row[2 + side] += qty
        row[4 + side] += price * qty
    return minutes


def ours(data: bytes) -> list:
    return minute_rows(parse_ndjson(data).trades)


def duck(path: Path) -> Callable[[], list]:
    connection = duckdb.connect()
    connection.execute("SET threads = 1")
    query = """
        SELECT s, T // 60000 AS minute,
               count(*) FILTER (WHERE NOT m) AS count_buy, count(*) FILTER (WHERE m) AS count_sell,
               sum(q) FILTER (WHERE NOT m) AS btc_buy, sum(q) FILTER (WHERE m) AS btc_sell,
               sum(p::DECIMAL(38,8) * q) FILTER (WHERE NOT m) AS usd_buy,
               sum(p::DECIMAL(38,8) * q) FILTER (WHERE m) AS usd_sell,
               sum(l - f + 1) AS trades, min(p), max(p)
        FROM read_json(?, format = 'newline_delimited',
                       columns = {s: 'VARCHAR', a: 'BIGINT', p: 'DECIMAL(18,8)', q: 'DECIMAL(18,8)',
                                   f: 'BIGINT', l: 'BIGINT', T: 'BIGINT', m: 'BOOLEAN'})
        GROUP BY ALL ORDER BY 1, 2
    """
    return lambda: connection.execute(query, [str(path)]).fetchall()


def best_of(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def build_day_csv(folder: Path, copies: int) -> tuple[Path, Path]:
    """The real sample ``copies`` times over one UTC day, as Binance's spot CSV and its zip."""
    rows = list(csv.reader(SAMPLE_CSV.open()))
    step = _DAY_US // copies  # copy k starts k/copies of a day after midnight
    name = "BTCUSDT-aggTrades-2026-01-01"
    plain = folder / f"{name}.csv"
    with plain.open("w") as out:
        for k in range(copies):
            for a, p, q, first, last, t, m, b in rows:
                out.write(
                    f"{int(a) + k * 5000},{p},{q},{int(first) + k * 16028},{int(last) + k * 16028},"
                    f"{int(t) + k * step},{m},{b}\n"
                )
    zipped = folder / f"{name}.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(plain, plain.name)
    return plain, zipped


def original_csv(path: Path) -> dict[int, list[float]]:
    """The seed's algorithm on a CSV file: split and float() per line, float sums."""
    minutes: dict[int, list[float]] = {}
    with path.open() as stream:
        for line in stream:
            fields = line.split(",")
            minute = int(fields[5]) // 60_000_000
            row = minutes.setdefault(minute, [0, 0, 0.0, 0.0, 0.0, 0.0])
            price, qty = float(fields[1]), float(fields[2])
            side = 0 if fields[6] == "True" else 1
            row[side] += 1
            row[2 + side] += qty
            row[4 + side] += price * qty
    return minutes


def duck_csv(path: Path) -> Callable[[], list]:
    connection = duckdb.connect()
    connection.execute("SET threads = 1")
    query = """
        SELECT T // 60000000 AS minute,
               count(*) FILTER (WHERE NOT m) AS count_buy, count(*) FILTER (WHERE m) AS count_sell,
               sum(q) FILTER (WHERE NOT m) AS btc_buy, sum(q) FILTER (WHERE m) AS btc_sell,
               sum(p::DECIMAL(38,8) * q) FILTER (WHERE NOT m) AS usd_buy,
               sum(p::DECIMAL(38,8) * q) FILTER (WHERE m) AS usd_sell,
               sum(l - f + 1) AS trades, min(p), max(p)
        FROM read_csv(?, header = false,
                      columns = {a: 'BIGINT', p: 'DECIMAL(18,8)', q: 'DECIMAL(18,8)', f: 'BIGINT',
                                 l: 'BIGINT', T: 'BIGINT', m: 'BOOLEAN', b: 'BOOLEAN'})
        GROUP BY ALL ORDER BY 1
    """
    return lambda: connection.execute(query, [str(path)]).fetchall()


def cpu_best_of(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = run()
        best = min(best, time.process_time() - start)
    return best, result


# VmHWM (peak resident set) of the child itself: ru_maxrss would carry the parent's over exec.
_PEAK = """
import sys
sys.path.insert(0, {root!r})
{setup}
print([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
"""


def peak_mib(setup: str) -> float:
    """Peak resident memory of a fresh process that runs ``setup`` (MiB)."""
    code = _PEAK.format(root=str(Path(__file__).resolve().parent.parent), setup=setup)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def day_table(copies: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        plain, zipped = build_day_csv(Path(folder), copies)
        n = copies * 5000
        aggregate_files([SAMPLE_CSV])  # imports pyarrow and duckdb before the clock starts
        events = Path(folder) / "day.ndjson"
        with events.open("wb") as out:
            for trade in read_trades(plain).trades:
                out.write(event_line(trade) + b"\n")
        t_seed, _ = cpu_best_of(repeat, lambda: original(events.read_bytes()))
        t_original, seeded = cpu_best_of(repeat, lambda: original_csv(plain))
        t_duck, ducked = cpu_best_of(repeat, duck_csv(plain))
        t_bulk, bulk = cpu_best_of(repeat, lambda: aggregate_files([plain]))
        t_zip, bulk_zip = cpu_best_of(repeat, lambda: aggregate_files([zipped]))
        t_ref, reference = cpu_best_of(1, lambda: minute_rows(read_trades(plain).trades))
        assert bulk.rows == reference == bulk_zip.rows, "the bulk engine and the pure core disagree"
        assert bulk.reference_lines == 0 and not bulk.rejects
        assert [(r.count_buy, r.count_sell, r.btc_buy, r.usd_buy, r.usd_sell) for r in bulk.rows] == [
            (d[1], d[2], d[3] or Decimal(0), d[5] or Decimal(0), d[6] or Decimal(0)) for d in ducked
        ], "DuckDB and the bulk engine disagree"
        memory = {
            "original": peak_mib(f"from bench.aggregate import original_csv\nfrom pathlib import Path\n"
                                 f"original_csv(Path({str(plain)!r}))"),
            "duckdb": peak_mib(f"from bench.aggregate import duck_csv\nfrom pathlib import Path\n"
                               f"duck_csv(Path({str(plain)!r}))()"),
            "bulk": peak_mib(f"from bulk.engine import aggregate_files\naggregate_files([{str(plain)!r}])"),
            "zip": peak_mib(f"from bulk.engine import aggregate_files\naggregate_files([{str(zipped)!r}])"),
            "reference": peak_mib(f"from binance.files import read_trades\nfrom minutes.aggregate import "
                                  f"minute_rows\nminute_rows(read_trades({str(plain)!r}).trades)"),
        }  # fmt: skip
        print()
        print(
            f"A day-sized public-data file: the real sample x {copies} over one UTC day ({n:,} trades, "
            f"{len(bulk.rows):,} minutes; scaled up, not a real day), CPU seconds, best of {repeat}"
        )
        print()
        print(
            "| implementation | trades/s (CPU) | vs original (json) | vs original (csv) | vs duckdb "
            "| peak memory | sums |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        memory["seed"] = peak_mib(
            f"from bench.aggregate import original\noriginal(open({str(events)!r}, 'rb').read())"
        )
        table = [
            (
                "original (json.loads + float), the same trades as WebSocket lines",
                t_seed,
                memory["seed"],
                "float",
            ),
            ("original's algorithm on the CSV (split + float)", t_original, memory["original"], "float"),
            ("duckdb read_csv + GROUP BY, 1 thread, plain CSV", t_duck, memory["duckdb"], "exact DECIMAL"),
            (
                "pure core: read_trades + minute_rows, plain CSV",
                t_ref,
                memory["reference"],
                "exact, validated",
            ),
            ("bulk engine, plain CSV", t_bulk, memory["bulk"], "exact, validated, repeats removed"),
            ("bulk engine, the zip (streamed)", t_zip, memory["zip"], "exact, validated, repeats removed"),
        ]
        for name, seconds, mib, note in table:
            ratios = f"{t_seed / seconds:.2f}x | {t_original / seconds:.2f}x | {t_duck / seconds:.2f}x"
            print(f"| {name} | {n / seconds:,.0f} | {ratios} | {mib:,.0f} MiB | {note} |")
        _ = seeded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--copies", type=int, default=40, help="copies of the 5,000-trade sample (default 40)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best counts (default 5)")
    parser.add_argument(
        "--day-copies", type=int, default=400, help="copies of the sample in the day-sized file (default 400)"
    )
    args = parser.parse_args()

    lines = build_lines(args.copies)
    data = b"\n".join(lines) + b"\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trades.ndjson"
        path.write_bytes(data)
        t_original, seeded = best_of(args.repeat, lambda: original(data))
        t_duck, ducked = best_of(args.repeat, duck(path))
        t_ours, rows = best_of(args.repeat, lambda: ours(data))

    # Exactness: DuckDB's exact sums and ours must agree to the last digit; the float
    # baseline's error is reported.
    assert [(r.count_buy, r.count_sell, r.btc_buy, r.usd_buy, r.usd_sell) for r in rows] == [
        (d[2], d[3], d[4] or Decimal(0), d[6] or Decimal(0), d[7] or Decimal(0)) for d in ducked
    ], "DuckDB and cryptotrades disagree"
    float_error = max(
        abs(Decimal(seeded[r.minute // 60000][5]) - r.usd_buy) for r in rows
    )  # the seed's index 5 is m=false: our BUY

    n = len(lines)
    table = [
        (
            "original (json.loads + float)",
            t_original,
            f"float sums (max USD error per minute: {float_error:.2e})",
        ),
        ("duckdb read_json + GROUP BY, 1 thread", t_duck, "exact DECIMAL"),
        ("cryptotrades parse_ndjson + minute_rows", t_ours, "exact Decimal, every line validated"),
    ]
    print(
        f"bench/aggregate.py: {n:,} lines (the real 5,000-trade sample x {args.copies}, "
        "ids and times shifted), "
        f"best of {args.repeat}; Python {platform.python_version()}, {platform.machine()}"
    )
    print()
    print("| implementation | lines/s | vs original | vs duckdb | sums |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, seconds, note in table:
        ratios = f"{t_original / seconds:.2f}x | {t_duck / seconds:.2f}x"
        print(f"| {name} | {n / seconds:,.0f} | {ratios} | {note} |")
    if args.day_copies:
        day_table(args.day_copies, min(args.repeat, 3))


if __name__ == "__main__":
    main()
