"""The replay stage: a recorded day served as Binance serves it, by the local fake Binance.

``python -m onebox.replay --file F --speed X --state-dir DIR`` reads a Binance public-data
aggTrades CSV or a captured ndjson stream (plain, .gz or .zip) and serves its trades with
``onebox.fake_binance`` (WebSocket streams and REST ``aggTrades`` on one free 127.0.0.1
port), so the producer connects to it exactly as it connects to Binance. It writes its
``ReplayCounters`` (``ws_url``, ``rest_url``, ``trades``, ``published``, ``expect``, ...) to
``DIR/stats/replay.json``. Speed 1 is real time, 60 an hour a minute, 0 as fast as the
producer reads. ``--align`` (real time only) waits until the clock's second of the minute is
the recording's, so the replay's wall-clock minutes are its trade minutes, as they are live.

``--klines K`` adds a Binance 1m klines file (public-data CSV or zip, `binance.klines.read_klines`):
the fake sends each kline of a replayed symbol on ``<symbol>@kline_1m`` when replay time passes
its minute's end, and lists the closed ones on REST ``/api/v3/klines``, as Binance does. Rows
that are not klines are logged and left out; klines of symbols the replay has no trades of too.

Lines of the file that are not trades cannot come from Binance: the fake serves trades, and
the real producer drops a malformed frame (counting it in ``bad_frames``). So that they take
the path a corrupt record would take after the producer, they are written to the Kafka
topic as they are (``--kafka-bootstrap``, ``--topic``); the aggregator then counts them in
its ledger and quarantines them under ``rejected/``, beside the good trades.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import confluent_kafka

from binance.errors import BinanceError
from binance.events import MINUTE_MS, AggTrade
from binance.files import Rejected, read_trades
from binance.klines import Kline, read_klines
from onebox import child
from onebox.fake_binance import FakeBinanceThread
from onebox.stages import REPLAY, IdRange, ReplayCounters

logger = logging.getLogger(__name__)


def expected_ids(trades: Sequence[AggTrade]) -> dict[str, IdRange]:
    """Per symbol: first agg id, last agg id, distinct ids: what the database must end up holding."""
    ids: dict[str, set[int]] = {}
    for trade in trades:
        ids.setdefault(trade.symbol, set()).add(trade.agg_id)
    return {symbol: IdRange(min(found), max(found), len(found)) for symbol, found in ids.items()}


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


def replay_klines(path: Path, symbols: set[str]) -> list[Kline]:
    """The klines of ``path`` for ``symbols``; rows that are not klines, and other markets, logged."""
    klines, rejects = read_klines(path)
    for reject in rejects[:20]:
        logger.warning("%s:%d: not a kline: %s", path, reject.line, reject.reason)
    chosen = [kline for kline in klines if kline.symbol in symbols]
    if len(chosen) < len(klines):
        logger.warning(
            "%s: %d klines of markets the replay has no trades of are left out",
            path,
            len(klines) - len(chosen),
        )
    return chosen


def main(argv: list[str] | None = None) -> int:
    stage = child.begin(REPLAY, argv, __doc__)
    settings, stop = stage.settings, stage.stop
    try:
        parsed = read_trades(settings.file, settings.symbol)
    except (OSError, BinanceError) as exc:
        logger.error("cannot replay %s: %s", settings.file, exc)
        return 2
    for reject in parsed.rejects[:20]:
        logger.warning("%s:%d: not a trade: %s", settings.file, reject.line, reject.reason)
    klines: list[Kline] = []
    if settings.klines is not None:
        try:
            klines = replay_klines(settings.klines, {trade.symbol for trade in parsed.trades})
        except (OSError, BinanceError) as exc:
            logger.error("cannot serve the klines of %s: %s", settings.klines, exc)
            return 2
    counters = ReplayCounters(
        klines=len(klines),
        trades=len(parsed.trades),
        rejected_lines=len(parsed.rejects),
        expect=expected_ids(parsed.trades),
        first_trade_time=parsed.trades[0].trade_time if parsed.trades else None,
    )
    if parsed.rejects and settings.kafka_bootstrap:
        counters.rejected_lines_sent = publish_rejects(
            settings.kafka_bootstrap, settings.topic, parsed.rejects
        )
    if settings.align and settings.speed == 1 and parsed.trades:
        wait = align_delay(parsed.trades[0].trade_time, time.time())
        logger.info("waiting %.1f s so that replayed minutes start when the recording's did", wait)
        counters.state = "aligning"
        stage.report(counters, force=True)
        if stop.wait(wait):
            return 0
    # Pings as Binance sends them would only add noise to a replay; the producer pings on its own.
    with FakeBinanceThread(
        parsed.trades, klines=klines, speed=settings.speed, ping_interval=None, pong_timeout=None
    ) as fake:
        counters.started_at = time.time()  # the market's clock starts with the server (speed > 0)
        counters.state, counters.ws_url, counters.rest_url = "running", fake.ws_url, fake.rest_url
        logger.info(
            "replaying %d trades of %s at speed %s on %s",
            len(parsed.trades),
            settings.file,
            settings.speed,
            fake.ws_url,
        )
        while True:
            served = fake.stats
            counters.published = fake.published
            counters.frames_sent = served.frames_sent
            counters.rest_trades = served.rest_trades
            counters.connections = served.connections_opened
            counters.klines_closed = fake.klines_closed
            counters.klines_sent = served.klines_sent
            counters.rest_klines = served.rest_klines
            stage.report(counters, force=True)
            if stop.wait(0.25):
                break
    counters.state = "stopped"
    stage.report(counters, force=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
