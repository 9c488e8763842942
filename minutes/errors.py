"""Errors of the minute rows' database.

Driver errors (sqlite3, PyMySQL) stop at the store's edge: callers catch these and never
import a driver to do it.
"""

from contract.errors import CryptotradesError


class StoreError(CryptotradesError):
    """The database refused or failed an operation; nothing of the operation was written."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached or used now (connection refused or lost, locked, busy):
    worth trying again later."""


class SchemaMissingError(StoreError):
    """The tables are not there: the database was never migrated (``cryptotrades db migrate``)."""


class MigrationError(StoreError):
    """A schema migration could not be applied; the message names the file."""
