"""The aggregator's settings, read once at the entry point from the environment (``from_env``)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.pipeline import DATABASE_NAME, REJECTED_PREFIX
from contract.pipeline import DB_CA_FILE_ENV as DB_CA_FILE
from contract.pipeline import DB_SECRET_ARN_ENV as DB_SECRET_ARN
from contract.pipeline import DB_TLS_ENV as DB_TLS
from contract.pipeline import DB_URL_ENV as DB_URL
from contract.pipeline import QUARANTINE_PREFIX_ENV as QUARANTINE_PREFIX
from contract.pipeline import RETENTION_DAYS as DEFAULT_RETENTION_DAYS
from contract.settings import Settings, setting
from lambda_aggregator.errors import SettingsError

# The aggregator's own variables; those the CDK app sets too are contract.pipeline's.
DB_HOST = "CRYPTOTRADES_DB_HOST"  # these three override what the secret says
DB_PORT = "CRYPTOTRADES_DB_PORT"
DB_NAME = "CRYPTOTRADES_DB_NAME"
# Bounds on one object's work (issue 10), and the raw trades' retention window.
MAX_OBJECT_BYTES = "CRYPTOTRADES_MAX_OBJECT_BYTES"  # decompressed; over it the object is refused whole
MAX_LINE_BYTES = "CRYPTOTRADES_MAX_LINE_BYTES"  # a longer line is a rejected line, never read whole
MAX_OBJECT_LINES = "CRYPTOTRADES_MAX_OBJECT_LINES"  # more lines: the object is refused whole
QUARANTINE_MAX_LINES = "CRYPTOTRADES_QUARANTINE_MAX_LINES"  # rejects kept in full, then only counted
QUARANTINE_MAX_BYTES = "CRYPTOTRADES_QUARANTINE_MAX_BYTES"  # ... or until the kept ones reach this size
RETENTION_DAYS = "CRYPTOTRADES_RETENTION_DAYS"  # raw trades kept; older minutes are final
PRUNE_MAX_ROWS = "CRYPTOTRADES_PRUNE_MAX_ROWS"  # raw trades dropped per invocation at most; 0: never

DAY_MS = 86_400_000

TLS_MODES = ("verify", "encrypt", "off")


@dataclass(frozen=True, slots=True)
class AggregatorSettings(Settings):
    """Where the minute rows go and where rejected lines are kept.

    Exactly one of ``db_url`` (a full URL, for local runs) and ``db_secret_arn`` (the
    RDS-managed secret on AWS) says which database to use.
    """

    db_url: str | None = setting(None, env=DB_URL, help="one-box and local runs: sqlite:///… or mysql://…")
    db_secret_arn: str | None = setting(
        None, env=DB_SECRET_ARN, help="AWS: the RDS secret (username, password, host, port, dbname)"
    )
    db_host: str | None = setting(None, env=DB_HOST, help="overrides the secret's host")
    db_port: int | None = setting(
        None, env=DB_PORT, expected="a port number", help="overrides the secret's port"
    )
    db_name: str | None = setting(None, env=DB_NAME, help="overrides the secret's database name")
    # verify: TLS, the certificate checked against DB_CA_FILE and the host name (the AWS default);
    # encrypt: TLS, nothing checked; off: the driver's default (PyMySQL 1.2 still uses TLS when the
    # server offers it, unchecked) for local servers.
    db_tls: str = setting("off", env=DB_TLS, help="verify | encrypt | off")
    db_ca_file: str | None = setting(
        None, env=DB_CA_FILE, help="the CA bundle `verify` checks the server against"
    )
    quarantine_prefix: str = setting(REJECTED_PREFIX, env=QUARANTINE_PREFIX, help="where rejected lines go")
    # Bounds on one object's work. 64 MiB decompressed is ~400,000 trades, 200 busy minutes in
    # one object and about 30 s of work on a micro database; the Lambda's timeout is 120 s.
    max_object_bytes: int = setting(
        64 * 1024 * 1024, env=MAX_OBJECT_BYTES, help="decompressed bytes of one object; over: refused whole"
    )
    max_line_bytes: int = setting(64 * 1024, env=MAX_LINE_BYTES, help="a longer line is a rejected line")
    # A minute of BTC/USDT is about 2,000 lines; a bad line costs a parse of its own, so this
    # bounds an object's time, not only its bytes.
    max_object_lines: int = setting(2_000_000, env=MAX_OBJECT_LINES, help="more lines: refused whole")
    quarantine_max_lines: int = setting(1_000, env=QUARANTINE_MAX_LINES, help="rejects kept in full")
    quarantine_max_bytes: int = setting(
        8 * 1024 * 1024, env=QUARANTINE_MAX_BYTES, help="... or until the kept ones reach this size"
    )
    retention_days: int = setting(
        DEFAULT_RETENTION_DAYS, env=RETENTION_DAYS, help="raw trades kept; older minutes are final"
    )
    # Each invocation drops at most this many raw trades past the window: more than a minute of
    # BTC/USDT inserts (about 2,000), so the table shrinks to the window and stays there.
    prune_max_rows: int = setting(20_000, env=PRUNE_MAX_ROWS, help="raw trades dropped per invocation")

    def __post_init__(self) -> None:
        if (self.db_url is None) == (self.db_secret_arn is None):
            raise SettingsError(f"set exactly one of {DB_URL} and {DB_SECRET_ARN} (the database to write to)")
        if self.db_port is not None and not 0 < self.db_port <= 65535:
            raise SettingsError(f"{DB_PORT}={self.db_port!r}: expected a port number")
        if self.db_tls not in TLS_MODES:
            raise SettingsError(f"{DB_TLS}={self.db_tls!r}: expected one of {', '.join(TLS_MODES)}")
        if self.db_tls == "verify" and not self.db_ca_file:
            raise SettingsError(
                f"{DB_TLS}='verify' needs {DB_CA_FILE}, the CA bundle to check the server with"
            )
        if not self.quarantine_prefix or self.quarantine_prefix.startswith("/"):
            raise SettingsError(
                f"{QUARANTINE_PREFIX}={self.quarantine_prefix!r}: expected a key prefix like 'rejected/'"
            )
        for name, value, least in (
            (MAX_OBJECT_BYTES, self.max_object_bytes, 1024),
            (MAX_LINE_BYTES, self.max_line_bytes, 1024),
            (MAX_OBJECT_LINES, self.max_object_lines, 1),
            (QUARANTINE_MAX_LINES, self.quarantine_max_lines, 0),
            (QUARANTINE_MAX_BYTES, self.quarantine_max_bytes, 0),
            (RETENTION_DAYS, self.retention_days, 1),
            (PRUNE_MAX_ROWS, self.prune_max_rows, 0),
        ):
            if value < least:
                raise SettingsError(f"{name}={value!r}: expected a whole number of at least {least}")

    @property
    def retention_ms(self) -> int:
        return self.retention_days * DAY_MS

    def mysql_params(self, secret_value: str | Mapping[str, Any]) -> dict[str, Any]:
        """Connection parameters from the RDS secret (its JSON, or parsed), with our overrides applied."""
        try:
            secret = json.loads(secret_value) if isinstance(secret_value, str) else secret_value
            params = {
                "host": self.db_host or secret["host"],
                "port": self.db_port or int(secret.get("port", 3306)),
                "user": secret["username"],
                "password": secret["password"],
                "database": self.db_name or secret.get("dbname") or DATABASE_NAME,
            }
        except (ValueError, KeyError, TypeError) as exc:
            # Never echo the secret: name only what is missing.
            raise SettingsError(f"the secret {self.db_secret_arn} lacks a usable field: {exc!r}") from None
        params["ssl"] = self.ssl_context()
        return params

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.db_tls == "off":
            return None
        if self.db_tls == "verify":
            return ssl.create_default_context(cafile=self.db_ca_file)
        # `encrypt`: TLS on the wire inside the VPC without checking the server's certificate,
        # for when the RDS CA bundle is not shipped with the function.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
