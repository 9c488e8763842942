"""The ``cryptotrades`` command.

Each subcommand lives in the module that owns it and adds itself through
``add_parser(subparsers)``; this module only assembles them, so ``cryptotrades --help``
lists every stage and a subcommand imports only what it uses.

A user's mistake never ends in a traceback: a bad flag, a setting, a file or a database
that cannot be used ends in one line on stderr saying what is wrong and what to do, exit 2.
Anything else is a bug: a short line says where its full trace was written, exit 1.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import logging
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from contract.errors import CryptotradesError

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
EXIT_BUG = 1  # an unexpected error: its trace is in a file
EXIT_USAGE = 2  # the user's mistake: one line says what and what to do
EXIT_INTERRUPTED = 130
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (no usage block): what is wrong, where to look.

    Subparsers inherit the class (argparse makes them with ``type(parent)``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def log_level(text: str) -> str:
    """``--log-level``: one of LOG_LEVELS, any case."""
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a level: expected {', '.join(LOG_LEVELS)}")
    return level


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="cryptotrades",
        description="Every BTC/USDT trade on Binance, one exact row per minute of buy and sell activity.",
    )
    parser.add_argument(
        "--log-level", type=log_level, default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `cryptotrades aggregate ... | head` ends quietly
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    name = command_name(args)
    try:
        return int(args.func(args) or 0)
    except CryptotradesError as exc:
        return _say(name, str(exc), EXIT_USAGE)
    except OSError as exc:
        return _say(name, os_error_text(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return _say(name, "interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        where = write_trace(exc, getattr(args, "state_dir", None))
        return _say(
            name, f"unexpected error: {type(exc).__name__}: {exc}; the full trace is in {where}", EXIT_BUG
        )


def command_name(args: argparse.Namespace) -> str:
    """``cryptotrades verify``, ``cryptotrades db migrate``: how messages name the command."""
    words = [args.command]
    if getattr(args, "db_command", None):
        words.append(args.db_command)
    return " ".join(["cryptotrades", *words])


def os_error_text(exc: OSError) -> str:
    """A file or device the system refused: which, why, and what to check."""
    where = exc.filename if exc.filename is not None else ""
    why = exc.strerror or str(exc)
    if where:
        return f"{where}: {why}; check the path (and that you may write there)"
    return f"{why}; check the paths and addresses given"


def write_trace(exc: BaseException, state_dir: object) -> Path:
    """The full trace, in the state directory's logs when there is one, else a temporary file."""
    text = "".join(traceback.format_exception(exc))
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    if state_dir is not None:
        try:
            folder = Path(str(state_dir)) / "logs"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"error-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            pass
    handle, name = tempfile.mkstemp(prefix=f"cryptotrades-error-{stamp}-", suffix=".log")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    return Path(name)


def _say(name: str, message: str, status: int) -> int:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"{name}: {first}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
