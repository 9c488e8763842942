"""Errors of the producer."""


class ProducerError(Exception):
    """Base of every error raised by `producer`."""


class SettingsError(ProducerError):
    """A setting is malformed or out of range; the message names the variable, its value and what fits."""


class StateFileError(ProducerError):
    """The state file cannot be read or written; the message names the file and the problem."""


class KafkaSinkError(ProducerError):
    """The Kafka producer could not be created or refused its configuration."""
