"""``python -m producer`` and ``cryptotrades produce``: run the producer until SIGTERM or SIGINT.

Both take the same flags (one per setting, see `producer.settings`) and the same
environment. Exit status: 0 after a clean stop, 2 for bad settings, 1 when the producer
cannot run (unreadable state file, a Kafka configuration librdkafka refuses).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from producer.errors import ProducerError, SettingsError
from producer.service import run
from producer.settings import STATE_FILE, ProducerSettings, add_arguments, describe

logger = logging.getLogger(__name__)

EXIT_FAILED = 1
EXIT_SETTINGS = 2
DESCRIPTION = (
    "Stream every aggregate trade of the configured symbols from Binance into Kafka, in agg-id order per "
    "symbol, with no hole and no duplicate: reconnects, rotates before the 24-hour cut, fills gaps from "
    "REST, resumes after a restart. SIGTERM stops reading, lets Kafka confirm, and saves the state file."
)


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "produce", help="Binance aggTrade stream -> Kafka", description=DESCRIPTION
    )
    add_arguments(parser)
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    try:
        settings = ProducerSettings.from_args(args)
    except SettingsError as exc:
        sys.stderr.write(f"cryptotrades produce: {exc}\n")  # one line, no log stamp: the user reads it
        return EXIT_SETTINGS
    folder = settings.state_file.absolute().parent
    try:  # found now, not after the first trades: it is where a restart resumes from
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        name = "--state-file" if getattr(args, "state_file", None) else STATE_FILE
        sys.stderr.write(
            f"cryptotrades produce: {name}={str(settings.state_file)!r}: cannot create {folder} "
            f"({exc.strerror or exc}); give a file in a folder you may write to\n"
        )
        return EXIT_SETTINGS
    logger.info("settings: %s", " ".join(f"{name}={value}" for name, value in describe(settings)))
    try:
        asyncio.run(_serve(settings))
    except ProducerError as exc:
        logger.error("%s", exc)
        return EXIT_FAILED
    return 0


async def _serve(settings: ProducerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(number: int) -> None:
        name = signal.Signals(number).name
        if stop.is_set():
            logger.warning("%s again: already stopping", name)
        else:
            logger.info("%s: stopping", name)
        stop.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, on_signal, number)
    await run(settings, stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m producer", description=DESCRIPTION)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return run_command(args)
