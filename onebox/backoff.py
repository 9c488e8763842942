"""Retry delays: doubling from a base, capped, jittered (so retries of many clients spread out)."""

from __future__ import annotations


def delay(attempt: int, *, base_s: float, cap_s: float, jitter: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    ``jitter`` in [0, 1) takes the delay anywhere from half to all of the doubled value,
    so the answer lies in [base/2, cap].
    """
    if attempt < 1:
        raise ValueError(f"attempt {attempt}: retries are counted from 1")
    full = min(cap_s, base_s * 2 ** min(attempt - 1, 30))
    return full * (0.5 + 0.5 * jitter)
