"""The producer as a one-box stage: ``producer.service.run`` in a process of its own.

The producer is the production service itself, configured as its systemd unit configures
it (``ProducerSettings.from_env``: the ``CRYPTOTRADES_*`` variables), with the one-box's
broker, topic and, for a replay, the fake Binance's URLs given as flags
(``ProducerStageSettings``). Its counters (``producer.stats.Stats``) are copied as
``ProducerCounters`` to ``<state dir>/stats/producer.json`` four times a second, for the
supervisor's progress line and ``cryptotrades status``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any

import msgspec

from contract.errors import CryptotradesError
from onebox import child
from onebox.stages import PRODUCER, ProducerCounters, ProducerStageSettings
from onebox.stats import StatsFile
from producer.errors import ProducerError
from producer.service import run
from producer.settings import ProducerSettings
from producer.stats import Stats

logger = logging.getLogger(__name__)

REPORT_EVERY_S = 0.25


def counters_of(stats: Stats, state: str) -> ProducerCounters:
    """The producer's own counters (its /health snapshot), as the one-box reports them: the
    fields ``ProducerCounters`` names are taken from the snapshot, the rest left out."""
    return msgspec.convert({**stats.snapshot(), "state": state}, ProducerCounters)


async def produce(settings: ProducerSettings, stop: threading.Event, stats_file: StatsFile) -> None:
    """Run the producer until ``stop``; report its counters meanwhile and once at the end."""
    stats = Stats()
    stopping = asyncio.Event()

    async def report() -> None:
        while True:
            stats_file.write(counters_of(stats, "running" if stats.running else "starting"), force=True)
            if stop.is_set():
                stopping.set()
            await asyncio.sleep(REPORT_EVERY_S)

    reporter = asyncio.create_task(report(), name="stats-report")
    try:
        await run(settings, stopping, stats)
    finally:
        reporter.cancel()
        stats_file.write(counters_of(stats, "stopped"), force=True)


def producer_settings(given: ProducerStageSettings) -> ProducerSettings:
    """The producer's own settings: its environment, with what the one-box sets over it."""
    overrides: dict[str, Any] = {
        "kafka_bootstrap": given.kafka_bootstrap,
        "topic": given.topic,
        "state_file": given.state_file,
        "health_address": "",  # the one-box reads the counters from the stats file instead
    }
    if given.ws_url:
        overrides.update(binance_ws_url=given.ws_url, binance_rest_url=given.rest_url)
    if given.symbols:
        overrides["symbols"] = given.symbols
    if given.state_file_only:
        overrides["resume_from_kafka"] = False
    return ProducerSettings.from_env(**overrides)


def main(argv: list[str] | None = None) -> int:
    stage = child.begin(PRODUCER, argv, __doc__)
    try:
        settings = producer_settings(stage.settings)
    except CryptotradesError as exc:
        logger.error("%s", exc)
        return 2
    stage.report(ProducerCounters(state="starting"), force=True)
    try:
        asyncio.run(produce(settings, stage.stop, stage.stats))
    except ProducerError as exc:
        logger.error("the producer stopped: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
