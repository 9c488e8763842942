"""`cryptotrades verify --db` and the minute check line of `cryptotrades status`, on SQLite and
the real MariaDB."""

from __future__ import annotations

import pytest

from cryptotrades.cli import main
from minutes import klines as check
from minutes.aggregate import minute_rows
from minutes.store import ObjectRef, open_store
from tests.fixtures.data import kline_of, sample_trades
from tests.unit.test_verify_and_cli import kline_fields, write_klines

pytestmark = pytest.mark.integration

TRADES = sample_trades()
ROWS = minute_rows(TRADES)


@pytest.fixture
def filled(db_url):
    """The sample's rows, and klines of each with 00:07 one trade off."""
    with open_store(db_url) as store:
        store.migrate()
        store.ingest(ObjectRef("b", "k", "e"), TRADES, lines=len(TRADES), rejected=0)
        with store.writing():
            check.store_klines(
                store,
                [kline_of(r, trades=r.trades_buy + r.trades_sell + (i == 7)) for i, r in enumerate(ROWS)],
            )
    return db_url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_verify_db_compares_stored_rows_with_stored_klines(capsys, filled):
    status, out, _ = run(capsys, "verify", "--db", filled)
    trades = ROWS[7].trades_buy + ROWS[7].trades_sell
    assert status == 1
    assert out.splitlines() == [
        f"2026-01-01 00:07:00 BTCUSDT trades: ours {trades}, kline {trades + 1}",
        "13 complete minutes compared, 1 differences, 0 klines of minutes still pending (the delay is 120 s)",
    ]
    status, out, _ = run(
        capsys, "verify", "--db", filled, "--from", "2026-01-01T00:00", "--to", "2026-01-01T00:07"
    )
    assert (status, out.splitlines()[-1].split(",")[0]) == (0, "7 complete minutes compared")


def test_verify_db_with_kline_files_compares_with_those(capsys, filled, tmp_path):
    path = tmp_path / "BTCUSDT-1m-2026-01-01.csv"
    write_klines(path, [kline_fields(row) for row in ROWS])
    status, out, _ = run(capsys, "verify", "--db", filled, "--klines", str(path), "--symbol", "BTCUSDT")
    assert status == 0
    assert "13 complete minutes compared, 0 differences" in out


def test_verify_db_with_nothing_to_compare_and_mistakes(capsys, filled):
    status, out, _ = run(capsys, "verify", "--db", filled, "--from", "2026-02-01T00:00")
    assert status == 4 and "0 complete minutes compared" in out
    status, _, err = run(
        capsys, "verify", "--db", filled, "--from", "2026-01-01T00:05", "--to", "2026-01-01T00:05"
    )
    assert status == 2 and "is not after --from" in err
    status, _, err = run(capsys, "verify", "--db", filled, "--from", "yesterday")
    assert status == 2 and "expected a UTC minute" in err
    status, _, err = run(capsys, "verify", "--from", "2026-01-01T00:00")
    assert status == 2 and "give --klines FILE... and DATA files, or --db URL" in err


def test_status_shows_how_many_minutes_agree_and_which_differ(capsys, filled, tmp_path):
    status, out, _ = run(capsys, "status", "--db", filled, "--state-dir", str(tmp_path))
    trades = ROWS[7].trades_buy + ROWS[7].trades_sell
    assert status == 0
    assert (
        f"last 24 h: 12 of 13 minutes agree with Binance; 1 differ: 00:07 trades {trades} vs {trades + 1}"
        in out.splitlines()
    )


def test_status_before_any_kline_says_so(capsys, db_url, tmp_path):
    with open_store(db_url) as store:
        store.migrate()
    status, out, _ = run(capsys, "status", "--db", db_url, "--state-dir", str(tmp_path))
    assert status == 0 and "minute check: no klines stored yet" in out.splitlines()
