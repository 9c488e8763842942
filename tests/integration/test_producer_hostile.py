"""The producer against a hostile Binance: frames and REST answers Binance never sends (issue 11).

The market is the real recorded trades of tests/data, served by the fake Binance; the bad
frames go into the same stream (`FakeBinance.inject`). Every test reads the topic back and
checks that every real agg id is there exactly once, in order, that no id Binance does not
have got in, and that the producer is still running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request

import pytest
from confluent_kafka import Producer

from binance.streams import event_json
from producer.state import load_state, save_state
from tests.fixtures.data import sample_trades
from tests.fixtures.hostile_binance import HostileBinance, bogus_id, junk_frames, nested
from tests.fixtures.kafka import agg_ids_by_symbol, assert_exact_sequence, read_topic
from tests.fixtures.producer import ids_of, running, settings_for, until

pytestmark = pytest.mark.integration


def released_through(stats, last_id: int):
    """A condition: the producer released ``last_id`` (or, wrongly, beyond) and Kafka confirmed all."""
    return lambda: stats.released.get("BTCUSDT", -1) >= last_id and stats.pending == 0


def health_of(stats) -> dict:
    url = f"http://127.0.0.1:{stats.health_port}/health"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return {"code": answer.status, **json.loads(answer.read())}
    except urllib.error.HTTPError as error:
        return {"code": error.code, **json.loads(error.read())}


def test_a_deeply_nested_frame_is_rejected_and_the_stream_goes_on(kafka, topic, tmp_path):
    trades = sample_trades()[:1000]

    async def scenario():
        async with HostileBinance(trades) as fake:
            fake.inject(trades[299].agg_id, nested(1000), nested(100_000))
            fake.inject(trades[600].agg_id, nested(1000), binary=True)
            fake.skip([trades[700].agg_id])  # a gap, so that REST is asked...
            fake.poison_rest(b"[" * 1000 + b"]" * 1000)  # ...and its first answer is nested too
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path)
            async with running(settings) as stats:
                await until(released_through(stats, trades[-1].agg_id), "the last trade")
                alive = stats.running
            return fake, stats, alive

    fake, stats, alive = asyncio.run(scenario())
    assert alive
    assert fake.stats.injected_sent == 3 and fake.poisoned_sent == 1
    assert_exact_sequence(read_topic(kafka.bootstrap, topic, expect=1000), ids_of(fake))
    assert stats.rejected == {"unreadable": 3}
    assert (stats.holes, stats.backfilled) == (0, 1)


def test_an_agg_id_beyond_64_bits_is_rejected_and_the_stream_goes_on(kafka, topic, tmp_path):
    trades = sample_trades()[:1000]

    async def scenario():
        async with HostileBinance(trades) as fake:
            after = trades[299]
            fake.inject(after.agg_id, bogus_id(trades[300], "99999999999999999999999999"))
            fake.inject(after.agg_id, bogus_id(trades[300], str(2**63)))
            fake.inject(after.agg_id, bogus_id(trades[300], 2**63 - 1))  # fits, but Binance has no such id
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path)
            async with running(settings) as stats:
                await until(released_through(stats, trades[-1].agg_id), "the last trade")
                alive = stats.running
            return fake, stats, alive

    fake, stats, alive = asyncio.run(scenario())
    assert alive
    assert_exact_sequence(read_topic(kafka.bootstrap, topic, expect=1000), ids_of(fake))
    # Ids of 2^63 and more are refused by the trade contract itself (binance/contract.py), before
    # the sequencer's own guard (which still checks the state file and the topic tail).
    assert stats.rejected == {"not_a_trade": 2, "unconfirmed_jump": 1}
    assert (stats.holes, stats.hole_trades, stats.gaps) == (0, 0, 0)


def test_a_forward_id_rest_does_not_know_is_rejected_not_a_hole(kafka, topic, tmp_path, caplog):
    trades = sample_trades()[:1000]
    caplog.set_level(logging.INFO, logger="producer")

    async def scenario():
        async with HostileBinance(trades) as fake:
            # One otherwise valid trade, 5,000,000 ids ahead of the last one.
            fake.inject(trades[299].agg_id, bogus_id(trades[300], trades[299].agg_id + 5_000_000))
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path, health_address="127.0.0.1:0")
            async with running(settings) as stats:
                await until(released_through(stats, trades[-1].agg_id), "the last trade")
                health = await asyncio.to_thread(health_of, stats)
            return fake, stats, health

    fake, stats, health = asyncio.run(scenario())
    records = read_topic(kafka.bootstrap, topic, expect=1000)
    assert_exact_sequence(records, ids_of(fake))
    assert [record.value for record in records] == [event_json(trade) for trade in trades]
    assert stats.rejected == {"unconfirmed_jump": 1}
    assert (stats.holes, stats.hole_trades, stats.gaps, stats.duplicates) == (0, 0, 0, 0)
    assert load_state(tmp_path / "producer-state.json").last_agg_ids == {"BTCUSDT": trades[-1].agg_id}
    assert (health["code"], health["status"], health["rejected"]) == (200, "ok", {"unconfirmed_jump": 1})
    assert not any("HOLE" in record.getMessage() for record in caplog.records)
    [line] = [r.getMessage() for r in caplog.records if "not published (unconfirmed_jump" in r.getMessage()]
    assert f"agg id {trades[299].agg_id + 5_000_000} jumped ahead of the last released" in line


def test_every_kind_of_bad_frame_is_counted_by_reason_and_the_stream_goes_on(kafka, topic, tmp_path):
    trades = sample_trades()[:1000]
    junk = junk_frames(trades[400])

    async def scenario():
        async with HostileBinance(trades) as fake:
            fake.inject(trades[399].agg_id, *junk)
            fake.inject(trades[500].agg_id, b"\xff\xfe\x00 binary", binary=True)
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path)
            async with running(settings) as stats:
                await until(released_through(stats, trades[-1].agg_id), "the last trade")
                alive = stats.running
            return fake, stats, alive

    fake, stats, alive = asyncio.run(scenario())
    assert alive
    assert_exact_sequence(read_topic(kafka.bootstrap, topic, expect=1000), ids_of(fake))
    assert stats.rejected == {
        # not JSON, empty, [], null, cut short, q NaN (not JSON either), nested twice, the binary one
        "unreadable": 9,
        # p null, p "NaN", a "12", p missing, a -5, T -1, and two ids past 2^63 (the contract's)
        "not_a_trade": 8,
        "wrong_symbol": 1,
        "error_frame": 1,
        "other_event": 2,  # the SUBSCRIBE answer, the depth update
        "not_a_kline": 1,  # the kline event without "s" and "k"
    }
    assert stats.bad_frames == sum(stats.rejected.values()) == len(junk) + 1
    assert stats.holes == 0


def test_a_frame_over_one_mebibyte_costs_a_reconnect_and_nothing_else(kafka, topic, tmp_path):
    trades = sample_trades()[:1000]

    async def scenario():
        async with HostileBinance(trades) as fake:
            fake.inject(trades[299].agg_id, b'{"e":"aggTrade","x":"' + b"x" * (1 << 20) + b'"}')
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path)
            async with running(settings) as stats:
                await until(released_through(stats, trades[-1].agg_id), "the last trade")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert_exact_sequence(read_topic(kafka.bootstrap, topic, expect=1000), ids_of(fake))
    assert stats.rejected == {"too_large": 1}
    assert stats.reconnects == 1
    assert stats.holes == 0


def test_a_bogus_jump_while_rest_cannot_answer_is_judged_by_the_next_trade(kafka, topic, tmp_path):
    """REST answers nothing but 429: a real gap becomes a hole (as before), a bogus jump is rejected."""
    trades = sample_trades()[:1000]
    missing = trades[600:605]

    async def scenario():
        async with HostileBinance(trades) as fake:
            fake.skip(trade.agg_id for trade in missing)
            fake.inject(trades[299].agg_id, bogus_id(trades[300], trades[299].agg_id + 5_000_000))
            fake.rate_limit(10_000, retry_after=0.1)
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path, backfill_give_up=1.0)
            async with running(settings) as stats:
                await until(released_through(stats, trades[-1].agg_id), "the last trade")
            return stats

    stats = asyncio.run(scenario())
    expected = [trade.agg_id for trade in trades if trade not in missing]
    assert_exact_sequence(read_topic(kafka.bootstrap, topic, expect=len(expected)), {"BTCUSDT": expected})
    assert stats.rejected == {"unconfirmed_jump": 1}
    assert (stats.holes, stats.hole_trades) == (1, 5)


def produce_as_the_old_producer_did(bootstrap: str, topic: str, events: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for event in events:
        producer.produce(topic, event, b"BTCUSDT")
    assert producer.flush(30) == 0


@pytest.mark.parametrize("poisoned", ["state file", "state file and topic tail", "state file, no tail read"])
def test_a_resume_point_ahead_of_binance_is_corrected_at_start(kafka, topic, tmp_path, caplog, poisoned):
    """The old producer saved a bogus id 5,000,000 ahead (and published it): the restart corrects it."""
    trades = sample_trades()
    bogus = trades[999].agg_id + 5_000_000
    caplog.set_level(logging.ERROR, logger="producer.service")

    async def scenario():
        async with HostileBinance(trades, limit=1000) as fake:
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path, health_address="127.0.0.1:0")
            async with running(settings) as first:
                await until(lambda: first.produced == 1000, "the first 1000 trades")
            save_state(settings.state_file, {"BTCUSDT": bogus}, saved_at=0.0)
            if poisoned == "state file and topic tail":
                produce_as_the_old_producer_did(
                    kafka.bootstrap,
                    topic,
                    [json.dumps({**json.loads(event_json(trades[1000])), "a": bogus}).encode()],
                )
            fake.advance(1500)  # 500 trades happen while it is down
            settings = settings_for(
                fake,
                kafka.bootstrap,
                topic,
                tmp_path,
                health_address="127.0.0.1:0",
                resume_from_kafka=poisoned != "state file, no tail read",
            )
            async with running(settings) as second:
                await until(lambda: second.resume_corrections == 1, "the resume point corrected")
                await until(lambda: second.released.get("BTCUSDT") == trades[1499].agg_id, "the downtime")
                health = await asyncio.to_thread(health_of, second)
                fake.allow(5000)
                await until(released_through(second, trades[-1].agg_id), "the last trade")
            return second, health

    second, health = asyncio.run(scenario())
    records = read_topic(kafka.bootstrap, topic, expect=4500)
    found = agg_ids_by_symbol(records)["BTCUSDT"]
    if poisoned == "state file, no tail read":
        # Nothing says where the real trades stopped: it resumes after REST's newest id.
        expected = [t.agg_id for t in trades[:1000]] + [t.agg_id for t in trades[1500:]]
        assert second.backfilled == 0
    else:
        expected = [t.agg_id for t in trades]
        assert second.backfilled == 500
    if poisoned == "state file and topic tail":
        assert found.count(bogus) == 1  # the old producer's bogus message stays; nothing follows it twice
        found.remove(bogus)
    assert found == expected
    assert bogus not in second.released.values()
    assert load_state(tmp_path / "producer-state.json").last_agg_ids == {"BTCUSDT": trades[-1].agg_id}
    assert (health["code"], health["status"]) == (200, "degraded")
    assert "resume point ahead of Binance" in health["degradations"][0]
    [line] = [r.getMessage() for r in caplog.records if "RESUME POINT AHEAD OF BINANCE" in r.getMessage()]
    assert f"the last agg id {bogus}" in line
    assert f"resuming after {trades[999 if poisoned != 'state file, no tail read' else 1499].agg_id}" in line


def test_a_hole_makes_health_degraded_but_still_200(kafka, topic, tmp_path):
    trades = sample_trades()[:1000]

    async def scenario():
        async with HostileBinance(trades) as fake:
            fake.skip(trade.agg_id for trade in trades[500:510])
            settings = settings_for(
                fake, kafka.bootstrap, topic, tmp_path, max_backfill=4, health_address="127.0.0.1:0"
            )
            async with running(settings) as stats:
                await until(released_through(stats, trades[-1].agg_id), "the last trade")
                return await asyncio.to_thread(health_of, stats)

    health = asyncio.run(scenario())
    assert (health["code"], health["status"], health["holes"], health["hole_trades"]) == (
        200,
        "degraded",
        1,
        6,
    )
    assert health["degradations"][0].startswith("a hole was logged")
    assert health["problems"] == []


def test_a_connection_closed_during_a_429_wait_reports_its_trades_and_reconnects_at_once(
    kafka, topic, tmp_path, caplog
):
    trades = sample_trades()
    caplog.set_level(logging.INFO, logger="producer.service")

    async def scenario():
        async with HostileBinance(trades, limit=1000) as fake:
            settings = settings_for(
                fake, kafka.bootstrap, topic, tmp_path, reconnect_min=2.0, reconnect_max=4.0
            )
            async with running(settings) as stats:
                await until(lambda: stats.produced == 1000, "the first 1000 trades")
                fake.rate_limit(1, retry_after=4.0)
                fake.drop_connections(lose=100)  # the reconnect's catch-up meets the 429...
                await until(lambda: fake.stats.rest_limited == 1, "the catch-up rate limited")
                fake.allow(3000)  # ...while the new connection delivers 1900 trades
                await until(lambda: fake.stats.frames_sent >= 2900, "the new connection's trades read")
                fake.drop_connections()  # and is dropped before the wait is over
                await until(released_through(stats, trades[2999].agg_id), "3000 trades")
            return fake, stats

    fake, stats = asyncio.run(scenario())
    assert_exact_sequence(read_topic(kafka.bootstrap, topic, expect=3000), ids_of(fake, last=3000))
    closed = [r.getMessage() for r in caplog.records if "conn-2 closed after" in r.getMessage()]
    assert closed and closed[0].startswith("conn-2 closed after 1900 trades (0 handled so far)")
    # Both connections delivered trades: each reconnect came at once, without backoff.
    assert not [r for r in caplog.records if "reconnecting to Binance in" in r.getMessage()]
    assert stats.reconnects == 2


def test_a_broker_outage_is_logged_sparingly_and_at_warning(kafka_behind_proxy, tmp_path, caplog):
    """A stopped broker: librdkafka says "Connection refused" at syslog's ERR level about twice a
    second while it retries; the producer writes each kind of line once per 30 s, at WARNING."""
    kafka, proxy = kafka_behind_proxy.broker, kafka_behind_proxy.proxy
    kafka.create_topic("trades")
    caplog.set_level(logging.DEBUG, logger="producer")
    outage = 6.0

    async def scenario():
        async with HostileBinance(sample_trades(), limit=1000) as fake:
            settings = settings_for(fake, kafka.bootstrap, "trades", tmp_path)
            async with running(settings) as stats:
                await until(lambda: stats.produced == 1000, "the first 1000 trades")
                proxy.refuse()
                fake.allow(2000)
                started = len(caplog.records)
                await asyncio.sleep(outage)
                during = caplog.records[started:]
                produced_during = stats.produced
                proxy.restore()
                await until(lambda: stats.produced == 2000, "every trade after the outage")
            return fake, during, produced_during

    fake, during, produced_during = asyncio.run(scenario())
    assert produced_during < 2000  # the outage was real: Kafka confirmed not all meanwhile
    assert_exact_sequence(read_topic(kafka.bootstrap, "trades", expect=2000), ids_of(fake, last=2000))
    kafka_lines = [r for r in during if r.name in ("producer.librdkafka", "producer.sink")]
    refused = [r for r in kafka_lines if r.name == "producer.librdkafka" and "refused" in r.getMessage()]
    assert refused, [r.getMessage() for r in kafka_lines]  # librdkafka did say it
    assert all(r.levelno <= logging.WARNING for r in kafka_lines), [
        (r.levelname, r.getMessage()) for r in kafka_lines
    ]
    # Each kind of line at most once in the outage (once per 30 s), not twice a second.
    assert len(refused) == 1, [r.getMessage() for r in refused]
    assert len(kafka_lines) <= 6, [r.getMessage() for r in kafka_lines]
