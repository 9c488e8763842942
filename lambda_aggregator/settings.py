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
from contract.settings import Settings, setting
from lambda_aggregator.errors import SettingsError

# The aggregator's own variables; those the CDK app sets too are contract.pipeline's.
DB_HOST = "CRYPTOTRADES_DB_HOST"  # these three override what the secret says
DB_PORT = "CRYPTOTRADES_DB_PORT"
DB_NAME = "CRYPTOTRADES_DB_NAME"

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
