"""Minute rows folded into hours or days, exactly. Pure: rows in, rows out.

A bucket is a whole UTC hour or day and folds the minute rows that start in it: volumes
and counts are exact sums (Decimal, never float), its open is its first minute's open,
its close its last minute's close, its high and low the highest high and the lowest low
of its minutes. Only minutes with trades have rows, so only buckets with trades exist.

Rows come in as the database answers them, ``(TIME, value, ...)`` ordered by TIME (TIME
a datetime from MySQL, 'YYYY-MM-DD HH:MM:SS' text from SQLite; values Decimal, text or
int) and leave as ``(bucket start in epoch ms, folded value, ...)``.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum, auto
from itertools import groupby
from typing import Any

from binance.events import MINUTE_MS
from lambda_aggregator.aggregate import EXACT, minute_ms


class Fold(Enum):
    """How the minutes of a bucket combine into one value."""

    FIRST = auto()
    LAST = auto()
    MAX = auto()
    MIN = auto()
    SUM = auto()  # exact decimal sum
    COUNT = auto()  # integer sum


_COMBINE: dict[Fold, Callable[[Sequence[Any]], Any]] = {
    Fold.FIRST: lambda column: Decimal(column[0]),
    Fold.LAST: lambda column: Decimal(column[-1]),
    Fold.MAX: lambda column: max(map(Decimal, column)),
    Fold.MIN: lambda column: min(map(Decimal, column)),
    Fold.SUM: lambda column: sum(map(Decimal, column), Decimal(0)),  # exact under EXACT: inexact raises
    Fold.COUNT: lambda column: sum(map(int, column)),
}
# The leading characters of SQLite's TIME text that name a bucket of each grain.
_TEXT_KEY = {"hour": 13, "day": 10}
_BUCKET_MS = {"hour": 60 * MINUTE_MS, "day": 1440 * MINUTE_MS}

FoldedRow = tuple[Any, ...]


def fold(rows: Iterable[Sequence[Any]], grain: str, how: Sequence[Fold]) -> list[FoldedRow]:
    """Minute rows ``(TIME, v1, v2, ...)``, oldest first, as one row per bucket of ``grain``
    (``hour`` or ``day``) ``(bucket_ms, f1, f2, ...)``, each value folded as ``how`` says."""
    if grain not in _TEXT_KEY:
        raise ValueError(f"grain: expected one of {', '.join(_TEXT_KEY)}; got {grain!r}")
    combiners = [_COMBINE[kind] for kind in how]
    bucket_ms = _BUCKET_MS[grain]
    out: list[FoldedRow] = []
    with decimal.localcontext(EXACT):
        # A column at a time per bucket: map, max and sum loop in C, where a row at a time would not.
        for _, members in groupby(rows, key=lambda row: _key(row[0], grain)):
            times, *columns = zip(*members, strict=True)
            start = minute_ms(times[0])
            start -= start % bucket_ms
            if out and start <= out[-1][0]:
                raise ValueError(f"rows are not ordered by TIME: {times[0]!r} after bucket {out[-1][0]}")
            out.append(
                (start, *(combine(column) for combine, column in zip(combiners, columns, strict=True)))
            )
    return out


def _key(time: datetime | str, grain: str) -> object:
    """What the minutes of one bucket share, cheaply (no parsing per row)."""
    if isinstance(time, str):
        return time[: _TEXT_KEY[grain]]
    return (time.year, time.month, time.day, time.hour if grain == "hour" else 0)


def rolling_sums(values: Sequence[tuple[int, Decimal]], span_ms: int) -> list[Decimal]:
    """For each ``(time, value)``, oldest first, the exact sum of the values whose time is
    in the ``span_ms`` ending with it: a gap shortens the sum instead of reaching further
    back, as the minute view's RANGE frame does."""
    sums: list[Decimal] = []
    running = Decimal(0)
    oldest = 0
    with decimal.localcontext(EXACT):
        for time, value in values:
            running += value
            while values[oldest][0] <= time - span_ms:
                running -= values[oldest][1]
                oldest += 1
            sums.append(running)
    return sums
