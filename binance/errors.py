"""Errors of the Binance contract."""


class BinanceError(Exception):
    """Base of every error raised by the `binance` package."""


class BadLineError(BinanceError):
    """One input line (JSON event or CSV row) is not a valid aggregate trade.

    The message names the field and what was wrong with it; callers add the
    file and line number, because only they know them.
    """


class UnreadableFileError(BinanceError):
    """A whole file cannot be read: unknown compression, empty archive, unknown symbol."""
