"""What each one-box stage takes and what it reports: the typed interface of a stage process.

A stage is a process (``python -m onebox.<stage>``). Its settings are a `Settings` dataclass:
the supervisor builds one and renders it as flags (``to_argv``); the stage parses the same
flags with the same class (``onebox.child.begin``). Its counters are a `StageCounters` struct:
the stage fills it and writes it to ``<state dir>/stats/<stage>.json`` (``onebox.stats``);
the supervisor, ``cryptotrades status`` and the tests read it back as the same type.

Nothing here does I/O, and nothing imports a stage's module: the supervisor and ``status``
know every stage by this module alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from contract.pipeline import AGGREGATOR_HANDLER, TOPIC
from contract.settings import BOOTSTRAP_EXPECTED, Settings, bootstrap_servers, setting

# Failed S3 events (the runner): at most MAX_TRIES deliveries, delays doubling from RETRY_BASE_S
# up to RETRY_CAP_S. `cryptotrades run` offers the same three as flags, with these defaults.
MAX_TRIES = 6
RETRY_BASE_S = 1.0
RETRY_CAP_S = 30.0
DEAD_LETTERS_FILE = "dead-letters.jsonl"  # in the state directory: outlives the embedded SQS


# -- settings: what the supervisor tells each stage ------------------------------------------


@dataclass(frozen=True, slots=True)
class StageRun(Settings):
    """What every stage is told: where its counters go, which run it is part of, how to log."""

    state_dir: Path = setting(help="where stats/<stage>.json and logs/ are")
    run_id: str = setting("manual", help="the run these counters belong to")
    watch_parent: bool = setting(False, help="stop when stdin closes (the supervisor has gone)")
    log_level: str = setting("INFO", help="DEBUG, INFO, WARNING or ERROR")


@dataclass(frozen=True, slots=True)
class BrokerSettings(Settings):
    topics: tuple[str, ...] = setting((), help="topics to create at start, comma-separated")


@dataclass(frozen=True, slots=True)
class AwsSettings(Settings):
    """The embedded S3 and SQS take no settings: a free port on 127.0.0.1, everything in memory."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed events are retried: at most ``max_tries`` deliveries, delays doubling."""

    max_tries: int = MAX_TRIES
    base_s: float = RETRY_BASE_S
    cap_s: float = RETRY_CAP_S


@dataclass(frozen=True, slots=True)
class RunnerSettings(Settings):
    queue_url: str = setting(help="the queue the bucket's ObjectCreated notifications go to")
    region: str = setting(help="AWS region of the queue")
    dead_letter_queue_url: str | None = setting(None, help="where events go after the last try")
    handler: str = setting(AGGREGATOR_HANDLER, help="module.function to call, as Lambda's handler setting")
    max_tries: int = setting(MAX_TRIES, help="tries before an event is dead-lettered")
    retry_base_s: float = setting(RETRY_BASE_S, flag="--retry-base", help="seconds before the first retry")
    retry_cap_s: float = setting(RETRY_CAP_S, flag="--retry-cap", help="longest wait between tries")

    @property
    def policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_tries, self.retry_base_s, self.retry_cap_s)


@dataclass(frozen=True, slots=True)
class SinkSettings(Settings):
    vector_config: Path = setting(help="the Vector configuration the sink follows")


@dataclass(frozen=True, slots=True)
class ReplaySettings(Settings):
    file: Path = setting(help="Binance aggTrades CSV or captured ndjson (plain, .gz, .zip)")
    speed: float = setting(1.0, help="1 real time, 60 an hour a minute, 0 as fast as the producer reads")
    symbol: str | None = setting(None, help="market of a CSV file whose name does not say it")
    align: bool = setting(False, help="start on the recording's second of the minute (real time only)")
    kafka_bootstrap: str | None = setting(
        None, parse=bootstrap_servers, expected=BOOTSTRAP_EXPECTED, help="where non-trade lines go"
    )
    topic: str = setting(TOPIC, help="the topic for non-trade lines")
    klines: Path | None = setting(None, help="a Binance 1m klines file served at each minute's close")


@dataclass(frozen=True, slots=True)
class ProducerStageSettings(Settings):
    """What the one-box sets of the producer; the rest comes from its own environment variables."""

    kafka_bootstrap: str = setting(parse=bootstrap_servers, expected=BOOTSTRAP_EXPECTED, help="the broker")
    topic: str = setting(help="the topic to produce to")
    state_file: Path = setting(help="the producer's last agg ids")
    ws_url: str | None = setting(None, help="Binance's WebSocket base URL (a replay's fake)")
    rest_url: str | None = setting(None, help="Binance's REST base URL (a replay's fake)")
    symbols: tuple[str, ...] = setting((), help="markets to follow, comma-separated")
    state_file_only: bool = setting(
        False, help="resume from the state file alone, not the topic's tail (a replay's file says all)"
    )


# -- counters: what each stage reports ---------------------------------------------------------


class StageCounters(msgspec.Struct, kw_only=True):
    """What every stage's counters carry; ``run_id``, ``pid`` and ``updated`` are set on writing."""

    run_id: str = ""
    pid: int = 0
    updated: float = 0.0
    state: str = ""  # starting, running, aligning, stopped, gave up

    def ready(self) -> bool:
        """The stage has come far enough for the supervisor to go on."""
        return bool(self.state)

    def summary(self) -> str:
        """The counters that matter, in a few words (``cryptotrades status``)."""
        return ""


class BrokerCounters(StageCounters, kw_only=True):
    bootstrap: str = ""
    partitions: dict[str, int] = {}

    def ready(self) -> bool:
        return bool(self.bootstrap)

    def summary(self) -> str:
        return f"bootstrap {self.bootstrap}"


class AwsCounters(StageCounters, kw_only=True):
    endpoint: str = ""

    def ready(self) -> bool:
        return bool(self.endpoint)

    def summary(self) -> str:
        return f"endpoint {self.endpoint}"


class IdRange(msgspec.Struct, array_like=True, frozen=True):
    """A symbol's replayed agg ids: first, last, and how many distinct ones lie between."""

    first: int
    last: int
    distinct: int


class ReplayCounters(StageCounters, kw_only=True):
    ws_url: str = ""
    rest_url: str = ""
    trades: int = 0
    rejected_lines: int = 0
    rejected_lines_sent: int = 0
    expect: dict[str, IdRange] = {}
    started_at: float | None = None
    first_trade_time: int | None = None
    published: int = 0
    frames_sent: int = 0
    rest_trades: int = 0
    connections: int = 0
    klines: int = 0  # klines of the replayed symbols in the --klines file
    klines_closed: int = 0  # of those, closed in replay time so far (the producer can have them)
    klines_sent: int = 0  # kline frames sent
    rest_klines: int = 0  # klines served over REST

    def ready(self) -> bool:
        return bool(self.ws_url)

    @property
    def distinct(self) -> int:
        """Distinct trades of every symbol: what the database must end up holding."""
        return sum(ids.distinct for ids in self.expect.values())

    def summary(self) -> str:
        return (
            f"trades {self.trades}, published {self.published}, frames_sent {self.frames_sent}, "
            f"rest_trades {self.rest_trades}, rejected_lines {self.rejected_lines}"
            + (f", klines {self.klines_closed} of {self.klines} closed" if self.klines else "")
        )


class ProducerCounters(StageCounters, kw_only=True):
    """``producer.stats.Stats``, as the one-box producer stage copies it."""

    received: int = 0
    duplicates: int = 0
    gaps: int = 0
    backfilled: int = 0
    holes: int = 0
    hole_trades: int = 0
    produced: int = 0
    delivery_failures: int = 0
    producer_restarts: int = 0
    reconnects: int = 0
    rotations: int = 0
    server_shutdowns: int = 0
    bad_frames: int = 0
    rest_requests: int = 0
    rest_rate_limited: int = 0
    buffer_full_waits: int = 0
    pending: int = 0
    connected: bool = False
    connections_open: int = 0
    running: bool = False
    uptime: float = 0.0
    released: dict[str, int] = {}
    confirmed: dict[str, int] = {}
    klines_received: int = 0
    klines_open: int = 0
    kline_duplicates: int = 0
    klines_backfilled: int = 0
    kline_holes: int = 0
    klines_produced: int = 0

    @property
    def distinct_received(self) -> int:
        """Distinct trades from the stream or REST (the stream repeats what REST filled in)."""
        return self.received + self.backfilled - self.duplicates

    def summary(self) -> str:
        parts = [f"received {self.received}, produced {self.produced}"]
        if self.gaps or self.backfilled:
            # A replay's first gap is the fake's trades sent before the producer connected.
            gaps = "1 gap" if self.gaps == 1 else f"{self.gaps} gaps"
            parts.append(f"{gaps} in the stream filled from REST ({self.backfilled} trades)")
        if self.duplicates:
            parts.append(f"{self.duplicates} trades seen twice where stream and REST overlap (sent once)")
        if self.holes:
            parts.append(f"HOLES {self.holes} ({self.hole_trades} trades REST could not give)")
        if self.klines_produced:
            parts.append(f"klines {self.klines_produced}")
        if self.bad_frames:
            parts.append(f"bad frames {self.bad_frames}")
        return ", ".join(parts)


class SinkCounters(StageCounters, kw_only=True):
    consumed: int = 0
    bytes: int = 0
    objects: int = 0
    records_stored: int = 0
    put_failures: int = 0
    open_batches: int = 0
    pending: int = 0  # records in open batches
    committed: int = 0
    uncommitted: int = 0
    last_key: str | None = None

    def summary(self) -> str:
        return (
            f"consumed {self.consumed}, objects {self.objects}, records_stored {self.records_stored}, "
            f"put_failures {self.put_failures}, open_batches {self.open_batches}, "
            f"uncommitted {self.uncommitted}"
        )


class RunnerCounters(StageCounters, kw_only=True):
    events: int = 0
    objects: int = 0
    failures: int = 0
    dead_letters: int = 0
    test_events: int = 0
    trades: int = 0
    rejected: int = 0
    duplicates: int = 0
    waiting_retry: int = 0
    last_object: str | None = None

    def summary(self) -> str:
        parts = [f"events {self.events}, objects {self.objects}, trades {self.trades}"]
        if self.duplicates:
            parts.append(f"{self.duplicates} already stored (counted once)")
        if self.rejected:
            parts.append(f"rejected {self.rejected}")
        if self.failures:
            parts.append(f"failed tries {self.failures}")
        if self.dead_letters:
            parts.append(f"DEAD LETTERS {self.dead_letters}")
        return ", ".join(parts)


# -- the stages ------------------------------------------------------------------------------

S = TypeVar("S", bound=Settings)
C = TypeVar("C", bound=StageCounters)


@dataclass(frozen=True, slots=True)
class StageKind(Generic[S, C]):
    """One kind of stage: its name, the module that runs it, its settings and its counters."""

    name: str
    module: str
    settings: type[S]
    counters: type[C]
    endpoint: ClassVar[tuple[str, ...]] = ("broker", "aws")  # stages whose death ends the run

    @property
    def is_endpoint(self) -> bool:
        return self.name in self.endpoint


BROKER = StageKind("broker", "onebox.broker", BrokerSettings, BrokerCounters)
AWS = StageKind("aws", "onebox.aws_endpoint", AwsSettings, AwsCounters)
REPLAY = StageKind("replay", "onebox.replay", ReplaySettings, ReplayCounters)
PRODUCER = StageKind("producer", "onebox.producer_stage", ProducerStageSettings, ProducerCounters)
SINK = StageKind("sink", "onebox.sink", SinkSettings, SinkCounters)
RUNNER = StageKind("runner", "onebox.runner", RunnerSettings, RunnerCounters)

# In the order `cryptotrades status` shows them.
ALL: tuple[StageKind[Any, Any], ...] = (BROKER, AWS, REPLAY, PRODUCER, SINK, RUNNER)
