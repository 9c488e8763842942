"""The broker's side: unreachable for a while, and refusing deliveries.

The broker is librdkafka's mock cluster. Through `kafka_behind_proxy` it advertises only a
TCP proxy's address, so cutting the proxy really cuts the producer off (metadata, produce
requests, everything) while the broker keeps what it has.
"""

from __future__ import annotations

import asyncio

import pytest

from onebox.fake_binance import FakeBinance
from tests.fixtures.data import sample_trades
from tests.fixtures.kafka import assert_exact_sequence, read_topic
from tests.fixtures.producer import ids_of, running, settings_for, until

pytestmark = pytest.mark.integration

INVALID_RECORD = 87  # a Kafka error code the broker answers a Produce request with; not retriable


def test_an_unreachable_broker_pauses_reading_and_loses_nothing(kafka_behind_proxy, tmp_path):
    kafka, proxy = kafka_behind_proxy.broker, kafka_behind_proxy.proxy
    kafka.create_topic("trades")
    buffer = 200
    pending_seen: list[int] = []

    async def scenario():
        async with FakeBinance(sample_trades(), limit=1000) as fake:
            settings = settings_for(fake, kafka.bootstrap, "trades", tmp_path, buffer_messages=buffer)
            async with running(settings) as stats:
                await until(lambda: stats.produced == 1000, "the first 1000 trades")
                proxy.cut()
                fake.allow(5000)
                await until(lambda: stats.buffer_full_waits >= 1 and stats.pending == buffer, "a full buffer")
                await until(lambda: proxy.refused >= 1, "the producer to try the broker again, in vain")
                produced_while_cut = stats.produced
                for _ in range(25):  # the buffer stays full, and bounded, while the broker is away
                    pending_seen.append(stats.pending)
                    await asyncio.sleep(0.02)
                proxy.restore()
                await until(lambda: stats.produced == 5000, "every trade after the broker came back")
            return fake, stats, produced_while_cut

    fake, stats, produced_while_cut = asyncio.run(scenario())
    assert produced_while_cut == 1000  # the cut was real: nothing was confirmed meanwhile
    assert pending_seen == [buffer] * 25
    assert stats.delivery_failures == 0  # it waited: nothing failed, nothing was dropped
    assert_exact_sequence(read_topic(kafka.bootstrap, "trades", expect=5000), ids_of(fake))


def test_refused_deliveries_are_sent_again_in_order(kafka, topic, tmp_path):
    async def scenario():
        async with FakeBinance(sample_trades()[:3000], limit=1000) as fake:
            async with running(settings_for(fake, kafka.bootstrap, topic, tmp_path)) as stats:
                await until(lambda: stats.produced == 1000, "the first 1000 trades")
                # The next three Produce requests fail: with the gapless guarantee each one is
                # fatal for the producer, which the sink replaces, sending everything unconfirmed.
                kafka.fail_produce_requests(INVALID_RECORD, INVALID_RECORD, INVALID_RECORD)
                fake.allow(3000)
                await until(lambda: stats.produced == 3000, "every trade")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert stats.delivery_failures >= 1
    assert stats.producer_restarts >= 1
    assert_exact_sequence(read_topic(kafka.bootstrap, topic, expect=3000), ids_of(fake))
