"""The producer's time decisions with pinned clocks and dice: backoff, Binance's limits, rotation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance.rest import AnswerKind
from producer.timing import (
    BAN_WITHOUT_RETRY_AFTER,
    backoff_delay,
    connect_wait,
    next_attempt,
    rest_retry_delay,
    rotation_delay,
    weight_wait,
)


def test_backoff_doubles_from_base_to_cap():
    ceilings = [backoff_delay(attempt, base=1.0, cap=60.0, rand=1.0) for attempt in range(9)]
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_backoff_keeps_half_of_the_delay_fixed():
    assert backoff_delay(3, base=1.0, cap=60.0, rand=0.0) == 4.0
    assert backoff_delay(3, base=1.0, cap=60.0, rand=0.5) == 6.0


@given(attempt=st.integers(0, 10_000), rand=st.floats(0, 1, exclude_max=True))
def test_backoff_stays_within_half_cap_and_cap(attempt, rand):
    delay = backoff_delay(attempt, base=0.5, cap=30.0, rand=rand)
    ceiling = min(30.0, 0.5 * 2.0 ** min(attempt, 60))
    assert ceiling / 2 <= delay <= ceiling


def test_connect_wait_allows_up_to_the_limit_in_the_window():
    recent = [float(t) for t in range(3)]
    assert connect_wait(recent, now=3.0, limit=4, window=10.0) == 0.0
    # A fourth connection fills the window: the fifth waits for the first to leave it.
    assert connect_wait([*recent, 3.0], now=3.5, limit=4, window=10.0) == pytest.approx(6.5)
    assert connect_wait([*recent, 3.0], now=10.0, limit=4, window=10.0) == 0.0


def test_connect_wait_with_binance_numbers():
    burst = [100.0 + i * 0.01 for i in range(300)]
    assert connect_wait(burst, now=104.0) == pytest.approx(296.0)
    assert connect_wait(burst[:299], now=104.0) == 0.0


def test_rotation_delay_counts_down_to_zero():
    assert rotation_delay(opened_at=100.0, now=100.0, rotate_after=82_800) == 82_800
    assert rotation_delay(opened_at=100.0, now=82_850.0, rotate_after=82_800) == 50.0
    assert rotation_delay(opened_at=100.0, now=90_000.0, rotate_after=82_800) == 0.0


def test_rest_retry_honours_retry_after_for_429_and_418():
    assert rest_retry_delay(AnswerKind.RATE_LIMITED, 7.0, 0, base=1, cap=60, rand=0.3) == 7.0
    assert rest_retry_delay(AnswerKind.BANNED, 300.0, 5, base=1, cap=60, rand=0.3) == 300.0


def test_rest_retry_without_retry_after():
    assert rest_retry_delay(AnswerKind.RATE_LIMITED, None, 2, base=1, cap=60, rand=0.0) == 2.0
    assert rest_retry_delay(AnswerKind.BANNED, None, 0, base=1, cap=60, rand=0.0) == BAN_WITHOUT_RETRY_AFTER
    assert rest_retry_delay(AnswerKind.UNAVAILABLE, None, 1, base=1, cap=60, rand=1.0) == 2.0
    assert rest_retry_delay(None, None, 0, base=1, cap=60, rand=1.0) == 1.0  # no answer at all


def test_weight_wait_paces_within_the_minute():
    minute = 1_767_225_600.0  # a whole minute
    assert weight_wait(None, 0.0, 4, 5000, now=minute + 10) == 0.0
    assert weight_wait(4996, minute + 5, 4, 5000, now=minute + 10) == 0.0
    assert weight_wait(4997, minute + 5, 4, 5000, now=minute + 10) == pytest.approx(50.5)
    # A count reported in the previous minute no longer holds.
    assert weight_wait(6000, minute - 1, 4, 5000, now=minute + 10) == 0.0


def test_backoff_resets_after_a_connection_that_delivered_trades():
    assert next_attempt(5, delivered=700, lived=0.5, healthy_after=10.0) == 0  # e.g. closed during a 429 wait
    assert next_attempt(5, delivered=0, lived=12.0, healthy_after=10.0) == 0  # lived long enough
    assert next_attempt(5, delivered=0, lived=0.5, healthy_after=10.0) == 6  # failed at once: back off more
    assert next_attempt(0, delivered=0, lived=0.0, healthy_after=10.0) == 1
