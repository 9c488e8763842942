"""The database's own users, each allowed exactly what its code does, and how to make it so.

On RDS the schema custom resource signs in as the master user (the only code that does) and
calls ``converge_user`` for each application user:

- ``aggregator``: the S3 handler. Reads and writes its tables, row by row, and reads the
  minute check: no DDL, no other table, no other database.
- ``dashboard``: the dashboard and QuickSight. SELECT on the minute rows, the ledger and the
  views, nothing else (not the raw trades).

Converging is idempotent: the user is created if missing, its password set to the one its
secret holds, the privileges of the table below granted, and any other privilege it holds
(left by an older version of this table, or by hand) revoked; privileges it keeps are never
revoked, so a running aggregator never loses a grant it needs mid-way.

The SQL is what MySQL 8.0/8.4 and MariaDB 10.4+ both accept (``CREATE USER IF NOT EXISTS``,
``ALTER USER ... IDENTIFIED BY``, table-level ``GRANT``/``REVOKE``, the grantee written
``'name'@'%'``, ``information_schema.*_PRIVILEGES``); the tests run it on MariaDB.
User names and passwords travel as driver parameters (string literals, escaped by the driver),
never formatted into a statement; the only identifiers formatted in are the database name
(checked to be a plain identifier) and table and privilege names, constants of this module.
A server error on a statement that carries a password is reported by its code only: MySQL
quotes the statement near a syntax error, and the password must never reach a log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pymysql

from minutes.errors import StoreError

AGGREGATOR = "aggregator"
DASHBOARD = "dashboard"
HOST = "%"  # the functions' addresses are not fixed; the security groups say who may connect

# Role -> table or view -> the privileges its code needs there, and nothing more.
# aggregator: INSERT, SELECT and DELETE (the retention window's pruning) on agg_trades, and
# UPDATE, which MySQL asks of the no-op ``ON DUPLICATE KEY UPDATE symbol = symbol`` that makes a
# stored trade's insert do nothing (minutes/store.py, never INSERT IGNORE);
# REPLACE (= DELETE + INSERT) and SELECT on trade_minutes; INSERT, UPDATE (duplicates,
# redeliveries) and SELECT on the ledger; SELECT, INSERT and UPDATE (ranges only grow) on
# final_ranges, the minutes made final by retention; SELECT, INSERT and UPDATE (a different
# kline replaces one, never deleted) on binance_klines, and SELECT on the minute_check view it
# measures after each event (minutes/klines.py).
# dashboard: what dashboard/queries.py and the QuickSight data sets read (a test checks both).
PRIVILEGES: dict[str, dict[str, frozenset[str]]] = {
    AGGREGATOR: {
        "agg_trades": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"}),
        "trade_minutes": frozenset({"SELECT", "INSERT", "DELETE"}),
        "processed_objects": frozenset({"SELECT", "INSERT", "UPDATE"}),
        "final_ranges": frozenset({"SELECT", "INSERT", "UPDATE"}),
        "binance_klines": frozenset({"SELECT", "INSERT", "UPDATE"}),
        "minute_check": frozenset({"SELECT"}),
    },
    DASHBOARD: {
        name: frozenset({"SELECT"})
        for name in (
            "trade_minutes",
            "processed_objects",
            "daily_totals",
            "minute_prices",
            "minute_spread",
            "trade_minutes_maker_side",
            "binance_klines",
            "minute_check",
        )
    },
}

# Table-level privilege names both servers use; one we do not know is revoked with ALL.
_TABLE_PRIVILEGES = frozenset(
    {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "DROP",
        "REFERENCES",
        "INDEX",
        "ALTER",
        "CREATE VIEW",
        "SHOW VIEW",
        "TRIGGER",
        "DELETE HISTORY",
    }
)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")  # a MySQL user name is at most 32 characters
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class UsersError(StoreError):
    """A database user could not be created or granted; the message names the user, never a password."""


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement with ``%s`` placeholders, and whether its parameters hold a password."""

    sql: str
    params: tuple[Any, ...] = ()
    secret: bool = field(default=False)


@dataclass(frozen=True, slots=True)
class Held:
    """What a user holds now, as information_schema reports it."""

    global_privileges: frozenset[str] = frozenset()  # besides USAGE (no privilege at all)
    schema_privileges: frozenset[tuple[str, str]] = frozenset()  # (database, privilege)
    table_privileges: frozenset[tuple[str, str, str]] = frozenset()  # (database, table, privilege)
    grantable_tables: frozenset[tuple[str, str]] = frozenset()  # (database, table) WITH GRANT OPTION


def check_name(username: str) -> str:
    if not _NAME.match(username):
        raise UsersError(f"database user name {username!r}: expected a letter, then letters, digits or _")
    return username


def check_database(database: str) -> str:
    if not _IDENTIFIER.match(database):
        raise UsersError(f"database name {database!r}: only letters, digits and _ are allowed")
    return database


def grantee(username: str) -> str:
    """The grantee as information_schema writes it: ``'name'@'%'``."""
    return f"'{check_name(username)}'@'{HOST}'"


def plan(role: str, username: str, password: str, database: str, held: Held) -> list[Statement]:
    """The statements that make ``username`` exactly what ``role`` may be (pure: no connection)."""
    if role not in PRIVILEGES:
        raise UsersError(f"unknown database role {role!r}: expected one of {', '.join(PRIVILEGES)}")
    check_name(username)
    check_database(database)
    user = (username, HOST)
    wanted = PRIVILEGES[role]
    statements = [
        Statement("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (*user, password), secret=True),
        # The password is the secret's, also for a user that existed: Create and Update converge.
        Statement("ALTER USER %s@%s IDENTIFIED BY %s", (*user, password), secret=True),
    ]
    for table, privileges in sorted(wanted.items()):
        names = ", ".join(sorted(privileges))
        statements.append(Statement(f"GRANT {names} ON `{database}`.`{table}` TO %s@%s", user))
    # Revoke what is held and not wanted, privilege by privilege.
    if held.global_privileges:
        statements.append(Statement("REVOKE ALL PRIVILEGES ON *.* FROM %s@%s", user))
    if any(priv == "GRANT OPTION" for priv in held.global_privileges):
        statements.append(Statement("REVOKE GRANT OPTION ON *.* FROM %s@%s", user))
    for schema in sorted({schema for schema, _ in held.schema_privileges}):
        statements.append(
            Statement(f"REVOKE ALL PRIVILEGES ON `{check_database(schema)}`.* FROM %s@%s", user)
        )
    extra: dict[tuple[str, str], set[str]] = {}
    for schema, table, privilege in held.table_privileges:
        if schema == database and privilege in wanted.get(table, ()):
            continue
        extra.setdefault((schema, table), set()).add(privilege)
    for (schema, table), privileges in sorted(extra.items()):
        target = f"`{check_database(schema)}`.`{check_database(table)}`"
        known = sorted(privileges & _TABLE_PRIVILEGES)
        if privileges - _TABLE_PRIVILEGES or (schema, table) not in _wanted_tables(database, wanted):
            statements.append(Statement(f"REVOKE ALL PRIVILEGES ON {target} FROM %s@%s", user))
            if (schema, table) in _wanted_tables(database, wanted):  # ALL took the wanted ones too
                names = ", ".join(sorted(wanted[table]))
                statements.append(Statement(f"GRANT {names} ON {target} TO %s@%s", user))
        else:
            statements.append(Statement(f"REVOKE {', '.join(known)} ON {target} FROM %s@%s", user))
    for schema, table in sorted(held.grantable_tables):
        target = f"`{check_database(schema)}`.`{check_database(table)}`"
        statements.append(Statement(f"REVOKE GRANT OPTION ON {target} FROM %s@%s", user))
    return statements


def _wanted_tables(database: str, wanted: Mapping[str, frozenset[str]]) -> set[tuple[str, str]]:
    return {(database, table) for table in wanted}


def read_held(cursor: Any, username: str) -> Held:
    """What ``username`` holds, from information_schema (the master user sees every grantee)."""
    who = (grantee(username),)
    cursor.execute(
        "SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s", who
    )
    user_rows = cursor.fetchall()
    global_privileges = {row[0] for row in user_rows if row[0] != "USAGE"}
    if any(row[1] == "YES" for row in user_rows):
        global_privileges.add("GRANT OPTION")
    cursor.execute(
        "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s",
        who,
    )
    schema_privileges = {(row[0], row[1]) for row in cursor.fetchall()}
    cursor.execute(
        "SELECT TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE, IS_GRANTABLE"
        " FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = %s",
        who,
    )
    table_rows = cursor.fetchall()
    return Held(
        global_privileges=frozenset(global_privileges),
        schema_privileges=frozenset(schema_privileges),
        table_privileges=frozenset((row[0], row[1], row[2]) for row in table_rows),
        grantable_tables=frozenset((row[0], row[1]) for row in table_rows if row[3] == "YES"),
    )


def converge_user(connection: Any, *, role: str, username: str, password: str, database: str) -> int:
    """Create or update ``username`` for ``role`` over an admin connection; answer the statements run."""
    with connection.cursor() as cursor:
        held = read_held(cursor, username) if _exists(cursor, username) else Held()
        statements = plan(role, username, password, database, held)
        for statement in statements:
            execute(cursor, statement, username)
    connection.commit()
    return len(statements)


def execute(cursor: Any, statement: Statement, username: str) -> None:
    refused = None
    try:
        cursor.execute(statement.sql, statement.params)
    except pymysql.MySQLError as exc:
        if not statement.secret:
            raise UsersError(f"database user {username!r}: {statement.sql!r} failed: {exc}") from exc
        refused = exc.args[0] if exc.args else "?"
    if refused is not None:
        # Raised outside the handler, with no chained exception: the server's text may quote the
        # statement, password included, and must not reach a log even as a cause.
        raise UsersError(
            f"database user {username!r}: the server refused to create or update it (MySQL error {refused})"
        )


def _exists(cursor: Any, username: str) -> bool:
    cursor.execute(
        "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s", (grantee(username),)
    )
    ((count,),) = cursor.fetchall()
    return int(count) > 0
