"""Random frames mixed into a real recorded stream: every real agg id reaches Kafka exactly once.

Hypothesis draws frames of every kind (random bytes, random text, random JSON, real trades with
fields replaced by random values, ids out of line or out of range, deep nesting, error and
other frames) and where in the real stream they go, plus a few real ids the stream leaves out
(so REST fills gaps among the junk). Each example runs the real producer against the fake
Binance and a fresh topic of the embedded broker, then checks the topic: the recorded trades,
each once, in order, byte for byte; no other id; no hole; the producer still running.

One frame is out of scope by design: an otherwise valid trade carrying exactly the next id
with other contents. Its id is in line, and the producer trusts the stream's contents (it
does not ask REST about every trade); docs/producer.md says so. The frames drawn here never
carry the next id.

Each example costs about a second: `max_examples` stays small so that CI stays quick, and
shrinking is off (a failure reports the example as drawn instead of running for minutes).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from binance.events import AggTrade
from binance.rest import event_from_rest, rest_json
from binance.streams import event_json, server_shutdown_event
from tests.fixtures.data import sample_trades
from tests.fixtures.hostile_binance import HostileBinance, Raw, bogus_id, nested, trade_event, wrapped
from tests.fixtures.kafka import assert_exact_sequence, read_topic
from tests.fixtures.producer import running, settings_for

pytestmark = pytest.mark.integration

TRADES = sample_trades()[:600]
LAST_ID = TRADES[-1].agg_id
FIELDS = ("e", "E", "s", "p", "q", "f", "l", "T", "m", "M")  # every field but the id ("a": see ids)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
odd_numbers = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-0", "1" + "0" * 40, "0x10"])


def frame_kinds(trade: AggTrade) -> st.SearchStrategy[tuple[bytes, bool]]:
    """One bad frame built around ``trade`` (the real trade it follows): (frame, sent as binary)."""
    event = event_json(trade)
    replaced = st.one_of(
        st.builds(
            lambda name, value: wrapped(trade_event(trade, **{name: value})),
            st.sampled_from(FIELDS),
            json_values,
        ),
        st.builds(
            lambda name, text: wrapped(trade_event(trade, **{name: Raw(text)})),
            st.sampled_from(FIELDS),
            odd_numbers,
        ),
    )
    ids = st.one_of(
        st.integers(-(2**70), trade.agg_id),  # at or below the last: repeats
        st.integers(trade.agg_id + 2, 2**63 - 1),  # ahead by two or more: REST does not know them
        st.integers(2**63, 2**80),  # beyond 64 bits
    ).map(lambda agg_id: bogus_id(trade, agg_id))
    text = st.one_of(
        st.text(max_size=300).map(str.encode),
        st.builds(lambda v: json.dumps(v).encode(), json_values),
        st.builds(lambda v: wrapped(json.dumps(v).encode()), json_values),
        st.integers(1, 5000).map(nested),
        st.sampled_from(
            [
                b"",
                event[:-1],
                event.replace(b"aggTrade", b"trade"),
                wrapped(event)[:-1],
                b'{"code":-1121,"msg":"Invalid symbol."}',
                b'{"result":null,"id":1}',
                wrapped(server_shutdown_event(1))[:-2],
                wrapped(trade_event(trade, s="ETHUSDT")),
                event,  # the real trade once more, unwrapped: a repeat
            ]
        ),
        replaced,
        ids,
    )
    return st.one_of(
        text.map(lambda frame: (frame, False)),
        st.binary(max_size=300).map(lambda frame: (frame, True)),
    )


@st.composite
def hostile_streams(draw: st.DrawFn) -> tuple[list[tuple[int, bytes, bool]], set[int]]:
    """Where junk goes (after which real trade) and which real trades the stream leaves out."""
    skipped = draw(st.sets(st.integers(1, len(TRADES) - 2), max_size=3))
    places = st.integers(0, len(TRADES) - 2).filter(lambda place: place not in skipped)
    injections = []
    for place in draw(st.lists(places, min_size=1, max_size=25)):
        frame, binary = draw(frame_kinds(TRADES[place]))
        injections.append((place, frame, binary))
    return injections, skipped


@settings(
    max_examples=15,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=hostile_streams())
# A forged trade under a real id two ahead: by the time the producer asks, REST knows the id
# (the market went on), so the frame must be checked against REST's trade under it.
@example(stream=([(271, bogus_id(TRADES[271], TRADES[273].agg_id), False)], set()))
@example(stream=([(10, nested(1000), False), (20, bogus_id(TRADES[20], 10**26), False)], {30}))
def test_random_frames_in_a_real_stream_leave_every_real_trade_in_kafka_once(kafka, tmp_path, stream):
    injections, skipped = stream
    topic = f"random-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic)
    state_dir = tmp_path / topic

    async def scenario():
        async with HostileBinance(TRADES) as fake:
            fake.skip(TRADES[place].agg_id for place in skipped)
            for place, frame, binary in injections:
                fake.inject(TRADES[place].agg_id, frame, binary=binary)
            async with running(settings_for(fake, kafka.bootstrap, topic, state_dir)) as stats:
                deadline = asyncio.get_running_loop().time() + 60
                while not (stats.released.get("BTCUSDT", -1) >= LAST_ID and stats.pending == 0):
                    assert stats.running, "the producer stopped"
                    assert asyncio.get_running_loop().time() < deadline, f"stuck: {stats.snapshot()}"
                    await asyncio.sleep(0.02)
                alive = stats.running
            return fake, stats, alive

    fake, stats, alive = asyncio.run(scenario())
    assert alive
    assert fake.stats.injected_sent == len(injections)
    records = read_topic(kafka.bootstrap, topic, expect=len(TRADES))
    assert_exact_sequence(records, {"BTCUSDT": [trade.agg_id for trade in TRADES]})
    # Byte for byte as Binance sent them: the stream's event, or REST's item for an id the stream
    # left out (or whose frame came after a bogus copy of it that REST contradicted).
    for record, trade in zip(records, TRADES, strict=True):
        assert record.value in (event_json(trade), event_from_rest(rest_json([trade])[1:-1], "BTCUSDT"))
    rest_events = sum(
        record.value != event_json(trade) for record, trade in zip(records, TRADES, strict=True)
    )
    assert stats.holes == 0
    assert len(skipped) <= stats.backfilled + stats.rejected.get("contradicts_rest", 0)
    assert rest_events == stats.backfilled + stats.rejected.get("contradicts_rest", 0)
