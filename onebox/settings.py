"""The one-box pipeline's settings: flags over environment over defaults, checked at start.

The defaults need nothing installed: SQLite under ``./data/onebox/``, the embedded broker
and the embedded S3/SQS on 127.0.0.1, free ports everywhere. Each piece can be pointed at
the real thing instead: ``--kafka``, ``--s3-endpoint`` (``aws`` for AWS itself), ``--db``.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from binance.errors import BinanceError
from binance.streams import normalize_symbol
from contract.pipeline import BUCKET_ENV as BUCKET
from contract.pipeline import DB_URL_ENV as DB_URL
from contract.pipeline import KAFKA_BOOTSTRAP_ENV as KAFKA
from contract.pipeline import ONEBOX_DB_FILE, ONEBOX_DIR
from contract.pipeline import REGION_ENV as REGION
from contract.settings import (
    BOOTSTRAP_EXPECTED,
    Settings,
    aws_region,
    bootstrap_servers,
    bucket_name,
    database_url,
    http_url,
    setting,
)
from dashboard.settings import DEFAULT_PORT as DEFAULT_DASHBOARD_PORT
from dashboard.settings import PORT_ENV as DASHBOARD_PORT
from onebox.errors import SettingsError
from onebox.stages import MAX_TRIES as DEFAULT_MAX_TRIES
from onebox.stages import RETRY_BASE_S, RETRY_CAP_S
from onebox.vector_config import DEFAULT_PATH as DEFAULT_VECTOR_CONFIG

# Env var names of the one-box's own settings, each named once. Those shared with another
# service (the database, Vector's broker and bucket, the AWS region, the dashboard's port) are
# theirs.
STATE_DIR = "CRYPTOTRADES_ONEBOX_DIR"
S3_ENDPOINT = "CRYPTOTRADES_S3_ENDPOINT"
QUEUE_URL = "CRYPTOTRADES_QUEUE_URL"
VECTOR_CONFIG = "CRYPTOTRADES_VECTOR_CONFIG"
MAX_TRIES = "CRYPTOTRADES_ONEBOX_MAX_TRIES"

REAL_AWS = "aws"  # --s3-endpoint aws: AWS itself, with the default credential chain


@dataclass(frozen=True, slots=True)
class OneboxSettings(Settings):
    """What ``cryptotrades run`` and ``status`` need to know."""

    # source
    replay: Path | None = setting(None, help="Binance aggTrades CSV or captured ndjson")
    speed: float = setting(1.0, help="replay speed: 1 real time, 60 an hour a minute, 0 flat out")
    symbol: str | None = setting(
        None,
        help="the market: live, the one streamed (instead of the producer's CRYPTOTRADES_SYMBOLS); "
        "a replayed CSV's, when its name does not say it. E.g. BTCUSDT",
    )
    until_drained: bool = setting(
        False, help="with --replay: stop once every replayed trade is in the database, and print a summary"
    )
    klines: Path | None = setting(
        None,
        help="with --replay: a Binance 1m klines file (public-data CSV or zip) whose klines the fake Binance "
        "serves at each minute's close, so minute_check compares the replay's minutes with them",
    )
    # where each stage is
    state_dir: Path = setting(
        Path(ONEBOX_DIR), env=STATE_DIR, help="logs, counters, dead letters and the SQLite database"
    )
    db_url: str | None = setting(
        None,
        env=DB_URL,
        flag="--db",
        help="sqlite:///path.db or mysql://user:pw@host:port/db (default: SQLite in the state directory)",
    )
    kafka: str | None = setting(
        None,
        env=KAFKA,
        parse=bootstrap_servers,
        expected=BOOTSTRAP_EXPECTED,
        help="a real broker's host:port instead of the embedded one",
    )
    s3_endpoint: str | None = setting(
        None, env=S3_ENDPOINT, help="an S3/SQS endpoint URL instead of embedded moto, or 'aws'"
    )
    bucket: str = setting("cryptotrades-onebox", env=BUCKET, help="bucket name")
    queue_url: str | None = setting(
        None, env=QUEUE_URL, help="with --s3-endpoint aws: the notification queue"
    )
    region: str = setting("eu-west-1", env=REGION, help="AWS region")
    vector_config: Path = setting(
        DEFAULT_VECTOR_CONFIG, env=VECTOR_CONFIG, help="the Vector file the sink follows"
    )
    dashboard: bool = setting(True, help="the dashboard beside the pipeline")
    dashboard_port: int = setting(
        DEFAULT_DASHBOARD_PORT,
        env=DASHBOARD_PORT,
        help="port of the dashboard (a free one instead, said so, when it is taken); 0 for any free one",
    )
    # failed S3 events
    max_tries: int = setting(DEFAULT_MAX_TRIES, env=MAX_TRIES, help="tries before an event is dead-lettered")
    retry_base_s: float = setting(RETRY_BASE_S, flag="--retry-base", help="seconds before the first retry")
    retry_cap_s: float = setting(RETRY_CAP_S, flag="--retry-cap", help="longest wait between tries")
    drain_timeout_s: float = setting(
        300.0, flag="--drain-timeout", help="how long a stop waits for work in flight"
    )
    progress_interval_s: float = 1.0
    log_level: str = "INFO"
    extra_env: tuple[tuple[str, str], ...] = ()  # passed to every stage (tests)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        object.__setattr__(self, "vector_config", Path(self.vector_config))
        if self.replay is not None:
            object.__setattr__(self, "replay", Path(self.replay))
            if not self.replay.is_file():
                raise SettingsError(f"--replay {str(self.replay)!r}: no such file")
        if self.symbol is not None:
            try:
                object.__setattr__(self, "symbol", normalize_symbol(self.symbol))
            except BinanceError as exc:
                raise SettingsError(f"--symbol: {exc}") from None
        if self.speed < 0:
            raise SettingsError(
                f"--speed {self.speed!r}: expected 0 (as fast as possible) or a positive factor"
            )
        if self.klines is not None:
            object.__setattr__(self, "klines", Path(self.klines))
            if self.replay is None:
                raise SettingsError("--klines needs --replay FILE: live, the producer takes Binance's own")
            if not self.klines.is_file():
                raise SettingsError(f"--klines {str(self.klines)!r}: no such file")
        if self.until_drained and self.replay is None:
            raise SettingsError("--until-drained needs --replay FILE: a live stream never drains")
        if self.kafka is not None:
            try:
                bootstrap_servers(self.kafka)
            except ValueError:
                raise SettingsError(f"{KAFKA}={self.kafka!r}: expected {BOOTSTRAP_EXPECTED}") from None
        if self.s3_endpoint not in (None, REAL_AWS) and not str(self.s3_endpoint).startswith(
            ("http://", "https://")
        ):
            raise SettingsError(f"{S3_ENDPOINT}={self.s3_endpoint!r}: expected an http(s) URL, or 'aws'")
        if self.s3_endpoint == REAL_AWS and not self.queue_url:
            raise SettingsError(
                f"{S3_ENDPOINT}=aws needs {QUEUE_URL}: the SQS queue that the bucket's ObjectCreated "
                "notifications go to (the one-box does not change a real bucket's notifications)"
            )
        checks = [(DB_URL, self.db_url, database_url), (REGION, self.region, aws_region)]
        checks += [(QUEUE_URL, self.queue_url, http_url), (BUCKET, self.bucket, bucket_name)]
        for name, value, check in checks:
            if value is not None:
                try:
                    check(value)
                except ValueError as exc:
                    raise SettingsError(f"{name}: {exc}") from None
        if not self.vector_config.is_file():
            raise SettingsError(f"{VECTOR_CONFIG}={str(self.vector_config)!r}: no such file")
        if not 0 <= self.dashboard_port <= 65535:
            raise SettingsError(
                f"{DASHBOARD_PORT}={self.dashboard_port!r}: expected a port number, 0 for any"
            )
        if self.state_dir.exists() and not self.state_dir.is_dir():
            raise SettingsError(f"{STATE_DIR}={str(self.state_dir)!r}: not a folder")
        if self.drain_timeout_s <= 0:
            raise SettingsError(f"--drain-timeout {self.drain_timeout_s!r}: expected seconds above 0")
        if self.max_tries < 1:
            raise SettingsError(f"{MAX_TRIES}={self.max_tries!r}: expected 1 or more")
        if self.retry_base_s <= 0 or self.retry_cap_s < self.retry_base_s:
            raise SettingsError(
                f"--retry-base {self.retry_base_s!r} / --retry-cap {self.retry_cap_s!r}: "
                "expected 0 < base <= cap (seconds)"
            )

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.state_dir / ONEBOX_DB_FILE).absolute()}"

    def make_dirs(self) -> None:
        """Create the state directory and the SQLite file's folder, or say which cannot be (`run` only:
        `status` reads and creates nothing)."""
        folders = [(STATE_DIR, self.state_dir, self.state_dir)]
        if self.database_url.startswith("sqlite:///"):
            path = Path(self.database_url.removeprefix("sqlite:///"))
            folders.append((DB_URL, self.database_url, path.parent))
        for name, given, folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                if not os.access(folder, os.W_OK):
                    raise PermissionError(errno.EACCES, "permission denied", str(folder))
            except OSError as exc:
                raise SettingsError(
                    f"{name}={str(given)!r}: cannot write in {folder} ({exc.strerror or exc}); "
                    "give a folder you may write to"
                ) from None

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka is None

    @property
    def embedded_aws(self) -> bool:
        return self.s3_endpoint is None
