"""``cryptotrades run`` and ``cryptotrades status``: the whole pipeline on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from contract.errors import CryptotradesError, SettingsError
from contract.pipeline import DB_URL_ENV
from minutes.errors import SchemaMissingError, StoreError
from minutes.klines import summary_text
from minutes.store import open_store, redacted
from onebox import status
from onebox.pipeline import EXIT_FAILED, Pipeline
from onebox.settings import OneboxSettings
from onebox.stages import DEAD_LETTERS_FILE

EXIT_BAD_SETTINGS = 2
MAX_ROWS = 10_000


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
    OneboxSettings.add_arguments(source, "replay", "klines", "speed", "symbol", "until_drained")
    where = run.add_argument_group("where each stage is (flag > environment variable > default)")
    OneboxSettings.add_arguments(
        where,
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
    )
    retries = run.add_argument_group("failed S3 events")
    OneboxSettings.add_arguments(retries, "max_tries", "retry_base_s", "retry_cap_s", "drain_timeout_s")
    run.set_defaults(func=run_pipeline)

    show = subparsers.add_parser(
        "status",
        help="the last minute rows, the ledger, the check against Binance, each stage's counters and the "
        "dead letters",
        description="What the database and the last `cryptotrades run` left: the newest minute rows, the "
        "ledger of S3 objects (accepted, rejected, duplicates), how many minutes of the last 24 h agree "
        "with Binance's klines, each stage's counters and the events that were given up on.",
    )
    OneboxSettings.add_arguments(show, "db_url", "state_dir")
    show.add_argument("--rows", type=_row_count, default=5, help="how many minute rows to show (default 5)")
    show.set_defaults(func=run_status)


def _row_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_ROWS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number from 1 to {MAX_ROWS}")
    return count


def run_pipeline(args: argparse.Namespace) -> int:
    try:
        settings = OneboxSettings.from_args(args, log_level=args.log_level)
        with OneboxSettings.named_as_given(args):
            settings.make_dirs()
    except CryptotradesError as exc:
        print(f"cryptotrades run: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    return Pipeline(settings).run()


def run_status(args: argparse.Namespace) -> int:
    try:
        settings = OneboxSettings.from_args(args)
    except CryptotradesError as exc:
        print(f"cryptotrades status: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        if settings.db_url is None:  # the default: nothing has run yet, which is no mistake
            print(f"database: {redacted(url)}")
            print("no database yet: `cryptotrades run` (or `make demo`) makes it")
            return 0
        with OneboxSettings.named_as_given(args):
            raise SettingsError(f"{DB_URL_ENV}={url!r}: no such database file; check the path")
    print(f"database: {redacted(url)}")
    try:
        with open_store(url) as store:
            rows = status.last_rows(store, args.rows)
            totals = store.ledger_totals()
            check = status.minute_check(store)
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
    print(summary_text(check))
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
