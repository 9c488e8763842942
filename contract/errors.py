"""The one error base of cryptotrades, and the one settings error.

Every package's own base (``BinanceError``, ``StoreError``, ``ProducerError``, ...) derives
from `CryptotradesError`, so an entry point catches one class to turn any of our errors
into a one-line message.
"""


class CryptotradesError(Exception):
    """Base of every error raised by cryptotrades' own code."""


class SettingsError(CryptotradesError):
    """A flag, environment variable or setting is missing or malformed.

    The message names the setting (the flag or variable the user wrote), its value (``!r``)
    and what was expected.
    """
