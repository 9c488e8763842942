"""The app's settings, read once in ``app.py`` from CDK context (``-c key=value`` or cdk.json).

Precedence is the CDK's own: ``-c`` on the command line, then ``cdk.context.json``, then the
``context`` block of ``cdk.json``, then the defaults here. Every key is named once below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import rds_ca
from infra.errors import ContextError

# Context keys.
STACK_NAME = "stackName"
REGION = "region"  # a region Binance serves; see REFUSED_REGION_PREFIXES
ALLOW_US_REGION = "allowUsRegion"  # true: deploy to a US region anyway (the producer will get HTTP 451)
KAFKA = "kafka"  # ec2 (a broker on the host) | msk (Amazon MSK, the host keeps producer and Vector)
QUICKSIGHT = "quicksight"  # true: QuickSight data source, VPC connection and data sets
QUICKSIGHT_PRINCIPAL = "quicksightPrincipal"  # the QuickSight user or group ARN that owns them
ALARM_EMAIL = "alarmEmail"  # an address subscribed to the alarm topic (confirm the mail once)
KAFKA_INSTANCE_TYPE = "kafkaInstanceType"
DB_INSTANCE_TYPE = "dbInstanceType"
DB_TLS = "dbTls"  # verify (default: check the server's certificate) | encrypt (TLS, certificate unchecked)
DB_CA_BUNDLE = "dbCaBundle"  # a PEM file of RDS CAs to verify with instead of the shipped infra/rds-ca/
RAW_RETENTION_DAYS = "rawRetentionDays"  # days raw trade objects stay in the bucket
# Reserved concurrency of the aggregator (infra/aggregator.py, AGGREGATOR_CONCURRENCY); 0: none
# (for an account whose Lambda concurrency quota is 10, where reserving any is refused).
AGGREGATOR_CONCURRENCY = "aggregatorConcurrency"
KAFKA_VERSION = "kafkaVersion"  # Apache Kafka release the host downloads
KAFKA_SHA512 = "kafkaSha512"  # pin the tarball's SHA-512 instead of trusting the published .sha512
VECTOR_VERSION = "vectorVersion"  # the Vector package version the host installs
MSK_KAFKA_VERSION = "mskKafkaVersion"
# The CLI sets this from the credentials in use; with no account the stack stays account-agnostic.
ACCOUNT_ENV = "CDK_DEFAULT_ACCOUNT"

# Kafka version -> SHA-512 of kafka_2.13-<version>.tgz, taken once from Apache's published
# .sha512 (https://downloads.apache.org/kafka/<version>/kafka_2.13-<version>.tgz.sha512) and
# compared with a second source, so the host trusts nothing it downloads at boot. A version
# not listed falls back to the digest published on archive.apache.org (install.sh says so in
# the host's log). 4.1.1 is not listed yet: this repository was written where Apache's site is
# unreachable, and a digest nobody has checked is worse than none (docs/infra.md, "Pin").
KAFKA_SHA512_PINS: dict[str, str] = {}

DEFAULT_REGION = "eu-west-1"
# Binance answers HTTP 451 to US addresses, and the IP ranges of AWS's US regions are US addresses.
REFUSED_REGION_PREFIXES = ("us-",)
KAFKA_MODES = ("ec2", "msk")
DB_TLS_MODES = ("verify", "encrypt")

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_VERSION = re.compile(r"^\d+(\.\d+){1,3}$")
_MSK_VERSION = re.compile(r"^\d+\.\d+\.(\d+|x)(\.[a-z]+)?$")
_SHA512 = re.compile(r"^[0-9a-f]{128}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_QUICKSIGHT_ARN = re.compile(r"^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:\d{12}:(user|group)/.+$")
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")


@dataclass(frozen=True, slots=True)
class InfraSettings:
    """What may differ between two deployments of the same code; the defaults are the cost-sized ones."""

    stack_name: str = "Cryptotrades"
    region: str = DEFAULT_REGION
    account: str | None = None
    allow_us_region: bool = False
    kafka: str = "ec2"
    quicksight: bool = False
    quicksight_principal: str | None = None
    alarm_email: str | None = None
    kafka_instance_type: str = "t4g.small"
    db_instance_type: str = "t4g.micro"
    db_tls: str = "verify"
    db_ca_bundle: Path | None = None  # None: the shipped RDS roots (infra/rds_ca.py)
    raw_retention_days: int = 90
    aggregator_concurrency: int = 5
    kafka_version: str = "4.1.1"
    kafka_sha512: str | None = None
    vector_version: str = "0.57.0"
    msk_kafka_version: str = "3.8.x"

    def __post_init__(self) -> None:
        _check(
            STACK_NAME,
            self.stack_name,
            bool(_STACK_NAME.match(self.stack_name)),
            "a CloudFormation stack name",
        )
        _check(REGION, self.region, bool(_REGION.match(self.region)), "a region name such as eu-west-1")
        if self.region.startswith(REFUSED_REGION_PREFIXES) and not self.allow_us_region:
            raise ContextError(
                f"{REGION}={self.region!r}: Binance answers HTTP 451 to US addresses, AWS's US regions "
                f"included, so the producer would never connect; choose a region Binance serves "
                f"(default {DEFAULT_REGION}), or set {ALLOW_US_REGION}=true if the host reaches Binance "
                "another way"
            )
        if self.account is not None:
            _check(ACCOUNT_ENV, self.account, self.account.isdigit() and len(self.account) == 12, "12 digits")
        _check(KAFKA, self.kafka, self.kafka in KAFKA_MODES, " or ".join(KAFKA_MODES))
        if self.quicksight and self.quicksight_principal is None:
            raise ContextError(
                f"{QUICKSIGHT}=true needs {QUICKSIGHT_PRINCIPAL}: the ARN of the QuickSight user or group "
                "that may use the data source and data sets (arn:aws:quicksight:<region>:<account>:user/...)"
            )
        if self.quicksight_principal is not None:
            _check(
                QUICKSIGHT_PRINCIPAL,
                self.quicksight_principal,
                bool(_QUICKSIGHT_ARN.match(self.quicksight_principal)),
                "a QuickSight user or group ARN",
            )
        if self.alarm_email is not None:
            _check(ALARM_EMAIL, self.alarm_email, bool(_EMAIL.match(self.alarm_email)), "an e-mail address")
        for key, value in (
            (KAFKA_INSTANCE_TYPE, self.kafka_instance_type),
            (DB_INSTANCE_TYPE, self.db_instance_type),
        ):
            _check(key, value, bool(_INSTANCE_TYPE.match(value)), "an instance type such as t4g.small")
        _check(DB_TLS, self.db_tls, self.db_tls in DB_TLS_MODES, " or ".join(DB_TLS_MODES))
        if self.db_ca_bundle is not None and not self.db_ca_bundle.is_file():
            raise ContextError(f"{DB_CA_BUNDLE}={str(self.db_ca_bundle)!r}: no such file (a PEM CA bundle)")
        if self.db_tls == "encrypt" and self.db_ca_bundle is not None:
            raise ContextError(
                f"{DB_CA_BUNDLE} is for {DB_TLS}=verify, but {DB_TLS}='encrypt' checks no certificate"
            )
        if self.db_tls == "verify" and self.db_ca_bundle is None and self.region not in rds_ca.REGIONS:
            raise ContextError(
                f"{REGION}={self.region!r}: the RDS root certificates shipped in infra/rds-ca/ do not cover "
                f"this region, so the functions could not verify the database; download AWS's bundle and "
                f"pass it (-c {DB_CA_BUNDLE}=global-bundle.pem, see docs/infra.md 'TLS to the database'), "
                f"or accept an unchecked certificate inside the VPC with -c {DB_TLS}=encrypt"
            )
        _check(
            RAW_RETENTION_DAYS,
            self.raw_retention_days,
            self.raw_retention_days >= 1,
            "a whole number of days >= 1",
        )
        _check(
            KAFKA_VERSION,
            self.kafka_version,
            bool(_VERSION.match(self.kafka_version)),
            "a version like 4.1.1",
        )
        _check(
            VECTOR_VERSION,
            self.vector_version,
            bool(_VERSION.match(self.vector_version)),
            "a version like 0.57.0",
        )
        _check(
            MSK_KAFKA_VERSION,
            self.msk_kafka_version,
            bool(_MSK_VERSION.match(self.msk_kafka_version)),
            "an MSK version like 3.8.x",
        )
        _check(
            AGGREGATOR_CONCURRENCY,
            self.aggregator_concurrency,
            0 <= self.aggregator_concurrency <= 50,
            "a whole number from 0 (no reservation) to 50",
        )
        if self.kafka_sha512 is not None:
            _check(
                KAFKA_SHA512,
                self.kafka_sha512,
                bool(_SHA512.match(self.kafka_sha512)),
                "128 lowercase hex digits",
            )

    @property
    def kafka_digest(self) -> str | None:
        """The SHA-512 the host checks the Kafka tarball against: context first, then the pin table."""
        return self.kafka_sha512 or KAFKA_SHA512_PINS.get(self.kafka_version)

    @property
    def ca_bundle(self) -> Path | None:
        """The CA file the Lambda package ships, or None when the certificate is not checked."""
        if self.db_tls != "verify":
            return None
        return self.db_ca_bundle or rds_ca.BUNDLE

    @classmethod
    def from_context(cls, lookup: Callable[[str], Any], env: Mapping[str, str]) -> InfraSettings:
        """Settings from a context lookup (``node.try_get_context``) and the environment (for the account).

        ``-c`` values arrive as strings and cdk.json values as JSON types; both are accepted.
        """
        values: dict[str, Any] = {}

        def text(key: str) -> str | None:
            value = lookup(key)
            if value is None or value == "":
                return None
            if not isinstance(value, str | int):
                raise ContextError(f"{key}={value!r}: expected a string")
            return str(value)

        for field, key in _TEXT_FIELDS.items():
            value = text(key)
            if value is not None:
                values[field] = value
        for field, key in _BOOL_FIELDS.items():
            value = lookup(key)
            if value is not None:
                values[field] = _boolean(key, value)
        days = lookup(RAW_RETENTION_DAYS)
        if days is not None:
            values["raw_retention_days"] = _integer(RAW_RETENTION_DAYS, days)
        concurrency = lookup(AGGREGATOR_CONCURRENCY)
        if concurrency is not None:
            values["aggregator_concurrency"] = _integer(AGGREGATOR_CONCURRENCY, concurrency)
        bundle = text(DB_CA_BUNDLE)
        if bundle is not None:
            values["db_ca_bundle"] = Path(bundle).expanduser()
        account = env.get(ACCOUNT_ENV) or None
        return cls(account=account, **values)


_TEXT_FIELDS = {
    "stack_name": STACK_NAME,
    "region": REGION,
    "kafka": KAFKA,
    "db_tls": DB_TLS,
    "quicksight_principal": QUICKSIGHT_PRINCIPAL,
    "alarm_email": ALARM_EMAIL,
    "kafka_instance_type": KAFKA_INSTANCE_TYPE,
    "db_instance_type": DB_INSTANCE_TYPE,
    "kafka_version": KAFKA_VERSION,
    "kafka_sha512": KAFKA_SHA512,
    "vector_version": VECTOR_VERSION,
    "msk_kafka_version": MSK_KAFKA_VERSION,
}
_BOOL_FIELDS = {"allow_us_region": ALLOW_US_REGION, "quicksight": QUICKSIGHT}


def _check(key: str, value: object, ok: bool, expected: str) -> None:
    if not ok:
        raise ContextError(f"{key}={value!r}: expected {expected}")


def _boolean(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ContextError(f"{key}={value!r}: expected true or false")


def _integer(key: str, value: object) -> int:
    if isinstance(value, bool):
        raise ContextError(f"{key}={value!r}: expected a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ContextError(f"{key}={value!r}: expected a whole number")
