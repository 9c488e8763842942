"""Errors of the dashboard."""

from contract.errors import CryptotradesError
from contract.errors import SettingsError as SettingsError  # the one settings error, re-exported


class DashboardError(CryptotradesError):
    """Base of every error raised by `dashboard`."""


class BadParameterError(DashboardError):
    """A query parameter of an API request is wrong: answered with HTTP 400."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class DatabaseUnavailableError(DashboardError):
    """The database cannot answer now (unreachable, busy, or not migrated): HTTP 503."""
