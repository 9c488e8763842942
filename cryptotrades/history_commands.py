"""``cryptotrades backfill`` and ``cryptotrades gaps``: past days from Binance's public data.

``backfill`` fetches each day's aggTrades file (a monthly file for each whole past month) from
the public-data layout, verifies its sha256 against ``.CHECKSUM``, sums it with the bulk engine
and writes the minute rows as history, one transaction per file, recorded in the ledger
``history_files``. A rerun skips the files the ledger holds with the same checksum and reports a
file whose checksum changed (and loads the new one). Downloads run in parallel (``--jobs``),
each with a timeout and retries; Ctrl-C stops after the file being written, and the next run
goes on from there. History never overwrites a minute the live path holds unless
``--replace``; it says which of those minutes differ either way.

``gaps`` lists minutes without a row and broken agg-id chains; ``backfill --gaps`` fills them:
from the public data for published days, from Binance's REST ``aggTrades?fromId=`` (the
producer's client) for today, through the store's ingest, which recomputes the minutes from
every stored trade.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import hashlib
import logging
import random
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from binance.errors import BinanceError, RestError
from binance.public_data import (
    DEFAULT_BASE_URL,
    ChecksumError,
    PublicFile,
    daily,
    parse_checksum,
    plan_files,
)
from bulk.engine import aggregate_files
from contract.errors import SettingsError
from contract.pipeline import DB_URL_ENV, DEFAULT_DB_URL, ONEBOX_DIR
from cryptotrades import arguments
from minutes.aggregate import minute_text
from minutes.errors import StoreError
from minutes.history import Gap, days_of, gaps_in_store, ledger, load_rows
from minutes.store import ObjectRef, Store, open_store
from producer.timing import backoff_delay

logger = logging.getLogger(__name__)

EXIT_GAPS = 1  # gaps: some gap was found
EXIT_UNREADABLE = 2
EXIT_REFUSED = 5  # backfill: some file failed its checksum or could not be fetched
EXIT_INTERRUPTED = 130
_DAY_MS = 86_400_000
_CHUNK = 1 << 20


class FetchError(BinanceError):
    """A public-data file could not be fetched (after retries) or failed its checksum."""


class NotPublishedError(FetchError):
    """The file is not there (404, or no such local file): not published yet, or never."""


@dataclass(frozen=True, slots=True)
class BackfillSettings:
    symbol: str
    first: date
    last: date
    db_url: str
    source: str = DEFAULT_BASE_URL  # an http(s) base URL or a local folder of the same layout
    cache_dir: Path = Path(ONEBOX_DIR).parent / "history"
    jobs: int = 4
    timeout: float = 30.0
    retries: int = 5
    replace: bool = False
    keep: bool = False  # keep downloaded zips in cache_dir
    rest_url: str | None = None  # for --gaps today; None: Binance's


# -- fetching ---------------------------------------------------------------------------


class Fetcher:
    """Gets verified files from a base URL or a local folder; safe to use from many threads."""

    def __init__(self, settings: BackfillSettings, stop: threading.Event, on_bytes: Callable[[int], None]):
        self._source = settings.source
        self._local = not settings.source.startswith(("http://", "https://"))
        self._cache = settings.cache_dir
        self._timeout = settings.timeout
        self._retries = settings.retries
        self._stop = stop
        self._on_bytes = on_bytes

    def checksum(self, file: PublicFile) -> str:
        if self._local:
            where = Path(self._source) / file.checksum_path
            if not where.is_file():
                raise NotPublishedError(f"{where}: no such file")
            text = where.read_text(encoding="ascii", errors="replace")
        else:
            text = self._with_retries(file.checksum_path, lambda answer: answer.read(4096)).decode(
                "ascii", "replace"
            )
        return parse_checksum(text, file.name)

    def fetch(self, file: PublicFile) -> tuple[Path, str]:
        """The verified zip on local disk and its sha256."""
        expected = self.checksum(file)
        if self._local:
            path = Path(self._source) / file.path
            if not path.is_file():
                raise NotPublishedError(f"{path}: no such file")
            digest = hashlib.sha256()
            with path.open("rb") as stream:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
                    self._on_bytes(len(chunk))
        else:
            path = self._cache / file.path
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(path.name + ".part")
            digest = self._with_retries(file.path, lambda answer: self._download(answer, part))
            part.replace(path)
        if digest.hexdigest() != expected:
            raise ChecksumError(
                f"{file.path}: sha256 {digest.hexdigest()} does not match its .CHECKSUM ({expected}); "
                "the file is refused"
            )
        return path, expected

    def discard(self, path: Path) -> None:
        if not self._local:
            path.unlink(missing_ok=True)

    def _download(self, answer: Any, part: Path) -> Any:
        digest = hashlib.sha256()
        with part.open("wb") as out:
            while chunk := answer.read(_CHUNK):
                if self._stop.is_set():
                    raise KeyboardInterrupt
                digest.update(chunk)
                out.write(chunk)
                self._on_bytes(len(chunk))
        return digest

    def _with_retries(self, path: str, read: Callable[[Any], Any]) -> Any:
        url = f"{self._source.rstrip('/')}/{path}"
        attempt = 0
        while True:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "cryptotrades-backfill"})
                with urllib.request.urlopen(request, timeout=self._timeout) as answer:
                    return read(answer)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    raise NotPublishedError(f"{url}: 404, not published") from None
                if exc.code < 500 and exc.code != 429:
                    raise FetchError(f"{url}: HTTP {exc.code}") from None
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                reason = str(exc)
            attempt += 1
            if attempt > self._retries:
                raise FetchError(f"{url}: {reason}, {self._retries} retries spent")
            delay = backoff_delay(attempt - 1, base=0.5, cap=30.0, rand=random.random())
            logger.warning("%s: %s; trying again in %.1f s", url, reason, delay)
            if self._stop.wait(delay):
                raise KeyboardInterrupt


# -- the run ----------------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # with the reason
    not_published: list[str] = field(default_factory=list)
    differed: list[tuple[str, int]] = field(default_factory=list)  # (symbol, minute) live rows that differ
    replaced: list[tuple[str, int]] = field(default_factory=list)
    rows_written: int = 0
    interrupted: bool = False


def backfill(
    settings: BackfillSettings,
    *,
    today: date,
    stop: threading.Event | None = None,
    show_progress: bool = False,
) -> Report:
    """Load ``settings.first``..``settings.last`` (days before ``today``) into the database."""
    stop = stop or threading.Event()
    report = Report()
    files = plan_files(settings.symbol, settings.first, settings.last, today)
    with (
        open_store(settings.db_url, create_database=True) as store,
        _Progress(show_progress, len(files)) as bar,
    ):
        store.migrate()
        fetcher = Fetcher(settings, stop, bar.advance_bytes)
        done = ledger(store, [f.path for f in files])
        queue = list(files)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=settings.jobs, thread_name_prefix="fetch")
        pending: dict[PublicFile, concurrent.futures.Future[Any]] = {}
        try:
            while queue or pending:
                while queue and len(pending) < settings.jobs * 2:  # bounded read-ahead
                    file = queue.pop(0)
                    task = fetcher.checksum if file.path in done else fetcher.fetch
                    pending[file] = pool.submit(task, file)
                file = next(iter(pending))
                future = pending.pop(file)
                try:
                    answer = future.result()
                except NotPublishedError as exc:
                    if file.monthly:  # the month's file is not out yet: its days one by one
                        logger.info("%s: %s; taking its days one by one", file.name, exc)
                        queue[0:0] = [daily(file.symbol, day) for day in file.days()]
                        bar.add_files(len(file.days()) - 1)
                    else:
                        report.not_published.append(file.path)
                        bar.done_file(f"{file.name}: not published")
                    continue
                except (FetchError, ChecksumError, OSError) as exc:
                    report.refused.append(f"{file.path}: {exc}")
                    logger.error("%s", exc)
                    bar.done_file(f"{file.name}: refused")
                    continue
                if file.path in done:
                    entry = done[file.path]
                    if answer == entry.checksum:
                        report.skipped.append(file.path)
                        bar.done_file(f"{file.name}: already loaded")
                        continue
                    logger.warning(
                        "%s changed since it was loaded (sha256 %s, now %s): loading it again",
                        file.path,
                        entry.checksum,
                        answer,
                    )
                    report.changed.append(file.path)
                    del done[file.path]
                    queue.insert(0, file)
                    bar.add_files(1)
                    bar.done_file(f"{file.name}: changed")
                    continue
                path, checksum = answer
                _load(store, settings, file, path, checksum, report)
                if not settings.keep:
                    fetcher.discard(path)
                bar.done_file(f"{file.name}: loaded")
                if stop.is_set():
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            report.interrupted = True
            stop.set()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return report


def _load(
    store: Store, settings: BackfillSettings, file: PublicFile, path: Path, checksum: str, report: Report
):
    result = aggregate_files([path], settings.symbol)
    for reject in result.rejects[:20]:
        logger.warning("%s:%d: %s", file.name, reject.rejected.line, reject.rejected.reason)
    loaded = load_rows(
        store,
        file_path=file.path,
        symbol=settings.symbol,
        checksum=checksum,
        rows=result.rows,
        trade_count=result.accepted,
        rejected=len(result.rejects),
        replace=settings.replace,
    )
    report.loaded.append(file.path)
    report.rows_written += loaded.written
    report.differed.extend((settings.symbol, minute) for minute in loaded.differed)
    report.replaced.extend((settings.symbol, minute) for minute in loaded.replaced)
    logger.info(
        "%s: %d trades, %d rejected, %d minute rows, %d written, %d held by the live path (%d differ)",
        file.name,
        result.accepted,
        len(result.rejects),
        loaded.rows,
        loaded.written,
        loaded.kept_live,
        len(loaded.differed),
    )


class _Progress:
    """A rich progress bar (files, bytes, rate, ETA) on a terminal; log lines elsewhere."""

    def __init__(self, enabled: bool, files: int) -> None:
        self._enabled = enabled
        self._files = files
        self._lock = threading.Lock()
        self._progress: Any = None

    def __enter__(self) -> _Progress:
        if self._enabled:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("files", total=self._files)
            self._bytes = self._progress.add_task("downloaded", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance_bytes(self, count: int) -> None:
        if self._progress is not None:
            with self._lock:
                self._progress.advance(self._bytes, count)

    def add_files(self, count: int) -> None:
        self._files += count
        if self._progress is not None:
            self._progress.update(self._task, total=self._files)

    def done_file(self, what: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=what)


# -- gaps -------------------------------------------------------------------------------


def fill_gaps(settings: BackfillSettings, *, today: date, stop: threading.Event | None = None) -> Report:
    """Fill the gaps of ``first``..``last``: public data for published days, REST for today."""
    stop = stop or threading.Event()
    report = Report()
    start, end = _ms(settings.first), _ms(settings.last) + _DAY_MS
    with open_store(settings.db_url, create_database=True) as store:
        store.migrate()
        gaps = gaps_in_store(store, settings.symbol, start, end)
        fetcher = Fetcher(settings, stop, lambda _: None)
        for day_ms in days_of(gaps):
            day = datetime.fromtimestamp(day_ms / 1000, tz=UTC).date()
            wanted = set().union(*(g.minutes() for g in gaps)) & set(range(day_ms, day_ms + _DAY_MS, 60_000))
            if day >= today:
                _fill_from_rest(
                    store, settings, [g for g in gaps if g.kind == "chain" and g.last >= day_ms], report
                )
                continue
            file = daily(settings.symbol, day)
            try:
                path, checksum = fetcher.fetch(file)
            except NotPublishedError:
                report.not_published.append(file.path)
                continue
            except (FetchError, ChecksumError, OSError) as exc:
                report.refused.append(f"{file.path}: {exc}")
                continue
            result = aggregate_files([path], settings.symbol)
            loaded = load_rows(
                store,
                file_path=file.path,
                symbol=settings.symbol,
                checksum=checksum,
                rows=result.rows,
                trade_count=result.accepted,
                rejected=len(result.rejects),
                replace=True,
                only_minutes=wanted,
            )
            if not settings.keep:
                fetcher.discard(path)
            report.loaded.append(file.path)
            report.rows_written += loaded.written
            report.replaced.extend((settings.symbol, m) for m in loaded.replaced)
    return report


def _fill_from_rest(store: Store, settings: BackfillSettings, gaps: list[Gap], report: Report) -> None:
    from producer.backfill import RestPages
    from producer.settings import ProducerSettings
    from producer.stats import Stats

    options = {"symbols": (settings.symbol,), "rest_timeout": settings.timeout, "backfill_give_up": 120.0}
    if settings.rest_url:
        options["binance_rest_url"] = settings.rest_url
    pages = RestPages(ProducerSettings(**options), Stats())
    try:
        for gap in gaps:
            assert gap.from_id is not None and gap.to_id is not None
            trades, next_id = [], gap.from_id
            while next_id <= gap.to_id:
                page = asyncio.run(pages.page(settings.symbol, next_id, min(1000, gap.to_id - next_id + 1)))
                if not page:
                    break
                trades.extend(item.trade for item in page if item.trade.agg_id <= gap.to_id)
                next_id = page[-1].trade.agg_id + 1
            key = f"aggTrades/{settings.symbol}/{gap.from_id}-{gap.to_id}"
            etag = hashlib.sha256(",".join(str(t.agg_id) for t in trades).encode()).hexdigest()
            result = store.ingest(ObjectRef("binance-rest", key, etag), trades, lines=len(trades), rejected=0)
            report.loaded.append(f"REST {key}")
            report.rows_written += result.minutes
            logger.info("%s: %d trades from REST, %d minutes recomputed", key, len(trades), result.minutes)
    finally:
        pages.close()


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


# -- the commands -------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    backfill_parser = subparsers.add_parser(
        "backfill",
        help="load past days from Binance's public data (checksums verified, resumable)",
        description=(__doc__ or "").split("\n\n")[1],
    )
    _common(backfill_parser)
    backfill_parser.add_argument(
        "--source",
        default=DEFAULT_BASE_URL,
        help=f"public-data base URL or local folder of the same layout (default {DEFAULT_BASE_URL})",
    )
    backfill_parser.add_argument(
        "--jobs", type=arguments.positive, default=4, help="parallel downloads (default 4)"
    )
    backfill_parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per request (default 30)"
    )
    backfill_parser.add_argument("--retries", type=int, default=5, help="retries per file (default 5)")
    backfill_parser.add_argument(
        "--replace", action="store_true", help="overwrite minutes the live path holds (says which differed)"
    )
    backfill_parser.add_argument(
        "--gaps", action="store_true", help="fill the gaps `cryptotrades gaps` finds"
    )
    backfill_parser.add_argument("--cache-dir", type=Path, default=Path(ONEBOX_DIR).parent / "history")
    backfill_parser.add_argument(
        "--keep", action="store_true", help="keep the downloaded zips in --cache-dir"
    )
    backfill_parser.add_argument(
        "--rest-url",
        type=arguments.http_url,
        help="Binance REST base URL for today's gaps (default Binance's)",
    )
    backfill_parser.add_argument(
        "--no-progress", action="store_true", help="log lines instead of a progress bar"
    )
    backfill_parser.set_defaults(func=run_backfill)

    gaps_parser = subparsers.add_parser(
        "gaps", help="list minutes without a row and broken agg-id chains", description=Gap.__doc__
    )
    _common(gaps_parser)
    gaps_parser.set_defaults(func=run_gaps)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", type=arguments.symbol, default="BTCUSDT", help="market (default BTCUSDT)")
    parser.add_argument("--from", dest="first", required=True, type=_day, help="first UTC day, YYYY-MM-DD")
    parser.add_argument("--to", dest="last", type=_day, help="last UTC day, inclusive (default yesterday)")
    parser.add_argument(
        "--db",
        type=arguments.database_url,
        default=None,
        help=f"database URL (default ${DB_URL_ENV}, else {DEFAULT_DB_URL})",
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day like 2026-01-31") from None


def _settings(args: argparse.Namespace, today: date) -> BackfillSettings:
    import os

    last = args.last or today - timedelta(days=1)
    if last < args.first:
        raise SettingsError(f"--to {last} is before --from {args.first}")
    source = getattr(args, "source", DEFAULT_BASE_URL)
    if not source.startswith(("http://", "https://")) and not Path(source).is_dir():
        raise SettingsError(f"--source {source!r}: expected an http(s) URL or a folder of the same layout")
    if getattr(args, "timeout", 30.0) <= 0:
        raise SettingsError(f"--timeout {args.timeout!r}: expected seconds above 0")
    if getattr(args, "retries", 5) < 0:
        raise SettingsError(f"--retries {args.retries!r}: expected 0 or more")
    cache_dir = getattr(args, "cache_dir", None)
    if cache_dir is not None and cache_dir.exists() and not cache_dir.is_dir():
        raise SettingsError(f"--cache-dir {str(cache_dir)!r}: not a folder")
    return BackfillSettings(
        symbol=args.symbol.upper(),
        first=args.first,
        last=last,
        db_url=args.db or os.environ.get(DB_URL_ENV) or DEFAULT_DB_URL,
        source=getattr(args, "source", DEFAULT_BASE_URL),
        cache_dir=getattr(args, "cache_dir", Path(ONEBOX_DIR).parent / "history"),
        jobs=max(1, getattr(args, "jobs", 4)),
        timeout=getattr(args, "timeout", 30.0),
        retries=getattr(args, "retries", 5),
        replace=getattr(args, "replace", False),
        keep=getattr(args, "keep", False),
        rest_url=getattr(args, "rest_url", None),
    )


def run_backfill(args: argparse.Namespace) -> int:
    today = datetime.now(UTC).date()
    try:
        settings = _settings(args, today)
        if args.gaps:
            report = fill_gaps(settings, today=today)
        else:
            show = sys.stderr.isatty() and not args.no_progress
            report = backfill(settings, today=today, show_progress=show)
    except (SettingsError, StoreError, BinanceError, RestError) as exc:
        print(f"cryptotrades backfill: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    _print_report(report)
    if report.interrupted:
        print("stopped: run the same command again to go on from here", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_REFUSED if report.refused else 0


def _print_report(report: Report) -> None:
    print(
        f"{len(report.loaded)} loaded, {len(report.skipped)} already loaded, {len(report.changed)} changed, "
        f"{len(report.refused)} refused, {len(report.not_published)} not published; "
        f"{report.rows_written} minute rows written"
    )
    for path in report.changed:
        print(f"changed since last loaded: {path}")
    for reason in report.refused:
        print(f"refused: {reason}")
    if report.differed:
        verb = "replaced" if report.replaced else "kept (use --replace to overwrite)"
        print(f"{len(report.differed)} minutes held by the live path differ from history, {verb}:")
        for symbol, minute in report.differed[:50]:
            print(f"  {symbol} {minute_text(minute)}")


def run_gaps(args: argparse.Namespace) -> int:
    today = datetime.now(UTC).date()
    try:
        settings = _settings(args, today + timedelta(days=1))
        with open_store(settings.db_url) as store:
            gaps = gaps_in_store(store, settings.symbol, _ms(settings.first), _ms(settings.last) + _DAY_MS)
    except (SettingsError, StoreError) as exc:
        print(f"cryptotrades gaps: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    for gap in gaps:
        print(gap.describe())
    print(f"{len(gaps)} gaps from {settings.first} to {settings.last}", file=sys.stderr)
    return EXIT_GAPS if gaps else 0
