"""Pure decisions about time: backoff, Binance's connection and weight limits, rotation.

Clocks and randomness come in as arguments (``now``, ``rand`` in [0, 1)), so tests pin them.
"""

from __future__ import annotations

from collections.abc import Sequence

from binance.rest import AnswerKind

# Binance: 300 connections per 5 minutes per IP.
CONNECTIONS_PER_WINDOW = 300
CONNECTION_WINDOW = 300.0
# Binance resets the REST weight counter at each wall-clock minute; wait a little past it.
WEIGHT_RESET_MARGIN = 0.5
# A 418 without Retry-After: Binance bans for 2 minutes and up.
BAN_WITHOUT_RETRY_AFTER = 120.0


def backoff_delay(attempt: int, *, base: float, cap: float, rand: float) -> float:
    """Capped exponential backoff with equal jitter.

    Attempt 0 waits between ``base/2`` and ``base``; each further attempt doubles both, up
    to ``cap``. Half the delay is fixed, so even unlucky draws back off; the random half
    keeps many clients from reconnecting in step.
    """
    ceiling = min(cap, base * 2.0 ** min(attempt, 60))
    return ceiling / 2.0 + ceiling / 2.0 * rand


def connect_wait(
    recent: Sequence[float],
    now: float,
    *,
    limit: int = CONNECTIONS_PER_WINDOW,
    window: float = CONNECTION_WINDOW,
) -> float:
    """Seconds to wait before opening one more connection, given when the recent ones opened."""
    inside = sorted(moment for moment in recent if now - moment < window)
    if len(inside) < limit:
        return 0.0
    # The connection that must leave the window before a new one fits.
    return max(0.0, inside[len(inside) - limit] + window - now)


def rotation_delay(opened_at: float, now: float, rotate_after: float) -> float:
    """Seconds until a connection opened at ``opened_at`` is due to be replaced (0: now)."""
    return max(0.0, opened_at + rotate_after - now)


def rest_retry_delay(
    kind: AnswerKind | None,
    retry_after: float | None,
    attempt: int,
    *,
    base: float,
    cap: float,
    rand: float,
) -> float:
    """How long to wait before asking REST again (``kind`` None: no answer at all).

    429 and 418 wait what Binance says in Retry-After: retrying sooner turns a 429 into a
    ban. Without it, a 429 backs off and a 418 waits at least two minutes.
    """
    if kind in (AnswerKind.RATE_LIMITED, AnswerKind.BANNED) and retry_after is not None:
        return retry_after
    delay = backoff_delay(attempt, base=base, cap=cap, rand=rand)
    if kind is AnswerKind.BANNED:
        return max(delay, BAN_WITHOUT_RETRY_AFTER)
    return delay


def weight_wait(
    used_weight: int | None, reported_at: float, request_weight: int, weight_limit: int, now: float
) -> float:
    """Seconds to wait before a request so that this minute's REST weight stays under our limit.

    ``used_weight`` is what the last answer said (``X-MBX-USED-WEIGHT-1M``) at wall-clock
    ``reported_at``; None when no answer said it yet. Binance counts per wall-clock minute,
    so a count from an earlier minute no longer holds.
    """
    if used_weight is None or reported_at // 60 != now // 60:
        return 0.0
    if used_weight + request_weight <= weight_limit:
        return 0.0
    return 60.0 - now % 60.0 + WEIGHT_RESET_MARGIN


def next_attempt(attempt: int, delivered: int, lived: float, healthy_after: float) -> int:
    """The reconnect attempt count after a connection closed (0: reconnect at once, no backoff).

    A connection that delivered trades, or lived ``healthy_after`` seconds, was a good one:
    whatever closed it (the 24-hour cut, a network blip, the reader paused by a REST wait),
    backing off would only lose time. ``delivered`` counts trades as they were read, not as
    they were handled: the handling may lag behind (a gap being fetched, a 429 waited out).
    """
    if delivered or lived >= healthy_after:
        return 0
    return attempt + 1
