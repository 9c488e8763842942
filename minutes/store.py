"""The database of minute rows: MySQL (of record) and SQLite (the one-box default).

Both hold the same tables (``sql/<dialect>/``) with the same semantics and the same exact
values. Ingesting one S3 object is one transaction (`Store.ingestion`):

1. the ledger row for (bucket, key, etag) is inserted; if it was there, the object was
   processed before and nothing else happens (a repeated S3 event);
2. its trades arrive in batches; a trade of a final minute (see below) is counted as late
   and not stored; the others are inserted by ``(symbol, agg_id)``, ignoring those already
   stored, so a trade in two objects counts once (never ``INSERT IGNORE``, which would
   clamp an out-of-range value instead of failing);
3. every minute the object touches is recomputed from all stored trades of that minute
   with the pure core, read in chunks ordered by agg id, so rows are exact whatever the
   order of objects and a minute of any size costs one chunk of memory;
4. the ledger row gets the object's counts and outcome; an object refused whole (too
   large, broken compression) keeps only its ledger row, with the reason.

Writers take turns: one named lock per database in MySQL, the single writer lock in
SQLite, so two objects of one minute never recompute it from each other's half.

**Final minutes.** Raw trades are kept for a retention window (`Store.prune`); before it
drops the trades of older minutes it marks them final in ``final_ranges`` (symbol ``*``,
source ``retention``). Loaders of Binance's public data mark the ranges they wrote final
too (`Store.mark_final`, source ``history``). A final minute's row is never recomputed by
an ingestion: its trades are late. ``cryptotrades rebuild`` (`Store.rebuild`) rewrites any
range, final minutes included, from the raw objects on purpose.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ParamSpec, Self, TypeVar
from urllib.parse import unquote, urlsplit

import pymysql

from binance.events import MINUTE_MS, AggTrade
from contract.errors import SettingsError
from minutes import sqlite_functions
from minutes.aggregate import (
    COLUMNS,
    PLACES,
    MinuteRow,
    combined,
    minute_ms,
    minute_rows,
    minute_text,
    record,
    summarize,
)
from minutes.errors import MigrationError, SchemaMissingError, StoreError, StoreUnavailableError
from minutes.migrations import migrations

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

_TRADE_COLUMNS = "symbol, agg_id, price, qty, first_trade_id, last_trade_id, trade_time, is_buyer_maker"
_ROW_COLUMNS = ", ".join(COLUMNS.values())

# Statements use ? placeholders (MySQL's are swapped in by MySqlStore._sql). Only our own
# column constants are formatted into them, never a value.
# A minute's trades by the time index. Without the hint both SQLite and MariaDB read the
# symbol's whole primary key to spare the sort that ORDER BY agg_id asks for: every trade
# ever stored, for each minute recomputed. {table} is the dialect's hinted table name.
_SELECT_TRADES = (
    f"SELECT {_TRADE_COLUMNS} FROM {{table}}"  # noqa: S608 - constant columns
    " WHERE symbol = ? AND trade_time >= ? AND trade_time < ? ORDER BY agg_id"
)
_REPLACE_ROWS = f"REPLACE INTO trade_minutes ({_ROW_COLUMNS}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608
_SELECT_ROWS = f"SELECT {_ROW_COLUMNS} FROM trade_minutes"  # noqa: S608 - constant columns
_CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY,"
    " name VARCHAR(200) NOT NULL, applied_at VARCHAR(32) NOT NULL)"
)
_LEDGER_TOTALS = (
    "SELECT COUNT(*), COALESCE(SUM(line_count), 0), COALESCE(SUM(accepted), 0),"
    " COALESCE(SUM(rejected), 0), COALESCE(SUM(duplicates), 0), COALESCE(SUM(redeliveries), 0),"
    " COALESCE(SUM(late), 0), COALESCE(SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(klines), 0) FROM processed_objects"
)
_UPDATE_LEDGER = (
    "UPDATE processed_objects SET line_count = ?, accepted = ?, rejected = ?, duplicates = ?,"
    " minutes = ?, late = ?, status = ?, reason = ?, quarantine_key = ?, first_trade_time = ?,"
    " last_trade_time = ?, klines = ? WHERE object_id = ?"
)
ALL_SYMBOLS = "*"  # final_ranges.symbol for a range final for every symbol (not a valid symbol)
RETENTION = "retention"  # final_ranges.source of the retention's one range
_EPOCH = "1970-01-01 00:00:00"
READ_CHUNK = 50_000  # stored trades read, and rows folded, at a time

# The ledger's status of an object.
PROCESSED = "processed"  # its valid trades are stored
LATE = "late"  # some valid trades fell in final minutes: counted, not stored
REJECTED = "rejected"  # refused whole (too large, broken compression): nothing stored


# MySQL error numbers that mean "not now" rather than "never": can't connect, server gone,
# connection lost, too many connections, lock wait timeout, deadlock.
_MYSQL_UNAVAILABLE = {1040, 1205, 1213, 2003, 2006, 2013}
_MYSQL_NO_TABLE = 1146
_MYSQL_ALREADY_THERE = {1060, 1061}  # duplicate column, duplicate key name: a migration re-run
_DRIVER_ERRORS = (sqlite3.Error, pymysql.MySQLError)


def translated(exc: Exception, where: str) -> StoreError:
    """A driver's error as one of ours, naming the database (never its password)."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = str(exc)
    if code == _MYSQL_NO_TABLE or "no such table" in text:
        return SchemaMissingError(f"{where}: the tables are missing ({text}); run `cryptotrades db migrate`")
    if (
        code in _MYSQL_UNAVAILABLE
        or isinstance(exc, pymysql.InterfaceError)
        or "database is locked" in text
        or "unable to open" in text
    ):
        return StoreUnavailableError(f"{where}: {text}")
    return StoreError(f"{where}: {text}")


def _at_edge(method: Callable[P, R]) -> Callable[P, R]:
    """Driver errors leave a public method of the store as `StoreError` subclasses."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except _DRIVER_ERRORS as exc:
            owner = args[0]  # a Store, or an Ingestion (which names its store's URL)
            raise translated(exc, redacted(getattr(owner, "url", "the database"))) from exc

    return wrapper


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One version of one S3 object: what the ledger is keyed by."""

    bucket: str
    key: str
    etag: str

    @property
    def object_id(self) -> str:
        return hashlib.sha256(f"{self.bucket}\0{self.key}\0{self.etag}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one object did to the database."""

    ref: ObjectRef
    lines: int
    accepted: int  # valid trades, late ones included
    rejected: int  # lines quarantined
    duplicates: int  # valid trades that were already stored
    minutes: int  # minute rows recomputed
    redelivered: bool  # the object was processed before; nothing changed
    late: int = 0  # valid trades of final minutes: counted, not stored
    status: str = PROCESSED  # processed | late | rejected (refused whole)
    reason: str | None = None  # why an object was refused whole
    klines: int = 0  # valid closed klines the object held, stored (minutes.klines)


@dataclass(frozen=True, slots=True)
class LedgerTotals:
    objects: int
    lines: int
    accepted: int
    rejected: int
    duplicates: int
    redeliveries: int
    late: int = 0
    rejected_objects: int = 0
    klines: int = 0  # lines that were Binance klines (issue 14), stored in binance_klines


@dataclass(frozen=True, slots=True)
class FinalRange:
    """Minutes ``start_ms <= minute < end_ms`` of ``symbol`` (``*``: every symbol) are final."""

    symbol: str
    start_ms: int
    end_ms: int
    source: str


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one retention pass did: minutes before ``final_before`` are final, ``deleted``
    raw trades were dropped, and ``done`` says none older is left."""

    final_before: int
    deleted: int
    done: bool


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """What a rebuild of one range of minutes found and did."""

    trades: int  # distinct trades of the range, from the raw objects and the stored ones
    added: list[MinuteRow]  # rows of minutes that had none
    changed: list[tuple[MinuteRow, MinuteRow]]  # (stored, rebuilt)
    unchanged: int
    kept: list[MinuteRow]  # stored rows of minutes without any trade found: left as they are


class Ingestion:
    """One object's transaction, fed its trades in batches; made by `Store.ingestion`.

    ``redelivered`` is true when the ledger already had the object: then there is nothing
    to do (the caller need not even read it) and `finish` is not called.
    """

    def __init__(self, store: Store, ref: ObjectRef, *, redelivered: bool) -> None:
        self.store = store
        self.ref = ref
        self.redelivered = redelivered
        self.result: IngestResult | None = (
            IngestResult(ref, 0, 0, 0, 0, 0, redelivered=True) if redelivered else None
        )
        self._touched: set[tuple[str, int]] = set()
        self._accepted = self._inserted = self._late = 0
        self._first_time: int | None = None
        self._last_time: int | None = None

    @property
    def url(self) -> str:
        return self.store.url

    @_at_edge
    def add(self, trades: Sequence[AggTrade]) -> None:
        """Store a batch of the object's valid trades (late ones are only counted)."""
        if not trades or self.result is not None:
            return
        self._accepted += len(trades)
        times = [t.trade_time for t in trades]
        low, high = min(times), max(times)
        self._first_time = low if self._first_time is None else min(self._first_time, low)
        self._last_time = high if self._last_time is None else max(self._last_time, high)
        kept = self.store._not_final(trades)
        self._late += len(trades) - len(kept)
        self._inserted += self.store._insert_trades(kept)
        self._touched.update((t.symbol, t.minute) for t in kept)

    @_at_edge
    def finish(
        self, *, lines: int, rejected: int, quarantine_key: str | None = None, klines: int = 0
    ) -> IngestResult:
        """Recompute the touched minutes and complete the ledger row (``klines``: how many
        closed klines the caller stored in this transaction, see ``minutes.klines``)."""
        if self.result is not None:
            return self.result
        rows = self.store._recompute(self._touched)
        duplicates = self._accepted - self._late - self._inserted
        status = LATE if self._late else PROCESSED
        self.store.execute(
            _UPDATE_LEDGER,
            (
                lines,
                self._accepted,
                rejected,
                duplicates,
                len(rows),
                self._late,
                status,
                None,
                quarantine_key,
                self._first_time,
                self._last_time,
                klines,
                self.ref.object_id,
            ),
        )
        self.result = IngestResult(
            self.ref,
            lines,
            self._accepted,
            rejected,
            duplicates,
            len(rows),
            False,
            self._late,
            status,
            klines=klines,
        )
        return self.result

    @_at_edge
    def reject_whole(self, reason: str, *, lines: int, quarantine_key: str | None) -> IngestResult:
        """Undo every trade of the object and record it as refused whole, with the reason."""
        if self.result is not None:
            return self.result
        self.store.execute("ROLLBACK TO SAVEPOINT claimed")
        self.store.execute(
            _UPDATE_LEDGER,
            (
                lines,
                0,
                0,
                0,
                0,
                0,
                REJECTED,
                reason[:1000],
                quarantine_key,
                None,
                None,
                0,
                self.ref.object_id,
            ),
        )
        self.result = IngestResult(self.ref, lines, 0, 0, 0, 0, False, 0, REJECTED, reason)
        return self.result


class Store(ABC):
    """The tables of ``sql/`` behind one connection. Not thread-safe: one per thread.

    A context manager: ``with open_store(url) as store:`` closes the connection after use.
    """

    dialect: str
    _trades_by_time: str  # agg_trades, read through its (symbol, trade_time) index
    _insert_new = "INSERT"  # with _unless_key_exists: insert, or nothing when the key is there

    def _unless_key_exists(self, key: str) -> str:
        """The clause that makes an insert of an existing key a no-op (0 rows), never an error
        and never a clamp: unlike INSERT IGNORE, an out-of-range value still fails."""
        raise NotImplementedError

    def __init__(self, connection: Any, url: str) -> None:
        self.connection = connection
        self.url = url

    # -- the dialect's own ------------------------------------------------------------

    @abstractmethod
    def _begin(self) -> None: ...

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        yield

    def _rollback_quietly(self) -> None:
        """Roll back after an error; a connection already gone has nothing to roll back."""
        try:
            self._rollback()
        except _DRIVER_ERRORS:
            logger.warning("rollback failed on %s (the connection is gone)", redacted(self.url))

    def _sql(self, statement: str) -> str:
        """Statements are written with ``?`` placeholders; MySQL's driver wants ``%s``."""
        return statement

    # -- what callers use -------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One write transaction, in turn with every other writer (the lock ``ingest`` takes), for
        loaders that write through ``execute`` (``minutes.history``)."""
        try:
            with self._writer_lock():
                self._begin()
                try:
                    yield
                except BaseException:
                    self._rollback_quietly()
                    raise
                self._commit()
        except _DRIVER_ERRORS as exc:
            raise translated(exc, redacted(self.url)) from exc

    @_at_edge
    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one parameterised statement (``?`` placeholders) and return its rows."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(self._sql(statement), tuple(params))
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    @_at_edge
    def migrate(self) -> list[str]:
        """Apply the migrations this database has not seen; answer their names."""
        self.execute(_CREATE_MIGRATIONS)
        self._commit()
        applied = {int(v) for (v,) in self.execute("SELECT version FROM schema_migrations")}
        done = []
        for migration in migrations(self.dialect):
            if migration.version in applied:
                continue
            for statement in migration.statements():
                try:
                    self.execute(statement)
                except StoreError as exc:
                    if _already_there(exc):  # a run cut short between this file and its record
                        continue
                    self._rollback()
                    raise MigrationError(f"{migration.path}: {exc}") from exc
            self.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(UTC).isoformat()),
            )
            self._commit()
            done.append(f"{migration.version:03d}_{migration.name}")
            logger.info("applied migration %s to %s", done[-1], self.dialect)
        self._recompute_queued()
        return done

    def _recompute_queued(self) -> None:
        """Recompute the minutes a migration queued in ``minutes_to_recompute`` (005 queues
        those that rows under refused symbols may have disturbed), for every symbol."""
        try:
            queued = [minute_ms(t) for (t,) in self.execute("SELECT TIME FROM minutes_to_recompute")]
        except SchemaMissingError:  # a schema before migration 005 has nothing queued
            queued = []
        self._commit()
        if not queued:
            return
        with self._writer_lock():
            try:
                self._begin()
                symbols = {s for (s,) in self.execute("SELECT DISTINCT symbol FROM agg_trades")}
                rows = self._recompute({(symbol, minute) for symbol in symbols for minute in queued})
                self.execute("DELETE FROM minutes_to_recompute")
                self._commit()
            except Exception:
                self._rollback()
                raise
        logger.info("recomputed %d minute rows of %d queued minutes", len(rows), len(queued))

    @_at_edge
    def ingest(
        self,
        ref: ObjectRef,
        trades: Sequence[AggTrade],
        *,
        lines: int,
        rejected: int,
        quarantine_key: str | None = None,
    ) -> IngestResult:
        """Store one object's trades and recompute its minutes, all or nothing."""
        with self.ingestion(ref) as ingestion:
            ingestion.add(trades)
            return ingestion.finish(lines=lines, rejected=rejected, quarantine_key=quarantine_key)

    @contextmanager
    def ingestion(self, ref: ObjectRef) -> Iterator[Ingestion]:
        """One object's transaction: the ledger row is claimed on entry (or found: then
        ``redelivered``), the caller adds trades and finishes, and leaving commits it all.
        An error inside rolls everything back, the ledger row included, so a retry redoes
        the whole object."""
        with self._writer_lock():
            try:
                ingestion = self._claim(ref)
                yield ingestion
                if ingestion.result is None:
                    raise StoreError(f"s3://{ref.bucket}/{ref.key}: ingestion left without finish()")
                self._commit()
            except BaseException:
                self._rollback_quietly()
                raise

    @_at_edge
    def _claim(self, ref: ObjectRef) -> Ingestion:
        self._begin()
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        claimed = self._rowcount(
            f"{self._insert_new} INTO processed_objects (object_id, bucket, object_key, etag, line_count,"
            " accepted, rejected, duplicates, minutes, quarantine_key, processed_at)"
            f" VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, NULL, ?){self._unless_key_exists('object_id')}",
            [(ref.object_id, ref.bucket, ref.key, ref.etag, now)],
        )
        if not claimed:
            self.execute(
                "UPDATE processed_objects SET redeliveries = redeliveries + 1 WHERE object_id = ?",
                (ref.object_id,),
            )
            logger.info("s3://%s/%s (etag %s) was processed before: no change", ref.bucket, ref.key, ref.etag)
            return Ingestion(self, ref, redelivered=True)
        self.execute("SAVEPOINT claimed")
        return Ingestion(self, ref, redelivered=False)

    def _insert_trades(self, trades: Sequence[AggTrade]) -> int:
        """Insert the trades not stored yet; answer how many were new."""
        ordered = sorted(trades, key=lambda t: (t.symbol, t.agg_id))
        return self._rowcount(
            f"{self._insert_new} INTO agg_trades ({_TRADE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            + self._unless_key_exists("symbol, agg_id"),
            [
                (
                    t.symbol,
                    t.agg_id,
                    str(t.price),
                    str(t.qty),
                    t.first_trade_id,
                    t.last_trade_id,
                    t.trade_time,
                    int(t.is_buyer_maker),
                )
                for t in ordered
            ],
        )

    def _not_final(self, trades: Sequence[AggTrade]) -> list[AggTrade]:
        """The trades whose minute is not final (one query for the batch)."""
        symbols = sorted({t.symbol for t in trades})
        low = min(t.minute for t in trades)
        high = max(t.minute for t in trades)
        ranges = self.final_ranges(symbols, low, high + MINUTE_MS)
        if not ranges:
            return list(trades)
        by_symbol: dict[str, list[FinalRange]] = {}
        for found in ranges:
            by_symbol.setdefault(found.symbol, []).append(found)
        every = by_symbol.get(ALL_SYMBOLS, [])
        return [
            t
            for t in trades
            if not any(r.start_ms <= t.minute < r.end_ms for r in (*every, *by_symbol.get(t.symbol, ())))
        ]

    def _recompute(self, touched: set[tuple[str, int]]) -> list[MinuteRow]:
        """Rebuild each touched minute from every trade stored for it, in chunks."""
        rows: list[MinuteRow] = []
        for symbol, minute in sorted(touched):
            row: MinuteRow | None = None
            for chunk in self._chunks(
                _SELECT_TRADES.format(table=self._trades_by_time), (symbol, minute, minute + MINUTE_MS)
            ):
                part = summarize(symbol, minute, [_trade(values) for values in chunk])
                row = part if row is None else combined(row, part)
            if row is not None:
                rows.append(row)
        self._rowcount(_REPLACE_ROWS, [_row_params(row) for row in rows])
        return rows

    def _stored_trades(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[list[tuple[Any, ...]]]:
        """The stored trades of ``symbol`` in ``[start_ms, end_ms)``, in agg-id order, in chunks."""
        return self._chunks(_SELECT_TRADES.format(table=self._trades_by_time), (symbol, start_ms, end_ms))

    def _chunks(self, statement: str, params: Sequence[Any]) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of a query, READ_CHUNK at a time, never all held at once."""
        cursor = self._streaming_cursor()
        try:
            cursor.execute(self._sql(statement), tuple(params))
            while chunk := cursor.fetchmany(READ_CHUNK):
                yield chunk
        finally:
            cursor.close()

    def _streaming_cursor(self) -> Any:
        return self.connection.cursor()

    # -- final minutes and retention ----------------------------------------------------

    @_at_edge
    def final_ranges(
        self, symbols: Sequence[str] | None = None, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[FinalRange]:
        """The final ranges of these symbols (and of every symbol) that meet
        ``[start_ms, end_ms)``; all of them when no argument is given."""
        where, params = [], []
        if symbols is not None:
            names = [*symbols, ALL_SYMBOLS]
            where.append(f"symbol IN ({', '.join('?' * len(names))})")
            params.extend(names)
        if end_ms is not None:
            where.append("start_time < ?")
            params.append(minute_text(end_ms))
        if start_ms is not None:
            where.append("end_time > ?")
            params.append(minute_text(start_ms))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        found = self.execute(
            f"SELECT symbol, start_time, end_time, source FROM final_ranges{clause}"  # noqa: S608
            " ORDER BY symbol, start_time",
            params,
        )
        return [FinalRange(name, minute_ms(start), minute_ms(end), src) for name, start, end, src in found]

    def is_final(self, symbol: str, minute: int) -> bool:
        return bool(self.final_ranges([symbol], minute, minute + MINUTE_MS))

    @_at_edge
    def mark_final(self, symbol: str, start_ms: int, end_ms: int, source: str) -> None:
        """Make minutes ``[start_ms, end_ms)`` of ``symbol`` (``*``: every symbol) final, as a
        loader of complete data does for what it wrote. A range only ever grows."""
        if start_ms % MINUTE_MS or end_ms % MINUTE_MS or end_ms <= start_ms:
            raise StoreError(f"final range {start_ms}..{end_ms}: expected whole minutes, start before end")
        with self._writer_lock():
            try:
                self._begin()
                self._mark_final(symbol, start_ms, end_ms, source)
                self._commit()
            except Exception:
                self._rollback()
                raise

    def _mark_final(self, symbol: str, start_ms: int, end_ms: int, source: str) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        start, end = minute_text(start_ms), minute_text(end_ms)
        found = self.execute(
            "SELECT end_time FROM final_ranges WHERE symbol = ? AND start_time = ?", (symbol, start)
        )
        if not found:
            self.execute(
                "INSERT INTO final_ranges (symbol, start_time, end_time, source, marked_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (symbol, start, end, source, now),
            )
        elif minute_ms(found[0][0]) < end_ms:
            self.execute(
                "UPDATE final_ranges SET end_time = ?, source = ?, marked_at = ?"
                " WHERE symbol = ? AND start_time = ?",
                (end, source, now, symbol, start),
            )

    @_at_edge
    def prune(self, *, now_ms: int, retention_ms: int, max_rows: int, batch_rows: int = 5_000) -> Pruned:
        """Keep raw trades for ``retention_ms``: mark older minutes final, then drop up to
        ``max_rows`` of their trades in batches of ``batch_rows``, each its own short
        transaction (a writer waits for one batch at most).

        The window is measured back from the newest minute stored, or from ``now_ms`` if
        that is earlier: a pipeline that was stopped, or a replay of old trades, never finds
        its own minutes final.
        """
        with self._writer_lock():  # an ingestion checks finality under the same lock
            try:
                self._begin()
                ((newest,),) = self.execute("SELECT MAX(TIME) FROM trade_minutes")
                marked = max((r.end_ms for r in self.final_ranges([]) if r.source == RETENTION), default=0)
                if newest is not None:
                    cutoff = min(now_ms, minute_ms(newest) + MINUTE_MS) - retention_ms
                    cutoff -= cutoff % MINUTE_MS
                    if cutoff > marked:
                        self._mark_final(ALL_SYMBOLS, 0, cutoff, RETENTION)
                        marked = cutoff
                self._commit()
            except Exception:
                self._rollback()
                raise
        deleted = 0
        symbols = [s for (s,) in self.execute("SELECT DISTINCT symbol FROM trade_minutes")] if marked else []
        self._commit()
        for symbol in symbols:
            while True:
                limit = min(batch_rows, max_rows - deleted)
                if limit <= 0:
                    return Pruned(marked, deleted, done=False)
                count = self._delete_older(symbol, marked, limit)
                self._commit()
                deleted += count
                if count < limit:
                    break
        return Pruned(marked, deleted, done=True)

    def _delete_older(self, symbol: str, before_ms: int, limit: int) -> int:
        return self._rowcount(
            "DELETE FROM agg_trades WHERE symbol = ? AND trade_time < ? ORDER BY trade_time LIMIT ?",
            [(symbol, before_ms, limit)],
        )

    # -- rebuild ------------------------------------------------------------------------

    @_at_edge
    def rebuild(
        self, found: Iterable[AggTrade], start_ms: int, end_ms: int, *, dry_run: bool = False
    ) -> Rebuilt:
        """Recompute every minute of ``[start_ms, end_ms)`` from ``found`` (the raw objects'
        trades of the range) and the trades still stored, final minutes included; store the
        trades of open minutes that were missing; replace the rows that differ.

        A minute with a stored row but no trade anywhere keeps its row (reported as kept).
        Everything is held in memory: callers rebuild long ranges an hour at a time.
        """
        with self._writer_lock():
            try:
                self._begin()
                result = self._rebuild(list(found), start_ms, end_ms, dry_run)
                if dry_run:
                    self._rollback()
                else:
                    self._commit()
            except Exception:
                self._rollback()
                raise
        return result

    def _rebuild(self, found: list[AggTrade], start_ms: int, end_ms: int, dry_run: bool) -> Rebuilt:
        stored_rows = {(r.symbol, r.minute): r for r in self._rows_between(start_ms, end_ms)}
        symbols = sorted({t.symbol for t in found} | {symbol for symbol, _ in stored_rows})
        trades: dict[tuple[str, int], AggTrade] = {}
        for symbol in symbols:
            for chunk in self._chunks(
                _SELECT_TRADES.format(table=self._trades_by_time), (symbol, start_ms, end_ms)
            ):
                for values in chunk:
                    trade = _trade(values)
                    trades[(trade.symbol, trade.agg_id)] = trade
        missing = [
            t for t in found if start_ms <= t.trade_time < end_ms and (t.symbol, t.agg_id) not in trades
        ]
        for trade in missing:
            trades[(trade.symbol, trade.agg_id)] = trade
        if missing and not dry_run:
            self._insert_trades(self._not_final(missing))
        rows = minute_rows(trades.values())
        added = [row for row in rows if (row.symbol, row.minute) not in stored_rows]
        changed = [
            (stored_rows[(row.symbol, row.minute)], row)
            for row in rows
            if (row.symbol, row.minute) in stored_rows and stored_rows[(row.symbol, row.minute)] != row
        ]
        rebuilt = {(row.symbol, row.minute) for row in rows}
        kept = [row for key, row in sorted(stored_rows.items()) if key not in rebuilt]
        if not dry_run:
            self._rowcount(_REPLACE_ROWS, [_row_params(row) for row in added + [new for _, new in changed]])
        return Rebuilt(len(trades), added, changed, len(rows) - len(added) - len(changed), kept)

    def _rows_between(self, start_ms: int, end_ms: int) -> list[MinuteRow]:
        found = self.execute(
            f"{_SELECT_ROWS} WHERE TIME >= ? AND TIME < ? ORDER BY symbol, TIME",
            (minute_text(start_ms), minute_text(end_ms)),
        )
        return [_minute_row(values) for values in found]

    @_at_edge
    def write_rows(self, rows: Sequence[MinuteRow]) -> int:
        """Replace these minute rows as they are (a loader of complete data, such as Binance's
        public files, writes its rows this way, then marks their range final)."""
        with self._writer_lock():
            try:
                self._begin()
                self._rowcount(_REPLACE_ROWS, [_row_params(row) for row in rows])
                self._commit()
            except Exception:
                self._rollback()
                raise
        return len(rows)

    @_at_edge
    def objects_overlapping(self, start_ms: int, end_ms: int) -> list[tuple[str, str]]:
        """(bucket, key) of the ledger's objects whose valid trades reach into the range."""
        found = self.execute(
            "SELECT DISTINCT bucket, object_key FROM processed_objects"
            " WHERE last_trade_time >= ? AND first_trade_time < ? ORDER BY bucket, object_key",
            (start_ms, end_ms),
        )
        self._commit()
        return [(bucket, key) for bucket, key in found]

    @_at_edge
    def buckets(self) -> list[str]:
        """The buckets the ledger has seen objects of."""
        found = [bucket for (bucket,) in self.execute("SELECT DISTINCT bucket FROM processed_objects")]
        self._commit()
        return sorted(found)

    @_at_edge
    def minute_rows(
        self, symbol: str | None = None, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[MinuteRow]:
        """Stored rows, oldest first; ``start_ms`` inclusive, ``end_ms`` exclusive."""
        where, params = [], []
        if symbol is not None:
            where.append("symbol = ?")
            params.append(symbol)
        if start_ms is not None:
            where.append("TIME >= ?")
            params.append(minute_text(start_ms))
        if end_ms is not None:
            where.append("TIME < ?")
            params.append(minute_text(end_ms))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        found = self.execute(f"{_SELECT_ROWS}{clause} ORDER BY symbol, TIME", params)
        self._commit()  # end the read's transaction, so the next read sees newer rows
        return [_minute_row(values) for values in found]

    @_at_edge
    def ledger_totals(self) -> LedgerTotals:
        (values,) = self.execute(_LEDGER_TOTALS)
        self._commit()
        return LedgerTotals(*(int(v) for v in values))

    @_at_edge
    def rollback(self) -> None:
        """End the current transaction without writing (a reader's, so its next read is fresh)."""
        self._rollback()

    def is_alive(self) -> bool:
        """Whether the connection still works (a server may close idle ones)."""
        return True

    @_at_edge
    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------

    def _rowcount(self, statement: str, params: list[tuple[Any, ...]]) -> int:
        if not params:
            return 0
        cursor = self.connection.cursor()
        try:
            cursor.executemany(self._sql(statement), params)
            return cursor.rowcount
        finally:
            cursor.close()

    def _commit(self) -> None:
        self.connection.commit()

    def _rollback(self) -> None:
        self.connection.rollback()


def _already_there(exc: StoreError) -> bool:
    """A migration statement that failed because its column or index exists already."""
    cause = exc.__cause__
    code = cause.args[0] if cause is not None and cause.args and isinstance(cause.args[0], int) else None
    return code in _MYSQL_ALREADY_THERE or "duplicate column name" in str(exc)


def _trade(values: Sequence[Any]) -> AggTrade:
    symbol, agg_id, price, qty, first_id, last_id, trade_time, maker = values
    return AggTrade(
        symbol,
        int(agg_id),
        Decimal(price),
        Decimal(qty),
        int(first_id),
        int(last_id),
        int(trade_time),
        bool(maker),
    )


def _row_params(row: MinuteRow) -> tuple[Any, ...]:
    return tuple(record(row).values())


def _minute_row(values: Sequence[Any]) -> MinuteRow:
    symbol, time, *rest = values
    numbers = [
        Decimal(value) if name in PLACES else int(value)
        for name, value in zip(list(COLUMNS)[2:], rest, strict=True)
    ]
    return MinuteRow(symbol, minute_ms(time), *numbers)


class SqliteStore(Store):
    dialect = "sqlite"
    _trades_by_time = "agg_trades INDEXED BY agg_trades_by_time"

    def _unless_key_exists(self, key: str) -> str:
        return f" ON CONFLICT ({key}) DO NOTHING"

    def _delete_older(self, symbol: str, before_ms: int, limit: int) -> int:
        # SQLite has DELETE ... LIMIT only when compiled for it: pick the keys first.
        return self._rowcount(
            "DELETE FROM agg_trades WHERE (symbol, agg_id) IN (SELECT symbol, agg_id FROM agg_trades"
            " WHERE symbol = ? AND trade_time < ? ORDER BY trade_time LIMIT ?)",
            [(symbol, before_ms, limit)],
        )

    @classmethod
    def open(cls, path: str, url: str) -> SqliteStore:
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are begun explicitly, so BEGIN IMMEDIATE can take
            # the write lock before the first read (another writer waits instead of failing late).
            connection = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA foreign_keys = ON")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the SQLite database {path}: {exc}") from exc
        sqlite_functions.register(connection)
        return cls(connection, url)

    def _begin(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("COMMIT")

    def _rollback(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")


class MySqlStore(Store):
    dialect = "mysql"
    _trades_by_time = "agg_trades FORCE INDEX (agg_trades_by_time)"
    lock_timeout_s = 60

    def __init__(self, connection: Any, url: str, database: str) -> None:
        super().__init__(connection, url)
        # GET_LOCK names are server-wide: one per database, so two databases never wait on each other.
        self.lock_name = f"cryptotrades.{hashlib.sha256(database.encode()).hexdigest()[:32]}"

    def _unless_key_exists(self, key: str) -> str:
        first = key.split(",")[0].strip()
        return f" ON DUPLICATE KEY UPDATE {first} = {first}"  # a no-op update: 0 rows affected

    def _streaming_cursor(self) -> Any:
        return self.connection.cursor(pymysql.cursors.SSCursor)  # rows stream, never all buffered

    def _delete_older(self, symbol: str, before_ms: int, limit: int) -> int:
        # Given ORDER BY trade_time LIMIT, MariaDB scans the primary key and sorts it all (a
        # million rows for each batch of 5,000). Find the batch's last agg id by the time index
        # (which holds the agg ids: no row is read), then delete by primary key range.
        ((bound,),) = self.execute(
            "SELECT MAX(agg_id) FROM (SELECT agg_id FROM agg_trades WHERE symbol = ? AND trade_time < ?"
            " ORDER BY trade_time LIMIT ?) AS batch",
            (symbol, before_ms, limit),
        )
        if bound is None:
            return 0
        return self._rowcount(
            "DELETE FROM agg_trades WHERE symbol = ? AND agg_id <= ? AND trade_time < ?",
            [(symbol, bound, before_ms)],
        )

    @classmethod
    def open(
        cls,
        *,
        host: str,
        port: int,
        user: str,
        password: str,
        database: str,
        ssl: dict[str, Any] | None = None,
        create_database: bool = False,
    ) -> MySqlStore:
        """Connect; ``create_database`` first creates ``database`` if it does not exist."""
        where = f"mysql://{user}@{host}:{port}/{database}"
        options: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "ssl": ssl,
            "charset": "utf8mb4",
            "autocommit": False,
            "connect_timeout": 10,
            # READ COMMITTED: a recompute sees every trade committed before it took the lock.
            # Both run again on every reconnect.
            "init_command": "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            "sql_mode": "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY",
        }
        try:
            if create_database:
                bootstrap = pymysql.connect(**options)
                try:
                    with bootstrap.cursor() as cursor:
                        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{_identifier(database)}`")
                finally:
                    bootstrap.close()
            connection = pymysql.connect(database=database, **options)
        except pymysql.MySQLError as exc:
            raise StoreError(f"cannot connect to {where}: {exc}") from exc
        return cls(connection, where, database)

    @_at_edge
    def close(self) -> None:
        if self.connection.open:  # a connection the server dropped is closed already
            self.connection.close()

    def is_alive(self) -> bool:
        """Whether the server still holds this connection (a warm Lambda's may have been closed)."""
        try:
            self.connection.ping(reconnect=False)
        except pymysql.MySQLError:
            return False
        return True

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def _begin(self) -> None:
        self.connection.begin()

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        ((granted,),) = self.execute("SELECT GET_LOCK(?, ?)", (self.lock_name, self.lock_timeout_s))
        if granted != 1:
            raise StoreUnavailableError(
                f"{self.url}: another writer held the database for {self.lock_timeout_s} s; try again"
            )
        try:
            yield
        finally:
            if self.connection.open:  # a dropped connection released its locks with it
                self.execute("SELECT RELEASE_LOCK(?)", (self.lock_name,))


def open_store(url: str, *, create_database: bool = False) -> Store:
    """Open ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or ``mysql://user:pw@host:port/db``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise SettingsError(f"database URL {redacted(url)!r}: expected sqlite:///path/to/file.db")
        return SqliteStore.open(path, url)
    if parts.scheme in ("mysql", "mysql+pymysql", "mariadb"):
        database = parts.path.lstrip("/")
        if not parts.hostname or not database:
            raise SettingsError(
                f"database URL {redacted(url)!r}: expected mysql://user:password@host:port/database"
            )
        return MySqlStore.open(
            host=parts.hostname,
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=database,
            create_database=create_database,
        )
    raise SettingsError(f"database URL {redacted(url)!r}: the scheme must be sqlite or mysql")


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise SettingsError(f"database name {name!r}: only letters, digits and _ are allowed")
    return name


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
