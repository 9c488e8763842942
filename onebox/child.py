"""What every stage process does alike: logging, stop signals, and noticing its supervisor die.

Stages run as their own processes (``python -m onebox.<stage>``) so that one can be killed
and restarted alone, like the services they stand in for. The supervisor starts each in a
session of its own (Ctrl-C reaches only the supervisor, which stops the stages in order)
and holds the stage's stdin open: end of file there means the supervisor is gone, and the
stage stops as if told to.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import uuid
from pathlib import Path
from types import FrameType


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def stop_on_signals(stop: threading.Event, *signals: signal.Signals) -> None:
    """SIGTERM and SIGINT (or the given signals) set the event instead of killing the process."""

    def handle(signum: int, frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %s", signal.Signals(signum).name)
        stop.set()

    for sig in signals or (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)


def stop_when_parent_exits(stop: threading.Event) -> None:
    """Set ``stop`` when stdin reaches end of file (the supervisor closed it or died)."""

    def watch() -> None:
        # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside the
        # buffered reader holds its lock, and the interpreter aborts at exit on that lock.
        try:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except OSError:
            pass  # stdin closed under us: the same news as end of file
        logging.getLogger(__name__).info("the supervisor has gone: stopping")
        stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def add_stage_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every stage takes from the supervisor."""
    parser.add_argument("--state-dir", type=Path, required=True, help="where stats/<stage>.json is written")
    parser.add_argument("--run-id", default=uuid.uuid4().hex[:12], help="the run these counters belong to")
    parser.add_argument("--watch-parent", action="store_true", help="stop when stdin closes")
    parser.add_argument("--log-level", default="INFO")


def begin(args: argparse.Namespace) -> threading.Event:
    """Set up logging and the stop signals; answer the event that says "stop"."""
    setup_logging(args.log_level)
    stop = threading.Event()
    stop_on_signals(stop)
    if args.watch_parent:
        stop_when_parent_exits(stop)
    return stop
