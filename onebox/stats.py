"""Each stage's counters (``onebox.stages``), kept in a small JSON file the supervisor and ``status`` read.

A stage writes ``<state dir>/stats/<stage>.json`` atomically (a rename), at most a few times
a second and once more when it stops, so a reader never sees half a file and the last run's
numbers outlive it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TypeVar

import msgspec

from onebox.stages import StageCounters

C = TypeVar("C", bound=StageCounters)


def stats_path(state_dir: Path, stage: str) -> Path:
    return state_dir / "stats" / f"{stage}.json"


class StatsFile:
    """One stage's counters file; ``write`` writes at most every ``min_interval_s`` unless forced."""

    def __init__(self, path: Path, run_id: str, *, min_interval_s: float = 0.25) -> None:
        self.path = path
        self.run_id = run_id
        self.min_interval_s = min_interval_s
        self._written = 0.0
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, counters: StageCounters, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._written < self.min_interval_s:
            return
        self._written = now
        counters.run_id, counters.pid, counters.updated = self.run_id, os.getpid(), time.time()
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(msgspec.json.encode(counters, order="sorted"))
        temporary.replace(self.path)


def read_counters(path: Path, kind: type[C]) -> C | None:
    """The stage's last counters, or None if it never wrote any."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError):
        return None  # a file from an older layout; the next write replaces it
