"""Errors of the aggregator."""


class AggregatorError(Exception):
    """Base of every error raised by `lambda_aggregator`."""


class SettingsError(AggregatorError):
    """A setting is missing or malformed; the message names it and its value."""


class StoreError(AggregatorError):
    """The database refused or failed an operation; nothing of the object was written."""


class MigrationError(StoreError):
    """A schema migration could not be applied; the message names the file."""
