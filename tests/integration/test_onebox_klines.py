"""Issue 14's "done when", run for real: ``cryptotrades run --replay TRADES --klines K --until-drained``.

The fake Binance serves Binance's published kline of 2026-01-01 00:00 (data/demo; its README
says which digits are independent of our code) on ``btcusdt@kline_1m`` and REST; the
production producer publishes it beside the trades; the sink, S3 and the handler carry it
into ``binance_klines``; the view ``minute_check`` compares it with the minute row made of
the replayed trades.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from minutes.aggregate import minute_ms
from minutes.store import open_store
from tests.fixtures.data import SAMPLE_CSV
from tests.fixtures.onebox import REPO, OneboxRun

pytestmark = pytest.mark.integration

PUBLISHED_KLINES = REPO / "data" / "demo" / "BTCUSDT-1m-2026-01-01_published.csv"
FIRST_MINUTE = 1_767_225_600_000  # 2026-01-01 00:00 UTC
MINUTES = 13  # the sample's trades cover 00:00 to 00:12


def minute_check(url: str) -> dict[int, tuple[str, str]]:
    """Per minute (ms), the view's STATUS and DIFFERING."""
    with open_store(url) as store:
        found = store.execute("SELECT TIME, STATUS, DIFFERING FROM minute_check ORDER BY TIME")
        store.rollback()
    return {minute_ms(time): (status, differing or "") for time, status, differing in found}


def replay_with(start_onebox: Callable[..., OneboxRun], klines: Path, db_url: str) -> OneboxRun:
    run = start_onebox(
        "--replay", str(SAMPLE_CSV), "--klines", str(klines), "--speed", "0", "--until-drained",
        "--db", db_url,
    )  # fmt: skip
    assert run.wait() == 0, run.output
    return run


def test_the_published_kline_makes_its_minute_agree_and_the_others_have_none(start_onebox, db_url):
    run = replay_with(start_onebox, PUBLISHED_KLINES, db_url)
    checked = minute_check(db_url)
    assert checked[FIRST_MINUTE] == ("agrees", "")
    assert len(checked) == MINUTES
    assert {status for minute, (status, _) in checked.items() if minute != FIRST_MINUTE} == {"no_kline"}
    assert run.stats("replay")["klines_closed"] == 1
    assert run.stats("producer")["klines_produced"] == 1
    assert run.stats("producer")["produced"] == 5000


def test_a_kline_one_trade_off_makes_its_minute_differ_naming_the_field(start_onebox, sqlite_url, tmp_path):
    changed = tmp_path / PUBLISHED_KLINES.name
    row = PUBLISHED_KLINES.read_text().strip().split(",")
    assert row[8] == "1193"
    row[8] = "1192"  # one trade fewer than Binance published, and than the trades hold
    changed.write_text(",".join(row) + "\n")
    replay_with(start_onebox, changed, sqlite_url)
    assert minute_check(sqlite_url)[FIRST_MINUTE] == ("differs", "trades")
