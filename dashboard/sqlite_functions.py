"""Exact decimal comparisons for the dashboard's SQLite connections.

SQLite holds our decimals as TEXT, and its MAX and MIN compare TEXT as text: '9999.5'
would beat '10000.0'. A candle per hour or day takes the highest high and the lowest low
of its minutes, so the dashboard registers ``decimal_max`` and ``decimal_min`` on each
connection it opens (``dashboard.pool``), beside the store's own exact ``decimal_sum``.
MySQL compares its DECIMAL columns exactly with MAX and MIN.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal


class _DecimalMax:
    """``decimal_max(x)``: the largest value as its own text; NULL when there are no values."""

    def __init__(self) -> None:
        self.best: Decimal | None = None
        self.text: str | None = None

    def step(self, value: str | None) -> None:
        if value is not None:
            number = Decimal(value)
            if self.best is None or self._better(number, self.best):
                self.best, self.text = number, value

    @staticmethod
    def _better(number: Decimal, best: Decimal) -> bool:
        return number > best

    def finalize(self) -> str | None:
        return self.text


class _DecimalMin(_DecimalMax):
    """``decimal_min(x)``: the smallest value as its own text; NULL when there are no values."""

    @staticmethod
    def _better(number: Decimal, best: Decimal) -> bool:
        return number < best


def register(connection: sqlite3.Connection) -> None:
    connection.create_aggregate("decimal_max", 1, _DecimalMax)
    connection.create_aggregate("decimal_min", 1, _DecimalMin)
