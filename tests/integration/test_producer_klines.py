"""Kline capture: closed 1-minute klines reach the topic once each, beside the trades, untouched.

The fake Binance serves the real trades of tests/data and one kline per minute they cover
(values of no consequence here: the producer publishes klines, it does not compare them);
the embedded broker is the Kafka. A kline frame is told from a trade by its event type.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from decimal import Decimal

import pytest

from binance.events import MINUTE_MS, AggTrade
from binance.klines import Kline, parse_kline_event
from binance.rest import rest_klines_json
from binance.streams import combined_frame, kline_event_json
from onebox.fake_binance import FakeBinance
from producer.settings import ProducerSettings
from producer.state import load_state, save_state
from tests.fixtures.data import PublishedKline, sample_trades
from tests.fixtures.hostile_binance import HostileBinance
from tests.fixtures.kafka import Record, assert_exact_sequence, read_topic
from tests.fixtures.producer import ids_of, running, settings_for, until

pytestmark = pytest.mark.integration

FIRST_MINUTE = 1_767_225_600_000  # 2026-01-01 00:00 UTC, the sample's first minute


def minute_klines(count: int) -> list[Kline]:
    """One kline a minute from the sample's first minute on, each told apart by its trade count."""
    published = PublishedKline()
    base = Kline(
        "BTCUSDT",
        FIRST_MINUTE,
        Decimal(published.open),
        Decimal(published.high),
        Decimal(published.low),
        Decimal(published.close),
        Decimal(published.volume),
        Decimal(published.quote_volume),
        published.trades,
        Decimal(published.taker_buy_base),
        Decimal(published.taker_buy_quote),
    )
    return [
        dataclasses.replace(base, open_time=FIRST_MINUTE + n * MINUTE_MS, trades=1000 + n)
        for n in range(count)
    ]


def split(records: list[Record]) -> tuple[list[Record], list[Kline]]:
    """The topic's trade records, and its klines (parsed by the contract) in topic order."""
    trades, klines = [], []
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.value.startswith(b'{"e":"kline"'):
            assert record.key == b"BTCUSDT"
            klines.append(parse_kline_event(record.value))
        else:
            trades.append(record)
    return trades, klines


def start_state(settings: ProducerSettings, trades: list[AggTrade]) -> None:
    """Resume before the first trade and the first minute, as the one-box's replay does."""
    save_state(
        settings.state_file,
        {"BTCUSDT": trades[0].agg_id - 1},
        0.0,
        {"BTCUSDT": FIRST_MINUTE - MINUTE_MS},
    )


def test_klines_are_published_exactly_once_across_a_reconnect_and_a_restart(kafka, topic, tmp_path):
    trades, klines = sample_trades(), minute_klines(13)

    async def scenario():
        async with FakeBinance(trades, klines=klines, limit=1500) as fake:
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path)
            start_state(settings, trades)
            async with running(settings) as first:
                await until(lambda: first.produced == 1500, "the first 1500 trades")
                closed_before_drop = fake.klines_closed
                await until(lambda: first.klines_produced == closed_before_drop, "their klines")
                # The connection goes; 1500 trades and the minutes they close happen meanwhile.
                fake.drop_connections(lose=1500)
                await until(lambda: first.reconnects == 1 and first.produced == 3000, "the reconnect")
                closed_after_drop = fake.klines_closed
                await until(lambda: first.klines_produced == closed_after_drop, "the klines missed")
            saved = load_state(settings.state_file)
            fake.allow(5000)
            async with running(settings) as second:
                await until(lambda: second.produced == 2000, "the other 2000 trades")
                await until(
                    lambda: second.klines_produced == fake.klines_closed - closed_after_drop, "klines"
                )
            return fake, first, second, saved, closed_before_drop, closed_after_drop

    fake, first, second, saved, before, after = asyncio.run(scenario())
    assert 0 < before < after < fake.klines_closed == 12  # 00:12, the last trade's minute, never closes
    records, topic_klines = split(read_topic(kafka.bootstrap, topic, expect=5000 + 12))
    assert_exact_sequence(records, ids_of(fake))
    assert topic_klines == klines[:12]  # each closed minute once, in order, values as served
    # The minutes closed while no connection listened came from REST, in the stream's shape;
    # the stream repeated some of what REST had given (at speed 0 it runs during the catch-up).
    assert first.klines_backfilled >= after - before
    for run, released in ((first, after), (second, 12 - after)):
        assert run.klines_backfilled + run.klines_received - run.kline_duplicates == released
    assert saved.last_kline_open_times == {"BTCUSDT": klines[after - 1].open_time}
    assert saved.last_agg_ids == {"BTCUSDT": trades[2999].agg_id}
    assert (second.kline_holes, first.kline_holes) == (0, 0)
    assert (first.gaps, first.holes) == (2, 0)  # the trades: start and reconnect, both filled


def test_a_bad_kline_frame_is_rejected_and_the_stream_goes_on(kafka, topic, tmp_path):
    trades, klines = sample_trades()[:1500], minute_klines(13)
    good = kline_event_json(klines[0], FIRST_MINUTE + MINUTE_MS)
    five_minutes = good.replace(b'"i":"1m"', b'"i":"5m"')
    still_open = kline_event_json(klines[1], FIRST_MINUTE + 2 * MINUTE_MS, closed=False)
    wrong_market = good.replace(b'"BTCUSDT"', b'"ETHUSDT"')

    async def scenario():
        async with FakeBinance(trades, klines=klines, limit=1000) as fake:
            after = trades[10].agg_id
            fake.inject(
                after,
                combined_frame("btcusdt@kline_1m", five_minutes),
                combined_frame("btcusdt@kline_1m", still_open),
                combined_frame("btcusdt@kline_1m", wrong_market),
            )
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path)
            # Trades from the live stream on (nothing saved), klines from the first minute on.
            save_state(settings.state_file, {}, 0.0, {"BTCUSDT": FIRST_MINUTE - MINUTE_MS})
            async with running(settings) as stats:
                await until(lambda: stats.produced == 1000, "the first 1000 trades")
                fake.allow(1500)
                await until(
                    lambda: stats.produced == 1500 and stats.klines_produced == fake.klines_closed, "the rest"
                )
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert fake.stats.injected_sent == 3
    assert stats.rejected == {"not_a_kline": 1, "wrong_kline": 1}
    assert stats.klines_open == 1
    assert (stats.gaps, stats.duplicates, stats.holes) == (0, 0, 0)  # the trades never noticed
    records, topic_klines = split(read_topic(kafka.bootstrap, topic, expect=1500 + fake.klines_closed))
    assert_exact_sequence(records, ids_of(fake))
    assert topic_klines == klines[: fake.klines_closed] and fake.klines_closed >= 3


def test_klines_missed_are_fetched_within_binances_rate_limits(kafka, topic, tmp_path):
    trades, klines = sample_trades()[:3000], minute_klines(13)

    async def scenario():
        async with FakeBinance(trades, klines=klines, limit=2000) as fake:
            fake.advance(2000)  # minutes close while nobody listens: only REST has their klines
            fake.rate_limit(2, retry_after=0.3)  # the first two REST requests: the klines' own
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path)
            save_state(settings.state_file, {}, 0.0, {"BTCUSDT": FIRST_MINUTE - MINUTE_MS})
            async with running(settings) as stats:
                await until(lambda: stats.klines_produced == fake.klines_closed, "the klines missed")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert fake.stats.rest_limited == 2 and stats.rest_rate_limited == 2
    gaps = [b - a for a, b in zip(fake.stats.rest_times, fake.stats.rest_times[1:], strict=False)]
    assert min(gaps[:2]) >= 0.3  # Retry-After waited out, twice
    assert stats.klines_backfilled == fake.klines_closed >= 4 and stats.kline_holes == 0


def test_a_bad_kline_in_a_rest_answer_is_left_out_and_its_minute_logged_as_a_hole(
    kafka, topic, tmp_path, caplog
):
    trades, klines = sample_trades()[:3000], minute_klines(13)
    caplog.set_level(logging.ERROR, logger="producer.service")

    async def scenario():
        async with HostileBinance(trades, klines=klines, limit=2000) as fake:
            fake.advance(2000)
            closed = klines[: fake.klines_closed]
            page = rest_klines_json(closed).replace(b'"4.08",', b'"4.08.1",', 1)  # the first kline's volume
            fake.poison_rest(rest_klines_json(closed[-2:]), page)  # the newest closed, then the page
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path)
            save_state(settings.state_file, {}, 0.0, {"BTCUSDT": FIRST_MINUTE - MINUTE_MS})
            async with running(settings) as stats:
                await until(lambda: stats.klines_produced == len(closed) - 1, "the good klines")
            return fake, stats, closed

    fake, stats, closed = asyncio.run(scenario())
    assert fake.poisoned_sent == 2
    assert stats.rejected == {"rest_item": 1} and stats.kline_holes == 1
    assert "KLINE HOLE: the klines of 1 minutes from 2026-01-01T00:00Z will not be in Kafka" in caplog.text
    records, topic_klines = split(read_topic(kafka.bootstrap, topic, expect=len(closed) - 1))
    assert topic_klines == closed[1:] and records == []  # no trade: they all happened before it connected


def test_a_kline_gap_rest_cannot_fill_is_a_hole_and_the_stream_goes_on(kafka, topic, tmp_path):
    trades, klines = sample_trades()[:1500], minute_klines(13)
    ahead = kline_event_json(klines[5], klines[5].open_time + MINUTE_MS)

    async def scenario():
        async with HostileBinance(trades, klines=klines, limit=100) as fake:  # 100 trades: all of 00:00
            fake.inject(trades[10].agg_id, combined_frame("btcusdt@kline_1m", ahead))  # 00:05, early
            # The catch-up's "newest closed" is none (nothing closed yet); then, asked for 00:00 to
            # 00:04, REST lists only 00:07 (a REST that skipped past them).
            fake.poison_klines(b"[]", rest_klines_json([klines[7]]))
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path)
            save_state(settings.state_file, {}, 0.0, {"BTCUSDT": FIRST_MINUTE - MINUTE_MS})
            async with running(settings) as stats:
                await until(lambda: stats.produced == 100, "the first 100 trades")
                fake.allow(1500)
                await until(lambda: stats.produced == 1500, "the rest")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert fake.poisoned_sent == 2
    assert stats.kline_holes == 5  # 00:00 to 00:04, logged, never waited for again
    assert stats.kline_duplicates == fake.klines_closed == 4  # the stream's own 00:00-00:03 came after
    _, topic_klines = split(read_topic(kafka.bootstrap, topic, expect=1500 + 1))
    assert topic_klines == [klines[5]]
