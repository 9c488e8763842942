"""The producer against a fake Binance and the embedded broker: stream faults, one at a time.

Every test reads the topic back with a separate consumer and checks the exact agg-id
sequence per symbol (no hole, no duplicate, in order); the trades are the real ones of
tests/data, served by onebox.fake_binance.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.request

import msgspec
import pytest

from binance.streams import event_json
from onebox.fake_binance import FakeBinance
from producer.state import load_state
from tests.fixtures.data import sample_trades
from tests.fixtures.kafka import assert_exact_sequence, read_topic
from tests.fixtures.producer import caught_up, ids_of, running, settings_for, until

pytestmark = pytest.mark.integration


def read_back(kafka, topic, expect):
    return read_topic(kafka.bootstrap, topic, expect=expect)


def test_plain_run_publishes_every_trade_as_binance_sent_it(kafka, topic, tmp_path):
    trades = sample_trades()

    async def scenario():
        async with FakeBinance(trades) as fake:
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path, health_address="127.0.0.1:0")
            async with running(settings) as stats:
                await until(lambda: stats.produced == len(trades), "every trade confirmed")
                url = f"http://127.0.0.1:{stats.health_port}/health"
                health = await asyncio.to_thread(
                    lambda: json.loads(urllib.request.urlopen(url, timeout=10).read())
                )
            return fake, stats, health

    fake, stats, health = asyncio.run(scenario())
    records = read_back(kafka, topic, len(trades))
    assert_exact_sequence(records, ids_of(fake))
    # The value is the event's bytes exactly as the stream carried them; the key is the symbol.
    assert [record.value for record in records] == [event_json(trade) for trade in trades]
    assert {record.key for record in records} == {b"BTCUSDT"}
    assert (stats.received, stats.duplicates, stats.gaps, stats.backfilled) == (5000, 0, 0, 0)
    assert health["status"] == "ok"
    assert health["produced"] == 5000
    assert load_state(tmp_path / "producer-state.json").last_agg_ids == {"BTCUSDT": trades[-1].agg_id}


def test_forced_disconnects_are_reconnected_and_the_missed_trades_fetched(kafka, topic, tmp_path):
    async def scenario():
        async with FakeBinance(sample_trades(), limit=1000) as fake:
            async with running(settings_for(fake, kafka.bootstrap, topic, tmp_path)) as stats:
                await until(lambda: stats.produced == 1000, "the first 1000 trades")
                # 300 trades happen while the producer is away; the market waits for its catch-up
                # (the fake publishes as fast as it is read, so REST would otherwise race the stream).
                fake.drop_connections(lose=300)
                await until(lambda: stats.backfilled == 300, "the missed trades fetched on reconnecting")
                fake.allow(3000)
                await until(lambda: stats.produced == 3000, "3000 trades after the first drop")
                asked = fake.stats.rest_requests
                fake.drop_connections()
                await until(lambda: fake.stats.rest_requests > asked, "the catch-up after the second drop")
                fake.allow(5000)
                await until(lambda: stats.produced == 5000, "every trade after the second drop")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert_exact_sequence(read_back(kafka, topic, 5000), ids_of(fake))
    assert fake.stats.dropped == 2
    assert stats.reconnects == 2
    assert (stats.gaps, stats.backfilled) == (1, 300)


def test_gaps_in_the_stream_are_filled_from_rest_before_later_trades(kafka, topic, tmp_path):
    trades = sample_trades()
    skipped = [trades[10].agg_id]
    skipped += [trade.agg_id for trade in trades[500:650]]
    skipped += [trade.agg_id for trade in trades[1000:3500]]  # 2500: three REST pages

    async def scenario():
        async with FakeBinance(trades) as fake:
            fake.skip(skipped)
            async with running(settings_for(fake, kafka.bootstrap, topic, tmp_path)) as stats:
                await until(lambda: stats.produced == len(trades), "every trade")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert_exact_sequence(read_back(kafka, topic, 5000), ids_of(fake))
    assert fake.stats.skipped_sent == len(skipped) == 2651
    assert (stats.gaps, stats.backfilled, stats.holes) == (3, 2651, 0)
    # The first trade checked against REST (nothing saved), then one page per gap: the probe of
    # each gap is its newest page, so checking a jump costs no request of its own.
    assert fake.stats.rest_requests == 1 + 1 + 1 + 3


def test_rate_limits_are_waited_out_as_retry_after_says(kafka, topic, tmp_path):
    trades = sample_trades()[:1000]

    async def scenario():
        async with FakeBinance(trades) as fake:
            fake.skip(trade.agg_id for trade in trades[100:110])
            fake.rate_limit(2, retry_after=0.3)
            fake.rate_limit(1, retry_after=0.3, status=418)
            async with running(settings_for(fake, kafka.bootstrap, topic, tmp_path)) as stats:
                await until(lambda: stats.produced == len(trades), "every trade")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert_exact_sequence(read_back(kafka, topic, 1000), ids_of(fake))
    assert fake.stats.rest_limited == stats.rest_rate_limited == 3
    # The first trade's check against REST meets the limits (3 answers, then its retry), then the gap.
    assert fake.stats.rest_requests == 5
    times = fake.stats.rest_times[:4]
    # Each retry came no sooner than Retry-After allowed (a lower bound: never flaky).
    assert all(later - earlier >= 0.3 for earlier, later in itertools.pairwise(times))


def test_rotation_before_the_cut_is_make_before_break(kafka, topic, tmp_path):
    trades = sample_trades()[:2000]  # 319 s of market: about 3.2 s at speed 100

    async def scenario():
        # Binance's 24-hour cut shortened to 3 s; the producer rotates every second.
        async with FakeBinance(trades, speed=100, connection_lifetime=3.0) as fake:
            settings = settings_for(
                fake, kafka.bootstrap, topic, tmp_path, rotate_after=1.0, rotation_overlap=2.0
            )
            async with running(settings) as stats:
                await until(caught_up(fake, stats), "every trade")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert_everything_since_first_heard(kafka, topic, fake)
    assert stats.rotations >= 2
    assert fake.stats.max_concurrent == 2  # the new connection opened before the old one closed
    assert fake.stats.lifetime_cuts == 0  # never cut: always replaced in time
    assert stats.reconnects == 0


def test_the_cut_without_rotation_is_survived_by_reconnecting(kafka, topic, tmp_path):
    trades = sample_trades()[:1500]

    async def scenario():
        async with FakeBinance(trades, speed=100, connection_lifetime=0.8) as fake:
            async with running(settings_for(fake, kafka.bootstrap, topic, tmp_path)) as stats:
                await until(caught_up(fake, stats), "every trade")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert_everything_since_first_heard(kafka, topic, fake)
    assert fake.stats.lifetime_cuts >= 2
    assert stats.reconnects >= 2


def test_server_shutdown_makes_the_producer_move_early(kafka, topic, tmp_path):
    trades = sample_trades()[:2000]

    async def scenario():
        async with FakeBinance(trades, speed=100, shutdown_grace=1.0) as fake:
            async with running(settings_for(fake, kafka.bootstrap, topic, tmp_path)) as stats:
                await until(lambda: stats.produced >= 300, "300 trades")
                assert fake.shutdown_notice() == 1
                await until(caught_up(fake, stats), "every trade")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert_everything_since_first_heard(kafka, topic, fake)
    assert stats.server_shutdowns == 1
    assert stats.rotations == 1
    assert fake.stats.max_concurrent == 2
    assert stats.reconnects == 0


def test_pings_are_answered_so_the_server_keeps_the_connection(kafka, topic, tmp_path):
    trades = sample_trades()[:1500]

    async def scenario():
        # Binance pings every 20 s and drops after a minute; here every 0.1 s, dropped after 0.5 s.
        async with FakeBinance(trades, speed=100, ping_interval=0.1, pong_timeout=0.5) as fake:
            async with running(settings_for(fake, kafka.bootstrap, topic, tmp_path)) as stats:
                await until(caught_up(fake, stats), "every trade")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert_everything_since_first_heard(kafka, topic, fake)
    assert fake.stats.pong_timeouts == 0
    assert fake.stats.connections_opened == 1
    assert stats.reconnects == 0


def test_several_symbols_each_keep_their_own_order(kafka, topic, tmp_path):
    btc = sample_trades()[:2000]
    # A second market from the same real trades: other ids, same times, interleaved.
    eth = [msgspec.structs.replace(t, symbol="ETHUSDT", agg_id=t.agg_id - 3_000_000_000) for t in btc]
    market = [trade for pair in zip(btc, eth, strict=True) for trade in pair]

    async def scenario():
        async with FakeBinance(market) as fake:
            fake.skip([btc[5].agg_id, eth[7].agg_id, *(t.agg_id for t in eth[100:1300])])
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path, symbols=("btcusdt", "ethusdt"))
            async with running(settings) as stats:
                await until(lambda: stats.produced == len(market), "every trade of both symbols")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert_exact_sequence(read_back(kafka, topic, 4000), ids_of(fake))
    assert stats.backfilled == 1 + 1 + 1200
    assert fake.stats.paths == [
        "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade/btcusdt@kline_1m/ethusdt@kline_1m"
    ]


def assert_everything_since_first_heard(kafka, topic, fake) -> None:
    """A run that joins a timed market hears only what happens after it connects (no saved
    state): from its first trade on, Kafka must hold every trade of the fake, in order."""
    first = read_topic(kafka.bootstrap, topic, expect=1)[0]
    first_id = msgspec.json.decode(first.value)["a"]
    start = next(i for i, trade in enumerate(fake.trades) if trade.agg_id == first_id)
    expected = ids_of(fake, first=start)
    assert_exact_sequence(read_back(kafka, topic, sum(map(len, expected.values()))), expected)


def test_a_gap_rest_keeps_refusing_becomes_a_logged_hole_and_the_stream_goes_on(
    kafka, topic, tmp_path, caplog
):
    trades = sample_trades()[:1000]
    missing = trades[400:410]

    async def scenario():
        async with FakeBinance(trades) as fake:
            fake.skip(trade.agg_id for trade in missing)
            fake.rate_limit(1000, retry_after=0.2)  # REST answers nothing but 429 from now on
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path, backfill_give_up=1.0)
            async with running(settings) as stats:
                await until(lambda: stats.produced == len(trades) - len(missing), "every trade but the hole")
            return stats

    stats = asyncio.run(scenario())
    expected = [trade.agg_id for trade in trades if trade not in missing]
    assert_exact_sequence(read_back(kafka, topic, len(expected)), {"BTCUSDT": expected})
    assert (stats.holes, stats.hole_trades, stats.backfilled) == (1, 10, 0)
    hole = f"{missing[0].agg_id}..{missing[-1].agg_id} (10 trades)"
    assert any(f"HOLE: agg ids {hole} will not be in Kafka: REST" in r.getMessage() for r in caplog.records)
