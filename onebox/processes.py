"""Stage processes: start one, wait until it is ready, stop it, restart it after a crash.

A stage is ``python -m onebox.<stage>``, started in a session of its own (Ctrl-C in the
terminal reaches only the supervisor, which stops the stages in order), with its stdin a
pipe the supervisor holds (so the stage stops if the supervisor dies), its output
appended to ``<state dir>/logs/<stage>.log``, and its counters in
``<state dir>/stats/<stage>.json``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from contract.settings import Settings
from onebox.errors import StageError
from onebox.stages import StageCounters, StageKind, StageRun
from onebox.stats import read_counters, stats_path

C = TypeVar("C", bound=StageCounters)

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 15


@dataclass
class Stage(Generic[C]):
    """One stage process, restartable with the same command."""

    kind: StageKind[Any, C]
    settings: Settings
    env: dict[str, str]
    state_dir: Path
    run_id: str
    log_level: str = "INFO"
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def command(self) -> list[str]:
        """``python -m onebox.<stage>`` with its settings and the run's, as flags."""
        run = StageRun(self.state_dir, self.run_id, watch_parent=True, log_level=self.log_level)
        return [sys.executable, "-m", self.kind.module, *self.settings.to_argv(), *run.to_argv()]

    @property
    def log_path(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    @property
    def stats_path(self) -> Path:
        return stats_path(self.state_dir, self.name)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> Stage:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._log is None:
            self._log = self.log_path.open("ab")
        command = self.command
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        logger.debug("started %s (pid %d): %s", self.name, self.process.pid, " ".join(command))
        return self

    def counters(self) -> C:
        """This run's counters of the stage; all zero until it wrote any."""
        found = read_counters(self.stats_path, self.kind.counters)
        if found is None or found.run_id != self.run_id:
            return self.kind.counters()
        return found

    def wait_ready(self, timeout_s: float) -> C:
        """Wait until this process says it is ready; fail with its log if it dies or takes too long."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.counters()
            if found.ready() and found.pid == self.pid:
                return found
            if self.exit_code() is not None:
                raise StageError(
                    f"the {self.name} stage exited with {self.exit_code()} at start:\n{self.log_tail()}"
                )
            time.sleep(0.05)
        raise StageError(f"the {self.name} stage was not ready within {timeout_s:.0f} s:\n{self.log_tail()}")

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def signal_stop(self) -> None:
        """SIGTERM without waiting (to stop several stages at once; then ``stop`` each)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; answer the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("the %s stage did not stop within %.0f s: killing it", self.name, timeout_s)
                self.process.kill()
                self.process.wait(10)
        self._close_pipes()
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close_pipes()

    def restart(self) -> None:
        self._close_pipes()
        self.restarts += 1
        self.start()

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(f"  {self.name}| {line}" for line in lines[-LOG_TAIL_LINES:])

    def close(self) -> None:
        self._close_pipes()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _close_pipes(self) -> None:
        if self.process is not None and self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()


def stage_env(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The supervisor's environment with ``extra`` over it, and this repo importable."""
    env = dict(base)
    env.update(extra)
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH", "")) if p)
    return env
