"""``cryptotrades dashboard``: serve the dashboard until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from contract.errors import CryptotradesError
from dashboard.errors import DashboardError
from dashboard.server import serve
from dashboard.settings import (
    DB_URL_ENV,
    DEFAULT_DB_URL,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_REFRESH_S,
    DEFAULT_SYMBOL,
    HOST_ENV,
    PORT_ENV,
    REFRESH_ENV,
    SHARED_DB_URL_ENV,
    SYMBOL_ENV,
    DashboardSettings,
)

logger = logging.getLogger(__name__)

EXIT_UNUSABLE = 2  # bad settings, or the database or port cannot be used


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="serve the web dashboard over a cryptotrades database",
        description="Serve the dashboard (the original QuickSight panels and more) until interrupted. "
        "It only reads: a read-only MySQL user is enough (docs/dashboard.md).",
    )
    parser.add_argument(
        "--db",
        help=f"sqlite:///path.db or mysql://user:password@host:port/db "
        f"(default ${DB_URL_ENV}, then ${SHARED_DB_URL_ENV}, then {DEFAULT_DB_URL})",
    )
    parser.add_argument("--host", help=f"address to listen on (default ${HOST_ENV} or {DEFAULT_HOST})")
    parser.add_argument(
        "--port",
        type=int,
        help=f"port to listen on, 0 for any free one (default ${PORT_ENV} or {DEFAULT_PORT})",
    )
    parser.add_argument("--symbol", help=f"market shown first (default ${SYMBOL_ENV} or {DEFAULT_SYMBOL})")
    parser.add_argument(
        "--refresh",
        type=float,
        metavar="SECONDS",
        help=f"how often the live page refreshes (default ${REFRESH_ENV} or {DEFAULT_REFRESH_S:g})",
    )
    parser.set_defaults(func=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    try:
        settings = DashboardSettings.from_env(
            db_url=args.db, host=args.host, port=args.port, symbol=args.symbol, refresh_seconds=args.refresh
        )
        _require_sqlite_file(settings.db_url)
        server = serve(settings)
    except CryptotradesError as exc:
        sys.stderr.write(f"cryptotrades dashboard: {exc}\n")  # one line, no log stamp: the user reads it
        return EXIT_UNUSABLE

    stop = threading.Event()

    def on_signal(number: int, _frame: object) -> None:
        logger.info("signal %s: stopping", signal.Signals(number).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # The URL on stdout, alone on its line, for scripts that asked for --port 0.
    sys.stdout.write(f"{server.url}\n")
    sys.stdout.flush()
    try:
        while not stop.wait(1.0):  # a timed wait, so signals are handled promptly
            pass
    finally:
        server.close()
    return 0


def _require_sqlite_file(url: str) -> None:
    """Opening a missing SQLite file would create an empty one: say where the rows are expected."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.is_file():
            raise DashboardError(
                f"no database at {path}: start the pipeline (cryptotrades run) or give --db sqlite:///path.db"
            )
