"""What the database costs on disk: bytes per raw trade and per minute row in MariaDB/MySQL
InnoDB, per day, and at steady state under the default retention window.

Input: the real 5,000-trade sample (tests/data) repeated ``--copies`` times with ids and
times shifted (``tests/fixtures/data.py::sample_copies``), ingested as the Lambda does, in
objects of 2,000 trades (and their minute rows repeated into later minutes up to 100,000
rows, a fifth of a symbol's year), into two fresh databases in the same run:

- ``current``: the schema of ``sql/mysql`` (ASCII binary symbols, BIGINT counts, ledger
  outcomes);
- ``baseline``: the original schema, migrations 001-004 only.

Sizes are InnoDB's ``DATA_LENGTH + INDEX_LENGTH`` after ``ANALYZE TABLE`` (allocated pages,
so they include the pages' free space, as the disk does).

Run: ``.venv/bin/python bench/storage.py [--copies 200] [--mysql mysql://root@127.0.0.1:3306]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pymysql

from bench.servers import mysql_params
from binance.events import MINUTE_MS
from lambda_aggregator.settings import DEFAULT_RETENTION_DAYS
from minutes import migrations
from minutes.aggregate import minute_rows
from minutes.store import ObjectRef, open_store
from tests.fixtures.data import sample_copies

OBJECT_TRADES = 2_000
MINUTE_ROWS = 100_000
MIB = 1024 * 1024


def measure(server: str, trades: list, schema_dir: Path | None) -> dict[str, tuple[int, int, int]]:
    """Ingest the trades into a fresh database; answer {table: (rows, data bytes, index bytes)}."""
    name = f"ct_bench_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(**mysql_params(server))
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        previous = os.environ.get(migrations.SQL_DIR_ENV)
        if schema_dir is not None:
            os.environ[migrations.SQL_DIR_ENV] = str(schema_dir)
        try:
            with open_store(f"{server}/{name}") as store:
                store.migrate()
                for start in range(0, len(trades), OBJECT_TRADES):
                    part = trades[start : start + OBJECT_TRADES]
                    ref = ObjectRef(
                        "bench", f"trades/date=2026-01-01/hour=00/minute=00/{start}.ndjson.gz", "e"
                    )
                    if schema_dir is None:
                        store.ingest(ref, part, lines=len(part), rejected=0)
                    else:  # the original schema, written as the original store wrote it
                        original_ingest(store, ref, part)
                # A year of one symbol's minute rows is 525,600: the trades' rows repeated
                # into later minutes until there are MINUTE_ROWS of them, in time order.
                rows = minute_rows(trades)
                span = rows[-1].minute - rows[0].minute + MINUTE_MS
                for k in range(1, MINUTE_ROWS // len(rows) + 1):
                    store.write_rows([dataclasses.replace(r, minute=r.minute + k * span) for r in rows])
        finally:
            if previous is None:
                os.environ.pop(migrations.SQL_DIR_ENV, None)
            else:
                os.environ[migrations.SQL_DIR_ENV] = previous
        sizes = {}
        with admin.cursor() as cursor:
            for table in ("agg_trades", "trade_minutes", "processed_objects"):
                cursor.execute(f"ANALYZE TABLE `{name}`.`{table}`")
                cursor.fetchall()
                cursor.execute(
                    "SELECT DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES"
                    " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    (name, table),
                )
                data, index = cursor.fetchone()
                cursor.execute(f"SELECT COUNT(*) FROM `{name}`.`{table}`")  # noqa: S608 - our names
                (rows,) = cursor.fetchone()
                sizes[table] = (rows, data, index)
        return sizes
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def original_ingest(store, ref: ObjectRef, trades: list) -> None:
    store.execute(
        "INSERT INTO processed_objects (object_id, bucket, object_key, etag, line_count, accepted, rejected,"
        " duplicates, minutes, quarantine_key, processed_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 1, NULL, ?)",
        (ref.object_id, ref.bucket, ref.key, ref.etag, len(trades), len(trades), "2026-01-01 00:00:00.000"),
    )
    store._insert_trades(trades)
    store._commit()
    store.write_rows(minute_rows(trades))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=200, help="copies of the 5,000-trade sample [200]")
    parser.add_argument("--mysql", default="mysql://root@127.0.0.1:3306", help="a server (no database)")
    args = parser.parse_args()

    trades = sample_copies(args.copies)
    old = Path(tempfile.mkdtemp()) / "sql"
    (old / "mysql").mkdir(parents=True)
    for path in sorted((migrations.sql_dir() / "mysql").glob("00[1-4]_*.sql")):
        shutil.copy(path, old / "mysql" / path.name)
    started = time.perf_counter()
    current = measure(args.mysql, trades, None)
    baseline = measure(args.mysql, trades, old)
    seconds = time.perf_counter() - started
    shutil.rmtree(old.parent)

    with pymysql.connect(**mysql_params(args.mysql)) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT @@version")
        (version,) = cursor.fetchone()
    print(
        f"bench/storage.py: {len(trades):,} trades (the real 5,000-trade sample x {args.copies}, ids and "
        f"times shifted), objects of {OBJECT_TRADES:,}; {version}; Python {platform.python_version()}; "
        f"{seconds:.0f} s"
    )
    print()
    print("| table | rows | data + index | bytes a row | vs original schema |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for table in ("agg_trades", "trade_minutes", "processed_objects"):
        rows, data, index = current[table]
        base_rows, base_data, base_index = baseline[table]
        per_row = (data + index) / rows
        base_per_row = (base_data + base_index) / base_rows
        print(
            f"| {table} | {rows:,} | {(data + index) / MIB:,.1f} MiB | {per_row:,.0f} | "
            f"{per_row / base_per_row:.2f}x |"
        )
    rows, data, index = current["agg_trades"]
    per_trade = (data + index) / rows
    per_million = per_trade * 1_000_000
    print()
    print(f"raw trades: {per_million / MIB:,.0f} MiB per million trades ({per_trade:,.0f} bytes each)")
    print(f"| trades a day | raw trades a day | steady state at {DEFAULT_RETENTION_DAYS} days |")
    print("| ---: | ---: | ---: |")
    for per_day in (1_000_000, 2_000_000, 3_000_000):
        day = per_trade * per_day
        print(f"| {per_day:,} | {day / MIB:,.0f} MiB | {day * DEFAULT_RETENTION_DAYS / 1024**3:,.1f} GiB |")
    minutes, minute_data, minute_index = current["trade_minutes"]
    per_minute = (minute_data + minute_index) / minutes
    print(
        f"minute rows (kept forever): {per_minute:,.0f} bytes each, "
        f"{per_minute * 525_600 / MIB:,.0f} MiB a year per symbol"
    )


if __name__ == "__main__":
    main()
