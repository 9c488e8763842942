"""How long ``cryptotrades backfill`` takes per day here, and what a year costs on disk and in the database.

Input: ``--days`` day-sized public-data zips (the real 5,000-trade sample x ``--copies`` spread over
each UTC day, ids and times shifted: scaled up, not real days) in a local folder of Binance's
layout with true ``.CHECKSUM`` files. Measured in the same run, CPU and wall seconds:

- ``aggregate`` (baseline): the bulk engine on each zip, no database;
- ``backfill`` into SQLite and into MariaDB (127.0.0.1:3306, a database of its own, dropped after):
  checksum, bulk engine, one transaction per file, ledger.

Then the database's bytes per minute row (MariaDB: data + index of ``trade_minutes`` and
``history_minutes``; SQLite: the file) and the download per day, scaled to a year.

Run: ``.venv/bin/python bench/history.py [--days N] [--copies N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pymysql

from bench.aggregate import build_day_csv
from binance.public_data import daily
from bulk.engine import aggregate_files
from cryptotrades.history_commands import BackfillSettings, backfill
from minutes.store import open_store

FIRST = date(2026, 1, 1)


def publish_days(root: Path, days: int, copies: int) -> list[Path]:
    """Day-sized zips for FIRST, FIRST + 1, ... (each day's ids and times moved on)."""
    work = root.parent / "work"
    work.mkdir(parents=True)
    plain, _ = build_day_csv(work, copies)
    lines = plain.read_bytes().splitlines()
    per_day_ids, per_day_trade_ids = copies * 5000, copies * 16028
    paths = []
    for offset in range(days):
        file = daily("BTCUSDT", FIRST + timedelta(days=offset))
        target = root / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        member = file.name.replace(".zip", ".csv")
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(member, "w") as out:
            for line in lines:
                a, p, q, f, l, t, m, b = line.split(b",")  # noqa: E741 - Binance's column names
                out.write(
                        b"%d,%s,%s,%d,%d,%d,%s,%s\n"
                        % (
                            int(a) + offset * per_day_ids, p, q,
                            int(f) + offset * per_day_trade_ids, int(l) + offset * per_day_trade_ids,
                            int(t) + offset * 86_400_000_000, m, b,
                        )
                    )  # fmt: skip
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        (root / file.checksum_path).write_text(f"{digest}  {file.name}\n")
        paths.append(target)
    return paths


def timed(run) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument(
        "--copies", type=int, default=400, help="sample copies per day (default 400: 2M trades)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "public"
        zips = publish_days(root, args.days, args.copies)
        zip_bytes = sum(path.stat().st_size for path in zips) / args.days
        aggregate_files([zips[0]])  # imports before the clocks start
        base_wall, base_cpu, _ = timed(lambda: [aggregate_files([path]) for path in zips])
        last = FIRST + timedelta(days=args.days - 1)

        sqlite_url = f"sqlite:///{folder}/bench.db"
        settings = BackfillSettings("BTCUSDT", FIRST, last, sqlite_url, source=str(root), jobs=2)
        sq_wall, sq_cpu, report = timed(lambda: backfill(settings, today=date(2026, 12, 1)))
        assert len(report.loaded) == args.days, report
        sqlite_bytes = Path(f"{folder}/bench.db").stat().st_size

        name = f"ct_bench_{uuid.uuid4().hex[:10]}"
        mysql_url = f"mysql://root@127.0.0.1:3306/{name}"
        try:
            settings = BackfillSettings("BTCUSDT", FIRST, last, mysql_url, source=str(root), jobs=2)
            my_wall, my_cpu, report = timed(lambda: backfill(settings, today=date(2026, 12, 1)))
            assert len(report.loaded) == args.days, report
            with open_store(mysql_url) as store:
                store.execute("ANALYZE TABLE trade_minutes, history_minutes")
                ((mysql_bytes, rows),) = store.execute(
                    "SELECT SUM(data_length + index_length), (SELECT COUNT(*) FROM trade_minutes)"
                    " FROM information_schema.tables WHERE table_schema = DATABASE()"
                    " AND table_name IN ('trade_minutes', 'history_minutes')"
                )
        finally:
            admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            admin.close()

    n = args.days
    print(
        f"bench/history.py: {n} day-sized public-data zips (the real sample x {args.copies} over each day, "
        f"{args.copies * 5000:,} trades a day; scaled up, not real days), {zip_bytes / 2**20:.1f} MiB a zip"
    )
    print()
    print("| run | wall s a day | CPU s a day | vs aggregate alone (wall) | a year of days (wall) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, wall, cpu in (
        ("aggregate (bulk engine, no database)", base_wall, base_cpu),
        ("backfill into SQLite", sq_wall, sq_cpu),
        ("backfill into MariaDB", my_wall, my_cpu),
    ):
        year = wall / n * 365 / 60
        print(f"| {label} | {wall / n:.2f} | {cpu / n:.2f} | {base_wall / wall:.2f}x | {year:.0f} min |")
    per_row = int(mysql_bytes) / int(rows)
    sqlite_row = sqlite_bytes / int(rows)
    print()
    print(
        f"Database: MariaDB {per_row:.0f} bytes a minute row (trade_minutes + history_minutes, data + index, "
        f"{int(rows):,} rows) = {per_row * 525_600 / 2**20:.0f} MiB a year of one symbol; "
        f"SQLite {sqlite_row:.0f} bytes a row = {sqlite_row * 525_600 / 2**20:.0f} MiB "
        f"a year. Download: {zip_bytes / 2**20:.0f} MiB a day = {zip_bytes * 365 / 2**30:.1f} GiB a year "
        "(deleted once loaded unless --keep)."
    )


if __name__ == "__main__":
    main()
