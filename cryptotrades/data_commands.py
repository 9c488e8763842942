"""``cryptotrades aggregate``, ``verify`` and ``db migrate``: the core on files, no pipeline needed."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from binance.errors import BinanceError
from binance.files import Parsed, describe_file_name, read_trades
from binance.klines import read_klines
from bulk.engine import aggregate_files
from contract.errors import SettingsError
from cryptotrades import arguments
from minutes.aggregate import COLUMNS, minute_rows, minute_text, record
from minutes.errors import StoreError
from minutes.store import open_store
from minutes.verify import compare, complete_minutes

EXIT_REJECTED = 3  # aggregate: some lines were rejected (the rows of the good ones are printed)
EXIT_DIFFERENT = 1  # verify: some minute differs from its kline
EXIT_NOTHING_TO_COMPARE = 4  # verify: no complete minute of the data has a kline
EXIT_UNREADABLE = 2  # a file or database could not be used at all


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    aggregate = subparsers.add_parser(
        "aggregate",
        help="per-minute rows of trade files (ndjson or Binance aggTrades CSV; plain, .gz or .zip)",
        description="Print the minute rows of the given files, sorted by symbol and time, exact. "
        f"Rejected lines go to stderr with their reason; exit status {EXIT_REJECTED} if there were any.",
    )
    aggregate.add_argument("paths", nargs="+", metavar="PATH")
    aggregate.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    aggregate.add_argument(
        "--symbol", type=arguments.symbol, help="market of CSV files whose name does not say it, e.g. BTCUSDT"
    )
    aggregate.set_defaults(func=run_aggregate)

    verify = subparsers.add_parser(
        "verify",
        help="compare the minute rows of trade files with Binance 1-minute kline files",
        description="Report every complete minute and column where the rows computed from DATA differ from "
        f"Binance's klines. Exit 0 when all agree, {EXIT_DIFFERENT} on a difference, "
        f"{EXIT_NOTHING_TO_COMPARE} when no complete minute has a kline.",
    )
    verify.add_argument(
        "--klines", nargs="+", required=True, metavar="FILE", help="1m kline CSV or zip files"
    )
    # "*", not "+": DATA missing is said below with the likely cause (--klines took it).
    verify.add_argument("data", nargs="*", metavar="DATA", help="aggTrades files or captured streams")
    verify.add_argument("--symbol", type=arguments.symbol, help="market of files whose name does not say it")
    verify.set_defaults(func=run_verify)

    db = subparsers.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    migrate = db_commands.add_parser("migrate", help="apply the schema migrations of sql/ (idempotent)")
    migrate.add_argument(
        "--db",
        required=True,
        type=arguments.database_url,
        help="sqlite:///path.db or mysql://user:password@host:port/db",
    )
    migrate.set_defaults(func=run_migrate)


def run_aggregate(args: argparse.Namespace) -> int:
    # The bulk engine: the same rows and rejects as read_trades + minute_rows, at columnar speed.
    try:
        result = aggregate_files(args.paths, args.symbol)
    except (OSError, BinanceError) as exc:
        print(f"cryptotrades aggregate: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    write_rows((record(row) for row in result.rows), args.format, sys.stdout)
    for reject in result.rejects:
        print(f"{reject.source}:{reject.rejected.line}: {reject.rejected.reason}", file=sys.stderr)
    rejected = len(result.rejects)
    print(
        f"{result.lines} lines, {result.accepted} trades, {rejected} rejected, "
        f"{len(result.rows)} minute rows",
        file=sys.stderr,
    )
    return EXIT_REJECTED if rejected else 0


def write_rows(records: Iterable[dict[str, Any]], fmt: str, out: TextIO) -> None:
    if fmt == "jsonl":
        for item in records:
            out.write(json.dumps(item) + "\n")
        return
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS.values()), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)


def run_verify(args: argparse.Namespace) -> int:
    if not args.data:
        raise SettingsError(
            "no DATA (trade files) given: --klines takes every file after it, so put the trade files "
            "first or after --, e.g. verify --klines K.zip -- TRADES.zip"
        )
    sources = _read_all(args.data, args.symbol)
    if sources is None:
        return EXIT_UNREADABLE
    klines = []
    try:
        for path in args.klines:
            found, bad = read_klines(path, args.symbol)
            klines.extend(found)
            for reject in bad:
                print(f"{path}:{reject.line}: {reject.reason}", file=sys.stderr)
    except (OSError, BinanceError) as exc:
        print(f"cryptotrades verify: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    trades = [trade for source in sources for trade in source.trades]
    whole_days = [
        named.day for source in sources if (named := describe_file_name(source.source)) and named.day
    ]
    verdict = compare(minute_rows(trades), klines, complete_minutes(trades, whole_days))
    _report_rejects(sources)
    for diff in verdict.differences:
        ours = "no row" if diff.ours is None else diff.ours
        print(f"{minute_text(diff.minute)} {diff.symbol} {diff.column}: ours {ours}, kline {diff.kline}")
    print(
        f"{verdict.compared} complete minutes compared, {len(verdict.differences)} differences, "
        f"{verdict.skipped} klines outside the data's complete minutes"
    )
    if verdict.differences:
        return EXIT_DIFFERENT
    return 0 if verdict.agrees else EXIT_NOTHING_TO_COMPARE


def run_migrate(args: argparse.Namespace) -> int:
    try:
        with open_store(args.db, create_database=True) as store:
            applied = store.migrate()
    except (StoreError, SettingsError) as exc:
        print(f"cryptotrades db migrate: {exc}; check --db", file=sys.stderr)
        return EXIT_UNREADABLE
    print(f"applied {', '.join(applied)}" if applied else "the schema is up to date")
    return 0


def _read_all(paths: list[str], symbol: str | None) -> list[Parsed] | None:
    sources = []
    for path in paths:
        try:
            sources.append(read_trades(path, symbol))
        except (OSError, BinanceError) as exc:
            print(f"cryptotrades verify: {exc}", file=sys.stderr)
            return None
    return sources


def _report_rejects(sources: list[Parsed]) -> int:
    count = 0
    for source in sources:
        for reject in source.rejects:
            print(f"{source.source}:{reject.line}: {reject.reason}", file=sys.stderr)
        count += len(source.rejects)
    return count
