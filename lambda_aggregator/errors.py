"""Errors of the Lambda."""

from contract.errors import CryptotradesError
from contract.errors import SettingsError as SettingsError  # the one settings error, re-exported


class AggregatorError(CryptotradesError):
    """Base of the errors raised by the Lambda's own code (an unreadable object, ...)."""
