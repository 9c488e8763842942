"""The replay stage: a recorded day served as Binance serves it, by the local fake Binance.

``python -m onebox.replay --file F --speed X --state-dir DIR`` reads a Binance public-data
aggTrades CSV or a captured ndjson stream (plain, .gz or .zip) and serves its trades with
``onebox.fake_binance`` (WebSocket streams and REST ``aggTrades`` on one free 127.0.0.1
port), so the producer connects to it exactly as it connects to Binance. It writes
``{"ws_url", "rest_url", "trades", "published", "frames_sent", ...}`` to
``DIR/stats/replay.json``. Speed 1 is real time, 60 an hour a minute, 0 as fast as the
producer reads. ``--align`` (real time only) waits until the clock's second of the minute is
the recording's, so the replay's wall-clock minutes are its trade minutes, as they are live.

Lines of the file that are not trades cannot come from Binance: the fake serves trades, and
the real producer drops a malformed frame (counting it in ``bad_frames``). So that they take
the path a corrupt record would take after the producer, they are written to the Kafka
topic as they are (``--kafka-bootstrap``, ``--topic``); the aggregator then counts them in
its ledger and quarantines them under ``rejected/``, beside the good trades.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import confluent_kafka

from binance.errors import BinanceError
from binance.events import MINUTE_MS, AggTrade
from binance.files import Rejected, read_trades
from contract.pipeline import TOPIC
from onebox import child
from onebox.fake_binance import FakeBinanceThread
from onebox.stats import StatsFile, stats_path

logger = logging.getLogger(__name__)

STAGE = "replay"


def expected_ids(trades: Sequence[AggTrade]) -> dict[str, list[int]]:
    """Per symbol: [first agg id, last agg id, distinct ids], what the database must end up holding."""
    ids: dict[str, set[int]] = {}
    for trade in trades:
        ids.setdefault(trade.symbol, set()).add(trade.agg_id)
    return {symbol: [min(found), max(found), len(found)] for symbol, found in ids.items()}


def align_delay(first_trade_ms: int, now_s: float) -> float:
    """Seconds to wait until the clock's second of the minute is the first trade's."""
    return ((first_trade_ms / 1000 - now_s) % (MINUTE_MS / 1000)) if first_trade_ms else 0.0


def publish_rejects(bootstrap: str, topic: str, rejects: Sequence[Rejected]) -> int:
    """Write the file's non-trade lines to the topic as they are; answer how many Kafka took."""
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "log_level": 4}
    )
    failed: list[str] = []

    def delivered(error: confluent_kafka.KafkaError | None, _message: object) -> None:
        if error is not None:
            failed.append(str(error))

    for reject in rejects:
        producer.produce(topic, reject.text.encode(), on_delivery=delivered)
    left = producer.flush(30)
    if failed or left:
        logger.error(
            "%d of %d rejected lines did not reach %s: %s",
            len(failed) + left,
            len(rejects),
            topic,
            failed[:3],
        )
    return len(rejects) - len(failed) - left


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m onebox.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--symbol", help="market of a CSV file whose name does not say it")
    parser.add_argument("--align", action="store_true", help="start on the recording's second of the minute")
    parser.add_argument("--kafka-bootstrap", help="where the file's non-trade lines go (see above)")
    parser.add_argument("--topic", default=TOPIC)
    child.add_stage_arguments(parser)
    args = parser.parse_args(argv)
    stop = child.begin(args)
    try:
        parsed = read_trades(args.file, args.symbol)
    except (OSError, BinanceError) as exc:
        logger.error("cannot replay %s: %s", args.file, exc)
        return 2
    for reject in parsed.rejects[:20]:
        logger.warning("%s:%d: not a trade: %s", args.file, reject.line, reject.reason)
    stats = StatsFile(stats_path(args.state_dir, STAGE), args.run_id)
    expect = expected_ids(parsed.trades)
    rejects_sent = 0
    if parsed.rejects and args.kafka_bootstrap:
        rejects_sent = publish_rejects(args.kafka_bootstrap, args.topic, parsed.rejects)
    if args.align and args.speed == 1 and parsed.trades:
        wait = align_delay(parsed.trades[0].trade_time, time.time())
        logger.info("waiting %.1f s so that replayed minutes start when the recording's did", wait)
        stats.update(force=True, state="aligning", trades=len(parsed.trades))
        if stop.wait(wait):
            return 0
    # Pings as Binance sends them would only add noise to a replay; the producer pings on its own.
    with FakeBinanceThread(parsed.trades, speed=args.speed, ping_interval=None, pong_timeout=None) as fake:
        started_at = time.time()  # the market's clock starts with the server (speed > 0)
        logger.info(
            "replaying %d trades of %s at speed %s on %s",
            len(parsed.trades),
            args.file,
            args.speed,
            fake.ws_url,
        )
        while True:
            served = fake.stats
            stats.update(
                force=True,
                state="running",
                ws_url=fake.ws_url,
                rest_url=fake.rest_url,
                trades=len(parsed.trades),
                rejected_lines=len(parsed.rejects),
                rejected_lines_sent=rejects_sent,
                expect=expect,
                started_at=started_at,
                first_trade_time=parsed.trades[0].trade_time if parsed.trades else None,
                published=fake.published,
                frames_sent=served.frames_sent,
                rest_trades=served.rest_trades,
                connections=served.connections_opened,
            )
            if stop.wait(0.25):
                break
    stats.update(force=True, state="stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
