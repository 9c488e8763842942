"""Binance's public data (data.binance.vision): where each aggTrades file lives, and its checksum.

Layout, under any base (Binance's host, a mirror, a local folder)::

    data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2026-01-01.zip   (+ .CHECKSUM)
    data/spot/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-12.zip    (+ .CHECKSUM)

A ``.CHECKSUM`` file holds ``<sha256 hex>  <file name>``. A day is published the next day; a
month's file some days after the month ends. Everything here is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from binance.errors import BinanceError

DEFAULT_BASE_URL = "https://data.binance.vision"
_CHECKSUM = re.compile(r"^\s*(?P<digest>[0-9a-fA-F]{64})(?:\s+\*?(?P<name>\S+))?\s*$")


class ChecksumError(BinanceError):
    """A ``.CHECKSUM`` file is malformed, or a file does not match it."""


@dataclass(frozen=True, slots=True)
class PublicFile:
    """One aggTrades file of the public data: a whole UTC day, or a whole month."""

    symbol: str
    first_day: date
    last_day: date  # inclusive
    monthly: bool

    @property
    def name(self) -> str:
        period = self.first_day.strftime("%Y-%m") if self.monthly else self.first_day.isoformat()
        return f"{self.symbol}-aggTrades-{period}.zip"

    @property
    def path(self) -> str:
        """The path under the base: ``data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-....zip``."""
        return f"data/spot/{'monthly' if self.monthly else 'daily'}/aggTrades/{self.symbol}/{self.name}"

    @property
    def checksum_path(self) -> str:
        return self.path + ".CHECKSUM"

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]


def daily(symbol: str, day: date) -> PublicFile:
    return PublicFile(symbol, day, day, monthly=False)


def plan_files(symbol: str, first: date, last: date, today: date) -> list[PublicFile]:
    """The files that cover ``first``..``last`` (inclusive): whole months before ``today``'s month
    as monthly files, every other day as a daily file. Days from ``today`` on are not published."""
    if last >= today:
        last = today - timedelta(days=1)
    files: list[PublicFile] = []
    day = first
    while day <= last:
        month_end = _month_end(day)
        if day.day == 1 and month_end <= last and month_end < today.replace(day=1):
            files.append(PublicFile(symbol, day, month_end, monthly=True))
            day = month_end + timedelta(days=1)
        else:
            files.append(daily(symbol, day))
            day += timedelta(days=1)
    return files


def parse_checksum(text: str, name: str) -> str:
    """The sha256 hex digest of a ``.CHECKSUM`` file's text, checked to name ``name``."""
    match = _CHECKSUM.match(text)
    if match is None:
        raise ChecksumError(f"{name}.CHECKSUM: expected '<sha256>  {name}', got {text[:120]!r}")
    if match["name"] is not None and match["name"] != name:
        raise ChecksumError(f"{name}.CHECKSUM names {match['name']!r}, not {name!r}")
    return match["digest"].lower()


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)
