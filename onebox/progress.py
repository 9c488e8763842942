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


@dataclass(frozen=True)
class Progress:
    """What the progress line shows, gathered from the stages' counters and the database.

    Two equal values mean nothing happened between them: the line is not printed again."""

    received: int = 0
    produced: int = 0
    objects_written: int = 0
    objects_aggregated: int = 0
    trades_aggregated: int = 0  # trades of the objects the aggregator has summed
    failures: int = 0
    dead_letters: int = 0
    restarts: int = 0
    last_row: str = ""

    @property
    def lag(self) -> int:
        """Trades sent to Kafka and not yet summed into the database (at most: duplicates count once)."""
        return max(0, self.produced - self.trades_aggregated)

    def line(self, elapsed_s: float, before: Progress | None = None, since_s: float = 0.0) -> str:
        """The line: what changed since ``before`` (``since_s`` seconds ago) as rates, and where it is."""

        def rate(now: int, then: int) -> str:
            return f" ({(now - then) / since_s:.0f}/s)" if before is not None and since_s > 0 else ""

        base = before or Progress()
        parts = [
            f"{elapsed_s:6.0f}s",
            f"in {self.received}{rate(self.received, base.received)}",
            f"stored {self.trades_aggregated}{rate(self.trades_aggregated, base.trades_aggregated)}",
            f"lag {self.lag} trades",
            f"objects {self.objects_written} written, {self.objects_aggregated} summed",
        ]
        if self.failures:
            parts.append(f"retried {self.failures}")
        if self.dead_letters:
            parts.append(f"DEAD LETTERS {self.dead_letters}")
        if self.restarts:
            parts.append(f"restarts {self.restarts}")
        parts.append(f"newest minute: {self.last_row or '(none yet)'}")
        return " | ".join(parts)


def gather(
    producer: ProducerCounters, sink: SinkCounters, runner: RunnerCounters, restarts: int, last_row: str
) -> Progress:
    return Progress(
        received=producer.distinct_received,
        produced=producer.produced,
        objects_written=sink.objects,
        objects_aggregated=runner.objects,
        trades_aggregated=runner.trades,
        failures=runner.failures + sink.put_failures,
        dead_letters=runner.dead_letters,
        restarts=restarts,
        last_row=last_row,
    )


def ready_line(dashboard_url: str | None, batch_timeout_s: float, *, replay: bool = False) -> str:
    """The one line that says the pipeline is up, and where to look."""
    where = f"open {dashboard_url}" if dashboard_url else "`cryptotrades status` shows the rows"
    when = (
        "the rows appear once the replay is all in Kafka"
        if replay
        else f"a minute's row appears within about {batch_timeout_s:g} s of its trades"
    )
    return f"ready: {where}; {when}; Ctrl-C stops"


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
    not_trades = (
        f"{rejected_lines} lines of the file were not trades" if rejected_lines else "every line a trade"
    )
    return (
        f"replayed {trades} trades of {settings.replay} in {elapsed_s:.1f} s: "
        f"{have} of {wanted} in the database ({have / elapsed_s:.0f} trades/s); {not_trades}"
    )
