"""What the benches share: connection parameters of a MariaDB/MySQL server URL (no database)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def mysql_params(server: str) -> dict[str, object]:
    """``mysql://user:password@host:port`` -> PyMySQL's keyword arguments."""
    parts = urlsplit(server)
    return {
        "host": parts.hostname,
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
    }
