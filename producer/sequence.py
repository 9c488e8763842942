"""Pure decisions about agg ids: next, duplicate or gap; what to fetch; when a new connection takes over.

Binance numbers the aggregate trades of a symbol 1, 2, 3… with no hole. The producer keeps,
per symbol, the last id it released to Kafka; everything here compares ids with it and
answers with plain data, so the service asks and tests check without a network.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


class Verdict(enum.Enum):
    FIRST = "first"  # nothing known of this symbol yet: start from here
    NEXT = "next"  # exactly last + 1: release it
    DUPLICATE = "duplicate"  # at or below last: already released, drop it
    GAP = "gap"  # above last + 1: the ids between are missing, fetch them first


def classify(last_id: int | None, agg_id: int) -> Verdict:
    """Where ``agg_id`` stands against the last id released for its symbol."""
    if last_id is None:
        return Verdict.FIRST
    if agg_id == last_id + 1:
        return Verdict.NEXT
    if agg_id <= last_id:
        return Verdict.DUPLICATE
    return Verdict.GAP


@dataclass(frozen=True, slots=True)
class IdRange:
    """Agg ids ``first`` to ``last``, both included."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"empty id range {self.first}..{self.last}")

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __str__(self) -> str:
        return f"{self.first}..{self.last} ({len(self)} trades)"


@dataclass(frozen=True, slots=True)
class GapPlan:
    """What to do about the ids missing before a trade: give some up, fetch the others."""

    hole: IdRange | None  # too many to fetch: log them and go on (the oldest part)
    fill: IdRange | None  # fetch these from REST, in order, before releasing the trade


def plan_gap(last_id: int, next_id: int, max_backfill: int) -> GapPlan:
    """The ids between ``last_id`` and ``next_id`` (both excluded), split by the backfill limit.

    The newest ``max_backfill`` ids are fetched: they are the ones the live minute rows and
    dashboards need; anything older than that is a hole.
    """
    missing = IdRange(last_id + 1, next_id - 1)
    if len(missing) <= max_backfill:
        return GapPlan(hole=None, fill=missing)
    if max_backfill == 0:
        return GapPlan(hole=missing, fill=None)
    return GapPlan(
        hole=IdRange(missing.first, missing.last - max_backfill),
        fill=IdRange(missing.last - max_backfill + 1, missing.last),
    )


@dataclass(frozen=True, slots=True)
class PageStep:
    """How one REST page serves a wanted range."""

    take: tuple[int, ...]  # indexes into the page of the trades to release, in order
    holes: tuple[IdRange, ...]  # wanted ids the page skips over (REST does not have them)
    next_id: int  # the first id still wanted after this page


def read_page(ids: Sequence[int], wanted: IdRange) -> PageStep:
    """Match a page's agg ids (ascending) against the ids still ``wanted``.

    Ids before ``wanted.first`` were released already, ids after ``wanted.last`` will come
    from the stream: both are left. A page with nothing wanted takes nothing and leaves
    ``next_id`` where it was.
    """
    take: list[int] = []
    holes: list[IdRange] = []
    next_id = wanted.first
    for index, agg_id in enumerate(ids):
        if agg_id < next_id:
            continue
        if agg_id > wanted.last:
            break
        if agg_id > next_id:
            holes.append(IdRange(next_id, agg_id - 1))
        take.append(index)
        next_id = agg_id + 1
    return PageStep(tuple(take), tuple(holes), next_id)


def handover_ready(last_released: Mapping[str, int | None], standby_first: Mapping[str, int]) -> bool:
    """May the new connection of a rotation take over from the old one?

    Yes once it has heard at least one trade and, for every symbol it has heard, the old
    connection has released everything before the new one's first trade: from then on the
    new connection alone carries every id, and the overlap is only duplicates.
    """
    if not standby_first:
        return False
    for symbol, first in standby_first.items():
        last = last_released.get(symbol)
        if last is not None and first > last + 1:
            return False
    return True


def watermark(last_released: int | None, first_unconfirmed: int | None) -> int | None:
    """The highest id with every id up to it confirmed by Kafka (or given up as a hole).

    ``first_unconfirmed`` is the oldest id handed to Kafka and not yet confirmed; ids are
    handed over in order, so everything below it is settled.
    """
    if first_unconfirmed is None:
        return last_released
    return first_unconfirmed - 1


def resume_points(
    symbols: Iterable[str], saved: Mapping[str, int], in_kafka: Mapping[str, int]
) -> dict[str, int | None]:
    """Where each symbol resumes: after the later of the state file's id and the topic's last id.

    The state file may lag (it is written every few seconds; a crash skips the last write),
    and the topic may have lost old trades to retention: the higher of the two is right.
    """
    points: dict[str, int | None] = {}
    for symbol in symbols:
        known = [value for value in (saved.get(symbol), in_kafka.get(symbol)) if value is not None]
        points[symbol] = max(known) if known else None
    return points
