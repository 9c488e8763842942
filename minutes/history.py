"""History in the database: the public-data ledger, minute rows written as final, and gaps.

Tables (``sql/<dialect>/010_history.sql``):

- ``history_files``: one row per public-data file loaded (path, sha256, trades, rejects, rows,
  rows written, minutes left to the live path and how many of those differed);
- ``history_minutes``: each minute row history wrote, and the file it came from. History rows are
  final: built from a whole published day, never recomputed from raw trades. A minute of
  ``trade_minutes`` without a row here belongs to the live path (S3 -> Lambda).

History never overwrites a minute the live path holds unless asked (``replace``); either way it
says which of those minutes differ. One file is one transaction: a run stopped mid-way leaves
whole files or nothing, and the ledger says which.

Everything goes through the store's public ``execute`` (``?`` placeholders, both dialects).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from binance.events import MINUTE_MS
from minutes.aggregate import COLUMNS, MinuteRow, minute_text, record
from minutes.store import Store

logger = logging.getLogger(__name__)

_ROW_COLUMNS = ", ".join(COLUMNS.values())
_ROW_MARKS = f"({', '.join('?' * len(COLUMNS))})"
_BATCH = 200  # rows per statement: few round trips, far below either database's parameter limit
_LEDGER_COLUMNS = (
    "file_path, symbol, checksum, trade_count, rejected, row_count, written, kept_live, differed,"
    " first_minute, last_minute, loaded_at"
)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    file_path: str
    checksum: str
    trade_count: int
    row_count: int


@dataclass(frozen=True, slots=True)
class Loaded:
    """What writing one file's rows did."""

    file_path: str
    rows: int
    written: int
    kept_live: int  # minutes the live path held, left as they were
    differed: list[int]  # minutes (ms) whose live row differs from history's
    replaced: list[int]  # minutes (ms) of live rows that history overwrote (``replace``)


@contextmanager
def transaction(store: Store) -> Iterator[None]:
    """One write transaction, in turn with the live path's writers (``Store.writing``)."""
    with store.writing():
        yield


def ledger(store: Store, paths: Iterable[str]) -> dict[str, LedgerEntry]:
    """The ledger rows of these files, by path."""
    found: dict[str, LedgerEntry] = {}
    for path in paths:
        rows = store.execute(
            "SELECT checksum, trade_count, row_count FROM history_files WHERE file_path = ?", (path,)
        )
        for checksum, trades, count in rows:
            found[path] = LedgerEntry(path, checksum, int(trades), int(count))
    store.rollback()  # end the read, so the next one sees other writers' commits
    return found


def load_rows(
    store: Store,
    *,
    file_path: str,
    symbol: str,
    checksum: str,
    rows: Sequence[MinuteRow],
    trade_count: int,
    rejected: int,
    replace: bool,
    only_minutes: set[int] | None = None,
) -> Loaded:
    """Write one file's minute rows as history and record the file, in one transaction.

    ``only_minutes`` limits the writing to those minutes (gap filling); the ledger is then left
    alone, since the file was not loaded whole.
    """
    wanted = [row for row in rows if only_minutes is None or row.minute in only_minutes]
    with transaction(store):
        existing = _existing(store, symbol, wanted)
        from_history = _history_minutes(store, symbol, wanted)
        kept, differed, replaced, writing = 0, [], [], []
        for row in wanted:
            held = existing.get(row.minute)
            live = held is not None and row.minute not in from_history
            if live:
                different = held != row
                if different:
                    differed.append(row.minute)
                if not (replace or only_minutes is not None) or not different:
                    kept += 1
                    continue
                replaced.append(row.minute)
            writing.append(row)
        for start in range(0, len(writing), _BATCH):
            batch = writing[start : start + _BATCH]
            store.execute(
                f"REPLACE INTO trade_minutes ({_ROW_COLUMNS}) VALUES {', '.join([_ROW_MARKS] * len(batch))}",  # noqa: S608
                [value for row in batch for value in record(row).values()],
            )
            store.execute(
                "REPLACE INTO history_minutes (symbol, TIME, file_path) VALUES "  # noqa: S608
                + ", ".join(["(?, ?, ?)"] * len(batch)),
                [value for row in batch for value in (symbol, minute_text(row.minute), file_path)],
            )
        written = len(writing)
        if only_minutes is None:
            store.execute("DELETE FROM history_files WHERE file_path = ?", (file_path,))
            store.execute(
                f"INSERT INTO history_files ({_LEDGER_COLUMNS}) VALUES ({', '.join('?' * 12)})",  # noqa: S608
                (
                    file_path,
                    symbol,
                    checksum,
                    trade_count,
                    rejected,
                    len(rows),
                    written,
                    kept,
                    len(differed),
                    minute_text(rows[0].minute) if rows else None,
                    minute_text(rows[-1].minute) if rows else None,
                    datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                ),
            )
    # A whole public-data file is complete data: its minutes become final (live objects that
    # arrive for them later are counted as late, never recomputed from partial trades), unless
    # a live minute differs and was kept, which must stay open to be looked at.
    if only_minutes is None and rows and (replace or not differed):
        store.mark_final(
            symbol, min(r.minute for r in rows), max(r.minute for r in rows) + MINUTE_MS, "history"
        )
    return Loaded(file_path, len(wanted), written, kept, differed, replaced)


def _existing(store: Store, symbol: str, rows: Sequence[MinuteRow]) -> dict[int, MinuteRow]:
    if not rows:
        return {}
    start, end = min(r.minute for r in rows), max(r.minute for r in rows) + MINUTE_MS
    return {row.minute: row for row in _rows_between(store, symbol, start, end)}


def _rows_between(store: Store, symbol: str, start: int, end: int) -> list[MinuteRow]:
    from minutes.store import _minute_row  # one reader of stored rows, shared with the store

    found = store.execute(
        f"SELECT {_ROW_COLUMNS} FROM trade_minutes WHERE symbol = ? AND TIME >= ? AND TIME < ?"  # noqa: S608
        " ORDER BY TIME",
        (symbol, minute_text(start), minute_text(end)),
    )
    return [_minute_row(values) for values in found]


def _history_minutes(store: Store, symbol: str, rows: Sequence[MinuteRow]) -> set[int]:
    if not rows:
        return set()
    from minutes.aggregate import minute_ms

    start, end = min(r.minute for r in rows), max(r.minute for r in rows) + MINUTE_MS
    found = store.execute(
        "SELECT TIME FROM history_minutes WHERE symbol = ? AND TIME >= ? AND TIME < ?",
        (symbol, minute_text(start), minute_text(end)),
    )
    return {minute_ms(time) for (time,) in found}


# -- gaps ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    """Minutes ``first``..``last`` (ms, inclusive) need filling.

    ``kind`` is "missing" (no rows at all) or "chain" (rows are there, but agg ids ``from_id``..
    ``to_id`` are in none of them: a row's first id is not the previous row's last id + 1).
    """

    symbol: str
    kind: str
    first: int
    last: int
    from_id: int | None = None
    to_id: int | None = None

    def minutes(self) -> set[int]:
        return set(range(self.first, self.last + MINUTE_MS, MINUTE_MS))

    def describe(self) -> str:
        span = (
            minute_text(self.first)
            if self.first == self.last
            else f"{minute_text(self.first)} .. {minute_text(self.last)}"
        )
        count = (self.last - self.first) // MINUTE_MS + 1
        if self.kind == "missing":
            return f"{self.symbol} {span}: {count} minute{'s' * (count > 1)} without a row"
        return (
            f"{self.symbol} {span}: agg ids {self.from_id}..{self.to_id} are in no row "
            f"(broken chain over {count} minute{'s' * (count > 1)})"
        )


def find_gaps(rows: Sequence[MinuteRow], symbol: str, start: int, end: int) -> list[Gap]:
    """Missing minutes in [start, end) and broken agg-id chains between consecutive rows (pure)."""
    gaps: list[Gap] = []
    held = sorted(
        (row for row in rows if row.symbol == symbol and start <= row.minute < end), key=lambda r: r.minute
    )
    expected = start
    previous: MinuteRow | None = None
    for row in held:
        if row.minute > expected:
            gaps.append(Gap(symbol, "missing", expected, row.minute - MINUTE_MS))
        if previous is not None and row.first_agg_id != previous.last_agg_id + 1:
            gaps.append(
                Gap(
                    symbol,
                    "chain",
                    previous.minute,
                    row.minute,
                    previous.last_agg_id + 1,
                    row.first_agg_id - 1,
                )
            )
        previous, expected = row, row.minute + MINUTE_MS
    if expected < end:
        gaps.append(Gap(symbol, "missing", expected, end - MINUTE_MS))
    return sorted(gaps, key=lambda g: (g.first, g.kind))


def gaps_in_store(store: Store, symbol: str, start: int, end: int) -> list[Gap]:
    rows = store.minute_rows(symbol, start, end)
    return find_gaps(rows, symbol, start, end)


def days_of(gaps: Iterable[Gap]) -> list[int]:
    """The UTC days (ms of midnight) that the gaps touch."""
    day = 24 * 60 * MINUTE_MS
    touched = itertools.chain.from_iterable(range(g.first - g.first % day, g.last + 1, day) for g in gaps)
    return sorted(set(touched))
