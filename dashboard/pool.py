"""A few read-only stores shared by the server's request threads.

A store is not thread-safe, so each request leases one for its duration. SQLite
connections also get the dashboard's exact decimal_max and decimal_min. Sessions are
made read-only (``PRAGMA query_only`` in SQLite, ``SET SESSION TRANSACTION READ ONLY`` in
MySQL) so the dashboard cannot write even when given the writer's URL, and every lease
ends its read transaction, so the next one sees rows committed meanwhile and no
transaction holds table locks that a migration would wait on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from contract.errors import SettingsError
from dashboard.errors import DatabaseUnavailableError
from minutes.errors import StoreError
from minutes.store import Store, open_store

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (StoreError,)
_WAIT_S = 30.0  # a request waits this long for a free connection before answering 503
_IDLE_CHECK_S = 60.0  # a MySQL connection idle this long is pinged before reuse

_READ_ONLY = {"sqlite": "PRAGMA query_only = ON", "mysql": "SET SESSION TRANSACTION READ ONLY"}


class StorePool:
    """At most ``size`` open stores on ``url``, opened on demand, kept between requests."""

    def __init__(
        self,
        url: str,
        size: int = 4,
        *,
        opener: Callable[[str], Store] = open_store,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._opener = opener
        self._clock = clock
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[tuple[Store, float]] = []
        self._closed = False

    def open_one(self) -> Store:
        """A new read-only store; the error names the database (never its password)."""
        try:
            store = self._opener(self.url)
        except (SettingsError, *DATABASE_ERRORS) as exc:
            raise DatabaseUnavailableError(f"cannot open the database: {exc}") from exc
        try:
            store.execute(_READ_ONLY[store.dialect])
        except DATABASE_ERRORS as exc:
            store.close()
            raise DatabaseUnavailableError(f"cannot make {store.url} read-only: {exc}") from exc
        return store

    @contextmanager
    def lease(self) -> Iterator[Store]:
        """One store for the caller's use; a database error discards it (it may be broken)."""
        if not self._slots.acquire(timeout=_WAIT_S):
            raise DatabaseUnavailableError(f"every database connection stayed busy for {_WAIT_S:g} s")
        try:
            store = self._take()
            try:
                yield store
            except DATABASE_ERRORS:
                logger.warning("dropping a connection to %s after a database error", store.url)
                _close_quietly(store)
                raise
            except BaseException:
                self._recycle(store)  # not the connection's fault: keep it
                raise
            self._recycle(store)
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for store, _ in idle:
            _close_quietly(store)

    def _take(self) -> Store:
        while True:
            with self._lock:
                if self._closed:
                    raise DatabaseUnavailableError("the dashboard is shutting down")
                if not self._idle:
                    break
                store, since = self._idle.pop()
            if store.dialect != "mysql" or self._clock() - since < _IDLE_CHECK_S:
                return store
            # The server may have closed it (wait_timeout): find out before the query does.
            if store.is_alive():
                return store
            logger.info("a pooled connection to %s had closed; opening another", store.url)
            _close_quietly(store)
        return self.open_one()

    def _recycle(self, store: Store) -> None:
        try:
            store.rollback()  # ends the read transaction (a no-op in SQLite's autocommit)
        except DATABASE_ERRORS:
            _close_quietly(store)
            return
        with self._lock:
            if not self._closed:
                self._idle.append((store, self._clock()))
                return
        _close_quietly(store)


def _close_quietly(store: Store) -> None:
    try:
        store.close()
    except DATABASE_ERRORS as exc:
        logger.debug("closing %s: %s", store.url, exc)
