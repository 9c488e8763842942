"""``cryptotrades run`` and ``cryptotrades status``: the whole pipeline on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from contract.errors import CryptotradesError, SettingsError
from minutes.errors import SchemaMissingError, StoreError
from minutes.store import open_store, redacted
from onebox import status
from onebox.pipeline import EXIT_FAILED, Pipeline
from onebox.runner import DEAD_LETTERS_FILE
from onebox.settings import (
    BUCKET,
    DASHBOARD_PORT,
    DB_URL,
    KAFKA,
    MAX_TRIES,
    QUEUE_URL,
    REGION,
    S3_ENDPOINT,
    STATE_DIR,
    VECTOR_CONFIG,
    OneboxSettings,
)

EXIT_BAD_SETTINGS = 2


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    run = subparsers.add_parser(
        "run",
        help="the whole pipeline on this machine: Binance (or a replay) -> Kafka -> S3 -> Lambda -> database",
        description="Start the embedded broker, S3 and SQS, the Vector-compatible sink, the S3-event runner "
        "that calls the Lambda handler, the dashboard and the producer; show progress; stop cleanly on "
        "Ctrl-C. Every piece can be pointed at the real thing instead. Exit status: 0 done, 1 not "
        "drained (--until-drained) or stopped with work left, 2 bad settings or Binance unreachable, "
        "3 a stage failed.",
    )
    source = run.add_argument_group("source")
    source.add_argument(
        "--replay", type=Path, metavar="FILE", help="Binance aggTrades CSV or captured ndjson"
    )
    source.add_argument(
        "--speed", type=float, help="replay speed: 1 real time (default), 60 an hour a minute, 0 flat out"
    )
    source.add_argument("--symbol", help="market of a replayed CSV whose name does not say it, e.g. BTCUSDT")
    source.add_argument(
        "--until-drained",
        action="store_true",
        help="with --replay: stop once every replayed trade is in the database, and print a summary",
    )
    where = run.add_argument_group("where each stage is (flag > environment variable > default)")
    where.add_argument(
        "--db", dest="db_url", help=f"sqlite:///path.db or mysql://user:pw@host:port/db [{DB_URL}]"
    )
    where.add_argument("--kafka", help=f"a real broker's host:port instead of the embedded one [{KAFKA}]")
    where.add_argument(
        "--s3-endpoint", help=f"an S3/SQS endpoint URL instead of embedded moto, or 'aws' [{S3_ENDPOINT}]"
    )
    where.add_argument("--bucket", help=f"bucket name (default cryptotrades-onebox) [{BUCKET}]")
    where.add_argument("--queue-url", help=f"with --s3-endpoint aws: the notification queue [{QUEUE_URL}]")
    where.add_argument("--region", help=f"AWS region (default eu-west-1) [{REGION}]")
    where.add_argument(
        "--state-dir", type=Path, help=f"logs, counters, dead letters (default data/onebox) [{STATE_DIR}]"
    )
    where.add_argument(
        "--vector-config", type=Path, help=f"the Vector file the sink follows [{VECTOR_CONFIG}]"
    )
    where.add_argument("--no-dashboard", dest="dashboard", action="store_false", default=None)
    where.add_argument(
        "--dashboard-port", type=int, help=f"port of the dashboard, 0 for any free one [{DASHBOARD_PORT}]"
    )
    retries = run.add_argument_group("failed S3 events")
    retries.add_argument(
        "--max-tries", type=int, help=f"tries before an event is dead-lettered (default 6) [{MAX_TRIES}]"
    )
    retries.add_argument(
        "--retry-base", dest="retry_base_s", type=float, help="seconds before the first retry (1)"
    )
    retries.add_argument(
        "--retry-cap", dest="retry_cap_s", type=float, help="longest wait between tries (30)"
    )
    retries.add_argument(
        "--drain-timeout",
        dest="drain_timeout_s",
        type=float,
        help="how long a stop waits for work in flight (300)",
    )
    run.set_defaults(func=run_pipeline)

    show = subparsers.add_parser(
        "status",
        help="the last minute rows, the ledger, each stage's counters and the dead letters",
        description="What the database and the last `cryptotrades run` left: the newest minute rows, the "
        "ledger of S3 objects (accepted, rejected, duplicates), each stage's counters and the events that "
        "were given up on.",
    )
    show.add_argument("--db", dest="db_url", help=f"the database (default: the one-box's SQLite) [{DB_URL}]")
    show.add_argument("--state-dir", type=Path, help=f"where the last run kept its counters [{STATE_DIR}]")
    show.add_argument("--rows", type=int, default=5, help="how many minute rows to show (default 5)")
    show.set_defaults(func=run_status)


def run_pipeline(args: argparse.Namespace) -> int:
    try:
        settings = OneboxSettings.from_env(
            **{
                name: getattr(args, name)
                for name in (
                    "replay",
                    "speed",
                    "symbol",
                    "db_url",
                    "kafka",
                    "s3_endpoint",
                    "bucket",
                    "queue_url",
                    "region",
                    "state_dir",
                    "vector_config",
                    "dashboard",
                    "dashboard_port",
                    "max_tries",
                    "retry_base_s",
                    "retry_cap_s",
                    "drain_timeout_s",
                )
            },
            until_drained=args.until_drained or None,
            log_level=args.log_level,
        )
    except CryptotradesError as exc:
        print(f"cryptotrades run: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    return Pipeline(settings).run()


def run_status(args: argparse.Namespace) -> int:
    try:
        settings = OneboxSettings.from_env(db_url=args.db_url, state_dir=args.state_dir)
    except CryptotradesError as exc:
        print(f"cryptotrades status: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    print(f"database: {redacted(settings.database_url)}")
    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        print("no database yet: `cryptotrades run` (or `make demo`) makes it")
        return 0
    try:
        with open_store(url) as store:
            rows = status.last_rows(store, args.rows)
            totals = store.ledger_totals()
    except SchemaMissingError as exc:
        print(f"cryptotrades status: cannot read the tables ({exc}); `cryptotrades db migrate` creates them")
        return EXIT_FAILED
    except (StoreError, SettingsError) as exc:
        print(f"cryptotrades status: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"last {len(rows)} minute rows:" if rows else "no minute rows yet")
    for row in rows:
        print(f"  {status.row_text(row)}")
    print(f"ledger: {status.ledger_text(totals)}")
    stages = status.stage_stats(settings.state_dir)
    if stages:
        print(f"last run's stages ({settings.state_dir / 'stats'}):")
        for line in status.stages_text(stages):
            print(line)
    else:
        print(f"no run recorded in {settings.state_dir}")
    for line in status.dead_letters_text(
        status.dead_letters(settings.state_dir), settings.state_dir / DEAD_LETTERS_FILE
    ):
        print(line)
    return 0
