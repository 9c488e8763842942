"""SIGTERM mid-stream to the real ``python -m producer``: it stops reading, lets Kafka confirm,
saves its state, exits 0; a restart from that state completes the sequence with no duplicate."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from onebox.fake_binance import FakeBinanceThread
from producer import settings as names
from producer.state import load_state
from tests.fixtures.data import sample_trades
from tests.fixtures.kafka import assert_exact_sequence, read_topic, topic_size
from tests.fixtures.producer import caught_up, running, settings_for, until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_sigterm_mid_stream_then_restart_loses_and_repeats_nothing(kafka, topic, tmp_path):
    trades = sample_trades()  # 739 s of market: 37 s at speed 20, so it flows all through the test
    state_file = tmp_path / "producer-state.json"
    with FakeBinanceThread(trades, speed=20) as fake:
        env = {
            **os.environ,
            names.BINANCE_WS_URL: fake.ws_url,
            names.BINANCE_REST_URL: fake.rest_url,
            names.KAFKA_BOOTSTRAP: kafka.bootstrap,
            names.TOPIC: topic,
            names.STATE_FILE: str(state_file),
            names.HEALTH_ADDRESS: "",
            names.RESUME_FROM_KAFKA: "false",  # the saved state alone must be right
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "producer", "--state-interval", "60s"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while topic_size(kafka.bootstrap, topic) < 300:
                assert process.poll() is None, f"the producer exited early:\n{process.stdout.read()}"
                assert time.monotonic() < deadline, "no 300 trades in Kafka within 60 s"
                time.sleep(0.05)
            assert fake.published < len(trades)  # mid-stream: the market is still going
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, output
        assert "SIGTERM: stopping" in output
        assert "state saved to" in output

        # What the first run left: a run of consecutive trades, and a state file naming its end
        # (written at the stop: the periodic write comes only every 60 s here).
        in_kafka = [msgspec.json.decode(r.value)["a"] for r in read_topic(kafka.bootstrap, topic, expect=300)]
        start = next(i for i, trade in enumerate(trades) if trade.agg_id == in_kafka[0])
        assert in_kafka == [trade.agg_id for trade in trades[start : start + len(in_kafka)]]
        assert load_state(state_file).last_agg_ids == {"BTCUSDT": in_kafka[-1]}

        fake.advance(len(trades))  # the rest of the market happens while the producer is down

        async def restart():
            settings = settings_for(fake, kafka.bootstrap, topic, tmp_path, resume_from_kafka=False)
            async with running(settings) as stats:
                await until(caught_up(fake, stats), "the rest of the market")
            return stats

        second = asyncio.run(restart())
    expected = [trade.agg_id for trade in trades[start:]]
    assert_exact_sequence(read_topic(kafka.bootstrap, topic, expect=len(expected)), {"BTCUSDT": expected})
    assert second.backfilled > 0  # what happened while it was down came from REST
