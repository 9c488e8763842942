"""Restarts: resume from the state file and from the topic's tail, backfill the downtime, log holes.

Each test runs the producer twice on one fake market: the market goes on while the
producer is away (`FakeBinance.advance`), as Binance's does.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from onebox.fake_binance import FakeBinance
from producer.state import load_state, save_state
from tests.fixtures.data import sample_trades
from tests.fixtures.kafka import assert_exact_sequence, read_topic
from tests.fixtures.producer import ids_of, running, settings_for, until

pytestmark = pytest.mark.integration


def test_restart_resumes_from_the_state_file_and_fetches_the_downtime(kafka, topic, tmp_path):
    trades = sample_trades()

    async def scenario():
        async with FakeBinance(trades, limit=2000) as fake:
            # The topic's tail is not read here: the state file alone must be right.
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path, resume_from_kafka=False)
            async with running(settings) as first:
                await until(lambda: first.produced == 2000, "the first 2000 trades")
            saved = load_state(settings.state_file).last_agg_ids
            fake.advance(3000)  # 1000 trades happen while the producer is down
            async with running(settings) as second:
                # At start it fetches what it missed, up to the newest trade REST knows...
                await until(lambda: second.backfilled == 1000, "the downtime fetched from REST")
                fake.allow(5000)  # ...then the market goes on, on the stream
                await until(lambda: second.produced == 3000, "the other 3000 trades")
            return fake, saved, second

    fake, saved, second = asyncio.run(scenario())
    assert saved == {"BTCUSDT": trades[1999].agg_id}
    assert_exact_sequence(read_topic(kafka.bootstrap, topic, expect=5000), ids_of(fake))
    assert (second.gaps, second.backfilled, second.duplicates) == (1, 1000, 0)


@pytest.mark.parametrize("state", ["stale", "lost"])
def test_after_a_crash_the_topic_tail_prevents_duplicates(kafka, topic, tmp_path, state):
    """A crash skips the last state write: the file is behind what Kafka holds, or gone."""
    trades = sample_trades()

    async def scenario():
        async with FakeBinance(trades, limit=2000) as fake:
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path)
            async with running(settings) as first:
                await until(lambda: first.produced == 2000, "the first 2000 trades")
            if state == "stale":
                save_state(settings.state_file, {"BTCUSDT": trades[1499].agg_id}, saved_at=0.0)
            else:
                settings.state_file.unlink()
            fake.advance(2500)
            async with running(settings) as second:
                await until(lambda: second.backfilled == 500, "the downtime fetched from REST")
                fake.allow(5000)
                await until(lambda: second.produced == 3000, "the other 3000 trades")
            return fake, second

    fake, second = asyncio.run(scenario())
    assert_exact_sequence(read_topic(kafka.bootstrap, topic, expect=5000), ids_of(fake))
    assert second.backfilled == 500


def test_downtime_beyond_max_backfill_is_a_logged_hole(kafka, topic, tmp_path, caplog):
    trades = sample_trades()
    caplog.set_level(logging.ERROR, logger="producer.service")

    async def scenario():
        async with FakeBinance(trades, limit=1000) as fake:
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path)
            async with running(settings) as first:
                await until(lambda: first.produced == 1000, "the first 1000 trades")
            fake.advance(3000)  # 2000 trades while down; only the newest 500 may be fetched
            async with running(
                settings_for(fake, kafka.bootstrap, topic, tmp_path, max_backfill=500)
            ) as second:
                await until(lambda: second.backfilled == 500, "the newest 500 of the downtime")
                fake.allow(5000)
                await until(lambda: second.produced == 2500, "the 500 fetched and 2000 streamed trades")
            return second

    second = asyncio.run(scenario())
    expected = [t.agg_id for t in trades[:1000]] + [t.agg_id for t in trades[2500:]]
    assert_exact_sequence(read_topic(kafka.bootstrap, topic, expect=3500), {"BTCUSDT": expected})
    assert (second.holes, second.hole_trades, second.backfilled) == (1, 1500, 500)
    hole = f"{trades[1000].agg_id}..{trades[2499].agg_id} (1500 trades)"
    assert any(f"BTCUSDT: HOLE: agg ids {hole}" in record.getMessage() for record in caplog.records)
