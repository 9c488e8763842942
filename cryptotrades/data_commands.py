"""``cryptotrades aggregate``, ``verify`` and ``db migrate``: the core on files (and ``verify --db``
on a database's rows and klines), no pipeline needed."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from binance.errors import BinanceError
from binance.events import MINUTE_MS
from binance.files import Parsed, describe_file_name, read_trades
from binance.klines import Kline, read_klines
from binance.parse import now_ms
from bulk.engine import aggregate_files
from contract.errors import SettingsError
from cryptotrades.raw_trade_commands import minute_arg
from minutes.aggregate import COLUMNS, minute_rows, minute_text, record
from minutes.errors import StoreError
from minutes.klines import pending_delay, stored_klines
from minutes.store import open_store
from minutes.verify import Verdict, compare, complete_minutes

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
    aggregate.add_argument("--symbol", help="market of CSV files whose name does not say it, e.g. BTCUSDT")
    aggregate.set_defaults(func=run_aggregate)

    verify = subparsers.add_parser(
        "verify",
        help="compare minute rows (of trade files, or stored) with Binance's 1-minute klines",
        description="Report every complete minute and column where the rows computed from DATA differ from "
        "Binance's klines; with --db, where the database's rows differ from its stored klines (or from "
        "--klines files), pending minutes left out. "
        f"Exit 0 when all agree, {EXIT_DIFFERENT} on a difference, "
        f"{EXIT_NOTHING_TO_COMPARE} when no complete minute has a kline.",
    )
    verify.add_argument(
        "--klines", nargs="+", metavar="FILE", help="1m kline CSV or zip files (required without --db)"
    )
    verify.add_argument("data", nargs="*", metavar="DATA", help="aggTrades files or captured streams")
    verify.add_argument("--symbol", help="market of files whose name does not say it; with --db, only it")
    verify.add_argument(
        "--db",
        help="check the rows stored here instead of DATA: sqlite:///path.db or mysql://user:pw@host/db",
    )
    verify.add_argument("--from", dest="start", help="with --db: first minute, UTC: 2026-01-01T00:00")
    verify.add_argument("--to", dest="end", help="with --db: end of the range (exclusive), UTC")
    verify.set_defaults(func=run_verify)

    db = subparsers.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    migrate = db_commands.add_parser("migrate", help="apply the schema migrations of sql/ (idempotent)")
    migrate.add_argument(
        "--db", required=True, help="sqlite:///path.db or mysql://user:password@host:port/db"
    )
    migrate.set_defaults(func=run_migrate)


def run_aggregate(args: argparse.Namespace) -> int:
    # The bulk engine: the same rows and rejects as read_trades + minute_rows, at columnar speed.
    try:
        result = aggregate_files(args.paths, args.symbol)
    except (OSError, BinanceError) as exc:
        print(f"cryptotrades: {exc}", file=sys.stderr)
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
    if args.db:
        return run_verify_db(args)
    if not args.klines or not args.data or args.start or args.end:
        print(
            "cryptotrades verify: give --klines FILE... and DATA files, or --db URL "
            "(--from and --to go with --db)",
            file=sys.stderr,
        )
        return EXIT_UNREADABLE
    sources = _read_all(args.data, args.symbol)
    if sources is None:
        return EXIT_UNREADABLE
    try:
        klines = _kline_files(args.klines, args.symbol)
    except (OSError, BinanceError) as exc:
        print(f"cryptotrades verify: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    trades = [trade for source in sources for trade in source.trades]
    whole_days = [
        named.day for source in sources if (named := describe_file_name(source.source)) and named.day
    ]
    verdict = compare(minute_rows(trades), klines, complete_minutes(trades, whole_days))
    _report_rejects(sources)
    return _report(verdict, "klines outside the data's complete minutes")


def run_verify_db(args: argparse.Namespace) -> int:
    """The database's rows against its stored klines (what the minute_check view shows), or
    against kline files; minutes still pending (closed less than the delay ago) are left out."""
    if args.data:
        print("cryptotrades verify: --db checks stored rows; DATA files go without it", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        start = minute_arg(args.start, "--from") if args.start else None
        end = minute_arg(args.end, "--to") if args.end else None
        if start is not None and end is not None and end <= start:
            raise SettingsError(f"--to {args.end!r} is not after --from {args.start!r}")
        klines = _kline_files(args.klines, args.symbol) if args.klines else None
        with open_store(args.db) as store:
            rows = store.minute_rows(args.symbol, start, end)
            if klines is None:
                klines = stored_klines(store, args.symbol, start, end)
            delay_s = pending_delay(store)
    except (StoreError, SettingsError, OSError, BinanceError) as exc:
        print(f"cryptotrades verify: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    klines = [
        k
        for k in klines
        if (start is None or k.open_time >= start)
        and (end is None or k.open_time < end)
        and (args.symbol is None or k.symbol == args.symbol)
    ]
    settled = now_ms() - delay_s * 1000 - MINUTE_MS  # a minute that starts after this is pending
    complete: dict[str, set[int]] = {}
    for kline in klines:
        if kline.open_time <= settled:
            complete.setdefault(kline.symbol, set()).add(kline.open_time)
    return _report(
        compare(rows, klines, complete), f"klines of minutes still pending (the delay is {delay_s} s)"
    )


def _kline_files(paths: list[str], symbol: str | None) -> list[Kline]:
    klines: list[Kline] = []
    for path in paths:
        found, bad = read_klines(path, symbol)
        klines.extend(found)
        for reject in bad:
            print(f"{path}:{reject.line}: {reject.reason}", file=sys.stderr)
    return klines


def _report(verdict: Verdict, skipped: str) -> int:
    """Today's verify output: one line per difference, then the counts; the exit status."""
    for diff in verdict.differences:
        ours = "no row" if diff.ours is None else diff.ours
        print(f"{minute_text(diff.minute)} {diff.symbol} {diff.column}: ours {ours}, kline {diff.kline}")
    print(
        f"{verdict.compared} complete minutes compared, {len(verdict.differences)} differences, "
        f"{verdict.skipped} {skipped}"
    )
    if verdict.differences:
        return EXIT_DIFFERENT
    return 0 if verdict.agrees else EXIT_NOTHING_TO_COMPARE


def run_migrate(args: argparse.Namespace) -> int:
    try:
        with open_store(args.db, create_database=True) as store:
            applied = store.migrate()
    except (StoreError, SettingsError) as exc:
        print(f"cryptotrades db migrate: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    print(f"applied {', '.join(applied)}" if applied else "the schema is up to date")
    return 0


def _read_all(paths: list[str], symbol: str | None) -> list[Parsed] | None:
    sources = []
    for path in paths:
        try:
            sources.append(read_trades(path, symbol))
        except (OSError, BinanceError) as exc:
            print(f"cryptotrades: {exc}", file=sys.stderr)
            return None
    return sources


def _report_rejects(sources: list[Parsed]) -> int:
    count = 0
    for source in sources:
        for reject in source.rejects:
            print(f"{source.source}:{reject.line}: {reject.reason}", file=sys.stderr)
        count += len(source.rejects)
    return count
