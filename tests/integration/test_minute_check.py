"""The minute check (sql/<dialect>/011, minutes/klines.py) on SQLite and on the real MariaDB:
klines stored idempotently, every minute compared with its kline as minutes/verify.py does."""

from __future__ import annotations

import time
from decimal import Decimal

import msgspec
import pytest

from binance.events import MINUTE_MS
from binance.klines import Kline
from minutes import klines as check
from minutes.aggregate import minute_ms, minute_rows
from minutes.store import ObjectRef, Store, open_store
from minutes.verify import compare
from tests.fixtures.data import kline_of, sample_trades

pytestmark = pytest.mark.integration

TRADES = sample_trades()
ROWS = minute_rows(TRADES)  # 13 minutes of 2026-01-01, 00:00 to 00:12
DAY = (ROWS[0].minute, ROWS[0].minute + 24 * 60 * MINUTE_MS)
# Binance's published kline of 2026-01-01 00:00 (issue 14), independent of our aggregation.
PUBLISHED = Kline(
    "BTCUSDT",
    ROWS[0].minute,
    Decimal("87648.21"),
    Decimal("87648.22"),
    Decimal("87632.74"),
    Decimal("87648.00"),
    Decimal("4.08049"),
    Decimal("357625.7768620"),
    1193,
    Decimal("1.79879"),
    Decimal("157651.5149507"),
)


@pytest.fixture
def store(db_url):
    target = open_store(db_url)
    target.migrate()
    yield target
    target.close()


def ingest(store: Store, trades, key: str = "k") -> None:
    store.ingest(ObjectRef("bucket", key, "e"), trades, lines=len(trades), rejected=0)


def put(store: Store, klines: list[Kline]) -> check.StoredKlines:
    with store.writing():
        return check.store_klines(store, klines)


def statuses(store: Store) -> dict[int, tuple[str, str]]:
    found = store.execute("SELECT TIME, STATUS, DIFFERING FROM minute_check ORDER BY TIME")
    store.rollback()
    return {minute_ms(t): (status, differing) for t, status, differing in found}


def test_the_published_minute_agrees_and_so_does_every_kline_of_our_rows(store):
    ingest(store, TRADES)
    put(store, [PUBLISHED, *(kline_of(row) for row in ROWS[1:])])
    summary = check.check_summary(store, *DAY)
    assert summary.counts == {"agrees": 13, "differs": 0, "no_kline": 0, "pending": 0}
    assert summary.differing == [] and summary.checked == 13
    assert check.summary_text(summary) == "last 24 h: 13 of 13 minutes agree with Binance"


def test_a_kline_one_trade_off_differs_naming_the_field_with_both_values(store):
    ingest(store, TRADES)
    put(store, [kline_of(row, trades=row.trades_buy + row.trades_sell + 1) if i == 7 else kline_of(row)
                for i, row in enumerate(ROWS)])  # fmt: skip
    summary = check.check_summary(store, *DAY)
    assert summary.counts["differs"] == 1 and summary.counts["agrees"] == 12
    (minute,) = summary.differing
    ours = ROWS[7].trades_buy + ROWS[7].trades_sell
    assert (minute.minute, minute.fields) == (
        ROWS[7].minute,
        (check.FieldDifference("trades", ours, ours + 1),),
    )
    assert statuses(store)[ROWS[7].minute] == ("differs", "trades")
    assert check.summary_text(summary) == (
        f"last 24 h: 12 of 13 minutes agree with Binance; 1 differ: 00:07 trades {ours} vs {ours + 1}"
    )


def test_a_minute_with_a_gap_in_its_trades_differs(store):
    minute = ROWS[3].minute
    lost = next(t for t in TRADES if t.minute == minute and t.trade_count == 1 and t.is_buy)
    ingest(store, [t for t in TRADES if t is not lost])
    put(store, [kline_of(row) for row in ROWS])
    assert statuses(store)[minute][0] == "differs"
    assert set(statuses(store)[minute][1].split(",")) >= {"volume", "trades", "taker_buy_base"}
    (found,) = check.check_summary(store, *DAY).differing
    trades = {f.field: (f.ours, f.kline) for f in found.fields}["trades"]
    assert trades[1] - trades[0] == 1


def test_a_quote_volume_agrees_cut_or_rounded_to_eight_places_and_differs_one_unit_off(store):
    # The sample's quotes have 7 places (2-place prices times 5-place quantities): one quantity
    # with 8 places gives the minute a 10-place quote volume, which Binance prints with 8.
    first = TRADES[0]
    trades = [msgspec.structs.replace(first, qty=first.qty + Decimal("0.00000003")), *TRADES[1:]]
    ingest(store, trades)
    (row,) = minute_rows([t for t in trades if t.minute == first.minute])
    exact = row.usd_buy + row.usd_sell
    cut = exact.quantize(Decimal("1e-8"), rounding="ROUND_DOWN")
    rounded = exact.quantize(Decimal("1e-8"), rounding="ROUND_HALF_UP")
    assert exact != cut and -exact.as_tuple().exponent == 16
    unit = Decimal("1e-8")
    for quote, status in (
        (cut, "agrees"),
        (rounded, "agrees"),
        (cut - unit, "differs"),
        (cut + 2 * unit, "differs"),
    ):
        put(store, [kline_of(row, quote_volume=quote)])
        assert statuses(store)[row.minute] == (status, "" if status == "agrees" else "quote_volume"), quote


def test_the_view_and_verify_find_the_same_differences(store):
    ingest(store, TRADES)
    changed = {
        1: {"open": ROWS[1].open + Decimal("0.01")},
        4: {"volume": ROWS[4].btc_buy + ROWS[4].btc_sell + Decimal("0.00000001")},
        6: {"taker_buy_quote": Decimal("1")},
        9: {"high": ROWS[9].high + 1, "low": ROWS[9].low - 1},
    }
    klines = [kline_of(row, **changed.get(i, {})) for i, row in enumerate(ROWS)]
    put(store, klines)
    verdict = compare(ROWS, klines, {"BTCUSDT": {row.minute for row in ROWS}})
    expected = {(d.minute, d.column, d.ours, d.kline) for d in verdict.differences}
    found = {
        (minute.minute, f.field, f.ours, f.kline)
        for minute in check.check_summary(store, *DAY).differing
        for f in minute.fields
    }
    assert found == expected and len(found) == 5


def test_rows_without_a_kline_and_klines_without_a_row(store):
    ingest(store, [t for t in TRADES if t.minute != ROWS[2].minute])
    empty = Kline("BTCUSDT", ROWS[-1].minute + MINUTE_MS, *[Decimal(1)] * 4, *[Decimal(0)] * 2, 0,
                  Decimal(0), Decimal(0))  # fmt: skip
    put(store, [kline_of(row) for row in ROWS[:5]] + [empty])
    summary = check.check_summary(store, *DAY)
    # minute 2: the kline has trades, we have no row; 5-12: rows, no kline; 13: no trades anywhere.
    assert summary.counts == {"agrees": 5, "differs": 1, "no_kline": 8, "pending": 0}
    assert summary.without_row == 1
    (missing,) = summary.differing
    assert missing.minute == ROWS[2].minute and missing.without_row
    assert missing.fields == (
        check.FieldDifference("trades", None, ROWS[2].trades_buy + ROWS[2].trades_sell),
    )
    assert "1 differ: 00:02 no row (the kline has" in check.summary_text(summary)
    assert "8 without a kline" in check.summary_text(summary)


def test_kline_replays_and_duplicates_are_harmless_and_a_different_kline_replaces(store):
    ingest(store, TRADES)
    klines = [kline_of(row) for row in ROWS]
    assert put(store, klines + klines[:3]) == check.StoredKlines(new=13)  # duplicates in one batch
    before = store.execute("SELECT * FROM binance_klines ORDER BY open_time")
    assert put(store, klines) == check.StoredKlines(same=13)  # a replayed object
    assert store.execute("SELECT * FROM binance_klines ORDER BY open_time") == before
    assert check.stored_klines(store) == klines
    bad = kline_of(ROWS[0], close=ROWS[0].close + 1)
    assert put(store, [bad]) == check.StoredKlines(replaced=1)
    assert statuses(store)[ROWS[0].minute] == ("differs", "close")
    assert put(store, [klines[0]]) == check.StoredKlines(replaced=1)  # the last word is Binance's
    assert statuses(store)[ROWS[0].minute] == ("agrees", "")
    assert check.stored_klines(store, "BTCUSDT", ROWS[2].minute, ROWS[4].minute) == klines[2:4]


def test_a_rolled_back_object_leaves_no_kline(store):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.writing():
        check.store_klines(store, [kline_of(ROWS[0])])
        raise Boom
    assert check.stored_klines(store) == []
    assert check.summary_text(None) == "minute check: no klines stored yet"
    assert check.recent_window(store) is None


def test_pending_turns_into_agrees_once_the_delay_passes(store):
    # The sample's first minute moved to the minute that just closed.
    now = time.time_ns() // 1_000_000
    shift = (now - now % MINUTE_MS - MINUTE_MS) - ROWS[0].minute
    moved = [
        msgspec.structs.replace(t, trade_time=t.trade_time + shift)
        for t in TRADES
        if t.minute == ROWS[0].minute
    ]
    (row,) = minute_rows(moved)
    ingest(store, moved)
    put(store, [kline_of(row)])
    assert check.pending_delay(store) == check.DEFAULT_PENDING_S == 120
    assert statuses(store)[row.minute] == ("pending", "")
    window = check.recent_window(store)
    assert window == (row.minute + MINUTE_MS - 24 * 60 * MINUTE_MS, row.minute + MINUTE_MS)
    assert check.check_summary(store, *window).counts["pending"] == 1
    closed_ago_s = (time.time_ns() // 1_000_000 - (row.minute + MINUTE_MS)) / 1000
    check.set_pending_delay(store, int(closed_ago_s) + 3)
    assert statuses(store)[row.minute][0] == "pending"
    time.sleep(5)  # the delay passes (the database's clock counts whole seconds)
    assert statuses(store)[row.minute] == ("agrees", "")
    assert (
        check.summary_text(check.check_summary(store, *window))
        == "last 24 h: 1 of 1 minutes agree with Binance"
    )


def test_a_negative_delay_is_refused(store):
    with pytest.raises(ValueError, match="at least 0 seconds"):
        check.set_pending_delay(store, -1)
