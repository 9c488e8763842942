"""What ``cryptotrades status`` and the live progress line show, read from where it lives.

The database holds the rows and the ledger; ``<state dir>/stats/`` holds each stage's
counters from the last run; ``<state dir>/dead-letters.jsonl`` holds the events the runner
gave up on. Reading is here; the formatting functions are pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from minutes.aggregate import MinuteRow, minute_ms
from minutes.klines import CheckSummary, check_summary, recent_window
from minutes.store import LedgerTotals, Store
from onebox import stages
from onebox.stages import DEAD_LETTERS_FILE, StageCounters
from onebox.stats import read_counters, stats_path

_COUNT_TRADES = "SELECT COUNT(*) FROM agg_trades WHERE symbol = ? AND agg_id BETWEEN ? AND ?"
_NEWEST_TIMES = "SELECT TIME FROM trade_minutes ORDER BY TIME DESC LIMIT ?"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    keys: list[str]
    tries: int
    why: str
    error: str
    when: str


def last_rows(store: Store, count: int) -> list[MinuteRow]:
    """The newest ``count`` minute rows (every symbol), oldest first."""
    # (MySQL reads run at READ COMMITTED and SQLite's in autocommit: each sees the newest rows.)
    times = [row[0] for row in store.execute(_NEWEST_TIMES, (count,))]
    if not times:
        return []
    oldest = min(minute_ms(t) for t in times)
    rows = store.minute_rows(start_ms=oldest)
    return rows[-count:] if len(rows) > count else rows


def minute_check(store: Store) -> CheckSummary | None:
    """The minute check of the 24 hours up to the newest stored kline; None before the first kline."""
    window = recent_window(store)
    return None if window is None else check_summary(store, *window, limit=5)


def stored_trades(store: Store, symbol: str, first_id: int, last_id: int) -> int:
    """How many of the agg ids ``first_id..last_id`` of ``symbol`` the database holds."""
    ((count,),) = store.execute(_COUNT_TRADES, (symbol, first_id, last_id))
    return int(count)


def stage_stats(state_dir: Path) -> dict[str, StageCounters]:
    """Each stage's counters of the last run, by stage."""
    found = {}
    for kind in stages.ALL:
        counters = read_counters(stats_path(state_dir, kind.name), kind.counters)
        if counters is not None:
            found[kind.name] = counters
    return found


def dead_letters(state_dir: Path) -> list[DeadLetter]:
    path = state_dir / DEAD_LETTERS_FILE
    if not path.exists():
        return []
    letters = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            letters.append(
                DeadLetter(item["keys"], item["tries"], item["why"], item["error"], item["dead_lettered"])
            )
    return letters


# -- formatting (pure) ----------------------------------------------------------------------


def row_text(row: MinuteRow) -> str:
    """One minute row in a line: time, buy and sell counts, BTC and USD, close."""
    return (
        f"{row.time:%Y-%m-%d %H:%M} {row.symbol} "
        f"buy {row.count_buy} ({row.btc_buy.normalize():f} BTC, {row.usd_buy:.2f} USD) "
        f"sell {row.count_sell} ({row.btc_sell.normalize():f} BTC, {row.usd_sell:.2f} USD) "
        f"close {row.close.normalize():f}"
    )


def ledger_text(totals: LedgerTotals) -> str:
    """The ledger (every run so far) in words: what is stored, and what each other count means.

    A trade stored again (a replay of data already in the database, or an object written twice
    after a restart) is counted once: that is the design working, not a warning."""
    parts = [
        f"{totals.objects} objects, {totals.lines} lines: {totals.accepted - totals.duplicates} trades stored"
    ]
    if totals.klines:
        parts.append(f"{totals.klines} Binance kline{'' if totals.klines == 1 else 's'} stored")
    if totals.duplicates:
        parts.append(
            f"{totals.duplicates} trades were already stored (a replay or a repeated object; counted once)"
        )
    if totals.rejected:
        parts.append(f"{totals.rejected} lines rejected (quarantined under rejected/)")
    if totals.redeliveries:
        parts.append(f"{totals.redeliveries} events delivered again (ignored)")
    return ", ".join(parts)


def stages_text(stats: Mapping[str, StageCounters]) -> list[str]:
    """One line per stage that has counters, with the counters that matter for it."""
    lines = []
    for kind in stages.ALL:
        counters = stats.get(kind.name)
        if counters is None:
            continue
        when = ""
        if counters.updated:
            when = f" at {datetime.fromtimestamp(counters.updated, tz=UTC):%Y-%m-%d %H:%M:%S} UTC"
        lines.append(f"  {kind.name:<9} {counters.state}{when}: {counters.summary()}")
    return lines


def dead_letters_text(letters: list[DeadLetter], path: Path) -> list[str]:
    if not letters:
        return ["dead letters: none"]
    lines = [f"dead letters: {len(letters)} (events in {path})"]
    for letter in letters[-5:]:
        lines.append(f"  {letter.when} {', '.join(letter.keys)}: {letter.why}; {letter.error}")
    return lines
