"""``cryptotrades rebuild`` and ``cryptotrades prune``: the raw trades behind the minute rows.

``rebuild`` recomputes a range of minutes from the raw objects in S3, final minutes
included: how a late object is folded in on purpose, or a range repaired. For each hour
of the range it reads the objects the ledger says hold trades of that hour, and those
whose key (the time Kafka received them) falls in the hour or ``--margin`` minutes around
it, keeps the trades of the hour (under the same contract and limits as the Lambda), and
replaces every row that differs, reporting each. A minute whose row exists but whose
trades are found nowhere keeps its row.

``prune`` runs the retention the Lambda runs a share of after each event, to the end:
minutes older than the window become final and their raw trades are dropped.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from binance.errors import UnreadableFileError
from binance.events import MINUTE_MS, AggTrade
from binance.files import ReadLimits, read_event_stream
from binance.parse import now_ms
from contract.errors import SettingsError
from contract.pipeline import (
    DB_URL_ENV,
    DEFAULT_DB_URL,
    RETENTION_DAYS,
    TRADES_KEY_TIME_FORMAT,
    TRADES_PREFIX,
)
from cryptotrades import arguments
from minutes.aggregate import minute_text
from minutes.errors import StoreError
from minutes.store import Store, open_store, redacted

EXIT_UNUSABLE = 2  # settings, database or bucket unusable
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
SHOWN_CHANGES = 20


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    rebuild = subparsers.add_parser(
        "rebuild",
        help="recompute a range of minutes from the raw S3 objects (final minutes too)",
        description=__doc__.split("\n\n")[1],
    )
    rebuild.add_argument("--from", dest="start", required=True, help="first minute, UTC: 2026-01-01T00:00")
    rebuild.add_argument("--to", dest="end", required=True, help="end of the range (exclusive), UTC")
    rebuild.add_argument(
        "--bucket", type=arguments.bucket, help="the trades bucket [the one bucket the ledger names]"
    )
    rebuild.add_argument(
        "--prefix", default=TRADES_PREFIX, help=f"where the raw objects are [{TRADES_PREFIX}]"
    )
    add_database(rebuild)
    rebuild.add_argument(
        "--s3-endpoint",
        type=arguments.http_url,
        help="an S3 endpoint URL instead of AWS's (moto, the one-box)",
    )
    rebuild.add_argument(
        "--margin", type=int, default=10, metavar="MINUTES", help="minutes of keys read around each hour [10]"
    )
    rebuild.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    rebuild.set_defaults(func=run_rebuild)

    prune = subparsers.add_parser(
        "prune",
        help="drop raw trades older than the retention window (their minutes become final)",
        description=__doc__.split("\n\n")[2],
    )
    add_database(prune)
    prune.add_argument(
        "--retention-days",
        type=int,
        default=RETENTION_DAYS,
        help=f"days of raw trades kept [{RETENTION_DAYS}, as the Lambda]",
    )
    prune.set_defaults(func=run_prune)


def run_rebuild(args: argparse.Namespace) -> int:
    try:
        start, end = minute_arg(args.start, "--from"), minute_arg(args.end, "--to")
        if end <= start:
            raise SettingsError(f"--to {args.end!r} is not after --from {args.start!r}")
        s3 = boto3.client("s3", endpoint_url=args.s3_endpoint) if args.s3_endpoint else boto3.client("s3")
        with open_store(args.db) as target:
            bucket = args.bucket or only_bucket(target)
            totals = {"trades": 0, "added": 0, "changed": 0, "unchanged": 0, "kept": 0, "objects": 0}
            for hour_start in range(start, end, HOUR_MS):
                hour_end = min(hour_start + HOUR_MS, end)
                keys = candidate_keys(s3, target, bucket, args.prefix, hour_start, hour_end, args.margin)
                found = list(trades_between(s3, bucket, keys, hour_start, hour_end))
                done = target.rebuild(found, hour_start, hour_end, dry_run=args.dry_run)
                totals["objects"] += len(keys)
                totals["trades"] += done.trades
                totals["added"] += len(done.added)
                totals["changed"] += len(done.changed)
                totals["unchanged"] += done.unchanged
                totals["kept"] += len(done.kept)
                for old, new in done.changed[:SHOWN_CHANGES]:
                    print(
                        f"{minute_text(new.minute)} {new.symbol}: aggregate trades "
                        f"{old.count_buy + old.count_sell} -> {new.count_buy + new.count_sell}, "
                        f"USD {old.usd_buy + old.usd_sell} -> {new.usd_buy + new.usd_sell}"
                    )
                for row in done.kept:
                    print(
                        f"{minute_text(row.minute)} {row.symbol}: no trade found, row kept", file=sys.stderr
                    )
    except (SettingsError, StoreError, UnreadableFileError, BotoCoreError, ClientError) as exc:
        print(f"cryptotrades rebuild: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    verb = "would change" if args.dry_run else "changed"
    print(
        f"{minute_text(start)} to {minute_text(end)} from s3://{bucket}/{args.prefix}: "
        f"{totals['objects']} objects read, {totals['trades']} trades, {totals['added']} rows added, "
        f"{totals['changed']} {verb}, {totals['unchanged']} unchanged, {totals['kept']} kept without trades"
    )
    return 0


def run_prune(args: argparse.Namespace) -> int:
    try:
        if args.retention_days < 1:
            raise SettingsError(f"--retention-days {args.retention_days}: expected 1 or more")
        with open_store(args.db) as target:
            deleted, pruned = 0, None
            while pruned is None or not pruned.done:
                pruned = target.prune(
                    now_ms=now_ms(), retention_ms=args.retention_days * DAY_MS, max_rows=100_000
                )
                deleted += pruned.deleted
    except (SettingsError, StoreError) as exc:
        print(f"cryptotrades prune: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    final = minute_text(pruned.final_before) if pruned.final_before else "none"
    print(f"{redacted(args.db)}: minutes before {final} are final; {deleted} raw trades dropped")
    return 0


def minute_arg(text: str, flag: str) -> int:
    """``2026-01-01T00:00`` or ``2026-01-01 00:00`` (UTC, a whole minute) -> ms."""
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise SettingsError(f"{flag} {text!r}: expected a UTC minute like 2026-01-01T00:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.second or moment.microsecond:
        raise SettingsError(f"{flag} {text!r}: expected a whole minute")
    return int(moment.timestamp() * 1000)


def only_bucket(target: Store) -> str:
    buckets = target.buckets()
    if len(buckets) != 1:
        raise SettingsError(f"the ledger names {len(buckets)} buckets ({', '.join(buckets)}): pass --bucket")
    return buckets[0]


def candidate_keys(
    s3: Any, target: Store, bucket: str, prefix: str, start: int, end: int, margin_minutes: int
) -> list[str]:
    """Keys that may hold trades of ``[start, end)``: the ledger's, and those filed around it."""
    keys = {key for found, key in target.objects_overlapping(start, end) if found == bucket}
    margin = margin_minutes * MINUTE_MS
    hour_format = TRADES_KEY_TIME_FORMAT.split("minute=")[0]
    first, last = start - margin, end + margin
    for hour in range(first - first % HOUR_MS, last, HOUR_MS):
        listed = prefix + datetime.fromtimestamp(hour / 1000, tz=UTC).strftime(hour_format)
        for key in _listed(s3, bucket, listed):
            moment = _key_time(key, prefix)
            if moment is None or first <= moment < last:
                keys.add(key)
    return sorted(keys)


def _listed(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]


def _key_time(key: str, prefix: str) -> int | None:
    """The minute a key is filed under, or None when it does not follow the layout."""
    part = key[len(prefix) :]
    layout_length = len(datetime(2000, 1, 1, tzinfo=UTC).strftime(TRADES_KEY_TIME_FORMAT))
    try:
        moment = datetime.strptime(part[:layout_length], TRADES_KEY_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


def trades_between(s3: Any, bucket: str, keys: list[str], start: int, end: int) -> Iterator[AggTrade]:
    """The valid trades of ``[start, end)`` in these objects (current versions)."""
    for key in keys:
        response = s3.get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        try:
            for parsed in read_event_stream(
                body.iter_chunks(1024 * 1024), f"s3://{bucket}/{key}", ReadLimits()
            ):
                yield from (t for t in parsed.trades if start <= t.trade_time < end)
        except UnreadableFileError as exc:
            print(f"s3://{bucket}/{key}: {exc} (skipped, as the Lambda rejected it whole)", file=sys.stderr)
        finally:
            body.close()


def add_database(parser: argparse.ArgumentParser) -> None:
    """``--db``: the database whose raw trades the command works on (both commands alike)."""
    parser.add_argument(
        "--db",
        type=arguments.database_url,
        default=os.environ.get(DB_URL_ENV, DEFAULT_DB_URL),
        help=f"[{DB_URL_ENV}]",
    )
