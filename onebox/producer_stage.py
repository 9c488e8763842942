"""The producer as a one-box stage: ``producer.service.run`` in a process of its own.

The producer is the production service itself, configured as its systemd unit configures
it (``ProducerSettings.from_env``: the ``CRYPTOTRADES_*`` variables), with the one-box's
broker, topic and, for a replay, the fake Binance's URLs given as flags. Its counters
(``producer.stats.Stats``) are copied to ``<state dir>/stats/producer.json`` four times a
second, for the supervisor's progress line and ``cryptotrades status``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
from pathlib import Path

from contract.errors import CryptotradesError
from onebox import child
from onebox.stats import StatsFile, stats_path
from producer.errors import ProducerError
from producer.service import run
from producer.settings import ProducerSettings
from producer.stats import Stats

logger = logging.getLogger(__name__)

STAGE = "producer"
REPORT_EVERY_S = 0.25


async def produce(settings: ProducerSettings, stop: threading.Event, stats_file: StatsFile) -> None:
    """Run the producer until ``stop``; report its counters meanwhile and once at the end."""
    stats = Stats()
    stopping = asyncio.Event()

    async def report() -> None:
        while True:
            stats_file.update(
                force=True, state="running" if stats.running else "starting", **stats.snapshot()
            )
            if stop.is_set():
                stopping.set()
            await asyncio.sleep(REPORT_EVERY_S)

    reporter = asyncio.create_task(report(), name="stats-report")
    try:
        await run(settings, stopping, stats)
    finally:
        reporter.cancel()
        stats_file.update(force=True, state="stopped", **stats.snapshot())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m onebox.producer_stage", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--kafka-bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--state-file", type=Path, required=True, help="the producer's last agg ids")
    parser.add_argument("--ws-url", help="Binance's WebSocket base URL (a replay's fake); default Binance")
    parser.add_argument("--rest-url", help="Binance's REST base URL (a replay's fake); default Binance")
    parser.add_argument("--symbol", action="append", default=[], help="a market to follow (repeatable)")
    parser.add_argument(
        "--state-file-only",
        action="store_true",
        help="resume from the state file alone, not the topic's tail (a replay, whose state file says all)",
    )
    child.add_stage_arguments(parser)
    args = parser.parse_args(argv)
    stop = child.begin(args)
    overrides = {
        "kafka_bootstrap": args.kafka_bootstrap,
        "topic": args.topic,
        "state_file": args.state_file,
        "health_address": "",  # the one-box reads the counters from the stats file instead
    }
    if args.ws_url:
        overrides.update(binance_ws_url=args.ws_url, binance_rest_url=args.rest_url)
    if args.symbol:
        overrides["symbols"] = tuple(args.symbol)
    if args.state_file_only:
        overrides["resume_from_kafka"] = False
    try:
        settings = ProducerSettings.from_env(**overrides)
    except CryptotradesError as exc:
        logger.error("%s", exc)
        return 2
    stats_file = StatsFile(stats_path(args.state_dir, STAGE), args.run_id)
    stats_file.update(force=True, state="starting")
    try:
        asyncio.run(produce(settings, stop, stats_file))
    except ProducerError as exc:
        logger.error("the producer stopped: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
