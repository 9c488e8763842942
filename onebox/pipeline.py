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
import errno
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

from botocore.exceptions import BotoCoreError, ClientError

from contract.errors import CryptotradesError
from minutes.store import open_store, redacted
from onebox import plan, progress, status, vector_config
from onebox.aws_endpoint import Wiring, client, prepare
from onebox.drain import TopicWatch, Watermarks, queue_empty
from onebox.errors import StageError
from onebox.processes import Stage
from onebox.progress import DATABASE_ERRORS, DatabaseReader
from onebox.settings import REAL_AWS, OneboxSettings
from onebox.sink import EXIT_NOT_STORED
from onebox.stages import AWS, BROKER, PRODUCER, REPLAY, RUNNER, SINK, StageKind
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
LIVE_PROBE_TIMEOUT_S = 5.0


@dataclass
class Pipeline:
    settings: OneboxSettings
    out: TextIO = field(default_factory=lambda: sys.stdout)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    stages: dict[str, Stage[Any]] = field(default_factory=dict)
    database: DatabaseReader | None = None
    plan: SinkPlan | None = None
    wiring: Wiring | None = None
    bootstrap: str = ""
    endpoint: str | None = None
    dashboard: Any = None
    interrupts: int = 0
    started: float = field(default_factory=time.monotonic)
    _sqs: Any = None
    _watermarks: Watermarks | None = None
    _topic: TopicWatch = field(default_factory=TopicWatch)
    _tty: bool = False
    _dead_letters: int | None = None  # for the dashboard's health strip; None until known
    _shown: tuple[progress.Progress | None, float] = (None, 0.0)  # the last progress line's, and when

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
            assert self.plan is not None and self.wiring is not None
            self._say(
                progress.banner(
                    self.settings,
                    run_id=self.run_id,
                    bootstrap=self.bootstrap,
                    plan=self.plan,
                    wiring=self.wiring,
                    endpoint=self.endpoint,
                    dashboard_url=self.dashboard.url if self.dashboard is not None else None,
                )
            )
            self._say(
                progress.ready_line(
                    self.dashboard.url if self.dashboard is not None else None,
                    self.plan.batch_timeout_s,
                    replay=self.settings.replay is not None,
                )
            )
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

    # -- start: the endpoints, then downstream before upstream ------------------------------

    def _start(self) -> None:
        settings = self.settings
        stats_dir = settings.state_dir / "stats"
        stats_dir.mkdir(parents=True, exist_ok=True)
        for old in stats_dir.glob("*.json"):
            old.unlink()  # the last run's counters; this run writes its own
        store = open_store(settings.database_url, create_database=True)
        self.database = DatabaseReader(settings.database_url, store)
        applied = store.migrate()
        if applied:
            self._say(f"database {redacted(settings.database_url)}: applied {', '.join(applied)}")
        env = plan.base_env(settings, os.environ)

        # The endpoints first (both at once), then the replay, which needs the broker.
        if settings.embedded_kafka:
            self._stage(BROKER, plan.broker(plan.plan_topics(settings)), env)
        else:
            self.bootstrap = str(settings.kafka)
        if settings.embedded_aws:
            self._stage(AWS, AWS.settings(), env)
        if settings.embedded_kafka:
            self.bootstrap = self.stages[BROKER.name].wait_ready(START_TIMEOUT_S).bootstrap
        vector_env = plan.vector_env(settings, self.bootstrap)
        self.plan = vector_config.sink_plan(
            vector_config.load(settings.vector_config, vector_env), where=str(settings.vector_config)
        )
        topic = self.plan.topics[0]
        if settings.replay is not None:
            self._stage(REPLAY, plan.replay(settings, self.bootstrap, topic), env)

        if settings.embedded_aws:
            self.endpoint = self.stages[AWS.name].wait_ready(START_TIMEOUT_S).endpoint
        elif settings.s3_endpoint != REAL_AWS:
            self.endpoint = settings.s3_endpoint
        aws_env = plan.aws_env(settings, self.endpoint)
        self._sqs = self._client("sqs")
        if settings.s3_endpoint == REAL_AWS:
            self.wiring = Wiring(settings.bucket, str(settings.queue_url), "")
        else:
            self.wiring = prepare(self._client("s3"), self._sqs, settings.bucket, settings.region)

        self._stage(
            RUNNER, plan.runner(settings, self.wiring), {**env, **aws_env, **plan.function_env(settings)}
        )
        self._stage(SINK, plan.sink(settings), {**env, **aws_env, **vector_env})
        self.stages[RUNNER.name].wait_ready(START_TIMEOUT_S)
        self.stages[SINK.name].wait_ready(START_TIMEOUT_S)
        self._start_dashboard()
        self._start_producer(topic, env)

    def _start_producer(self, topic: str, env: dict[str, str]) -> None:
        replay = None
        if self.settings.replay is not None:
            aligning = self.settings.speed == 1
            if aligning:
                self._say(
                    "replay at real time: it starts on the recording's second of the minute (up to 60 s)"
                )
            replay = self.stages[REPLAY.name].wait_ready(START_TIMEOUT_S + (60 if aligning else 0))
        settings = plan.producer(self.settings, self.bootstrap, topic, replay)
        if replay is not None:
            shutil.rmtree(settings.state_file.parent, ignore_errors=True)
            save_state(
                settings.state_file,
                plan.replay_start_ids(replay),
                time.time(),
                plan.replay_start_kline_times(replay),
            )
        settings.state_file.parent.mkdir(parents=True, exist_ok=True)
        self._stage(PRODUCER, settings, env).wait_ready(START_TIMEOUT_S)

    def _stage(self, kind: StageKind[Any, Any], settings: Any, env: dict[str, str]) -> Stage[Any]:
        stage: Stage[Any] = Stage(
            kind, settings, env, self.settings.state_dir, self.run_id, self.settings.log_level
        )
        stage.log_path.parent.mkdir(parents=True, exist_ok=True)
        stage.log_path.write_bytes(b"")  # one run's log per file
        self.stages[kind.name] = stage.start()
        return stage

    def _counters(self, kind: StageKind[Any, Any]) -> Any:
        stage = self.stages.get(kind.name)
        return stage.counters() if stage is not None else kind.counters()

    def _client(self, service: str) -> Any:
        return client(
            service, region=self.settings.region, endpoint=self.endpoint, embedded=self.settings.embedded_aws
        )

    def _start_dashboard(self) -> None:
        if not self.settings.dashboard:
            return
        try:
            from dashboard.server import start_dashboard
        except ImportError as exc:
            self._say(f"dashboard: not available ({exc})")
            return
        preferred = self.settings.dashboard_port
        for port in (preferred, 0) if preferred else (0,):
            try:
                self.dashboard = start_dashboard(
                    self.settings.database_url,
                    host="127.0.0.1",
                    port=port,
                    dead_letters=lambda: self._dead_letters,  # a counter the progress loop keeps
                )
            except CryptotradesError as exc:
                cause = exc.__cause__
                if port and isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
                    continue  # taken (another run, another program): any free port will do
                self._say(f"dashboard: could not start: {exc}")
                return
            if port != preferred:
                self._say(f"dashboard: port {preferred} is taken, so it is on {self.dashboard.port} instead")
            return

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
                self.stages[SINK.name].send(signal.SIGUSR1)
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
        for stage in self.stages.values():
            self._revive(stage)

    def _revive(self, stage: Stage[Any]) -> bool:
        """Restart the stage if it has exited; answer whether it had."""
        code = stage.exit_code()
        if code is None:
            return False
        if stage.kind.is_endpoint:
            raise StageError(
                f"the embedded {stage.name} stopped (exit {code}); what it held is gone:\n{stage.log_tail()}"
            )
        if stage.restarts >= MAX_RESTARTS:
            raise StageError(f"the {stage.name} stage failed {stage.restarts + 1} times:\n{stage.log_tail()}")
        self._say(f"\nthe {stage.name} stage exited with {code}: restarting it (see {stage.log_path})")
        stage.restart()
        return True

    def _replay_in_kafka(self) -> bool:
        replay = self._counters(REPLAY)
        if not replay.state or replay.published < replay.trades:
            return False  # (asked first: no need to read the broker yet)
        assert self.plan is not None
        if self._watermarks is None:
            self._watermarks = Watermarks(self.bootstrap, self.run_id)
        in_kafka = self._watermarks.records(self.plan.topics)
        return self._topic.replay_in_kafka(replay, self._counters(PRODUCER), in_kafka, time.monotonic())

    def _progress(self, *, final: bool = False) -> None:
        assert self.database is not None
        line = progress.gather(
            self._counters(PRODUCER),
            self._counters(SINK),
            self._counters(RUNNER),
            restarts=sum(s.restarts for s in self.stages.values()),
            last_row=self.database.last_row(),
        )
        self._dead_letters = line.dead_letters
        now = time.monotonic()
        before, since = self._shown
        if line == before:  # nothing happened: no line saying so again
            if final and self._tty:
                self._say("")  # ends the line shown in place
            return
        text = line.line(now - self.started, before, now - since)
        self._shown = (line, now)
        if self._tty and not final:
            width = shutil.get_terminal_size((120, 20)).columns
            self.out.write("\r" + text[: width - 1].ljust(width - 1))
            self.out.flush()
        else:
            self._say(("\r" if self._tty else "") + text)

    # -- stopping: source to end, each stage finishing what it holds -------------------------

    def _stop_in_order(self) -> bool:
        """Answer whether nothing was left behind."""
        clean = True
        timeout = self.settings.drain_timeout_s
        for kind in (PRODUCER, REPLAY):
            if kind.name in self.stages:
                self.stages[kind.name].stop(STOP_TIMEOUT_S)
        if SINK.name in self.stages:
            sink = self.stages[SINK.name]
            if self._revive(sink):  # it died since the last look: what it held is still in Kafka
                sink.wait_ready(START_TIMEOUT_S)
            self._say("stopping: the sink stores its open batches")
            if sink.stop(timeout) == EXIT_NOT_STORED:
                clean = False
                self._say("the sink could not store everything: S3 kept failing (see its log)")
        if RUNNER.name in self.stages:
            self._say("stopping: the runner works through the notifications left")
            if not self._wait_queue_empty(timeout):
                clean = False
                self._say(f"notifications still failing after {timeout:.0f} s: they go to the dead letters")
            self.stages[RUNNER.name].stop(STOP_TIMEOUT_S)
        if self.dashboard is not None:
            self.dashboard.close()
            self.dashboard = None
        if self._watermarks is not None:
            self._watermarks.close()
            self._watermarks = None
        endpoints = [self.stages[kind.name] for kind in (AWS, BROKER) if kind.name in self.stages]
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
            if self.stages[RUNNER.name].exit_code() is not None:
                self._supervise()
            if queue_empty(self._sqs, self.wiring.queue_url):
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
        if self.database is not None:
            self.database.close()

    # -- the end -------------------------------------------------------------------------------

    def _finish(self, drained: bool, stopped_cleanly: bool) -> int:
        runner = self._counters(RUNNER)
        if runner.dead_letters:
            self._say(f"dead letters this run: {runner.dead_letters} (cryptotrades status lists them)")
        try:
            return self._summary(drained, stopped_cleanly)
        except DATABASE_ERRORS as exc:
            assert self.database is not None
            self.database.close()
            self._say(f"cannot read the database for the summary: {exc}")
            return EXIT_INCOMPLETE

    def _summary(self, drained: bool, stopped_cleanly: bool) -> int:
        assert self.database is not None
        self._say(f"ledger: {status.ledger_text(self.database.ledger())}")
        if not self.settings.until_drained:
            self._say(
                f"stopped after {time.monotonic() - self.started:.0f} s; "
                f"logs in {self.settings.state_dir / 'logs'}"
            )
            return EXIT_OK if stopped_cleanly else EXIT_INCOMPLETE
        replay = self._counters(REPLAY)
        have, wanted = self.database.stored(replay.expect), replay.distinct
        elapsed = time.monotonic() - self.started
        self._say(
            progress.replay_summary(
                self.settings,
                trades=replay.trades,
                rejected_lines=replay.rejected_lines,
                have=have,
                wanted=wanted,
                elapsed_s=elapsed,
            )
        )
        if drained and have == wanted:
            return EXIT_OK
        self._say(f"not drained: {wanted - have} replayed trades are not in the database")
        return EXIT_INCOMPLETE

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
