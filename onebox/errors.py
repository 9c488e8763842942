"""Errors of the one-box pipeline."""


class OneboxError(Exception):
    """Base of every error raised by `onebox`."""


class SettingsError(OneboxError):
    """A flag or environment variable is malformed; the message names it and its value."""


class VectorConfigError(OneboxError):
    """``vector.toml`` cannot be read, or asks for something the one-box sink does not do."""


class StageError(OneboxError):
    """A stage of the pipeline could not start, or stopped when it should not have."""
