"""The producer's settings: one frozen dataclass, from flags, then environment, then defaults.

Every setting has an environment variable (``CRYPTOTRADES_…``, named once below) and a
command-line flag of the same name (the variable without its prefix, lower case, dashes:
``CRYPTOTRADES_KAFKA_BOOTSTRAP`` is ``--kafka-bootstrap``). A flag beats the variable, the
variable beats the default. Durations are seconds, or a number with ``ms``, ``s``, ``m`` or
``h`` (``23h``, ``500ms``). Everything is checked when the settings are made, so a bad value
stops the service at start with a message naming the variable, its value and what fits.

In code (the one-box runner, tests)::

    ProducerSettings(ws_url=fake.ws_url, rest_url=fake.rest_url, kafka_bootstrap="127.0.0.1:9092",
                     state_file=tmp / "state.json", health_address="")
    ProducerSettings.from_env()                 # the environment over the defaults
    ProducerSettings.from_env(topic="replay")   # and keyword overrides over both
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from binance.errors import BinanceError
from binance.streams import DEFAULT_ENDPOINT, ENDPOINTS, normalize_symbol
from contract.pipeline import HEALTH_PORT
from contract.pipeline import TOPIC as DEFAULT_TOPIC
from producer.errors import SettingsError

PREFIX = "CRYPTOTRADES_"

# Env var names, each named once.
SYMBOLS = "CRYPTOTRADES_SYMBOLS"
BINANCE_ENDPOINT = "CRYPTOTRADES_BINANCE_ENDPOINT"
BINANCE_WS_URL = "CRYPTOTRADES_BINANCE_WS_URL"
BINANCE_REST_URL = "CRYPTOTRADES_BINANCE_REST_URL"
KAFKA_BOOTSTRAP = "CRYPTOTRADES_KAFKA_BOOTSTRAP"
TOPIC = "CRYPTOTRADES_TOPIC"
KAFKA_COMPRESSION = "CRYPTOTRADES_KAFKA_COMPRESSION"
KAFKA_LINGER_MS = "CRYPTOTRADES_KAFKA_LINGER_MS"
KAFKA_OPTIONS = "CRYPTOTRADES_KAFKA_OPTIONS"
BUFFER_MESSAGES = "CRYPTOTRADES_BUFFER_MESSAGES"
STATE_FILE = "CRYPTOTRADES_STATE_FILE"
STATE_INTERVAL = "CRYPTOTRADES_STATE_INTERVAL"
RESUME_FROM_KAFKA = "CRYPTOTRADES_RESUME_FROM_KAFKA"
MAX_BACKFILL = "CRYPTOTRADES_MAX_BACKFILL"
ROTATE_AFTER = "CRYPTOTRADES_ROTATE_AFTER"
ROTATION_OVERLAP = "CRYPTOTRADES_ROTATION_OVERLAP"
RECONNECT_MIN = "CRYPTOTRADES_RECONNECT_MIN"
RECONNECT_MAX = "CRYPTOTRADES_RECONNECT_MAX"
WS_PING_INTERVAL = "CRYPTOTRADES_WS_PING_INTERVAL"
WS_PING_TIMEOUT = "CRYPTOTRADES_WS_PING_TIMEOUT"
REST_TIMEOUT = "CRYPTOTRADES_REST_TIMEOUT"
REST_WEIGHT_LIMIT = "CRYPTOTRADES_REST_WEIGHT_LIMIT"
BACKFILL_GIVE_UP = "CRYPTOTRADES_BACKFILL_GIVE_UP"
HEALTH_ADDRESS = "CRYPTOTRADES_HEALTH_ADDRESS"
LOG_INTERVAL = "CRYPTOTRADES_LOG_INTERVAL"
SHUTDOWN_TIMEOUT = "CRYPTOTRADES_SHUTDOWN_TIMEOUT"
# Set by systemd for a unit with StateDirectory=: the default home of the state file.
SYSTEMD_STATE_DIRECTORY = "STATE_DIRECTORY"

COMPRESSIONS = ("lz4", "zstd", "gzip", "snappy")
# librdkafka properties that carry the delivery guarantee or have a setting of their own:
# KAFKA_OPTIONS may not change them.
RESERVED_KAFKA_OPTIONS = frozenset(
    {
        "bootstrap.servers",
        "enable.idempotence",
        "acks",
        "request.required.acks",
        "enable.gapless.guarantee",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "compression.type",
        "compression.codec",
        "linger.ms",
        "queue.buffering.max.ms",
        "queue.buffering.max.messages",
        "max.in.flight.requests.per.connection",
        "max.in.flight",
        "transactional.id",
    }
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.:\[\]_-]*):(?P<port>\d{1,5})$")


@dataclass(frozen=True, slots=True)
class ProducerSettings:
    """Everything the producer needs to know; see docs/producer.md for the table."""

    symbols: tuple[str, ...] = ("BTCUSDT",)
    binance_endpoint: str = DEFAULT_ENDPOINT  # binance | binance-443 | vision | us
    binance_ws_url: str | None = None  # overrides the endpoint's (a fake, a proxy)
    binance_rest_url: str | None = None
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic: str = DEFAULT_TOPIC
    kafka_compression: str = "lz4"
    kafka_linger_ms: int = 20
    kafka_options: tuple[tuple[str, str], ...] = ()  # extra librdkafka properties (TLS, SASL, client.id)
    buffer_messages: int = 50_000  # trades handed to Kafka and not yet confirmed, at most
    state_file: Path = Path("producer-state.json")
    state_interval: float = 5.0
    resume_from_kafka: bool = True  # also read the topic's tail at start: a crash leaves no duplicates
    max_backfill: int = 2_000_000  # trades one gap may fetch from REST; beyond, the rest is a logged hole
    rotate_after: float = 23 * 3600.0  # replace a connection before Binance's 24-hour cut
    rotation_overlap: float = 30.0  # longest time both connections run during a rotation
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    ws_ping_interval: float = 20.0  # our own pings: find a dead connection that Binance's pings cannot
    ws_ping_timeout: float = 20.0
    rest_timeout: float = 10.0
    rest_weight_limit: int = 5000  # REST weight a minute we allow ourselves (Binance's limit is 6000)
    backfill_give_up: float = 600.0  # REST failing this long for one gap: log the gap as a hole, go on
    # host:port of GET /health; "" for none; port 0 picks one
    health_address: str = f"127.0.0.1:{HEALTH_PORT}"
    log_interval: float = 60.0
    shutdown_timeout: float = 20.0  # how long SIGTERM waits for Kafka to confirm what it holds

    def __post_init__(self) -> None:
        if not self.symbols:
            raise SettingsError(f"{SYMBOLS}: expected at least one symbol, e.g. btcusdt")
        try:
            symbols = tuple(normalize_symbol(symbol) for symbol in self.symbols)
        except BinanceError as exc:
            raise SettingsError(f"{SYMBOLS}={','.join(self.symbols)!r}: {exc}") from None
        if len(set(symbols)) != len(symbols):
            raise SettingsError(f"{SYMBOLS}={','.join(self.symbols)!r}: a symbol is listed twice")
        object.__setattr__(self, "symbols", symbols)
        if self.binance_endpoint not in ENDPOINTS:
            raise SettingsError(
                f"{BINANCE_ENDPOINT}={self.binance_endpoint!r}: expected one of {', '.join(ENDPOINTS)}"
            )
        for name, value, schemes in (
            (BINANCE_WS_URL, self.binance_ws_url, ("ws://", "wss://")),
            (BINANCE_REST_URL, self.binance_rest_url, ("http://", "https://")),
        ):
            if value is not None and not value.startswith(schemes):
                raise SettingsError(f"{name}={value!r}: expected a URL starting with {' or '.join(schemes)}")
        if not self.kafka_bootstrap.strip():
            raise SettingsError(f"{KAFKA_BOOTSTRAP}: expected host:port[,host:port…] of the Kafka brokers")
        for broker in self.kafka_bootstrap.split(","):
            if not _HOST_PORT.match(broker.strip()):
                raise SettingsError(
                    f"{KAFKA_BOOTSTRAP}={self.kafka_bootstrap!r}: {broker!r} is not host:port"
                )
        if not _TOPIC.match(self.topic):
            raise SettingsError(
                f"{TOPIC}={self.topic!r}: expected a Kafka topic name (letters, digits, . _ -)"
            )
        if self.kafka_compression not in COMPRESSIONS:
            raise SettingsError(
                f"{KAFKA_COMPRESSION}={self.kafka_compression!r}: expected one of {', '.join(COMPRESSIONS)} "
                "(compression stays on)"
            )
        reserved = sorted({key for key, _ in self.kafka_options} & RESERVED_KAFKA_OPTIONS)
        if reserved:
            raise SettingsError(
                f"{KAFKA_OPTIONS}: {', '.join(reserved)} may not be changed there "
                "(the delivery guarantee depends on them, or they have a setting of their own)"
            )
        object.__setattr__(self, "state_file", Path(self.state_file))
        for name, value, low, high in (
            (KAFKA_LINGER_MS, self.kafka_linger_ms, 0, 10_000),
            (BUFFER_MESSAGES, self.buffer_messages, 10, 1_000_000),
            (MAX_BACKFILL, self.max_backfill, 0, 10**9),
            (REST_WEIGHT_LIMIT, self.rest_weight_limit, 4, 6000),
        ):
            _check_range(name, value, low, high)
        for name, value, low, high in (
            (STATE_INTERVAL, self.state_interval, 0.01, 3600),
            (ROTATE_AFTER, self.rotate_after, 0.1, 24 * 3600 - 60),
            (ROTATION_OVERLAP, self.rotation_overlap, 0.1, 3600),
            (RECONNECT_MIN, self.reconnect_min, 0.001, 3600),
            (RECONNECT_MAX, self.reconnect_max, 0.001, 3600),
            (WS_PING_INTERVAL, self.ws_ping_interval, 0.05, 3600),
            (WS_PING_TIMEOUT, self.ws_ping_timeout, 0.05, 3600),
            (REST_TIMEOUT, self.rest_timeout, 0.1, 600),
            (BACKFILL_GIVE_UP, self.backfill_give_up, 1, 7 * 86400),
            (LOG_INTERVAL, self.log_interval, 0.1, 86400),
            (SHUTDOWN_TIMEOUT, self.shutdown_timeout, 0.0, 3600),
        ):
            _check_range(name, value, low, high)
        if self.reconnect_max < self.reconnect_min:
            raise SettingsError(
                f"{RECONNECT_MAX}={self.reconnect_max!r} is below {RECONNECT_MIN}={self.reconnect_min!r}"
            )
        if self.health_address and not _HOST_PORT.match(self.health_address):
            raise SettingsError(
                f"{HEALTH_ADDRESS}={self.health_address!r}: expected host:port, or empty for none"
            )

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL: the override, or the endpoint's."""
        return self.binance_ws_url or ENDPOINTS[self.binance_endpoint].ws_url

    @property
    def rest_url(self) -> str:
        return self.binance_rest_url or ENDPOINTS[self.binance_endpoint].rest_url

    @property
    def health_host_port(self) -> tuple[str, int] | None:
        if not self.health_address:
            return None
        host, _, port = self.health_address.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ProducerSettings:
        """The environment over the defaults, and ``overrides`` (field names) over both."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for option in OPTIONS:
            text = env.get(option.env)
            if text is not None and text.strip() != "":
                values[option.field] = option.parse(option.env, text)
        if "state_file" not in values and env.get(SYSTEMD_STATE_DIRECTORY):
            # systemd may list several directories, separated by colons: ours is the first.
            values["state_file"] = Path(env[SYSTEMD_STATE_DIRECTORY].split(":")[0]) / "state.json"
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_args(cls, args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ProducerSettings:
        """Flags (added by `add_arguments`) over the environment over the defaults."""
        overrides = {}
        for option in OPTIONS:
            text = getattr(args, option.field, None)
            if text is not None:
                overrides[option.field] = option.parse(option.flag, text)
        try:
            return cls.from_env(env, **overrides)
        except SettingsError as exc:
            # The checks name a setting by its variable; the user who gave the flag reads the flag.
            text = str(exc)
            for option in OPTIONS:
                if option.field in overrides:
                    text = re.sub(rf"\b{re.escape(option.env)}\b", option.flag, text)
            raise SettingsError(text) from None


@dataclass(frozen=True, slots=True)
class Option:
    field: str
    env: str
    parse_text: Callable[[str, str], Any]  # (name for messages, text) -> value
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.env.removeprefix(PREFIX).lower().replace("_", "-")

    def parse(self, name: str, text: str) -> Any:
        return self.parse_text(name, text)


def parse_duration(name: str, text: str) -> float:
    """``20``, ``1.5s``, ``500ms``, ``30m``, ``23h`` -> seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise SettingsError(f"{name}={text!r}: expected a duration such as 20, 500ms, 30s, 5m or 23h")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def _integer(name: str, text: str) -> int:
    try:
        return int(text.strip().replace("_", ""))
    except ValueError:
        raise SettingsError(f"{name}={text!r}: expected a whole number") from None


def _boolean(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={text!r}: expected true or false")


def _text(name: str, text: str) -> str:
    return text.strip()


def _symbols(name: str, text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _kafka_options(name: str, text: str) -> tuple[tuple[str, str], ...]:
    options = []
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{name}: {part.strip()!r} is not key=value (librdkafka property)")
        options.append((key.strip(), value.strip()))
    return tuple(options)


def _path(name: str, text: str) -> Path:
    return Path(text.strip())


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SettingsError(f"{name}={value!r}: expected a number from {low:g} to {high:g}")


OPTIONS: tuple[Option, ...] = (
    Option("symbols", SYMBOLS, _symbols, "comma-separated symbols, e.g. btcusdt,ethusdt (default btcusdt)"),
    Option(
        "binance_endpoint",
        BINANCE_ENDPOINT,
        _text,
        f"Binance deployment: {', '.join(ENDPOINTS)} (default {DEFAULT_ENDPOINT})",
    ),
    Option("binance_ws_url", BINANCE_WS_URL, _text, "WebSocket base URL, overriding the endpoint's"),
    Option("binance_rest_url", BINANCE_REST_URL, _text, "REST base URL, overriding the endpoint's"),
    Option(
        "kafka_bootstrap", KAFKA_BOOTSTRAP, _text, "Kafka brokers, host:port[,…] (default 127.0.0.1:9092)"
    ),
    Option("topic", TOPIC, _text, "Kafka topic (default cryptotrades)"),
    Option("kafka_compression", KAFKA_COMPRESSION, _text, f"{' | '.join(COMPRESSIONS)} (default lz4)"),
    Option("kafka_linger_ms", KAFKA_LINGER_MS, _integer, "Kafka batching delay in ms (default 20)"),
    Option("kafka_options", KAFKA_OPTIONS, _kafka_options, "extra librdkafka properties, key=value,…"),
    Option(
        "buffer_messages",
        BUFFER_MESSAGES,
        _integer,
        "trades held for Kafka before reading stops (default 50000)",
    ),
    Option(
        "state_file",
        STATE_FILE,
        _path,
        f"where the last agg id per symbol is kept (default ${SYSTEMD_STATE_DIRECTORY}/state.json "
        "or ./producer-state.json)",
    ),
    Option(
        "state_interval", STATE_INTERVAL, parse_duration, "how often the state file is written (default 5s)"
    ),
    Option(
        "resume_from_kafka",
        RESUME_FROM_KAFKA,
        _boolean,
        "read the topic's tail at start to resume after the last trade in Kafka (default true)",
    ),
    Option(
        "max_backfill", MAX_BACKFILL, _integer, "most trades one gap may fetch from REST (default 2000000)"
    ),
    Option(
        "rotate_after", ROTATE_AFTER, parse_duration, "replace a connection after this long (default 23h)"
    ),
    Option(
        "rotation_overlap",
        ROTATION_OVERLAP,
        parse_duration,
        "longest overlap of old and new connection (default 30s)",
    ),
    Option("reconnect_min", RECONNECT_MIN, parse_duration, "first reconnect delay (default 1s)"),
    Option("reconnect_max", RECONNECT_MAX, parse_duration, "longest reconnect delay (default 60s)"),
    Option("ws_ping_interval", WS_PING_INTERVAL, parse_duration, "our ping interval (default 20s)"),
    Option("ws_ping_timeout", WS_PING_TIMEOUT, parse_duration, "drop a connection whose pong is late (20s)"),
    Option("rest_timeout", REST_TIMEOUT, parse_duration, "REST request timeout (default 10s)"),
    Option("rest_weight_limit", REST_WEIGHT_LIMIT, _integer, "REST weight a minute we spend at most (5000)"),
    Option(
        "backfill_give_up",
        BACKFILL_GIVE_UP,
        parse_duration,
        "REST failing this long for one gap: log it as a hole and go on (default 10m)",
    ),
    Option(
        "health_address",
        HEALTH_ADDRESS,
        _text,
        "host:port of the health endpoint, empty for none (default 127.0.0.1:9108)",
    ),
    Option("log_interval", LOG_INTERVAL, parse_duration, "how often the counters are logged (default 60s)"),
    Option(
        "shutdown_timeout",
        SHUTDOWN_TIMEOUT,
        parse_duration,
        "how long a stop waits for Kafka to confirm (default 20s)",
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting, named after its environment variable; unset flags stay None."""
    group = parser.add_argument_group("settings (each also read from the environment variable shown)")
    for option in OPTIONS:
        group.add_argument(
            option.flag, dest=option.field, metavar="VALUE", help=f"{option.help} [{option.env}]"
        )


def describe(settings: ProducerSettings) -> Sequence[tuple[str, str]]:
    """(env name, value) of every setting, for the start-up log line (kafka_options values hidden)."""
    rows = []
    for option in OPTIONS:
        value = getattr(settings, option.field)
        if option.field == "kafka_options":
            value = ",".join(f"{key}=…" for key, _ in value)  # may hold SASL passwords
        elif isinstance(value, tuple):
            value = ",".join(value)
        rows.append((option.env, str(value)))
    return rows
