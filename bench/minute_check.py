"""What the live check against Binance's klines costs the aggregator, beside what it did before.

1. Parsing one object: the real 5,000-trade sample as WebSocket lines (``binance.files.
   parse_lines``), alone (the baseline, what every object cost before) and with the 13 kline
   lines of its minutes mixed in (routed to ``binance.klines``).
2. The check after each event (``minutes.klines.recent_window`` + ``check_summary``), over a
   full day: 1,440 minute rows and 1,440 klines (one minute in 60 differs), on SQLite and on
   MariaDB, beside the query every event already runs (``Store.ledger_totals``, the baseline).

Times are CPU seconds of this process for parsing (the machine is shared) and wall seconds
for the database (its work is in the server); the median of ``--repeat`` runs.

Run: ``.venv/bin/python bench/minute_check.py [--mysql mysql://root@127.0.0.1:3306] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pymysql

from bench.servers import mysql_params
from binance.events import MINUTE_MS
from binance.files import parse_lines
from minutes import klines
from minutes.aggregate import minute_rows
from minutes.store import open_store
from tests.fixtures.data import event_line, kline_event_line, kline_of, sample_trades


def median(run: Callable[[], object], repeat: int, clock: Callable[[], float]) -> float:
    times = []
    for _ in range(repeat):
        start = clock()
        run()
        times.append(clock() - start)
    return statistics.median(times)


def parsing(repeat: int) -> list[tuple[str, float]]:
    trades = sample_trades()
    lines = [event_line(t) for t in trades]
    kline_lines = [kline_event_line(kline_of(row)) for row in minute_rows(trades)]
    mixed = [*lines[:2500], *kline_lines, *lines[2500:]]
    assert len(parse_lines(mixed, "bench").klines) == len(kline_lines)
    return [
        (
            "5,000 trade lines (baseline)",
            median(lambda: parse_lines(lines, "bench"), repeat, time.process_time),
        ),
        ("the same + 13 kline lines", median(lambda: parse_lines(mixed, "bench"), repeat, time.process_time)),
    ]


def a_day(url: str) -> None:
    first = minute_rows(sample_trades())[0]
    rows = [dataclasses.replace(first, minute=first.minute + i * MINUTE_MS) for i in range(1440)]
    with open_store(url) as store:
        store.migrate()
        store.write_rows(rows)
        with store.writing():
            klines.store_klines(
                store,
                [kline_of(row, trades=1) if i % 60 == 7 else kline_of(row) for i, row in enumerate(rows)],
            )


def checking(url: str, repeat: int) -> list[tuple[str, float]]:
    a_day(url)
    with open_store(url) as store:
        window = klines.recent_window(store)
        assert window is not None
        summary = klines.check_summary(store, *window, limit=5)
        assert summary.counts["differs"] == 24 and summary.counts["agrees"] == 1416, summary.counts

        def check() -> None:
            window = klines.recent_window(store)
            klines.check_summary(store, *window, limit=5)  # type: ignore[misc]

        return [
            ("ledger totals (baseline)", median(store.ledger_totals, repeat, time.perf_counter)),
            ("minute check of 24 h", median(check, repeat, time.perf_counter)),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mysql", default="mysql://root@127.0.0.1:3306", help="a server to make a database on"
    )
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    results = [("parse one object", what, s) for what, s in parsing(args.repeat)]
    with tempfile.TemporaryDirectory() as folder:
        results += [("SQLite", what, s) for what, s in checking(f"sqlite:///{folder}/bench.db", args.repeat)]
    name = f"ct_bench_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(**mysql_params(args.mysql), autocommit=True)  # type: ignore[arg-type]
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        results += [("MariaDB", what, s) for what, s in checking(f"{args.mysql}/{name}", args.repeat)]
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
    print(f"{'where':<18} {'what':<32} {'median ms':>10}")
    for where, what, seconds in results:
        print(f"{where:<18} {what:<32} {seconds * 1000:>10.2f}")


if __name__ == "__main__":
    main()
