"""Exact decimal arithmetic for SQLite, which stores our decimals as TEXT.

SQLite's own SUM would turn TEXT into floats; the views in ``sql/sqlite/`` call these
functions instead. They are registered on every connection the store opens.
"""

from __future__ import annotations

import decimal
import sqlite3
from decimal import Decimal

from minutes.aggregate import EXACT


class _DecimalSum:
    """``decimal_sum(x)``: an aggregate and window function; NULL when there are no values."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total = EXACT.add(self.total or Decimal(0), Decimal(value))

    def inverse(self, value: str | None) -> None:
        if value is not None and self.total is not None:
            self.total = EXACT.subtract(self.total, Decimal(value))

    def value(self) -> str | None:
        return None if self.total is None else str(self.total)

    def finalize(self) -> str | None:
        return self.value()


def _decimal_sub(left: str | None, right: str | None) -> str | None:
    if left is None or right is None:
        return None
    return str(EXACT.subtract(Decimal(left), Decimal(right)))


def _decimal_div(numerator: str | None, denominator: str | None, places: int) -> str | None:
    """Rounded half up to ``places``, as MySQL's ROUND does; NULL for a zero denominator."""
    if numerator is None or denominator is None or Decimal(denominator) == 0:
        return None
    wide = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_UP)
    quotient = wide.divide(Decimal(numerator), Decimal(denominator))
    return str(quotient.quantize(Decimal(1).scaleb(-places), context=wide))


def register(connection: sqlite3.Connection) -> None:
    connection.create_window_function("decimal_sum", 1, _DecimalSum)
    connection.create_function("decimal_sub", 2, _decimal_sub, deterministic=True)
    connection.create_function("decimal_div", 3, _decimal_div, deterministic=True)
