"""The aggregator's settings, read once at the entry point from the environment."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambda_aggregator.errors import SettingsError

# Env var names, each named once.
DB_URL = "CRYPTOTRADES_DB_URL"  # one-box and local runs: sqlite:///… or mysql://…
DB_SECRET_ARN = "CRYPTOTRADES_DB_SECRET_ARN"  # AWS: the RDS secret (username, password, host, port, dbname)
DB_HOST = "CRYPTOTRADES_DB_HOST"  # these three override what the secret says
DB_PORT = "CRYPTOTRADES_DB_PORT"
DB_NAME = "CRYPTOTRADES_DB_NAME"
# verify: TLS, the certificate checked against DB_CA_FILE and the host name (the AWS default);
# encrypt: TLS, nothing checked; off: the driver's default (PyMySQL 1.2 still uses TLS when the
# server offers it, unchecked) for local servers.
DB_TLS = "CRYPTOTRADES_DB_TLS"
DB_CA_FILE = "CRYPTOTRADES_DB_CA_FILE"  # the CA bundle that `verify` checks the server against
QUARANTINE_PREFIX = "CRYPTOTRADES_QUARANTINE_PREFIX"

TLS_MODES = ("verify", "encrypt", "off")


@dataclass(frozen=True, slots=True)
class AggregatorSettings:
    """Where the minute rows go and where rejected lines are kept.

    Exactly one of ``db_url`` (a full URL, for local runs) and ``db_secret_arn`` (the
    RDS-managed secret on AWS) says which database to use.
    """

    db_url: str | None = None
    db_secret_arn: str | None = None
    db_host: str | None = None
    db_port: int | None = None
    db_name: str | None = None
    db_tls: str = "off"
    db_ca_file: str | None = None
    quarantine_prefix: str = "rejected/"

    def __post_init__(self) -> None:
        if (self.db_url is None) == (self.db_secret_arn is None):
            raise SettingsError(f"set exactly one of {DB_URL} and {DB_SECRET_ARN} (the database to write to)")
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AggregatorSettings:
        env = os.environ if env is None else env
        port = env.get(DB_PORT)
        if port is not None and not port.isdigit():
            raise SettingsError(f"{DB_PORT}={port!r}: expected a port number")
        return cls(
            db_url=env.get(DB_URL) or None,
            db_secret_arn=env.get(DB_SECRET_ARN) or None,
            db_host=env.get(DB_HOST) or None,
            db_port=int(port) if port else None,
            db_name=env.get(DB_NAME) or None,
            db_tls=env.get(DB_TLS, "off"),
            db_ca_file=env.get(DB_CA_FILE) or None,
            quarantine_prefix=env.get(QUARANTINE_PREFIX, "rejected/"),
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
                "database": self.db_name or secret.get("dbname") or "cryptotrades",
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
