"""cryptotrades backfill and gaps against a local HTTP server of the public-data layout.

Real trades (the tests/data sample, three days of it), real zips with real sha256 checksums,
SQLite and MariaDB. Every loaded row is compared with the pure core's row of the same file.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from binance.files import read_trades
from cryptotrades.cli import main
from cryptotrades.history_commands import BackfillSettings, backfill, fill_gaps
from minutes.aggregate import minute_rows
from minutes.history import find_gaps, transaction
from minutes.store import ObjectRef, open_store
from tests.fixtures.public_data import FIRST_DAY, day_csv, publish

pytestmark = pytest.mark.integration
TODAY = date(2026, 12, 2)
LAST = FIRST_DAY + timedelta(days=2)
ROOT = Path(__file__).resolve().parents[2]


def expected_rows(public_data):
    return minute_rows(t for path in public_data.files() for t in read_trades(path).trades)


def settings(db_url, source, tmp_path, **extra):
    return BackfillSettings(
        symbol="BTCUSDT", first=FIRST_DAY, last=LAST, db_url=db_url, source=source,
        cache_dir=tmp_path / "cache", jobs=2, timeout=5, retries=1, **extra,
    )  # fmt: skip


def stored(db_url):
    with open_store(db_url) as store:
        return store.minute_rows("BTCUSDT")


def test_backfill_loads_verified_days_over_http_and_a_rerun_skips_them(db_url, public_data, tmp_path):
    report = backfill(settings(db_url, public_data.url, tmp_path), today=TODAY)
    assert len(report.loaded) == 3 and not report.refused
    assert stored(db_url) == expected_rows(public_data)
    assert not list((tmp_path / "cache").rglob("*.zip"))  # downloads are removed once loaded

    again = backfill(settings(db_url, public_data.url, tmp_path), today=TODAY)
    assert (len(again.loaded), len(again.skipped)) == (0, 3)
    assert not [r for r in public_data.requests[-3:] if r.endswith(".zip")]  # only checksums asked
    assert stored(db_url) == expected_rows(public_data)


def test_a_file_that_fails_its_checksum_is_refused_and_the_others_load(
    sqlite_url, public_data, tmp_path, capsys
):
    publish(public_data.root, LAST, day_csv(2), checksum="0" * 64)
    code = main(
        ["backfill", "--from", str(FIRST_DAY), "--to", str(LAST), "--db", sqlite_url,
         "--source", public_data.url, "--cache-dir", str(tmp_path / "cache"), "--retries", "0"]
    )  # fmt: skip
    assert code == 5
    out = capsys.readouterr().out
    assert "2 loaded" in out and "1 refused" in out and "does not match its .CHECKSUM" in out
    assert {r.minute // 86_400_000 for r in stored(sqlite_url)} == {
        r.minute // 86_400_000 for r in expected_rows(public_data)[:-13]
    }


def test_a_local_folder_works_as_the_source_and_a_changed_file_is_reported_and_reloaded(
    sqlite_url, public_data, tmp_path
):
    backfill(settings(sqlite_url, str(public_data.root), tmp_path), today=TODAY)
    assert stored(sqlite_url) == expected_rows(public_data)
    fewer = b"\n".join(day_csv(0).splitlines()[:100]) + b"\n"  # Binance republished a shorter day
    publish(public_data.root, FIRST_DAY, fewer)
    report = backfill(settings(sqlite_url, str(public_data.root), tmp_path), today=TODAY)
    assert report.changed == [public_data.files()[0].relative_to(public_data.root).as_posix()]
    assert stored(sqlite_url)[0] == minute_rows(read_trades(public_data.files()[0]).trades)[0]


def test_history_keeps_minutes_the_live_path_holds_unless_replace_and_names_those_that_differ(
    db_url, public_data, tmp_path
):
    trades = read_trades(public_data.files()[0]).trades
    live = [t for t in trades if t.minute == trades[0].minute][:-1]  # the live path lost the last trade
    with open_store(db_url, create_database=True) as store:
        store.migrate()
        store.ingest(ObjectRef("bucket", "trades/x.ndjson", "e1"), live, lines=len(live), rejected=0)
    report = backfill(settings(db_url, public_data.url, tmp_path), today=TODAY)
    assert report.differed == [("BTCUSDT", trades[0].minute)] and not report.replaced
    assert stored(db_url)[0] == minute_rows(live)[0]
    assert stored(db_url)[1:] == expected_rows(public_data)[1:]

    change(db_url, "DELETE FROM history_files")  # load the files again, now with --replace
    replaced = backfill(settings(db_url, public_data.url, tmp_path, replace=True), today=TODAY)
    assert replaced.replaced == [("BTCUSDT", trades[0].minute)]
    assert stored(db_url) == expected_rows(public_data)


def test_ctrl_c_stops_between_files_and_the_next_run_goes_on(sqlite_url, public_data, tmp_path):
    public_data.delay[0] = 4.0  # each zip takes a while to come: time to stop between files
    command = [
        sys.executable, "-m", "cryptotrades.cli", "backfill", "--from", str(FIRST_DAY), "--to", str(LAST),
        "--db", sqlite_url, "--source", public_data.url, "--jobs", "1", "--cache-dir", str(tmp_path / "c"),
    ]  # fmt: skip
    # A shell that started pytest in the background ignores SIGINT, and children inherit that:
    # give the command Ctrl-C's default back, as a terminal would.
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _ledger_count(sqlite_url):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "run the same command again" in err
    loaded = _ledger_count(sqlite_url)
    assert 1 <= loaded < 3

    public_data.delay[0] = 0.0
    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{3 - loaded} loaded, {loaded} already loaded" in rerun.stdout
    assert stored(sqlite_url) == expected_rows(public_data)


def change(url, statement, params=()):
    with open_store(url) as store, transaction(store):
        store.execute(statement, params)


def _ledger_count(url):
    try:
        with open_store(url) as store:
            return store.execute("SELECT COUNT(*) FROM history_files")[0][0]
    except Exception:
        return 0


def test_gaps_finds_missing_minutes_and_broken_chains_and_backfill_gaps_fills_them(
    db_url, public_data, tmp_path, capsys
):
    backfill(settings(db_url, public_data.url, tmp_path), today=TODAY)
    rows = expected_rows(public_data)
    with open_store(db_url) as store:
        store.execute("DELETE FROM trade_minutes WHERE TIME = ?", ("2026-01-02 00:05:00",))
        store.execute(
            "UPDATE trade_minutes SET FIRST_AGG_ID = FIRST_AGG_ID + 3 WHERE TIME = ?",
            ("2026-01-03 00:02:00",),
        )
        store.execute("COMMIT") if store.dialect == "mysql" else None
    assert main(["gaps", "--from", "2026-01-02", "--to", "2026-01-03", "--db", db_url]) == 1
    out = capsys.readouterr().out
    assert "BTCUSDT 2026-01-02 00:05:00: 1 minute without a row" in out
    assert "2026-01-03 00:01:00 .. 2026-01-03 00:02:00: agg ids" in out

    report = fill_gaps(settings(db_url, public_data.url, tmp_path), today=TODAY)
    assert report.loaded and not report.refused
    held = {r.minute: r for r in stored(db_url)}
    for row in rows:
        assert held[row.minute] == row


def test_todays_broken_chain_is_filled_from_binance_rest(sqlite_url, tmp_path):
    from onebox.fake_binance import FakeBinanceThread

    trades = read_trades(
        Path(__file__).resolve().parents[1] / "data" / "BTCUSDT-aggTrades-2026-01-01_first5000rows.csv"
    ).trades
    lost = set(range(1000, 1400))  # the live path missed these 400 trades (minutes 00:01-00:02)
    with open_store(sqlite_url, create_database=True) as store:
        store.migrate()
        kept = [t for i, t in enumerate(trades) if i not in lost]
        store.ingest(ObjectRef("bucket", "trades/a.ndjson", "e"), kept, lines=len(kept), rejected=0)
        gaps = find_gaps(
            store.minute_rows("BTCUSDT"), "BTCUSDT", trades[0].minute, trades[-1].minute + 60_000
        )
    assert [g.kind for g in gaps] == ["chain"]
    with FakeBinanceThread(trades, speed=0) as fake:
        fake.advance(len(trades))
        today = FIRST_DAY
        report = fill_gaps(
            BackfillSettings("BTCUSDT", FIRST_DAY, FIRST_DAY, sqlite_url, rest_url=fake.rest_url), today=today
        )
    assert report.loaded == [f"REST aggTrades/BTCUSDT/{trades[1000].agg_id}-{trades[1399].agg_id}"]
    assert stored(sqlite_url) == minute_rows(trades)
