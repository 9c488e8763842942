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
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Generic, TypeVar

from contract.errors import SettingsError
from contract.settings import Settings
from onebox.stages import StageCounters, StageKind, StageRun
from onebox.stats import StatsFile, stats_path

S = TypeVar("S", bound=Settings)
C = TypeVar("C", bound=StageCounters)


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


@dataclass(frozen=True, slots=True)
class Started(Generic[S, C]):
    """A stage process, begun: its settings, the event that says "stop", its counters file."""

    settings: S
    run: StageRun
    stop: threading.Event
    stats: StatsFile

    def report(self, counters: C, *, force: bool = False) -> None:
        self.stats.write(counters, force=force)


def begin(kind: StageKind[S, C], argv: Sequence[str] | None, description: str) -> Started[S, C]:
    """Parse the stage's flags (its settings and `StageRun`'s), set up logging and the stop signals.

    The stage's settings come from its flags alone: the supervisor renders them with
    ``to_argv``, so no environment variable of the supervisor's can change them on the way.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m {kind.module}", description=description.split("\n\n")[0]
    )
    kind.settings.add_arguments(parser.add_argument_group(f"{kind.name} settings"))
    StageRun.add_arguments(parser.add_argument_group("every stage"))
    args = parser.parse_args(argv)
    try:
        run = StageRun.from_args(args, env={})
        settings = kind.settings.from_args(args, env={})
    except SettingsError as exc:
        parser.error(str(exc))
    setup_logging(run.log_level)
    stop = threading.Event()
    stop_on_signals(stop)
    if run.watch_parent:
        stop_when_parent_exits(stop)
    return Started(settings, run, stop, StatsFile(stats_path(run.state_dir, kind.name), run.run_id))
