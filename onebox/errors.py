"""Errors of the one-box pipeline."""

from contract.errors import CryptotradesError
from contract.errors import SettingsError as SettingsError  # the one settings error, re-exported


class OneboxError(CryptotradesError):
    """Base of every error raised by `onebox`."""


class VectorConfigError(OneboxError):
    """``vector.toml`` cannot be read, or asks for something the one-box sink does not do."""


class StageError(OneboxError):
    """A stage of the pipeline could not start, or stopped when it should not have."""
