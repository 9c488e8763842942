"""The producer's id decisions, without a network: next, duplicate, gap, backfill plans, handover."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producer.sequence import (
    GapPlan,
    IdRange,
    Verdict,
    classify,
    handover_ready,
    plan_gap,
    read_page,
    resume_points,
    watermark,
)


@pytest.mark.parametrize(
    ("last", "agg_id", "verdict"),
    [
        (None, 7, Verdict.FIRST),
        (6, 7, Verdict.NEXT),
        (7, 7, Verdict.DUPLICATE),
        (9, 7, Verdict.DUPLICATE),
        (5, 7, Verdict.GAP),
        (0, 1_000_000, Verdict.GAP),
    ],
)
def test_classify(last, agg_id, verdict):
    assert classify(last, agg_id) is verdict


def test_id_range_counts_both_ends_and_refuses_empty():
    assert len(IdRange(10, 12)) == 3
    assert str(IdRange(10, 12)) == "10..12 (3 trades)"
    with pytest.raises(ValueError, match=r"empty id range 5\.\.4"):
        IdRange(5, 4)


def test_plan_gap_fetches_everything_within_the_limit():
    assert plan_gap(100, 106, max_backfill=5) == GapPlan(hole=None, fill=IdRange(101, 105))


def test_plan_gap_keeps_the_newest_ids_and_gives_up_the_oldest():
    plan = plan_gap(100, 1001, max_backfill=300)
    assert plan.hole == IdRange(101, 700)
    assert plan.fill == IdRange(701, 1000)


def test_plan_gap_with_no_backfill_allowed_is_all_hole():
    assert plan_gap(100, 110, max_backfill=0) == GapPlan(hole=IdRange(101, 109), fill=None)


@given(
    last=st.integers(0, 10**12),
    missing=st.integers(1, 10**7),
    limit=st.integers(0, 10**7),
)
def test_plan_gap_covers_every_missing_id_exactly_once(last, missing, limit):
    next_id = last + missing + 1
    plan = plan_gap(last, next_id, limit)
    parts = [part for part in (plan.hole, plan.fill) if part is not None]
    assert sum(len(part) for part in parts) == missing
    assert parts[0].first == last + 1
    assert parts[-1].last == next_id - 1
    if len(parts) == 2:
        assert plan.hole.last + 1 == plan.fill.first
    assert plan.fill is None or len(plan.fill) <= limit


def test_read_page_takes_the_wanted_ids_in_order():
    step = read_page([5, 6, 7, 8, 9], IdRange(6, 8))
    assert step.take == (1, 2, 3)
    assert step.holes == ()
    assert step.next_id == 9


def test_read_page_names_ids_the_page_skips():
    step = read_page([10, 11, 14, 15], IdRange(10, 20))
    assert step.take == (0, 1, 2, 3)
    assert step.holes == (IdRange(12, 13),)
    assert step.next_id == 16


def test_read_page_with_a_late_start_is_a_hole_at_the_front():
    step = read_page([13, 14], IdRange(10, 14))
    assert step.holes == (IdRange(10, 12),)
    assert step.next_id == 15


def test_read_page_with_nothing_wanted_takes_nothing():
    assert read_page([], IdRange(10, 20)).take == ()
    step = read_page([3, 4], IdRange(10, 20))
    assert step.take == ()
    assert step.next_id == 10


@given(
    start=st.integers(0, 1000),
    ids=st.lists(st.integers(0, 2000), max_size=60).map(lambda xs: sorted(set(xs))),
    span=st.integers(0, 500),
)
def test_read_page_accounts_for_every_id_up_to_next(start, ids, span):
    wanted = IdRange(start, start + span)
    step = read_page(ids, wanted)
    taken = [ids[i] for i in step.take]
    assert taken == sorted(taken)
    covered = set(taken)
    for hole in step.holes:
        covered.update(range(hole.first, hole.last + 1))
    # Every id from the range's start up to next_id is either taken or a named hole, once.
    assert covered == set(range(wanted.first, step.next_id))
    assert len(taken) + sum(len(h) for h in step.holes) == step.next_id - wanted.first


def test_handover_waits_until_the_old_connection_caught_up():
    assert not handover_ready({"BTCUSDT": 99}, {})  # the new one has heard nothing yet
    assert not handover_ready({"BTCUSDT": 98}, {"BTCUSDT": 100})  # 99 would come from nobody
    assert handover_ready({"BTCUSDT": 99}, {"BTCUSDT": 100})
    assert handover_ready({"BTCUSDT": 150}, {"BTCUSDT": 100})  # the new one is behind: all repeats
    assert handover_ready({"BTCUSDT": None}, {"BTCUSDT": 100})  # nothing to overlap with


def test_handover_needs_every_symbol_heard_to_be_covered():
    last = {"BTCUSDT": 99, "ETHUSDT": 10}
    assert not handover_ready(last, {"BTCUSDT": 100, "ETHUSDT": 12})
    assert handover_ready(last, {"BTCUSDT": 100, "ETHUSDT": 11})
    assert handover_ready(last, {"BTCUSDT": 100})  # ETHUSDT not heard on the new one yet


def test_watermark_stops_before_the_oldest_unconfirmed():
    assert watermark(None, None) is None
    assert watermark(120, None) == 120
    assert watermark(120, 101) == 100


def test_resume_points_take_the_later_of_file_and_topic():
    points = resume_points(
        ["BTCUSDT", "ETHUSDT", "BNBUSDT"],
        saved={"BTCUSDT": 100, "ETHUSDT": 50, "OLDUSDT": 1},
        in_kafka={"BTCUSDT": 104, "ETHUSDT": 40},
    )
    assert points == {"BTCUSDT": 104, "ETHUSDT": 50, "BNBUSDT": None}
