"""Dropping a day of raw trades in MariaDB/MySQL: batched deletes (what `Store.prune` does)
against daily partitions (``ALTER TABLE ... DROP PARTITION``), and what each costs a
writer inserting new trades at the same time.

Two databases get the same rows: ``--days`` days of trades, ``--per-day`` a day (the real
sample's prices and sizes, ids and times spread evenly), the first day to be dropped:

- ``batched deletes`` (the baseline): the schema of ``sql/mysql`` and `Store.prune` with
  its batches of 5,000 rows, each its own transaction;
- ``drop partition``: ``agg_trades`` partitioned by day on ``trade_time``. Partitioning
  needs ``trade_time`` in the primary key, so ``(symbol, agg_id)`` would no longer be
  unique by itself: the dedup the aggregator rests on would be lost.

Meanwhile a writer thread inserts one 200-trade batch of new trades every 50 ms (a busy
Lambda) and records how long each insert took; its longest wait is in the table.

Run: ``.venv/bin/python bench/retention.py [--per-day 1000000] [--days 2]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pymysql

from bench.servers import mysql_params
from binance.events import MINUTE_MS
from minutes.store import MySqlStore, open_store
from tests.fixtures.data import sample_trades

DAY_MS = 86_400_000
COLUMNS = "symbol, agg_id, price, qty, first_trade_id, last_trade_id, trade_time, is_buyer_maker"
TABLES = ("agg_trades", "agg_trades_by_day")


def insert(table: str) -> str:
    """The insert statement of one of our two tables (a constant name, never input)."""
    assert table in TABLES
    return f"INSERT INTO {table} ({COLUMNS}) VALUES ({', '.join(['%s'] * 8)})"  # noqa: S608


PARTITIONED = """
CREATE TABLE agg_trades_by_day (
    symbol VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    agg_id BIGINT NOT NULL, price DECIMAL(20, 8) NOT NULL, qty DECIMAL(20, 8) NOT NULL,
    first_trade_id BIGINT NOT NULL, last_trade_id BIGINT NOT NULL, trade_time BIGINT NOT NULL,
    is_buyer_maker BOOLEAN NOT NULL,
    PRIMARY KEY (symbol, agg_id, trade_time),
    KEY agg_trades_by_time (symbol, trade_time)
) ENGINE = InnoDB PARTITION BY RANGE (trade_time) ({partitions})
"""


def rows(per_day: int, days: int, start_ms: int):
    sample = sample_trades()
    step = DAY_MS / per_day
    for i in range(per_day * days):
        t = sample[i % len(sample)]
        yield (
            "BTCUSDT",
            i,
            str(t.price),
            str(t.qty),
            2 * i,
            2 * i + (t.last_trade_id - t.first_trade_id),
            start_ms + int(i * step),
            int(t.is_buyer_maker),
        )


def fill(connection: pymysql.Connection, table: str, per_day: int, days: int, start_ms: int) -> None:
    batch = []
    with connection.cursor() as cursor:
        for row in rows(per_day, days, start_ms):
            batch.append(row)
            if len(batch) == 10_000:
                cursor.executemany(insert(table), batch)
                connection.commit()
                batch = []
        if batch:
            cursor.executemany(insert(table), batch)
            connection.commit()


class Writer(threading.Thread):
    """Inserts 200 new trades every 50 ms into ``table``, timing each insert."""

    def __init__(self, params: dict, database: str, table: str, first_id: int, time_ms: int) -> None:
        super().__init__(daemon=True)
        self.connection = pymysql.connect(database=database, autocommit=False, **params)
        self.table, self.next_id, self.time_ms = table, first_id, time_ms
        self.waits: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with self.connection.cursor() as cursor:
            while not self.stop.is_set():
                batch = [
                    ("BTCUSDT", self.next_id + i, "87648.21", "0.001", 0, 0, self.time_ms + i, 0)
                    for i in range(200)
                ]
                self.next_id += 200
                started = time.perf_counter()
                cursor.executemany(insert(self.table), batch)
                self.connection.commit()
                self.waits.append(time.perf_counter() - started)
                self.stop.wait(0.05)
        self.connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=1_000_000, help="trades a day [1,000,000]")
    parser.add_argument("--days", type=int, default=2, help="days of trades; the first is dropped [2]")
    parser.add_argument("--mysql", default="mysql://root@127.0.0.1:3306", help="a server (no database)")
    args = parser.parse_args()
    params = mysql_params(args.mysql)
    start = 1_767_225_600_000  # 2026-01-01
    name = f"ct_bench_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(**params)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    try:
        url = f"{args.mysql}/{name}"
        with open_store(url) as store:
            store.migrate()
        connection = pymysql.connect(database=name, **params)
        partitions = ", ".join(
            f"PARTITION d{d} VALUES LESS THAN ({start + (d + 1) * DAY_MS})" for d in range(args.days + 1)
        )
        with connection.cursor() as cursor:
            cursor.execute(PARTITIONED.format(partitions=partitions))
        filled = time.perf_counter()
        fill(connection, "agg_trades", args.per_day, args.days, start)
        fill(connection, "agg_trades_by_day", args.per_day, args.days, start)
        fill_seconds = time.perf_counter() - filled
        new_time = start + args.days * DAY_MS - MINUTE_MS
        total = args.per_day * args.days

        # Batched deletes through the store (it marks the day final first, as the Lambda's pass does).
        with open_store(url) as store:
            assert isinstance(store, MySqlStore)
            store.execute(
                "INSERT INTO trade_minutes (symbol, TIME, TOTAL_COUNT_BUY, TOTAL_COUNT_SELL, TOTAL_BTC_BUY,"
                " TOTAL_BTC_SELL, TOTAL_USD_BUY, TOTAL_USD_SELL, TRADES_BUY, TRADES_SELL, PRICE_OPEN,"
                " PRICE_HIGH, PRICE_LOW, PRICE_CLOSE, FIRST_AGG_ID, LAST_AGG_ID) VALUES"
                " ('BTCUSDT', ?, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 0, 0)",
                ("2026-01-02 23:59:00",),
            )
            store.connection.commit()
            writer = Writer(params, name, "agg_trades", 10 * total, new_time)
            writer.start()
            time.sleep(1)
            timed = time.perf_counter()
            pruned = store.prune(
                now_ms=start + (args.days + 1) * DAY_MS,
                retention_ms=(args.days - 1) * DAY_MS,
                max_rows=10 * total,
            )
            deletes = time.perf_counter() - timed
            time.sleep(1)
            writer.stop.set()
            writer.join()
            deleted = pruned.deleted
            delete_waits = writer.waits

        # Dropping the first day's partition.
        writer = Writer(params, name, "agg_trades_by_day", 10 * total, new_time)
        writer.start()
        time.sleep(1)
        timed = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE agg_trades_by_day DROP PARTITION d0")
        drop = time.perf_counter() - timed
        time.sleep(1)
        writer.stop.set()
        writer.join()
        drop_waits = writer.waits
        connection.close()
        with admin.cursor() as cursor:
            cursor.execute("SELECT @@version")
            (version,) = cursor.fetchone()
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()

    print(
        f"bench/retention.py: {total:,} trades over {args.days} days ({args.per_day:,} a day), the first "
        f"day dropped; {version}; Python {platform.python_version()}; filling both tables took "
        f"{fill_seconds:.0f} s"
    )
    print()
    print(
        "| method | rows dropped | seconds | rows/s | vs batched deletes | writer's longest insert | median |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for method, count, seconds, waits in (
        ("batched deletes (Store.prune, 5,000 a batch)", deleted, deletes, delete_waits),
        ("drop partition", args.per_day, drop, drop_waits),
    ):
        print(
            f"| {method} | {count:,} | {seconds:,.2f} | {count / seconds:,.0f} | "
            f"{deletes / seconds:,.1f}x faster | {max(waits) * 1000:,.0f} ms | "
            f"{statistics.median(waits) * 1000:,.1f} ms |"
        )


if __name__ == "__main__":
    main()
