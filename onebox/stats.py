"""Each stage's counters, kept in a small JSON file that the supervisor and ``status`` read.

A stage writes ``<state dir>/stats/<stage>.json`` atomically (a rename), at most a few times
a second and once more when it stops, so a reader never sees half a file and the last run's
numbers outlive it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def stats_path(state_dir: Path, stage: str) -> Path:
    return state_dir / "stats" / f"{stage}.json"


class StatsFile:
    """One stage's counters; ``update`` writes at most every ``min_interval_s``."""

    def __init__(self, path: Path, run_id: str, *, min_interval_s: float = 0.25) -> None:
        self.path = path
        self.values: dict[str, Any] = {"run_id": run_id, "pid": os.getpid()}
        self.min_interval_s = min_interval_s
        self._written = 0.0
        path.parent.mkdir(parents=True, exist_ok=True)

    def update(self, *, force: bool = False, **values: Any) -> None:
        self.values.update(values)
        now = time.monotonic()
        if force or now - self._written >= self.min_interval_s:
            self._written = now
            self.values["updated"] = time.time()
            temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(self.values, sort_keys=True))
            temporary.replace(self.path)


def read_stats(path: Path) -> dict[str, Any] | None:
    """The stage's last counters, or None if it never wrote any."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # a file from an older layout; the next write replaces it
