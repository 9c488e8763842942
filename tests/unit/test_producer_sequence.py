"""The producer's id decisions, without a network: next, duplicate, gap, backfill plans, handover,
and the rule that ids are trusted only when they agree with Binance (docs/producer.md)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producer.sequence import (
    MAX_AGG_ID,
    GapPlan,
    Held,
    IdRange,
    Jump,
    Verdict,
    classify,
    corrected_mark,
    handover_ready,
    id_in_range,
    judge_jump,
    plan_gap,
    probe_range,
    read_page,
    resume_points,
    settle_held,
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


# -- ids are trusted only when they agree with Binance ---------------------------------------------


def test_ids_beyond_64_bits_or_below_zero_are_out_of_range():
    assert id_in_range(0) and id_in_range(MAX_AGG_ID) and id_in_range(3_800_397_495)
    assert not id_in_range(-1)
    assert not id_in_range(2**63)
    assert not id_in_range(99999999999999999999999999)


@pytest.mark.parametrize(
    ("agg_id", "rest_newest", "answered", "jump"),
    [
        (500, 500, True, Jump.CONFIRMED),  # REST lists the id itself
        (500, 900, True, Jump.CONFIRMED),  # REST lists later ids: 500 is within what Binance published
        (500, 499, True, Jump.UNCONFIRMED),  # REST answered, and knows nothing that high
        (500, None, True, Jump.UNCONFIRMED),  # REST answered with nothing at all from the id asked
        (500, None, False, Jump.UNCHECKED),  # REST could not be asked
        (500, 900, False, Jump.CONFIRMED),  # (an earlier answer still counts)
    ],
)
def test_a_jump_is_confirmed_only_by_rest_knowing_an_id_that_high(agg_id, rest_newest, answered, jump):
    assert judge_jump(agg_id, rest_newest, answered) is jump


def test_the_probe_asks_for_the_top_of_the_gap_and_the_jump_itself():
    assert probe_range(100, 105, 1000) == IdRange(101, 105)  # small gap: the probe is the whole fill
    assert probe_range(100, 5000, 1000) == IdRange(4001, 5000)  # large: its newest page
    assert probe_range(None, 7, 1000) == IdRange(7, 7)  # a first trade: only its own id


@given(
    last=st.none() | st.integers(0, 10**15),
    gap=st.integers(1, 10**9),
    limit=st.integers(1, 1000),
)
def test_the_probe_is_one_page_ending_at_the_jump_and_never_before_the_last(last, gap, limit):
    agg_id = (last or 0) + gap + 1
    probe = probe_range(last, agg_id, limit)
    assert probe.last == agg_id
    assert 1 <= len(probe) <= limit
    assert last is None or probe.first > last


@pytest.mark.parametrize(
    ("last", "held", "next_id", "settled"),
    [
        (100, 5_000_100, 101, Held.REJECT),  # the stream went on below the jump: it was not Binance's
        (100, 5_000_100, 4_000_000, Held.REJECT),
        (100, 150, 151, Held.ACCEPT),  # the stream went on past it
        (100, 150, 152, Held.ACCEPT),
        (100, 150, 150, Held.KEEP),  # the same id again
        (100, 150, 99, Held.KEEP),  # an old repeat says nothing
        (None, 150, 149, Held.REJECT),  # a first trade, contradicted
        (None, 150, 151, Held.ACCEPT),
    ],
)
def test_a_held_jump_is_settled_by_the_streams_next_trade(last, held, next_id, settled):
    assert settle_held(last, held, next_id) is settled


@given(
    last=st.integers(0, 10**12),
    jump=st.integers(2, 10**12),
    rest_newest=st.integers(0, 3 * 10**12),
    follow=st.integers(-(10**12), 3 * 10**12),
)
def test_the_last_id_never_passes_an_id_rest_does_not_know(last, jump, rest_newest, follow):
    """Whatever REST and the stream say, a jump is released only if REST knows it, or if REST
    could not be asked and the stream itself went on past it."""
    agg_id = last + jump
    verdict = judge_jump(agg_id, rest_newest, rest_answered=True)
    assert (verdict is Jump.CONFIRMED) == (rest_newest >= agg_id)
    next_id = last + follow
    if judge_jump(agg_id, None, rest_answered=False) is Jump.UNCHECKED:
        settled = settle_held(last, agg_id, next_id)
        assert (settled is Held.ACCEPT) == (next_id > agg_id)
        assert (settled is Held.REJECT) == (last < next_id < agg_id)


def test_a_resume_point_rest_knows_is_left_alone():
    assert corrected_mark(100, 100, [100]) is None
    assert corrected_mark(100, 250, []) is None


def test_a_resume_point_ahead_of_rest_goes_back_to_the_last_known_id_rest_knows():
    # State file and topic tail poisoned by a bogus id 5,000,000 ahead: the tail's real ids remain.
    assert corrected_mark(5_000_999, 1_400, [998, 999, 5_000_999]) == 999
    # Nothing known below REST's newest: resume after it.
    assert corrected_mark(5_000_999, 1_400, [5_000_999]) == 1_400


@given(
    last=st.integers(0, 10**12),
    rest_newest=st.integers(0, 10**12),
    known=st.lists(st.integers(0, 10**12), max_size=20),
)
def test_a_corrected_resume_point_is_one_rest_knows(last, rest_newest, known):
    corrected = corrected_mark(last, rest_newest, known)
    if last <= rest_newest:
        assert corrected is None
    else:
        assert corrected is not None and corrected <= rest_newest
        assert corrected == max([k for k in known if k <= rest_newest], default=rest_newest)


def test_read_page_takes_an_id_past_the_wanted_ones_as_proof_they_are_missing():
    step = read_page([15, 16], IdRange(10, 12))
    assert (step.take, step.holes, step.next_id) == ((), (IdRange(10, 12),), 13)
    step = read_page([10, 12, 20], IdRange(10, 14))
    assert (step.take, step.holes, step.next_id) == ((0, 1), (IdRange(11, 11), IdRange(13, 14)), 15)
