"""The one-box pipeline's settings: flags over environment over defaults, checked at start.

The defaults need nothing installed: SQLite under ``./data/onebox/``, the embedded broker
and the embedded S3/SQS on 127.0.0.1, free ports everywhere. Each piece can be pointed at
the real thing instead: ``--kafka``, ``--s3-endpoint`` (``aws`` for AWS itself), ``--db``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.pipeline import DB_URL_ENV as DB_URL
from contract.pipeline import ONEBOX_DIR
from onebox.errors import SettingsError
from onebox.vector_config import DEFAULT_PATH as DEFAULT_VECTOR_CONFIG

# Env var names, each named once. Where a name is shared with another service it means the
# same thing there (the aggregator's database, Vector's broker and bucket, the AWS region).
STATE_DIR = "CRYPTOTRADES_ONEBOX_DIR"
KAFKA = "CRYPTOTRADES_KAFKA_BOOTSTRAP"
S3_ENDPOINT = "CRYPTOTRADES_S3_ENDPOINT"
BUCKET = "CRYPTOTRADES_BUCKET"
QUEUE_URL = "CRYPTOTRADES_QUEUE_URL"
REGION = "AWS_REGION"
VECTOR_CONFIG = "CRYPTOTRADES_VECTOR_CONFIG"
DASHBOARD_PORT = "CRYPTOTRADES_DASHBOARD_PORT"
MAX_TRIES = "CRYPTOTRADES_ONEBOX_MAX_TRIES"

REAL_AWS = "aws"  # --s3-endpoint aws: AWS itself, with the default credential chain
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True, slots=True)
class OneboxSettings:
    """What ``cryptotrades run`` and ``status`` need to know."""

    state_dir: Path = Path(ONEBOX_DIR)
    db_url: str | None = None  # None: SQLite in the state directory
    kafka: str | None = None  # None: the embedded broker
    s3_endpoint: str | None = None  # None: embedded moto; a URL; or "aws"
    bucket: str = "cryptotrades-onebox"
    queue_url: str | None = None  # the notification queue, with --s3-endpoint aws
    region: str = "eu-west-1"
    vector_config: Path = DEFAULT_VECTOR_CONFIG
    replay: Path | None = None
    speed: float = 1.0
    symbol: str | None = None  # market of a replayed CSV whose name does not say it
    until_drained: bool = False
    dashboard: bool = True
    dashboard_port: int = 0
    max_tries: int = 6
    retry_base_s: float = 1.0
    retry_cap_s: float = 30.0
    drain_timeout_s: float = 300.0  # how long a stop waits for the work in flight
    progress_interval_s: float = 1.0
    log_level: str = "INFO"
    extra_env: tuple[tuple[str, str], ...] = field(default=())  # passed to every stage (tests)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        object.__setattr__(self, "vector_config", Path(self.vector_config))
        if self.replay is not None:
            object.__setattr__(self, "replay", Path(self.replay))
            if not self.replay.is_file():
                raise SettingsError(f"--replay {str(self.replay)!r}: no such file")
        if self.speed < 0:
            raise SettingsError(
                f"--speed {self.speed!r}: expected 0 (as fast as possible) or a positive factor"
            )
        if self.until_drained and self.replay is None:
            raise SettingsError("--until-drained needs --replay FILE: a live stream never drains")
        if self.kafka is not None and not all(_HOST_PORT.match(b.strip()) for b in self.kafka.split(",")):
            raise SettingsError(f"{KAFKA}={self.kafka!r}: expected host:port[,host:port...]")
        if self.s3_endpoint not in (None, REAL_AWS) and not str(self.s3_endpoint).startswith(
            ("http://", "https://")
        ):
            raise SettingsError(f"{S3_ENDPOINT}={self.s3_endpoint!r}: expected an http(s) URL, or 'aws'")
        if self.s3_endpoint == REAL_AWS and not self.queue_url:
            raise SettingsError(
                f"{S3_ENDPOINT}=aws needs {QUEUE_URL}: the SQS queue that the bucket's ObjectCreated "
                "notifications go to (the one-box does not change a real bucket's notifications)"
            )
        if not _BUCKET.match(self.bucket):
            raise SettingsError(f"{BUCKET}={self.bucket!r}: not a valid S3 bucket name")
        if not self.vector_config.is_file():
            raise SettingsError(f"{VECTOR_CONFIG}={str(self.vector_config)!r}: no such file")
        if not 0 <= self.dashboard_port <= 65535:
            raise SettingsError(
                f"{DASHBOARD_PORT}={self.dashboard_port!r}: expected a port number, 0 for any"
            )
        if self.max_tries < 1:
            raise SettingsError(f"{MAX_TRIES}={self.max_tries!r}: expected 1 or more")
        if self.retry_base_s <= 0 or self.retry_cap_s < self.retry_base_s:
            raise SettingsError(
                f"--retry-base {self.retry_base_s!r} / --retry-cap {self.retry_cap_s!r}: "
                "expected 0 < base <= cap (seconds)"
            )

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.state_dir / 'cryptotrades.db').absolute()}"

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka is None

    @property
    def embedded_aws(self) -> bool:
        return self.s3_endpoint is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> OneboxSettings:
        """The environment over the defaults, and ``overrides`` (flags that were given) over both."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, attribute, convert in (
            (STATE_DIR, "state_dir", Path),
            (DB_URL, "db_url", str),
            (KAFKA, "kafka", str),
            (S3_ENDPOINT, "s3_endpoint", str),
            (BUCKET, "bucket", str),
            (QUEUE_URL, "queue_url", str),
            (REGION, "region", str),
            (VECTOR_CONFIG, "vector_config", Path),
            (DASHBOARD_PORT, "dashboard_port", int),
            (MAX_TRIES, "max_tries", int),
        ):
            text = env.get(name, "").strip()
            if text:
                try:
                    values[attribute] = convert(text)
                except ValueError:
                    raise SettingsError(f"{name}={text!r}: expected a whole number") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
