"""The Athena named query, run offline: sqlglot turns its Trino SQL into DuckDB's, DuckDB runs it over
the same ``trades/date=/hour=/minute=`` layout of gzip ndjson objects, through a view built from the
Glue table's own column mapping, and the rows must be the pure core's.
"""

from __future__ import annotations

import gzip
import uuid
from decimal import Decimal

import duckdb
import sqlglot

from binance.events import MINUTE_MS
from infra.history import GLUE_DATABASE, QUERY_FILE, TRADE_COLUMNS, TRADES_TABLE
from minutes.aggregate import minute_rows
from tests.fixtures.data import event_line, sample_trades

_DUCK_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "boolean": "BOOLEAN"}


def write_objects(root, trades):
    """Vector's layout: one gzip object per minute key, plus the awkward cases Vector makes."""
    by_minute: dict[int, list] = {}
    for trade in trades:
        by_minute.setdefault(trade.minute, []).append(trade)
    minutes = sorted(by_minute)
    for index, minute in enumerate(minutes):
        batch = list(by_minute[minute])
        if index + 1 < len(minutes):
            batch += by_minute[minutes[index + 1]][:3]  # an object holds the next minute's first trades
        write(root, minute, batch)
    write(root, minutes[2], by_minute[minutes[2]][:50])  # a repeated batch (at-least-once delivery)


def write(root, minute, trades):
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(minute / 1000, tz=UTC)
    folder = root / "trades" / f"date={moment:%Y-%m-%d}" / f"hour={moment:%H}" / f"minute={moment:%M}"
    folder.mkdir(parents=True, exist_ok=True)
    body = b"".join(event_line(t) + b"\n" for t in trades)
    (folder / f"{moment:%Y%m%dT%H%M%S}-{uuid.uuid4()}.ndjson.gz").write_bytes(gzip.compress(body))


def trades_view(root) -> str:
    """The Glue table as a DuckDB view: the same columns, each read from the same JSON key."""
    columns = ", ".join(
        f"CAST(json_extract_string(json, '$.{key}') AS {_DUCK_TYPES[kind]}) AS {column}"
        for column, key, kind in TRADE_COLUMNS
    )
    pattern = root / "trades" / "*" / "*" / "*" / "*.ndjson.gz"
    return (
        f'CREATE VIEW {GLUE_DATABASE}.{TRADES_TABLE} AS SELECT {columns}, "date", hour, minute '
        f"FROM read_ndjson_objects('{pattern}', hive_partitioning = true, hive_types_autocast = false)"
    )


def test_the_named_query_through_duckdb_gives_the_pure_cores_minute_rows(tmp_path):
    trades = sample_trades()
    write_objects(tmp_path, trades)
    connection = duckdb.connect()
    connection.execute(f"CREATE SCHEMA {GLUE_DATABASE}")
    connection.execute(trades_view(tmp_path))
    query = sqlglot.transpile(QUERY_FILE.read_text(), read="trino", write="duckdb")[0]
    got = connection.execute(query).fetchall()

    expected = minute_rows(trades)
    assert len(got) == len(expected) == 13
    for row, want in zip(got, expected, strict=True):
        assert row == (
            want.symbol, want.minute, want.count_buy, want.count_sell, want.btc_buy, want.btc_sell,
            want.usd_buy, want.usd_sell, want.trades_buy, want.trades_sell, want.open, want.high,
            want.low, want.close, want.first_agg_id, want.last_agg_id,
        )  # fmt: skip
    assert all(isinstance(value, Decimal) for value in got[0][4:8])  # exact, never float
    assert got[0][1] % MINUTE_MS == 0


def test_the_query_reads_only_the_partitions_of_its_date_range(tmp_path):
    trades = sample_trades()
    write_objects(tmp_path, trades)
    later = [t.__class__(t.symbol, t.agg_id + 10**6, t.price, t.qty, t.first_trade_id, t.last_trade_id,
                         t.trade_time + 86_400_000, t.is_buyer_maker) for t in trades[:10]]  # fmt: skip
    write(tmp_path, later[0].minute, later)  # 2026-01-02: outside the query's range
    connection = duckdb.connect()
    connection.execute(f"CREATE SCHEMA {GLUE_DATABASE}")
    connection.execute(trades_view(tmp_path))
    query = sqlglot.transpile(QUERY_FILE.read_text(), read="trino", write="duckdb")[0]
    assert {row[1] // 86_400_000 for row in connection.execute(query).fetchall()} == {
        trades[0].minute // 86_400_000
    }
