"""``cryptotrades run``: start the stages in order, show progress, stop them in order.

Stages, each a process of its own (``onebox.processes``), in start order::

    broker    embedded Kafka-protocol broker (librdkafka mock cluster)   or --kafka HOST:PORT
    aws       embedded S3 + SQS (moto server), bucket -> queue wired     or --s3-endpoint URL|aws
    runner    SQS notifications -> lambda_aggregator.handler.lambda_handler -> database
    sink      Kafka -> S3, Vector's behaviour from vector/vector.toml
    replay    the local fake Binance serving --replay FILE               (replay only)
    producer  the production producer: Binance (or the fake) -> Kafka
    dashboard the web dashboard over the database                        (in this process)

Stopping (Ctrl-C, or --until-drained once the replay is all in Kafka) goes from the source
to the end, each stage finishing what it holds before the next is asked: the producer
has Kafka confirm what it sent; the sink reads the topic to its end, stores every open
batch and commits; the runner works through every notification (retrying failures, dead-
lettering what still fails when the drain time is up); then the endpoints stop. A second
Ctrl-C stops everything at once and says what may be lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TextIO

import boto3
import confluent_kafka
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from contract.errors import CryptotradesError, SettingsError
from contract.pipeline import METRICS_NAMESPACE
from minutes.errors import StoreError
from minutes.store import Store, open_store, redacted
from onebox import status, vector_config
from onebox.aws_endpoint import Wiring, prepare
from onebox.errors import StageError
from onebox.processes import Stage, stage_env
from onebox.settings import REAL_AWS, OneboxSettings
from onebox.sink import EXIT_NOT_STORED
from onebox.vector_config import SinkPlan
from producer.state import save_state

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INCOMPLETE = 1  # --until-drained: not every replayed trade reached the database
EXIT_UNREACHABLE = 2  # live mode: Binance cannot be reached
EXIT_FAILED = 3  # a stage could not start or died for good
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
MAX_RESTARTS = 5
QUIET_BEFORE_DRAIN_S = 0.5  # the topic has not grown for this long: the replay is all in Kafka
STILL_TOPIC_S = 10.0  # ... or this long, when some replayed trades can never be produced
LIVE_PROBE_TIMEOUT_S = 5.0
# The one-box's own credentials for its embedded moto: never real ones, whatever is set.
EMBEDDED_AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "onebox", "AWS_SECRET_ACCESS_KEY": "onebox"}
_AWS_SESSION_VARIABLES = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE")
# What a read of the database may raise while it is away (the supervisor only reads).
DATABASE_ERRORS = (StoreError, SettingsError)


@dataclass
class Progress:
    """What the progress line shows, gathered from the stages' counters and the database."""

    received: int = 0
    produced: int = 0
    in_kafka: int = 0
    objects_written: int = 0
    objects_aggregated: int = 0
    failures: int = 0
    dead_letters: int = 0
    restarts: int = 0
    last_row: str = ""

    def line(self, elapsed_s: float) -> str:
        parts = [
            f"{elapsed_s:6.0f}s",
            f"received {self.received}",
            f"produced {self.produced}",
            f"objects written {self.objects_written}",
            f"aggregated {self.objects_aggregated}",
        ]
        if self.failures:
            parts.append(f"retried {self.failures}")
        if self.dead_letters:
            parts.append(f"DEAD LETTERS {self.dead_letters}")
        if self.restarts:
            parts.append(f"restarts {self.restarts}")
        parts.append(f"last row: {self.last_row or '(none yet)'}")
        return " | ".join(parts)


@dataclass
class Pipeline:
    settings: OneboxSettings
    out: TextIO = field(default_factory=lambda: sys.stdout)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    stages: dict[str, Stage] = field(default_factory=dict)
    store: Store | None = None
    plan: SinkPlan | None = None
    wiring: Wiring | None = None
    bootstrap: str = ""
    endpoint: str | None = None
    dashboard: Any = None
    interrupts: int = 0
    started: float = field(default_factory=time.monotonic)
    _sqs: Any = None
    _watermarks: Any = None
    _last_in_kafka: tuple[int, float] = (-1, 0.0)
    _tty: bool = False
    _dead_letters: int | None = None  # for the dashboard's health strip; None until known

    # -- the whole run ------------------------------------------------------------------

    def run(self) -> int:
        self._tty = self.out.isatty()
        previous = {sig: signal.signal(sig, self._interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self.settings.replay is None and not self._binance_reachable():
                return EXIT_UNREACHABLE
            try:
                self._start()
            except (CryptotradesError, BotoCoreError, ClientError) as exc:
                self._say(f"cryptotrades run: could not start: {exc}")
                return EXIT_FAILED
            self._say(self._banner())
            drained = self._watch()
            stopped_cleanly = self._stop_in_order()
            return self._finish(drained, stopped_cleanly)
        except StageError as exc:
            self._say(f"cryptotrades run: {exc}")
            return EXIT_FAILED
        finally:
            self._kill_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _interrupted(self, signum: int, frame: FrameType | None) -> None:
        self.interrupts += 1
        if self.interrupts == 1:
            self._say("\nstopping: the stages finish what they hold (Ctrl-C again to stop at once)")
        else:
            self._say("\nstopping at once: records not yet in S3 or the database may be lost")
            self._kill_all()
            raise SystemExit(EXIT_FAILED)

    # -- start ----------------------------------------------------------------------------

    def _start(self) -> None:
        settings = self.settings
        state_dir = settings.state_dir
        (state_dir / "stats").mkdir(parents=True, exist_ok=True)
        for old in (state_dir / "stats").glob("*.json"):
            old.unlink()  # the last run's counters; this run writes its own
        self.store = open_store(settings.database_url, create_database=True)
        applied = self.store.migrate()
        if applied:
            self._say(f"database {redacted(settings.database_url)}: applied {', '.join(applied)}")
        env = stage_env(os.environ, dict(settings.extra_env))
        if settings.embedded_aws:  # nothing of a real AWS identity reaches the stages
            env = {k: v for k, v in env.items() if k not in _AWS_SESSION_VARIABLES}

        # The endpoints first (both at once), then the replay, which needs the broker.
        if settings.embedded_kafka:
            topics = list(self._plan_topics())
            self._stage("broker", "onebox.broker", [a for t in topics for a in ("--topic", t)], env)
        else:
            self.bootstrap = str(settings.kafka)
        if settings.embedded_aws:
            self._stage("aws", "onebox.aws_endpoint", [], env)
        if settings.embedded_kafka:
            self.bootstrap = self.stages["broker"].wait_ready("bootstrap", START_TIMEOUT_S)["bootstrap"]
        self.plan = vector_config.sink_plan(
            vector_config.load(settings.vector_config, self._vector_env(env)),
            where=str(settings.vector_config),
        )
        if settings.replay is not None:
            self._start_replay(env)

        aws_env = self._aws_env()
        if settings.embedded_aws:
            self.endpoint = self.stages["aws"].wait_ready("endpoint", START_TIMEOUT_S)["endpoint"]
        elif settings.s3_endpoint != REAL_AWS:
            self.endpoint = settings.s3_endpoint
        if self.endpoint:
            aws_env.update(
                {"AWS_ENDPOINT_URL_S3": str(self.endpoint), "AWS_ENDPOINT_URL_SQS": str(self.endpoint)}
            )
        self._sqs = self._client("sqs")
        if settings.s3_endpoint == REAL_AWS:
            self.wiring = Wiring(settings.bucket, str(settings.queue_url), "")
        else:
            self.wiring = prepare(self._client("s3"), self._sqs, settings.bucket, settings.region)

        # Downstream before upstream: the runner and the sink, then the producer.
        runner_args = [
            "--queue-url",
            self.wiring.queue_url,
            "--region",
            settings.region,
            "--max-tries",
            str(settings.max_tries),
            "--retry-base",
            str(settings.retry_base_s),
            "--retry-cap",
            str(settings.retry_cap_s),
        ]
        if self.wiring.dead_letter_queue_url:
            runner_args += ["--dead-letter-queue-url", self.wiring.dead_letter_queue_url]
        function_env = {
            "CRYPTOTRADES_DB_URL": settings.database_url,
            "POWERTOOLS_SERVICE_NAME": "cryptotrades-aggregator",
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        self._stage("runner", "onebox.runner", runner_args, {**env, **aws_env, **function_env})
        sink_args = ["--vector-config", str(settings.vector_config)]
        self._stage("sink", "onebox.sink", sink_args, {**env, **aws_env, **self._vector_env(env)})
        self.stages["runner"].wait_ready("state", START_TIMEOUT_S)
        self.stages["sink"].wait_ready("state", START_TIMEOUT_S)
        self._start_dashboard()

        producer_args = ["--kafka-bootstrap", self.bootstrap, "--topic", self.plan.topics[0]]
        if settings.replay is not None:
            aligning = settings.speed == 1
            if aligning:
                self._say(
                    "replay at real time: it starts on the recording's second of the minute (up to 60 s)"
                )
            replay = self.stages["replay"].wait_ready("ws_url", START_TIMEOUT_S + (60 if aligning else 0))
            producer_args += ["--ws-url", replay["ws_url"], "--rest-url", replay["rest_url"]]
            producer_args += [a for symbol in replay["expect"] for a in ("--symbol", symbol)]
            # A replay is a market of its own whose history starts at its first trade. The
            # producer is told so as a state file tells it after a stop: it resumes before the
            # first trade, and fetches from the fake's REST whatever the stream sent before it
            # connected (at a speed above 0 the market does not wait for it).
            state_file = settings.state_dir / "replay" / "producer-state.json"
            shutil.rmtree(state_file.parent, ignore_errors=True)
            save_state(
                state_file, {s: first - 1 for s, (first, _, _) in replay["expect"].items()}, time.time()
            )
            producer_args.append("--state-file-only")
        else:
            state_file = settings.state_dir / "producer-state.json"
        state_file.parent.mkdir(parents=True, exist_ok=True)
        producer_args += ["--state-file", str(state_file)]
        self._stage("producer", "onebox.producer_stage", producer_args, env)
        self.stages["producer"].wait_ready("state", START_TIMEOUT_S)

    def _start_replay(self, env: dict[str, str]) -> None:
        assert self.settings.replay is not None and self.plan is not None
        args = ["--file", str(self.settings.replay), "--speed", str(self.settings.speed)]
        args += ["--kafka-bootstrap", self.bootstrap, "--topic", self.plan.topics[0]]
        if self.settings.symbol:
            args += ["--symbol", self.settings.symbol]
        if self.settings.speed == 1:
            args.append("--align")
        self._stage("replay", "onebox.replay", args, env)

    def _stage(self, name: str, module: str, args: list[str], env: dict[str, str]) -> Stage:
        stage = Stage(
            name,
            module,
            [*args, "--log-level", self.settings.log_level],
            env,
            self.settings.state_dir,
            self.run_id,
        )
        stage.log_path.parent.mkdir(parents=True, exist_ok=True)
        stage.log_path.write_bytes(b"")  # one run's log per file
        self.stages[name] = stage.start()
        return stage

    def _plan_topics(self) -> tuple[str, ...]:
        """The topics of vector.toml (read with placeholder values: only the topics matter here)."""
        placeholder = {
            name: "127.0.0.1:9"
            for name in vector_config.environment_names(self.settings.vector_config.read_text())
        }
        config = vector_config.load(self.settings.vector_config, {**placeholder, **os.environ})
        return vector_config.sink_plan(config).topics

    def _vector_env(self, env: dict[str, str]) -> dict[str, str]:
        """What the Kafka host's systemd unit gives Vector, with the one-box's values."""
        return {
            "CRYPTOTRADES_KAFKA_BOOTSTRAP": self.bootstrap,
            "CRYPTOTRADES_BUCKET": self.settings.bucket,
            "AWS_REGION": self.settings.region,
        }

    def _aws_env(self) -> dict[str, str]:
        env = {"AWS_REGION": self.settings.region, "AWS_DEFAULT_REGION": self.settings.region}
        if self.settings.embedded_aws:
            env.update(EMBEDDED_AWS_CREDENTIALS)
        return env

    def _client(self, service: str) -> Any:
        options: dict[str, Any] = {"region_name": self.settings.region}
        if self.endpoint:
            options["endpoint_url"] = self.endpoint
        if self.settings.embedded_aws:
            options.update(
                aws_access_key_id=EMBEDDED_AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=EMBEDDED_AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=None,
            )
        return boto3.session.Session().client(
            service, config=Config(retries={"mode": "standard", "max_attempts": 3}), **options
        )

    def _start_dashboard(self) -> None:
        if not self.settings.dashboard:
            return
        try:
            from dashboard.server import start_dashboard
        except ImportError as exc:
            self._say(f"dashboard: not available ({exc})")
            return
        try:
            self.dashboard = start_dashboard(
                self.settings.database_url,
                host="127.0.0.1",
                port=self.settings.dashboard_port,
                dead_letters=lambda: self._dead_letters,  # a counter the progress loop keeps
            )
        except CryptotradesError as exc:
            self._say(f"dashboard: could not start: {exc}")

    def _binance_reachable(self) -> bool:
        """Live mode: one quick request to Binance's REST ping; say so in one line if it fails."""
        from producer.settings import ProducerSettings

        try:
            url = ProducerSettings.from_env().rest_url.rstrip("/") + "/api/v3/ping"
        except CryptotradesError as exc:
            self._say(f"cryptotrades run: {exc}")
            return False
        try:
            with urllib.request.urlopen(url, timeout=LIVE_PROBE_TIMEOUT_S) as answer:
                answer.read()
            return True
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            self._say(
                f"cannot reach Binance at {url} ({reason}); without internet, `make demo` runs the same "
                "pipeline on bundled real trades"
            )
            return False

    # -- watching ---------------------------------------------------------------------------

    def _watch(self) -> bool:
        """Until Ctrl-C, or (--until-drained) the replay is all in Kafka; answer whether it is."""
        interval = (
            self.settings.progress_interval_s if self._tty else max(5.0, self.settings.progress_interval_s)
        )
        next_line = time.monotonic()
        flushed = False
        while self.interrupts == 0:
            self._supervise()
            if self.settings.replay is not None and not flushed and self._replay_in_kafka():
                if self.settings.until_drained:
                    self._progress(final=True)
                    return True
                # The replay's last minutes need not wait for the batch timeout: store them now.
                self.stages["sink"].send(signal.SIGUSR1)
                flushed = True
                self._say("\nthe replay is all in Kafka: the sink stores its open batches now; Ctrl-C stops")
            if time.monotonic() >= next_line:
                self._progress()
                next_line = time.monotonic() + interval
            time.sleep(0.2)
        self._progress(final=True)
        return False

    def _supervise(self) -> None:
        """Restart a crashed sink, runner, replay or producer; an endpoint dying ends the run."""
        for name, stage in self.stages.items():
            code = stage.exit_code()
            if code is None:
                continue
            if name in ("broker", "aws"):
                raise StageError(
                    f"the embedded {name} stopped (exit {code}); what it held is gone:\n{stage.log_tail()}"
                )
            if stage.restarts >= MAX_RESTARTS:
                raise StageError(f"the {name} stage failed {stage.restarts + 1} times:\n{stage.log_tail()}")
            self._say(f"\nthe {name} stage exited with {code}: restarting it (see {stage.log_path})")
            stage.restart()

    def _replay_in_kafka(self) -> bool:
        """The fake has served every trade, the producer has them all confirmed, the topic is still.

        A file whose ids have holes, or that repeats a trade, never gets "all" produced: once
        the topic has been still for a while with nothing pending, what can come has come.
        """
        replay = self.stages["replay"].stats()
        if not replay or replay.get("published", 0) < replay.get("trades", 1):
            return False
        in_kafka = self._records_in_kafka()
        count, since = self._last_in_kafka
        now = time.monotonic()
        if in_kafka != count:
            self._last_in_kafka = (in_kafka, now)
            return False
        producer = self.stages["producer"].stats()
        if producer.get("pending"):
            return False
        wanted = sum(distinct for _, _, distinct in replay.get("expect", {}).values())
        still = now - since
        return (
            producer.get("produced", 0) >= wanted and still >= QUIET_BEFORE_DRAIN_S
        ) or still >= STILL_TOPIC_S

    def _records_in_kafka(self) -> int:
        if self._watermarks is None:
            self._watermarks = confluent_kafka.Consumer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "group.id": f"cryptotrades-onebox-{self.run_id}",
                    "log_level": 3,
                }
            )
        total = 0
        assert self.plan is not None
        metadata = self._watermarks.list_topics(timeout=5)
        for topic in self.plan.topics:
            found = metadata.topics.get(topic)
            for partition in found.partitions if found is not None else ():
                low, high = self._watermarks.get_watermark_offsets(
                    confluent_kafka.TopicPartition(topic, partition), timeout=5, cached=False
                )
                total += max(0, high - low)
        return total

    def _progress(self, *, final: bool = False) -> None:
        progress = self._gather()
        text = progress.line(time.monotonic() - self.started)
        if self._tty and not final:
            width = shutil.get_terminal_size((120, 20)).columns
            self.out.write("\r" + text[: width - 1].ljust(width - 1))
            self.out.flush()
        else:
            self._say(("\r" if self._tty else "") + text)

    def _gather(self) -> Progress:
        progress = Progress()
        producer = self.stages.get("producer")
        if producer is not None:
            values = producer.stats()
            # Distinct trades from the stream or REST (the stream repeats what REST filled in).
            progress.received = sum(int(values.get(k, 0)) for k in ("received", "backfilled")) - int(
                values.get("duplicates", 0)
            )
            progress.produced = int(values.get("produced", 0))
        sink = self.stages["sink"].stats() if "sink" in self.stages else {}
        runner = self.stages["runner"].stats() if "runner" in self.stages else {}
        progress.objects_written = int(sink.get("objects", 0))
        progress.objects_aggregated = int(runner.get("objects", 0))
        progress.failures = int(runner.get("failures", 0)) + int(sink.get("put_failures", 0))
        progress.dead_letters = int(runner.get("dead_letters", 0))
        self._dead_letters = progress.dead_letters
        progress.restarts = sum(s.restarts for s in self.stages.values())
        try:
            store = self._database()
            rows = status.last_rows(store, 1)
            store.ledger_totals()  # ends the read: the next poll sees newer rows
        except DATABASE_ERRORS as exc:
            self._drop_database()
            progress.last_row = f"(database unavailable: {str(exc)[:80]})"
        else:
            progress.last_row = status.row_text(rows[-1]) if rows else ""
        return progress

    def _database(self) -> Store:
        """The supervisor's own connection (reads only), opened again after the server was away."""
        if self.store is None:
            self.store = open_store(self.settings.database_url)
        return self.store

    def _drop_database(self) -> None:
        if self.store is not None:
            with contextlib.suppress(*DATABASE_ERRORS):
                self.store.close()
            self.store = None

    # -- stopping -----------------------------------------------------------------------------

    def _stop_in_order(self) -> bool:
        """Source to end, each stage finishing what it holds; answer whether nothing was left."""
        clean = True
        timeout = self.settings.drain_timeout_s
        for name in ("producer", "replay"):
            if name in self.stages:
                self.stages[name].stop(STOP_TIMEOUT_S)
        if "sink" in self.stages:
            self._say("stopping: the sink stores its open batches")
            code = self.stages["sink"].stop(timeout)
            if code == EXIT_NOT_STORED:
                clean = False
                self._say("the sink could not store everything: S3 kept failing (see its log)")
        if "runner" in self.stages:
            self._say("stopping: the runner works through the notifications left")
            if not self._wait_queue_empty(timeout):
                clean = False
                self._say(f"notifications still failing after {timeout:.0f} s: they go to the dead letters")
            self.stages["runner"].stop(STOP_TIMEOUT_S)
        if self.dashboard is not None:
            self.dashboard.close()
            self.dashboard = None
        if self._watermarks is not None:
            self._watermarks.close()  # before the broker goes, or librdkafka complains of it
            self._watermarks = None
        endpoints = [self.stages[name] for name in ("aws", "broker") if name in self.stages]
        for stage in endpoints:
            stage.signal_stop()
        for stage in endpoints:
            stage.stop(STOP_TIMEOUT_S)
        return clean

    def _wait_queue_empty(self, timeout_s: float) -> bool:
        assert self.wiring is not None
        deadline = time.monotonic() + timeout_s
        next_line = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.stages["runner"].exit_code() is not None:
                self._supervise()
            try:
                attributes = self._sqs.get_queue_attributes(
                    QueueUrl=self.wiring.queue_url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
            except (BotoCoreError, ClientError) as exc:
                logger.warning("cannot read the queue's length: %s", exc)
            else:
                if (
                    attributes["ApproximateNumberOfMessages"]
                    == "0"
                    == attributes["ApproximateNumberOfMessagesNotVisible"]
                ):
                    return True
            if time.monotonic() >= next_line:
                self._progress(final=True)
                next_line = time.monotonic() + 5
            time.sleep(0.2)
        return False

    def _kill_all(self) -> None:
        if self.dashboard is not None:
            with contextlib.suppress(Exception):
                self.dashboard.close()
            self.dashboard = None
        for stage in reversed(list(self.stages.values())):
            stage.kill()
            stage.close()
        if self._watermarks is not None:
            self._watermarks.close()
            self._watermarks = None
        if self.store is not None:
            self.store.close()
            self.store = None

    # -- the end -------------------------------------------------------------------------------

    def _finish(self, drained: bool, stopped_cleanly: bool) -> int:
        runner = self.stages["runner"].stats()
        if runner.get("dead_letters"):
            self._say(f"dead letters this run: {runner['dead_letters']} (cryptotrades status lists them)")
        try:
            return self._summary(drained, stopped_cleanly)
        except DATABASE_ERRORS as exc:
            self._drop_database()
            self._say(f"cannot read the database for the summary: {exc}")
            return EXIT_INCOMPLETE

    def _summary(self, drained: bool, stopped_cleanly: bool) -> int:
        store = self._database()
        totals = store.ledger_totals()
        self._say(f"ledger: {status.ledger_text(totals)}")
        if not self.settings.until_drained:
            self._say(
                f"stopped after {time.monotonic() - self.started:.0f} s; "
                f"logs in {self.settings.state_dir / 'logs'}"
            )
            return EXIT_OK if stopped_cleanly else EXIT_INCOMPLETE
        replay = self.stages["replay"].stats()
        expected = replay.get("expect", {})
        found = {
            symbol: status.stored_trades(store, symbol, first, last)
            for symbol, (first, last, _) in expected.items()
        }
        wanted = sum(count for _, _, count in expected.values())
        have = sum(found.values())
        elapsed = time.monotonic() - self.started
        self._say(
            f"replayed {replay.get('trades', 0)} trades of {self.settings.replay} in {elapsed:.1f} s: "
            f"{have} of {wanted} in the database ({have / elapsed:.0f} trades/s); "
            f"{replay.get('rejected_lines', 0)} lines of the file were not trades"
        )
        if drained and have == wanted:
            return EXIT_OK
        self._say(f"not drained: {wanted - have} replayed trades are not in the database")
        return EXIT_INCOMPLETE

    def _banner(self) -> str:
        lines = [f"cryptotrades one-box (run {self.run_id})"]
        assert self.plan is not None and self.wiring is not None
        where = "embedded" if self.settings.embedded_kafka else "given"
        lines.append(f"  kafka     {self.bootstrap} ({where}), topic {', '.join(self.plan.topics)}")
        s3 = self.endpoint or "AWS"
        lines.append(f"  s3/sqs    {s3}, bucket {self.wiring.bucket}, queue {self.wiring.queue_url}")
        lines.append(
            f"  sink      as vector.toml says: prefix {self.plan.key_prefix}, "
            f"batch {self.plan.batch_timeout_s:g} s, {self.plan.compression}"
        )
        lines.append(f"  database  {redacted(self.settings.database_url)}")
        if self.dashboard is not None:
            lines.append(f"  dashboard {self.dashboard.url}")
        if self.settings.replay is not None:
            speed = "as fast as possible" if self.settings.speed == 0 else f"speed {self.settings.speed:g}"
            lines.append(f"  replay    {self.settings.replay} ({speed}) through the local fake Binance")
        else:
            lines.append("  source    Binance's live aggTrade stream")
        lines.append(f"  logs      {self.settings.state_dir / 'logs'}/<stage>.log; Ctrl-C stops cleanly")
        return "\n".join(lines)

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
