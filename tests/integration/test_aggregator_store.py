"""The store on SQLite and on the real MariaDB: exact, idempotent, all or nothing."""

from __future__ import annotations

import itertools
import random
import threading
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minutes.aggregate import minute_rows
from minutes.store import ObjectRef, Store, open_store
from tests.fixtures.aggregator import failing_minute_writes
from tests.fixtures.data import sample_trades

pytestmark = pytest.mark.integration

TRADES = sample_trades()
ROWS = minute_rows(TRADES)


@pytest.fixture
def store(db_url):
    target = open_store(db_url)
    target.migrate()
    yield target
    target.close()


def ingest(store: Store, key: str, trades, etag: str = "e1"):
    return store.ingest(ObjectRef("bucket", key, etag), trades, lines=len(trades), rejected=0)


def table_counts(store: Store) -> tuple[int, int, int]:
    return tuple(
        store.execute(f"SELECT COUNT(*) FROM {table}")[0][0]
        for table in ("agg_trades", "trade_minutes", "processed_objects")
    )


def test_migrations_apply_once(db_url):
    with open_store(db_url) as target:
        assert target.migrate() == [
            "001_agg_trades",
            "002_trade_minutes",
            "003_processed_objects",
            "004_views",
            "005_binary_symbols",
            "006_minute_bounds",
            "007_ledger_outcomes",
            "008_final_ranges",
            "009_minute_status",
            "010_history",
            "011_minute_check",
        ]
        assert target.migrate() == []


def test_one_object_gives_the_cores_rows_exactly(store):
    result = ingest(store, "k", TRADES)
    assert (result.accepted, result.duplicates, result.minutes, result.redelivered) == (5000, 0, 13, False)
    assert store.minute_rows() == ROWS


def test_a_repeated_event_changes_nothing(store):
    ingest(store, "k", TRADES)
    before = (store.minute_rows(), table_counts(store))
    again = ingest(store, "k", TRADES)
    assert again.redelivered
    assert (store.minute_rows(), table_counts(store)) == before
    assert store.ledger_totals().redeliveries == 1


def test_overlapping_objects_count_each_trade_once(store):
    first = ingest(store, "a", TRADES[:3000])
    second = ingest(store, "b", TRADES[2000:])
    assert (first.duplicates, second.duplicates) == (0, 1000)
    assert store.minute_rows() == ROWS
    totals = store.ledger_totals()
    assert (totals.objects, totals.accepted, totals.duplicates) == (2, 6000, 1000)


def test_a_minute_spread_over_three_objects_in_any_order(store):
    minute = [t for t in TRADES if t.minute == ROWS[4].minute]
    parts = [minute[::3], minute[1::3], minute[2::3]]
    for i in (2, 0, 1):
        ingest(store, f"part-{i}", parts[i])
    assert store.minute_rows() == [ROWS[4]]


def test_objects_in_random_order_with_repeats_give_the_same_rows(store):
    rng = random.Random(20260101)
    cuts = sorted(rng.sample(range(1, len(TRADES)), 9))
    objects = [TRADES[a:b] for a, b in zip([0, *cuts], [*cuts, len(TRADES)], strict=True)]
    deliveries = [(i, obj) for i, obj in enumerate(objects)] * 2
    rng.shuffle(deliveries)
    for i, obj in deliveries:
        ingest(store, f"obj-{i}", obj)
    assert store.minute_rows() == ROWS
    assert store.ledger_totals().redeliveries == len(objects)


def test_an_object_of_scattered_minutes_recomputes_each_of_them(store):
    scattered = [
        t for t in TRADES if t.minute in (ROWS[0].minute, ROWS[5].minute, ROWS[6].minute, ROWS[12].minute)
    ]
    result = ingest(store, "scattered", scattered)
    assert result.minutes == 4
    assert store.minute_rows() == [ROWS[0], ROWS[5], ROWS[6], ROWS[12]]
    ingest(store, "rest", TRADES)
    assert store.minute_rows() == ROWS


def test_an_empty_object_is_recorded_and_changes_no_row(store):
    result = ingest(store, "empty", [])
    assert (result.lines, result.minutes, result.redelivered) == (0, 0, False)
    assert table_counts(store) == (0, 0, 1)


def test_a_database_failure_mid_object_leaves_nothing_half_written(store):
    ingest(store, "first", TRADES[:1000])
    before = (store.minute_rows(), table_counts(store))
    # The ledger row and the trades are written, then the database refuses the rows.
    with failing_minute_writes(store), pytest.raises(Exception, match="minute rows refused"):
        ingest(store, "second", TRADES[1000:])
    assert (store.minute_rows(), table_counts(store)) == before
    ingest(store, "second", TRADES[1000:])  # the retry does the whole object
    assert store.minute_rows() == ROWS


@settings(max_examples=15, deadline=None)
@given(
    cuts=st.lists(st.integers(1, len(TRADES) - 1), max_size=6), seed=st.integers(0), times=st.integers(1, 3)
)
def test_the_store_does_not_depend_on_splits_order_or_repeats(tmp_path_factory, cuts, seed, times):
    """On SQLite, where a hypothesis example is cheap; MariaDB runs the seeded version above."""
    with open_store(f"sqlite:///{tmp_path_factory.mktemp('h') / 'db.sqlite'}") as target:
        target.migrate()
        bounds = [0, *sorted(set(cuts)), len(TRADES)]
        deliveries = [(i, TRADES[a:b]) for i, (a, b) in enumerate(itertools.pairwise(bounds))] * times
        random.Random(seed).shuffle(deliveries)
        for i, obj in deliveries:
            ingest(target, f"obj-{i}", obj)
        assert target.minute_rows() == ROWS


def test_views_give_exact_daily_minute_and_spread_figures(store):
    ingest(store, "k", TRADES)
    (day,) = store.execute(
        "SELECT DAY, TOTAL_COUNT_BUY, TOTAL_COUNT_SELL, TOTAL_USD_BUY, AVG_PRICE_BUY FROM daily_totals"
    )
    usd_buy = sum((r.usd_buy for r in ROWS), Decimal(0))
    btc_buy = sum((r.btc_buy for r in ROWS), Decimal(0))
    assert str(day[0]) == "2026-01-01"
    assert (int(day[1]), int(day[2])) == (sum(r.count_buy for r in ROWS), sum(r.count_sell for r in ROWS))
    assert Decimal(day[3]) == usd_buy
    assert Decimal(day[4]) == (usd_buy / btc_buy).quantize(Decimal("0.00000001"))

    spreads = store.execute("SELECT USD_SPREAD, USD_SPREAD_30M FROM minute_spread ORDER BY TIME")
    running = Decimal(0)
    for row, (spread, spread_30m) in zip(ROWS, spreads, strict=True):
        running += row.usd_buy - row.usd_sell  # all 13 minutes fall in one 30-minute window
        assert (Decimal(spread), Decimal(spread_30m)) == (row.usd_buy - row.usd_sell, running)

    prices = store.execute("SELECT AVG_PRICE_BUY, AVG_PRICE_SELL FROM minute_prices ORDER BY TIME")
    assert [Decimal(p) for p, _ in prices] == [
        (r.usd_buy / r.btc_buy).quantize(Decimal("1E-8")) for r in ROWS
    ]

    maker = store.execute("SELECT TOTAL_COUNT_BUY, TOTAL_USD_BUY FROM trade_minutes_maker_side ORDER BY TIME")
    assert [(int(c), Decimal(u)) for c, u in maker] == [(r.count_sell, r.usd_sell) for r in ROWS]


def test_the_running_sum_covers_exactly_30_minutes(store):
    # One trade a minute for 40 minutes, each a buy of 1 BTC at 1 USD: the running sum
    # climbs to 30 and stays there.
    base = TRADES[0]
    trades = [
        base.__class__(
            "BTCUSDT", i, Decimal(1), Decimal(1), i, i, base.minute + i * 60_000 + 5, is_buyer_maker=False
        )
        for i in range(40)
    ]
    ingest(store, "k", trades)
    sums = [Decimal(s) for (s,) in store.execute("SELECT USD_SPREAD_30M FROM minute_spread ORDER BY TIME")]
    assert sums == [Decimal(min(i + 1, 30)) for i in range(40)]


def test_two_writers_of_the_same_minutes_never_lose_a_trade(db_url):
    """Concurrent objects of one minute (two Lambdas at once): the last recompute sees both."""
    stores = [open_store(db_url) for _ in range(2)]
    stores[0].migrate()
    halves = [TRADES[0::2], TRADES[1::2]]
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for j in range(5):
                chunk = halves[i][j::5]
                stores[i].ingest(ObjectRef("b", f"w{i}-{j}", "e"), chunk, lines=len(chunk), rejected=0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert stores[0].minute_rows() == ROWS
    for target in stores:
        target.close()
