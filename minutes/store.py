"""The database of minute rows: MySQL (of record) and SQLite (the one-box default).

Both hold the same tables (``sql/<dialect>/``) with the same semantics and the same exact
values. Ingesting one S3 object is one transaction:

1. the ledger row for (bucket, key, etag) is inserted; if it was there, the object was
   processed before and nothing else happens (a repeated S3 event);
2. its trades are inserted by ``(symbol, agg_id)``, ignoring those already stored, so a
   trade in two objects counts once;
3. every minute the object touches is recomputed from all stored trades of that minute
   with the pure core, so rows are exact whatever the order of objects.

Writers of the same symbol take turns (a named lock in MySQL, the single writer lock in
SQLite), so two objects of one minute never recompute it from each other's half.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
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
    minute_ms,
    minute_rows,
    minute_text,
    record,
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
_SELECT_TRADES = (
    f"SELECT {_TRADE_COLUMNS} FROM agg_trades"  # noqa: S608 - constant columns
    " WHERE symbol = ? AND trade_time >= ? AND trade_time < ?"
)
_REPLACE_ROWS = f"REPLACE INTO trade_minutes ({_ROW_COLUMNS}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608
_SELECT_ROWS = f"SELECT {_ROW_COLUMNS} FROM trade_minutes"  # noqa: S608 - constant columns
_CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY,"
    " name VARCHAR(200) NOT NULL, applied_at VARCHAR(32) NOT NULL)"
)
_LEDGER_TOTALS = (
    "SELECT COUNT(*), COALESCE(SUM(line_count), 0), COALESCE(SUM(accepted), 0),"
    " COALESCE(SUM(rejected), 0), COALESCE(SUM(duplicates), 0), COALESCE(SUM(redeliveries), 0)"
    " FROM processed_objects"
)


# MySQL error numbers that mean "not now" rather than "never": can't connect, server gone,
# connection lost, too many connections, lock wait timeout, deadlock.
_MYSQL_UNAVAILABLE = {1040, 1205, 1213, 2003, 2006, 2013}
_MYSQL_NO_TABLE = 1146
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
            store = args[0]
            raise translated(exc, redacted(getattr(store, "url", "the database"))) from exc

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
    accepted: int
    rejected: int
    duplicates: int  # valid trades that were already stored
    minutes: int  # minute rows recomputed
    redelivered: bool  # the object was processed before; nothing changed


@dataclass(frozen=True, slots=True)
class LedgerTotals:
    objects: int
    lines: int
    accepted: int
    rejected: int
    duplicates: int
    redeliveries: int


class Store(ABC):
    """The tables of ``sql/`` behind one connection. Not thread-safe: one per thread.

    A context manager: ``with open_store(url) as store:`` closes the connection after use.
    """

    dialect: str
    _insert_ignore: str  # how this dialect spells "insert unless the key exists"

    def __init__(self, connection: Any, url: str) -> None:
        self.connection = connection
        self.url = url

    # -- the dialect's own ------------------------------------------------------------

    @abstractmethod
    def _begin(self) -> None: ...

    @contextmanager
    def _writer_lock(self, symbols: Sequence[str]) -> Iterator[None]:
        yield

    def _sql(self, statement: str) -> str:
        """Statements are written with ``?`` placeholders; MySQL's driver wants ``%s``."""
        return statement

    # -- what callers use -------------------------------------------------------------

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
                except Exception as exc:
                    self._rollback()
                    raise MigrationError(f"{migration.path}: {exc}") from exc
            self.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(UTC).isoformat()),
            )
            self._commit()
            done.append(f"{migration.version:03d}_{migration.name}")
            logger.info("applied migration %s to %s", done[-1], self.dialect)
        return done

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
        symbols = sorted({t.symbol for t in trades})
        with self._writer_lock(symbols):
            try:
                result = self._ingest(ref, trades, symbols, lines, rejected, quarantine_key)
                self._commit()
            except Exception:
                self._rollback()
                raise
        return result

    def _ingest(
        self,
        ref: ObjectRef,
        trades: Sequence[AggTrade],
        symbols: list[str],
        lines: int,
        rejected: int,
        quarantine_key: str | None,
    ) -> IngestResult:
        self._begin()
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        claimed = self._rowcount(
            f"{self._insert_ignore} INTO processed_objects (object_id, bucket, object_key, etag, line_count,"
            " accepted, rejected, duplicates, minutes, quarantine_key, processed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)",
            [
                (
                    ref.object_id,
                    ref.bucket,
                    ref.key,
                    ref.etag,
                    lines,
                    len(trades),
                    rejected,
                    quarantine_key,
                    now,
                )
            ],
        )
        if not claimed:
            self.execute(
                "UPDATE processed_objects SET redeliveries = redeliveries + 1 WHERE object_id = ?",
                (ref.object_id,),
            )
            logger.info("s3://%s/%s (etag %s) was processed before: no change", ref.bucket, ref.key, ref.etag)
            return IngestResult(ref, lines, len(trades), rejected, 0, 0, redelivered=True)

        ordered = sorted(trades, key=lambda t: (t.symbol, t.agg_id))
        inserted = self._rowcount(
            f"{self._insert_ignore} INTO agg_trades ({_TRADE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        rows = self._recompute({(t.symbol, t.minute) for t in trades})
        self.execute(
            "UPDATE processed_objects SET duplicates = ?, minutes = ? WHERE object_id = ?",
            (len(trades) - inserted, len(rows), ref.object_id),
        )
        return IngestResult(ref, lines, len(trades), rejected, len(trades) - inserted, len(rows), False)

    def _recompute(self, touched: set[tuple[str, int]]) -> list[MinuteRow]:
        """Rebuild each touched minute from every trade stored for it."""
        rows: list[MinuteRow] = []
        for symbol, start, end in _runs(touched):
            stored = self.execute(_SELECT_TRADES, (symbol, start, end))
            rows.extend(minute_rows(_trade(row) for row in stored))
        self._rowcount(_REPLACE_ROWS, [_row_params(row) for row in rows])
        return rows

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


def _runs(touched: Iterable[tuple[str, int]]) -> Iterator[tuple[str, int, int]]:
    """Consecutive touched minutes of a symbol, as (symbol, start ms, end ms) ranges."""
    for symbol, group in itertools.groupby(sorted(touched), key=itemgetter(0)):
        minutes = [minute for _, minute in group]
        start = minutes[0]
        for before, after in itertools.pairwise(minutes):
            if after != before + MINUTE_MS:
                yield symbol, start, before + MINUTE_MS
                start = after
        yield symbol, start, minutes[-1] + MINUTE_MS


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
    _insert_ignore = "INSERT OR IGNORE"

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
    _insert_ignore = "INSERT IGNORE"
    lock_timeout_s = 60

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
        return cls(connection, where)

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
    def _writer_lock(self, symbols: Sequence[str]) -> Iterator[None]:
        taken = []
        try:
            for symbol in symbols:  # sorted, so two writers never wait on each other in a circle
                name = f"cryptotrades.ingest.{symbol}"
                ((granted,),) = self.execute("SELECT GET_LOCK(?, ?)", (name, self.lock_timeout_s))
                if granted != 1:
                    raise StoreError(
                        f"could not lock {symbol} within {self.lock_timeout_s} s: another writer holds it"
                    )
                taken.append(name)
            yield
        finally:
            for name in reversed(taken):
                self.execute("SELECT RELEASE_LOCK(?)", (name,))


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
