"""The schema after migrations 005-009, on SQLite and the real MariaDB: binary symbols in
every key, columns that hold a minute at the stated bound, and an existing database
(built by the old migrations 001-004, bug included) migrated and repaired."""

from __future__ import annotations

import shutil
from decimal import Decimal

import msgspec
import pytest

from binance import contract
from minutes.aggregate import EXACT, MinuteRow, minute_rows
from minutes.migrations import SQL_DIR_ENV, sql_dir
from minutes.store import ObjectRef, open_store
from tests.fixtures.data import sample_trades

pytestmark = pytest.mark.integration

TRADES = sample_trades()
FIRST_MINUTE = [t for t in TRADES if t.minute == TRADES[0].minute]
SECOND_MINUTE = [t for t in TRADES if t.minute == TRADES[0].minute + 60_000]


@pytest.fixture
def store(db_url):
    with open_store(db_url) as target:
        target.migrate()
        yield target


def test_no_character_column_of_any_table_or_view_compares_case_insensitively(store):
    """Fails the day a migration adds a table or view with a *_ci (or other non-binary) column."""
    if store.dialect == "mysql":
        columns = store.execute(
            "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL"
        )
        assert {table for table, _, _ in columns} >= {
            "agg_trades",
            "trade_minutes",
            "processed_objects",
            "final_ranges",
            "daily_totals",
            "minute_prices",
            "minute_spread",
            "trade_minutes_maker_side",
            "trade_minutes_status",
            "binance_klines",
            "minute_check",
        }
        loose = [(t, c, collation) for t, c, collation in columns if not collation.endswith("_bin")]
        assert loose == []
        symbols = {(t, collation) for t, c, collation in columns if c == "symbol"}
        assert {collation for _, collation in symbols} == {"ascii_bin"}
        ((default,),) = store.execute(
            "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()"
        )
        assert default.endswith("_bin")  # tables added later start binary too
    else:
        definitions = [sql or "" for (sql,) in store.execute("SELECT sql FROM sqlite_schema")]
        assert not [d for d in definitions if "NOCASE" in d.upper() or "RTRIM" in d.upper()]
    # And by behaviour, in every key that holds a symbol: the same agg ids and minute under
    # two spellings are two trades, two rows, two final ranges.
    trades = FIRST_MINUTE[:3]
    for symbol in ("BTCUSDT", "BTCUSDt"):
        spelled = [msgspec.structs.replace(t, symbol=symbol) for t in trades]
        store.ingest(ObjectRef("b", symbol, "e"), spelled, lines=3, rejected=0)
        store.mark_final(symbol, 0, 60_000, "history")
    assert store.execute("SELECT COUNT(*) FROM agg_trades") == [(6,)]
    assert [r.symbol for r in store.minute_rows()] == ["BTCUSDT", "BTCUSDt"]
    assert sorted(r.symbol for r in store.final_ranges()) == ["BTCUSDT", "BTCUSDt"]


def test_columns_hold_a_minute_at_the_stated_bound(store):
    """2^31 - 1 aggregate trades a side, each of 2^31 trades at the largest price and quantity."""
    most = contract.MAX_AGG_TRADES_PER_MINUTE
    top = contract.DECIMAL_MAX
    with_bound = MinuteRow(
        symbol="A" * contract.SYMBOL_MAX_LENGTH,
        minute=TRADES[0].minute,
        count_buy=most,
        count_sell=most,
        btc_buy=EXACT.multiply(top, most),
        btc_sell=EXACT.multiply(top, most),
        usd_buy=EXACT.multiply(EXACT.multiply(top, top), most),
        usd_sell=EXACT.multiply(EXACT.multiply(top, top), most),
        trades_buy=most * contract.MAX_TRADES_PER_AGG,
        trades_sell=most * contract.MAX_TRADES_PER_AGG,
        open=top,
        high=top,
        low=Decimal("0.00000001"),
        close=top,
        first_agg_id=contract.ID_LIMIT - most,
        last_agg_id=contract.ID_LIMIT - 1,
    )
    store.write_rows([with_bound])
    assert store.minute_rows() == [with_bound]


def test_the_largest_real_trades_are_stored_exactly(store):
    top = contract.DECIMAL_MAX
    base = FIRST_MINUTE[0]
    largest = [
        msgspec.structs.replace(
            base,
            agg_id=contract.ID_LIMIT - 1 - i,
            price=top,
            qty=top,
            first_trade_id=contract.ID_LIMIT - contract.MAX_TRADES_PER_AGG,
            last_trade_id=contract.ID_LIMIT - 1,
            is_buyer_maker=bool(i % 2),
        )
        for i in range(4)
    ]
    result = store.ingest(ObjectRef("b", "k", "e"), largest, lines=4, rejected=0)
    assert (result.accepted, result.duplicates) == (4, 0)
    assert store.minute_rows() == minute_rows(largest)
    stored = store.execute("SELECT agg_id, price, qty FROM agg_trades ORDER BY agg_id")
    assert [(int(a), Decimal(p), Decimal(q)) for a, p, q in stored] == [
        (t.agg_id, top, top) for t in sorted(largest, key=lambda t: t.agg_id)
    ]


def test_an_existing_database_is_migrated_and_the_row_a_stray_symbol_replaced_is_repaired(
    db_url, tmp_path, monkeypatch
):
    # The old schema, exactly: migrations 001-004 only.
    old = tmp_path / "sql"
    for dialect in ("mysql", "sqlite"):
        (old / dialect).mkdir(parents=True)
        for path in sorted((sql_dir() / dialect).glob("00[1-4]_*.sql")):
            shutil.copy(path, old / dialect / path.name)
    monkeypatch.setenv(SQL_DIR_ENV, str(old))
    with open_store(db_url) as target:
        assert len(target.migrate()) == 4
        # What the old code left behind: the first minute's 200+ BTCUSDT trades, a stray
        # 'btcusdt' trade with a new agg id in the same minute, and (under the old
        # case-insensitive key on MariaDB) the minute's row replaced by the stray one's.
        rows = [(t.symbol, t.agg_id, str(t.price), str(t.qty), t.first_trade_id, t.last_trade_id,
                 t.trade_time, int(t.is_buyer_maker)) for t in FIRST_MINUTE + SECOND_MINUTE]  # fmt: skip
        rows.append(("btcusdt", 9_000_000_000, "1.0", "1.0", 1, 1, FIRST_MINUTE[0].trade_time, 0))
        target._rowcount(
            "INSERT INTO agg_trades (symbol, agg_id, price, qty, first_trade_id, last_trade_id, trade_time,"
            " is_buyer_maker) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        good_second = minute_rows(SECOND_MINUTE)[0]
        stray = MinuteRow("btcusdt", FIRST_MINUTE[0].minute, 1, 0, Decimal(1), Decimal(0), Decimal(1),
                          Decimal(0), 1, 0, Decimal(1), Decimal(1), Decimal(1), Decimal(1), 9_000_000_000,
                          9_000_000_000)  # fmt: skip
        target.write_rows([stray, good_second])
        target.execute(
            "INSERT INTO processed_objects (object_id, bucket, object_key, etag, line_count, accepted,"
            " rejected, duplicates, minutes, quarantine_key, processed_at)"
            " VALUES ('x', 'b', 'k', 'e', 10, 10, 0, 0, 2, NULL, '2026-01-01 00:01:00.000')"
        )
        target._commit()
    monkeypatch.delenv(SQL_DIR_ENV)
    with open_store(db_url) as target:
        applied = target.migrate()
        assert applied == [
            "005_binary_symbols",
            "006_minute_bounds",
            "007_ledger_outcomes",
            "008_final_ranges",
            "009_minute_status",
            "010_history",
            "011_minute_check",
        ]
        assert target.minute_rows() == [*minute_rows(FIRST_MINUTE), good_second]
        assert target.execute("SELECT COUNT(*) FROM agg_trades WHERE symbol <> 'BTCUSDT'") == [(0,)]
        assert target.execute("SELECT COUNT(*) FROM minutes_to_recompute") == [(0,)]
        assert target.execute("SELECT status, late, object_key FROM processed_objects") == [
            ("processed", 0, "k")
        ]
        assert target.ledger_totals().objects == 1
        # The repaired database takes new objects as a fresh one does.
        result = target.ingest(ObjectRef("b", "k2", "e"), TRADES[:3000], lines=3000, rejected=0)
        assert result.duplicates == len(FIRST_MINUTE) + len(SECOND_MINUTE)
        assert target.migrate() == []
