"""The pure core: exact minute rows, whatever the order, split or repetition of the input."""

from __future__ import annotations

import itertools
import random
from dataclasses import fields
from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minutes.aggregate import COLUMNS, MinuteRow, combined, minute_rows, record, summarize
from tests.fixtures.data import PublishedKline, sample_trades

TRADES = sample_trades()
ROWS = minute_rows(TRADES)


def truncated(value: Decimal, like: str) -> str:
    """``value`` cut to the decimal places of a published, truncated figure."""
    places = len(like.split(".")[1])
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN))


def test_the_first_minute_agrees_with_binances_published_kline():
    kline = PublishedKline()
    row = ROWS[0]
    assert row.time.isoformat() == "2026-01-01T00:00:00+00:00"
    assert (row.open, row.high, row.low, row.close) == tuple(
        Decimal(v) for v in (kline.open, kline.high, kline.low, kline.close)
    )
    assert row.trades_buy + row.trades_sell == kline.trades
    assert truncated(row.btc_buy + row.btc_sell, kline.volume) == kline.volume
    assert truncated(row.usd_buy + row.usd_sell, kline.quote_volume) == kline.quote_volume
    assert truncated(row.btc_buy, kline.taker_buy_base) == kline.taker_buy_base
    assert truncated(row.usd_buy, kline.taker_buy_quote) == kline.taker_buy_quote
    # The full digits we compute (shared/data/binance/README.md quotes the same):
    assert row.btc_buy + row.btc_sell == Decimal("4.08049000")
    assert row.usd_buy + row.usd_sell == Decimal("357625.7768620")
    assert (row.btc_buy, row.usd_buy) == (Decimal("1.79879000"), Decimal("157651.5149507"))


def test_buy_and_sell_follow_the_taker():
    sell = TRADES[0]  # m = true: the taker sold
    buy = next(t for t in TRADES if not t.is_buyer_maker and t.minute == sell.minute)
    row = summarize(sell.symbol, sell.minute, [sell, buy])
    assert (row.count_buy, row.count_sell) == (1, 1)
    assert (row.btc_buy, row.btc_sell) == (buy.qty, sell.qty)
    assert (row.usd_buy, row.usd_sell) == (buy.price * buy.qty, sell.price * sell.qty)


def test_open_and_close_follow_agg_ids_not_input_order():
    minute = [t for t in TRADES if t.minute == TRADES[0].minute]
    row = summarize("BTCUSDT", minute[0].minute, list(reversed(minute)))
    assert (row.open, row.close) == (minute[0].price, minute[-1].price)
    assert (row.first_agg_id, row.last_agg_id) == (minute[0].agg_id, minute[-1].agg_id)


def test_the_sample_spans_13_minutes_with_every_trade_counted_once():
    assert len(ROWS) == 13
    assert sum(r.count_buy + r.count_sell for r in ROWS) == 5000
    assert [r.minute for r in ROWS] == sorted(r.minute for r in ROWS)


def test_a_record_holds_each_decimal_at_its_column_places():
    out = record(ROWS[0])
    assert list(out) == list(COLUMNS.values())
    assert out["TIME"] == "2026-01-01 00:00:00"
    assert out["TOTAL_BTC_BUY"] == "1.79879000"
    assert out["TOTAL_USD_BUY"] == "157651.5149507000000000"
    assert out["PRICE_OPEN"] == "87648.21000000"
    assert out["TOTAL_COUNT_BUY"] == 252


def test_minute_row_fields_and_columns_line_up():
    assert list(COLUMNS) == [f.name for f in fields(MinuteRow)]


def totals(rows: list[MinuteRow]) -> tuple[object, ...]:
    return (
        sum(r.count_buy for r in rows),
        sum(r.count_sell for r in rows),
        sum((r.btc_buy for r in rows), Decimal(0)),
        sum((r.btc_sell for r in rows), Decimal(0)),
        sum((r.usd_buy for r in rows), Decimal(0)),
        sum((r.usd_sell for r in rows), Decimal(0)),
        sum(r.trades_buy + r.trades_sell for r in rows),
    )


def test_the_sum_over_minutes_equals_the_totals_of_the_file():
    buys = [t for t in TRADES if t.is_buy]
    sells = [t for t in TRADES if not t.is_buy]
    assert totals(ROWS) == (
        len(buys),
        len(sells),
        sum((t.qty for t in buys), Decimal(0)),
        sum((t.qty for t in sells), Decimal(0)),
        sum((t.price * t.qty for t in buys), Decimal(0)),
        sum((t.price * t.qty for t in sells), Decimal(0)),
        sum(t.trade_count for t in TRADES),
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0))
def test_rows_do_not_depend_on_line_order(seed):
    shuffled = list(TRADES)
    random.Random(seed).shuffle(shuffled)
    assert minute_rows(shuffled) == ROWS


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(TRADES)), max_size=8),
    repeats=st.lists(st.integers(min_value=1, max_value=3), min_size=9, max_size=9),
    seed=st.integers(min_value=0),
)
def test_rows_do_not_depend_on_splitting_or_repeating_objects(cuts, repeats, seed):
    """Objects cut anywhere, each delivered 1-3 times, in any order: the same rows."""
    bounds = [0, *sorted(cuts), len(TRADES)]
    objects = [TRADES[a:b] for a, b in itertools.pairwise(bounds)]
    deliveries = [obj for obj, times in zip(objects, repeats, strict=False) for _ in range(times)]
    random.Random(seed).shuffle(deliveries)
    assert minute_rows(t for obj in deliveries for t in obj) == ROWS


@settings(max_examples=30, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=len(TRADES) - 1), max_size=200))
def test_rows_sum_to_the_totals_of_any_subset(dropped):
    kept = [t for i, t in enumerate(TRADES) if i not in dropped]
    buys = [t for t in kept if t.is_buy]
    assert totals(minute_rows(kept))[0] == len(buys)
    assert totals(minute_rows(kept))[4] == sum((t.price * t.qty for t in buys), Decimal(0))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=400), max_size=5))
def test_a_minute_folded_in_chunks_ordered_by_agg_id_equals_the_whole(cuts):
    """The store reads a minute in chunks ordered by agg id; folding their rows is exact."""
    minute = sorted((t for t in TRADES if t.minute == ROWS[0].minute), key=lambda t: t.agg_id)
    bounds = [0, *sorted({min(c, len(minute) - 1) for c in cuts}), len(minute)]
    parts = [
        summarize("BTCUSDT", ROWS[0].minute, minute[a:b]) for a, b in itertools.pairwise(bounds) if a < b
    ]
    folded = parts[0]
    for part in parts[1:]:
        folded = combined(folded, part)
    assert folded == ROWS[0]


def test_rows_of_overlapping_runs_are_not_combined():
    with pytest.raises(ValueError, match="not consecutive runs"):
        combined(ROWS[0], ROWS[0])
