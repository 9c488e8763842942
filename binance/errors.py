"""Errors of the Binance contract."""

from contract.errors import CryptotradesError


class BinanceError(CryptotradesError):
    """Base of every error raised by the `binance` package."""


class BadLineError(BinanceError):
    """One input line (JSON event or CSV row) is not a valid aggregate trade.

    The message names the field and what was wrong with it; callers add the
    file and line number, because only they know them.
    """


class UnreadableFileError(BinanceError):
    """A whole file cannot be read: unknown compression, empty archive, unknown symbol."""


class RestError(BinanceError):
    """Binance's REST API answered something unusable (the message quotes what and where)."""


class RestUnreachableError(RestError):
    """The REST API could not be reached, or the connection broke mid-answer: worth retrying."""
