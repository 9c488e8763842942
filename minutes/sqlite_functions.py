"""Exact decimal arithmetic for SQLite, which stores our decimals as TEXT.

SQLite's own SUM would turn TEXT into floats, and its MAX and MIN compare TEXT as text; the
views in ``sql/sqlite/`` and the dashboard's queries call these functions instead. They are
registered on every connection the store opens.
"""

from __future__ import annotations

import decimal
import sqlite3
from decimal import Decimal

from minutes.aggregate import EXACT
from minutes.verify import published_as


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


def _decimal_add(left: str | None, right: str | None) -> str | None:
    if left is None or right is None:
        return None
    return str(EXACT.add(Decimal(left), Decimal(right)))


def _published_as(exact: str | int | None, published: str | int | None) -> int | None:
    """``published_as(ours, kline)``: minutes/verify.py's comparison, for the minute_check view."""
    if exact is None or published is None:
        return None
    return int(published_as(_number(exact), _number(published)))


def _number(value: str | int) -> Decimal | int:
    return value if isinstance(value, int) else Decimal(value)


def _decimal_div(numerator: str | None, denominator: str | None, places: int) -> str | None:
    """Rounded half up to ``places``, as MySQL's ROUND does; NULL for a zero denominator."""
    if numerator is None or denominator is None or Decimal(denominator) == 0:
        return None
    wide = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_UP)
    quotient = wide.divide(Decimal(numerator), Decimal(denominator))
    return str(quotient.quantize(Decimal(1).scaleb(-places), context=wide))


class _DecimalMax:
    """``decimal_max(x)``: the largest value as its own text; NULL when there are no values.

    SQLite's MAX compares TEXT as text ('9999.5' beats '10000.0'); the dashboard's hourly
    and daily candles take the highest high and lowest low of their minutes with these.
    """

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
    connection.create_window_function("decimal_sum", 1, _DecimalSum)
    connection.create_function("decimal_sub", 2, _decimal_sub, deterministic=True)
    connection.create_function("decimal_div", 3, _decimal_div, deterministic=True)
    connection.create_function("decimal_add", 2, _decimal_add, deterministic=True)
    connection.create_function("published_as", 2, _published_as, deterministic=True)
    connection.create_aggregate("decimal_max", 1, _DecimalMax)
    connection.create_aggregate("decimal_min", 1, _DecimalMin)
