"""Errors of the producer."""

from contract.errors import CryptotradesError
from contract.errors import SettingsError as SettingsError  # the one settings error, re-exported


class ProducerError(CryptotradesError):
    """Base of every error raised by `producer`."""


class StateFileError(ProducerError):
    """The state file cannot be read or written; the message names the file and the problem."""


class KafkaSinkError(ProducerError):
    """The Kafka producer could not be created or refused its configuration."""
