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

Run: ``.venv/bin/python bench/aggregate.py [--copies N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb

from binance.events import MINUTE_MS
from binance.files import parse_ndjson
from minutes.aggregate import minute_rows
from tests.fixtures.data import event_line, sample_trades


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--copies", type=int, default=40, help="copies of the 5,000-trade sample (default 40)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best counts (default 5)")
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


if __name__ == "__main__":
    main()
