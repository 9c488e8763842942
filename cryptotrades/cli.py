"""The ``cryptotrades`` command.

Each subcommand lives in the module that owns it and adds itself through
``add_parser(subparsers)``; this module only assembles them, so ``cryptotrades --help``
lists every stage and a subcommand imports only what it uses.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Sequence

# Modules that each define add_parser(subparsers). Order is the order of --help.
COMMAND_MODULES = [
    "cryptotrades.data_commands",  # aggregate, verify, db migrate
    "cryptotrades.raw_trade_commands",  # rebuild, prune
    "cryptotrades.onebox_commands",  # run, status
    "cryptotrades.history_commands",  # backfill, gaps
    "producer.command",  # produce
    "dashboard.command",  # dashboard
    "cryptotrades.deployment",  # check-deployment
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cryptotrades",
        description="Every BTC/USDT trade on Binance, one exact row per minute of buy and sell activity.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `cryptotrades aggregate ... | head` ends quietly
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
