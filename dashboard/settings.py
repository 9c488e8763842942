"""The dashboard's settings: one frozen dataclass, built once at the entry point.

Precedence: a command-line flag, then the environment variable, then the default.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from contract.pipeline import DB_URL_ENV as SHARED_DB_URL_ENV
from contract.pipeline import DEFAULT_DB_URL as ONEBOX_DB_URL
from dashboard.errors import SettingsError

# The dashboard's own database variable comes first, so it can hold a read-only user's URL
# while CRYPTOTRADES_DB_URL (the aggregator's) holds the writer's.
DB_URL_ENV = "CRYPTOTRADES_DASHBOARD_DB_URL"
HOST_ENV = "CRYPTOTRADES_DASHBOARD_HOST"
PORT_ENV = "CRYPTOTRADES_DASHBOARD_PORT"
SYMBOL_ENV = "CRYPTOTRADES_DASHBOARD_SYMBOL"
REFRESH_ENV = "CRYPTOTRADES_DASHBOARD_REFRESH_S"

DEFAULT_DB_URL = ONEBOX_DB_URL  # where `cryptotrades run` keeps its rows
DEFAULT_HOST = "127.0.0.1"  # local only: put a proxy with authentication in front to share it
DEFAULT_PORT = 8050
DEFAULT_SYMBOL = "BTCUSDT"
DEFAULT_REFRESH_S = 5.0
MIN_REFRESH_S = 1.0
MAX_REFRESH_S = 3600.0

# Each field's flag (`cryptotrades dashboard`) and variables, first one set wins: for messages.
SOURCES = {
    "db_url": ("--db", (DB_URL_ENV, SHARED_DB_URL_ENV)),
    "host": ("--host", (HOST_ENV,)),
    "port": ("--port", (PORT_ENV,)),
    "symbol": ("--symbol", (SYMBOL_ENV,)),
    "refresh_seconds": ("--refresh", (REFRESH_ENV,)),
}

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,20}$")
_DB_SCHEMES = ("sqlite", "mysql", "mysql+pymysql", "mariadb")


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    """Everything the dashboard needs to run.

    Parameters
    ----------
    db_url
        ``sqlite:///path.db`` or ``mysql://user:password@host:port/database``; a read-only
        user is enough (docs/dashboard.md lists its grants).
    host, port
        Where the HTTP server listens; port 0 picks a free one.
    symbol
        The market the page shows first; the API takes ``symbol=`` for others.
    refresh_seconds
        How often the page asks for new rows while live.
    """

    db_url: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    symbol: str = DEFAULT_SYMBOL
    refresh_seconds: float = DEFAULT_REFRESH_S

    def __post_init__(self) -> None:
        check_db_url(self.db_url, "db_url")
        if not self.host:
            raise SettingsError("host: expected an address to listen on, e.g. 127.0.0.1; got ''")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port: expected 0 to 65535; got {self.port!r}")
        if not SYMBOL_PATTERN.match(self.symbol):
            raise SettingsError(
                f"symbol: expected 2 to 20 capital letters or digits, e.g. BTCUSDT; got {self.symbol!r}"
            )
        if not (
            math.isfinite(self.refresh_seconds) and MIN_REFRESH_S <= self.refresh_seconds <= MAX_REFRESH_S
        ):
            raise SettingsError(
                f"refresh_seconds: expected {MIN_REFRESH_S:g} to {MAX_REFRESH_S:g} seconds;"
                f" got {self.refresh_seconds!r}"
            )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        db_url: str | None = None,
        host: str | None = None,
        port: int | None = None,
        symbol: str | None = None,
        refresh_seconds: float | None = None,
    ) -> DashboardSettings:
        """Flags (the keyword arguments; None = not given) over env vars over defaults."""
        env = os.environ if environ is None else environ
        given = {
            "db_url": db_url,
            "host": host,
            "port": port,
            "symbol": symbol,
            "refresh_seconds": refresh_seconds,
        }
        try:
            return cls(
                db_url=_first(db_url, env.get(DB_URL_ENV), env.get(SHARED_DB_URL_ENV)) or DEFAULT_DB_URL,
                host=_first(host, env.get(HOST_ENV)) or DEFAULT_HOST,
                port=port if port is not None else _number(env, PORT_ENV, int, DEFAULT_PORT),
                symbol=(_first(symbol, env.get(SYMBOL_ENV)) or DEFAULT_SYMBOL).upper(),
                refresh_seconds=(
                    refresh_seconds
                    if refresh_seconds is not None
                    else _number(env, REFRESH_ENV, float, DEFAULT_REFRESH_S)
                ),
            )
        except SettingsError as exc:
            # The checks name the field; the user knows the flag or variable they set.
            field, _, rest = str(exc).partition(": ")
            if field not in given:
                raise
            flag, variables = SOURCES[field]
            name = flag if given[field] is not None else next((v for v in variables if env.get(v)), flag)
            raise SettingsError(f"{name}: {rest}") from None


def check_db_url(url: str, name: str) -> None:
    """Refuse a URL no store can open, before anything listens."""
    scheme = urlsplit(url).scheme
    if scheme not in _DB_SCHEMES:
        # Only the scheme is quoted: the rest may hold a password.
        raise SettingsError(
            f"{name}: expected sqlite:///path.db or mysql://user:password@host:port/database; "
            f"got a URL with scheme {scheme!r}"
        )


def _first(*values: str | None) -> str | None:
    return next((value for value in values if value), None)


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float], default: float) -> int | float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise SettingsError(f"{name}: expected a number; got {text!r}") from None
