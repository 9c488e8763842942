"""argparse types for the subcommands' flags: a bad value is refused before anything runs,
in one line naming the flag (argparse adds it) and what was expected."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from binance.errors import BinanceError
from binance.streams import normalize_symbol
from contract import settings


def _checked(check: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return check(text)
        except (ValueError, BinanceError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise ValueError(f"{text!r}: expected a whole number, 1 or more")
    return value


symbol = _checked(normalize_symbol, "symbol")
stack = _checked(settings.stack_name, "stack")
region = _checked(settings.aws_region, "region")
bucket = _checked(settings.bucket_name, "bucket")
http_url = _checked(settings.http_url, "http_url")
database_url = _checked(settings.database_url, "database_url")
positive = _checked(_positive, "positive")
