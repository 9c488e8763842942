"""What ``cryptotrades run`` shows: the banner, the progress line, the summary at the end.

The text is made of the stages' typed counters (``onebox.stages``) and of the database, which
the supervisor reads through its own connection (`DatabaseReader`), opened again after the
server was away.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from contract.errors import SettingsError
from minutes.errors import StoreError
from minutes.store import LedgerTotals, Store, open_store, redacted
from onebox import status
from onebox.aws_endpoint import Wiring
from onebox.settings import OneboxSettings
from onebox.stages import IdRange, ProducerCounters, RunnerCounters, SinkCounters
from onebox.vector_config import SinkPlan

# What a read of the database may raise while it is away (the supervisor only reads).
DATABASE_ERRORS = (StoreError, SettingsError)


@dataclass
class Progress:
    """What the progress line shows, gathered from the stages' counters and the database."""

    received: int = 0
    produced: int = 0
    in_kafka: int = 0
    objects_written: int = 0
    objects_aggregated: int = 0
    failures: int = 0
    dead_letters: int = 0
    restarts: int = 0
    last_row: str = ""

    def line(self, elapsed_s: float) -> str:
        parts = [
            f"{elapsed_s:6.0f}s",
            f"received {self.received}",
            f"produced {self.produced}",
            f"objects written {self.objects_written}",
            f"aggregated {self.objects_aggregated}",
        ]
        if self.failures:
            parts.append(f"retried {self.failures}")
        if self.dead_letters:
            parts.append(f"DEAD LETTERS {self.dead_letters}")
        if self.restarts:
            parts.append(f"restarts {self.restarts}")
        parts.append(f"last row: {self.last_row or '(none yet)'}")
        return " | ".join(parts)


def gather(
    producer: ProducerCounters, sink: SinkCounters, runner: RunnerCounters, restarts: int, last_row: str
) -> Progress:
    return Progress(
        received=producer.distinct_received,
        produced=producer.produced,
        objects_written=sink.objects,
        objects_aggregated=runner.objects,
        failures=runner.failures + sink.put_failures,
        dead_letters=runner.dead_letters,
        restarts=restarts,
        last_row=last_row,
    )


class DatabaseReader:
    """The supervisor's own connection (reads only), opened again after the server was away."""

    def __init__(self, url: str, store: Store | None = None) -> None:
        self.url = url
        self.store = store

    def last_row(self) -> str:
        """The newest minute row as a line, or why it cannot be read."""
        try:
            store = self._store()
            rows = status.last_rows(store, 1)
            store.ledger_totals()  # ends the read: the next poll sees newer rows
        except DATABASE_ERRORS as exc:
            self.close()
            return f"(database unavailable: {str(exc)[:80]})"
        return status.row_text(rows[-1]) if rows else ""

    def ledger(self) -> LedgerTotals:
        return self._store().ledger_totals()

    def stored(self, expect: dict[str, IdRange]) -> int:
        """How many of the replayed trades the database holds."""
        store = self._store()
        return sum(status.stored_trades(store, symbol, ids.first, ids.last) for symbol, ids in expect.items())

    def close(self) -> None:
        if self.store is not None:
            with contextlib.suppress(*DATABASE_ERRORS):
                self.store.close()
            self.store = None

    def _store(self) -> Store:
        if self.store is None:
            self.store = open_store(self.url)
        return self.store


def banner(
    settings: OneboxSettings,
    *,
    run_id: str,
    bootstrap: str,
    plan: SinkPlan,
    wiring: Wiring,
    endpoint: str | None,
    dashboard_url: str | None,
) -> str:
    lines = [f"cryptotrades one-box (run {run_id})"]
    where = "embedded" if settings.embedded_kafka else "given"
    lines.append(f"  kafka     {bootstrap} ({where}), topic {', '.join(plan.topics)}")
    lines.append(f"  s3/sqs    {endpoint or 'AWS'}, bucket {wiring.bucket}, queue {wiring.queue_url}")
    lines.append(
        f"  sink      as vector.toml says: prefix {plan.key_prefix}, "
        f"batch {plan.batch_timeout_s:g} s, {plan.compression}"
    )
    lines.append(f"  database  {redacted(settings.database_url)}")
    if dashboard_url is not None:
        lines.append(f"  dashboard {dashboard_url}")
    if settings.replay is not None:
        speed = "as fast as possible" if settings.speed == 0 else f"speed {settings.speed:g}"
        lines.append(f"  replay    {settings.replay} ({speed}) through the local fake Binance")
        if settings.klines is not None:
            lines.append(f"  klines    {settings.klines}, each at its minute's close (minute_check compares)")
    else:
        lines.append("  source    Binance's live aggTrade and closed 1-minute kline streams")
    lines.append(f"  logs      {settings.state_dir / 'logs'}/<stage>.log; Ctrl-C stops cleanly")
    return "\n".join(lines)


def replay_summary(
    settings: OneboxSettings, *, trades: int, rejected_lines: int, have: int, wanted: int, elapsed_s: float
) -> str:
    return (
        f"replayed {trades} trades of {settings.replay} in {elapsed_s:.1f} s: "
        f"{have} of {wanted} in the database ({have / elapsed_s:.0f} trades/s); "
        f"{rejected_lines} lines of the file were not trades"
    )
