"""Pure decisions about agg ids: next, duplicate or gap; whether a jump is Binance's; what to fetch.

Binance numbers the aggregate trades of a symbol 1, 2, 3… with no hole. The producer keeps,
per symbol, the last id it released to Kafka; everything here compares ids with it and
answers with plain data, so the service asks and tests check without a network.

Ids are trusted only when they agree with Binance (docs/producer.md, "When the stream and
REST disagree"): the next id is released as it comes, but a trade that would move the last
id forward by more than one (a jump, or the first trade of a symbol) is released only once
REST knows an id at least as high (`judge_jump`). When REST cannot be asked, the stream's
next trade decides (`settle_held`). A resume point ahead of REST's newest id is corrected
(`corrected_mark`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# Binance's agg ids are signed 64-bit integers (a Java long): anything outside is not Binance's.
MAX_AGG_ID = 2**63 - 1


def id_in_range(agg_id: int) -> bool:
    """Could ``agg_id`` be one of Binance's? (0 to 2**63 - 1: above, ids overflow our arithmetic.)"""
    return 0 <= agg_id <= MAX_AGG_ID


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


class Jump(enum.Enum):
    CONFIRMED = "confirmed"  # REST knows this id or a later one: the ids before it are a real gap
    UNCONFIRMED = "unconfirmed"  # REST answered and knows no id this high: reject the trade, fill nothing
    UNCHECKED = "unchecked"  # REST could not be asked: hold the trade; the stream's next trade decides


def judge_jump(agg_id: int, rest_newest: int | None, rest_answered: bool) -> Jump:
    """May a trade that moves the last id forward by more than one be released?

    ``rest_newest`` is the highest agg id REST listed when asked about this jump (None: it
    listed none); ``rest_answered`` is False when REST could not be asked at all. Binance's
    ids have no holes, so REST knowing any id at or above ``agg_id`` means ``agg_id`` is
    within what Binance has published; REST answering with nothing that high means the id
    does not exist (yet): the sequencer never moves its last id past an id REST does not know.
    """
    if rest_newest is not None and rest_newest >= agg_id:
        return Jump.CONFIRMED
    return Jump.UNCONFIRMED if rest_answered else Jump.UNCHECKED


def probe_range(last_id: int | None, agg_id: int, page_limit: int) -> IdRange:
    """The ids to ask REST for about a jump to ``agg_id``: the top of the gap, ``agg_id`` included.

    One page of at most ``page_limit`` ids: for a gap that fits, the probe is the whole fill
    and costs no extra request; for the first trade of a symbol, only the trade's own id.
    """
    if last_id is None:
        return IdRange(agg_id, agg_id)
    return IdRange(max(last_id + 1, agg_id - page_limit + 1), agg_id)


class Held(enum.Enum):
    KEEP = "keep"  # the next trade says nothing about the held one (a repeat of it, or older)
    REJECT = "reject"  # the stream went on below the held id: it was not Binance's
    ACCEPT = "accept"  # the stream went on past the held id: it stands


def settle_held(last_id: int | None, held_id: int, agg_id: int) -> Held:
    """A trade held because REST could not be asked: what the stream's next trade ``agg_id`` says of it."""
    if agg_id == held_id or (last_id is not None and agg_id <= last_id):
        return Held.KEEP
    if agg_id < held_id:
        return Held.REJECT
    return Held.ACCEPT


def corrected_mark(last_id: int, rest_newest: int, known: Iterable[int]) -> int | None:
    """None when ``last_id`` is one REST knows; else where to resume instead.

    A last id above REST's newest was never Binance's (a poisoned state file or topic tail):
    resume after the highest of the ``known`` ids (the state file's, the topic tail's) that
    REST does know; with none, after REST's newest.
    """
    if last_id <= rest_newest:
        return None
    below = [agg_id for agg_id in known if agg_id <= rest_newest]
    return max(below) if below else rest_newest


@dataclass(frozen=True, slots=True)
class PageStep:
    """How one REST page serves a wanted range."""

    take: tuple[int, ...]  # indexes into the page of the trades to release, in order
    holes: tuple[IdRange, ...]  # wanted ids the page skips over (REST does not have them)
    next_id: int  # the first id still wanted after this page


def read_page(ids: Sequence[int], wanted: IdRange) -> PageStep:
    """Match a page's agg ids (ascending) against the ids still ``wanted``.

    Ids before ``wanted.first`` were released already, ids after ``wanted.last`` will come
    from the stream: both are left. REST lists ids in order from the ``fromId`` asked, so an
    id past ``wanted.last`` settles the page: whatever wanted id it skipped is a hole. A page
    with nothing at or past ``next_id`` (REST has nothing that new yet) takes nothing and
    leaves ``next_id`` where it was.
    """
    take: list[int] = []
    holes: list[IdRange] = []
    next_id = wanted.first
    for index, agg_id in enumerate(ids):
        if agg_id < next_id:
            continue
        if agg_id > wanted.last:
            if next_id <= wanted.last:
                holes.append(IdRange(next_id, wanted.last))
                next_id = wanted.last + 1
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
