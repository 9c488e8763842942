"""Errors of the dashboard."""

from __future__ import annotations


class DashboardError(Exception):
    """Base of every error raised by `dashboard`."""


class SettingsError(DashboardError):
    """A setting is missing or malformed; the message names it and its value."""


class BadParameterError(DashboardError):
    """A query parameter of an API request is wrong: answered with HTTP 400."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class DatabaseUnavailableError(DashboardError):
    """The database cannot answer now (unreachable, busy, or not migrated): HTTP 503."""
