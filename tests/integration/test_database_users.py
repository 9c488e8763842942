"""The aggregator and dashboard users on the real server (MariaDB here; the SQL is also MySQL 8.4's).

Each test makes its own database and its own uniquely named users (users are server-wide,
and other engineers' tests share this server), and drops them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pymysql
import pytest

from minutes import klines, users
from minutes.aggregate import minute_rows
from minutes.store import MySqlStore, ObjectRef, open_store
from tests.fixtures.data import kline_of, sample_trades
from tests.fixtures.servers import MYSQL_HOST, MYSQL_PORT, mysql_admin

pytestmark = pytest.mark.integration

TRADES = sample_trades()[:200]
DENIED = (1044, 1045, 1142, 1143, 1227, 1370)  # access denied: database, login, table, column, privilege


@dataclass
class Account:
    role: str
    name: str
    password: str
    database: str

    def connect(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(
            host=MYSQL_HOST,
            port=MYSQL_PORT,
            user=self.name,
            password=self.password,
            database=database or self.database,
            connect_timeout=5,
            autocommit=True,
        )


@pytest.fixture
def database(mysql_url) -> str:
    """A migrated database, its name."""
    with open_store(mysql_url) as store:
        store.migrate()
    return urlsplit(mysql_url).path.lstrip("/")


@pytest.fixture
def admin() -> Iterator[pymysql.Connection]:
    connection = mysql_admin()
    yield connection
    connection.close()


@pytest.fixture
def accounts(admin, database) -> Iterator[dict[str, Account]]:
    """An aggregator and a dashboard account, converged; dropped after the test."""
    suffix = uuid.uuid4().hex[:8]
    made = {
        role: Account(role, f"t_{role[:4]}_{suffix}", f"pw'{uuid.uuid4().hex}\"\\;", database)
        for role in (users.AGGREGATOR, users.DASHBOARD)
    }
    try:
        for account in made.values():
            users.converge_user(
                admin, role=account.role, username=account.name, password=account.password, database=database
            )
        yield made
    finally:
        with admin.cursor() as cursor:
            for account in made.values():
                cursor.execute("DROP USER IF EXISTS %s@%s", (account.name, users.HOST))


@pytest.fixture
def other_database(admin) -> Iterator[str]:
    name = f"ct_other_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
        cursor.execute(f"CREATE TABLE `{name}`.secrets (id INT PRIMARY KEY)")
    yield name
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def denied(connection: pymysql.Connection, statement: str) -> int:
    """Run a statement that must be refused; answer the server's error code."""
    with connection.cursor() as cursor, pytest.raises(pymysql.MySQLError) as caught:
        cursor.execute(statement)
    code = caught.value.args[0]
    assert code in DENIED, f"{statement!r} failed for another reason: {caught.value}"
    return code


def grants(admin: pymysql.Connection, account: Account) -> set[tuple[str, str, str]]:
    with admin.cursor() as cursor:
        held = users.read_held(cursor, account.name)
    assert not held.global_privileges and not held.schema_privileges and not held.grantable_tables
    return set(held.table_privileges)


# --- the aggregator -------------------------------------------------------------------------


def test_the_aggregator_user_ingests_replays_and_reads_its_rows(accounts) -> None:
    account = accounts[users.AGGREGATOR]
    store = MySqlStore.open(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user=account.name,
        password=account.password,
        database=account.database,
    )
    with store:
        ref = ObjectRef("bucket", "trades/date=2026-01-01/hour=00/minute=00/a.ndjson", "etag-1")
        with store.ingestion(ref) as ingestion:  # trades and klines, as the handler stores them
            ingestion.add(TRADES)
            rows = minute_rows(TRADES)
            klines.store_klines(store, [kline_of(row) for row in rows])
            klines.store_klines(store, [kline_of(rows[0], trades=1)])  # a different kline: UPDATE
            first = ingestion.finish(lines=len(TRADES) + len(rows) + 1, rejected=0, klines=len(rows) + 1)
        again = store.ingest(ref, TRADES, lines=len(TRADES), rejected=0)  # a repeated S3 event: UPDATE
        other = ObjectRef("bucket", "trades/date=2026-01-01/hour=00/minute=01/b.ndjson", "etag-2")
        overlap = store.ingest(other, TRADES[100:], lines=100, rejected=0)  # REPLACE of touched minutes
        assert (first.accepted, again.redelivered, overlap.duplicates) == (len(TRADES), True, 100)
        assert store.minute_rows() == minute_rows(TRADES)
        assert store.ledger_totals().redeliveries == 1
        # Retention, as the handler runs it after each event: minutes made final, raw trades dropped.
        newest = max(trade.trade_time for trade in TRADES)
        # (The window counts back from the newest stored minute, and these trades all fall in one.)
        pruned = store.prune(now_ms=newest + 60 * 60_000, retention_ms=0, max_rows=len(TRADES))
        assert pruned.deleted > 0
        assert store.minute_rows() == minute_rows(TRADES)  # the rows stay; only raw trades go
        summary = klines.check_summary(
            store, *klines.recent_window(store)
        )  # what it measures after each event
        assert (summary.counts["agrees"], summary.counts["differs"]) == (len(rows) - 1, 1)


def test_the_aggregator_user_cannot_change_the_schema_or_read_elsewhere(accounts, other_database) -> None:
    connection = accounts[users.AGGREGATOR].connect()
    try:
        for statement in (
            "DROP TABLE trade_minutes",
            "ALTER TABLE agg_trades ADD COLUMN x INT",
            "CREATE TABLE mine (id INT)",
            "TRUNCATE TABLE agg_trades",
            "CREATE OR REPLACE VIEW v AS SELECT 1",
            "SELECT * FROM schema_migrations",
            "DELETE FROM processed_objects",  # the ledger is only ever added to
            "DELETE FROM final_ranges",  # final ranges only ever grow
            "DELETE FROM binance_klines",  # a kline is replaced, never removed
            "UPDATE minute_check_settings SET pending_seconds = 0",
            "SELECT * FROM minute_check_settings",
            "UPDATE trade_minutes SET TOTAL_COUNT_BUY = 0",
            f"SELECT * FROM `{other_database}`.secrets",
            "SELECT * FROM mysql.user",
            f"GRANT SELECT ON `{accounts[users.AGGREGATOR].database}`.agg_trades TO CURRENT_USER()",
        ):
            denied(connection, statement)
    finally:
        connection.close()
    with pytest.raises(pymysql.MySQLError) as caught:
        accounts[users.AGGREGATOR].connect(database=other_database)
    assert caught.value.args[0] == 1044


# --- the dashboard --------------------------------------------------------------------------


def test_the_dashboard_user_reads_the_rows_and_views_and_nothing_else(accounts, other_database) -> None:
    aggregator = accounts[users.AGGREGATOR]
    with MySqlStore.open(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user=aggregator.name,
        password=aggregator.password,
        database=aggregator.database,
    ) as store:
        store.ingest(ObjectRef("b", "k", "e"), TRADES, lines=len(TRADES), rejected=0)
        with store.writing():
            klines.store_klines(store, [kline_of(row) for row in minute_rows(TRADES)])
    connection = accounts[users.DASHBOARD].connect()
    try:
        with connection.cursor() as cursor:
            for name in users.PRIVILEGES[users.DASHBOARD]:
                cursor.execute(f"SELECT COUNT(*) FROM `{name}`")
                ((count,),) = cursor.fetchall()
                assert count >= 1, name
        for statement in (
            "SELECT * FROM agg_trades",
            "SELECT * FROM schema_migrations",
            "INSERT INTO trade_minutes (symbol) VALUES ('X')",
            "UPDATE trade_minutes SET TOTAL_COUNT_BUY = 0",
            "DELETE FROM processed_objects",
            "DROP VIEW daily_totals",
            "UPDATE binance_klines SET trades = 0",
            "UPDATE minute_check_settings SET pending_seconds = 0",
            "CREATE TABLE mine (id INT)",
            f"SELECT * FROM `{other_database}`.secrets",
        ):
            denied(connection, statement)
    finally:
        connection.close()


# --- converging -----------------------------------------------------------------------------


def test_converging_again_changes_nothing_and_revokes_nothing(admin, accounts) -> None:
    for account in accounts.values():
        before = grants(admin, account)
        expected = {
            (account.database, table, privilege)
            for table, privileges in users.PRIVILEGES[account.role].items()
            for privilege in privileges
        }
        assert before == expected
        with admin.cursor() as cursor:
            held = users.read_held(cursor, account.name)
        statements = users.plan(account.role, account.name, account.password, account.database, held)
        assert not [s.sql for s in statements if s.sql.startswith("REVOKE")]
        users.converge_user(
            admin,
            role=account.role,
            username=account.name,
            password=account.password,
            database=account.database,
        )
        assert grants(admin, account) == before
        account.connect().close()


def test_a_new_password_in_the_secret_replaces_the_old_one(admin, accounts) -> None:
    account = accounts[users.DASHBOARD]
    old = account.password
    account.password = f"new-{uuid.uuid4().hex}"
    users.converge_user(
        admin, role=account.role, username=account.name, password=account.password, database=account.database
    )
    account.connect().close()
    with pytest.raises(pymysql.MySQLError) as caught:
        Account(account.role, account.name, old, account.database).connect()
    assert caught.value.args[0] == 1045


def test_privileges_granted_by_hand_are_revoked_and_the_needed_ones_kept(
    admin, accounts, other_database
) -> None:
    account = accounts[users.AGGREGATOR]
    database = account.database
    user = (account.name, users.HOST)
    with admin.cursor() as cursor:
        cursor.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO %s@%s", user)
        cursor.execute(f"GRANT DROP, ALTER ON `{database}`.agg_trades TO %s@%s", user)
        cursor.execute(f"GRANT SELECT ON `{database}`.schema_migrations TO %s@%s WITH GRANT OPTION", user)
        cursor.execute(f"GRANT SELECT ON `{other_database}`.secrets TO %s@%s", user)
        cursor.execute("GRANT PROCESS ON *.* TO %s@%s", user)
    users.converge_user(
        admin, role=account.role, username=account.name, password=account.password, database=database
    )
    expected = {
        (database, t, p) for t, privileges in users.PRIVILEGES[account.role].items() for p in privileges
    }
    assert grants(admin, account) == expected
    connection = account.connect()
    try:
        denied(connection, "DROP TABLE agg_trades")
        denied(connection, f"SELECT * FROM `{other_database}`.secrets")
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM agg_trades")
    finally:
        connection.close()


def test_a_refused_password_statement_reports_the_code_never_the_password(accounts) -> None:
    # The dashboard user may not create users: the server refuses, and says so with the statement.
    dashboard = accounts[users.DASHBOARD].connect()
    password = f"do-not-print-{uuid.uuid4().hex}"
    try:
        with pytest.raises(users.UsersError) as caught:
            users.converge_user(
                dashboard,
                role=users.AGGREGATOR,
                username=f"t_never_{uuid.uuid4().hex[:8]}",
                password=password,
                database=accounts[users.DASHBOARD].database,
            )
    finally:
        dashboard.close()
    message = str(caught.value)
    assert "MySQL error" in message and password not in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None
