"""Errors of the CDK app."""


class InfraError(Exception):
    """Base of every error raised by `infra`."""


class ContextError(InfraError):
    """A context value (``-c key=value`` or cdk.json) is malformed; the message names the key and value."""


class BundleError(InfraError):
    """An asset could not be built (a missing folder, a failed pip install); the message says which."""
