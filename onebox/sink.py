"""The one-box stand-in for Vector: Kafka topic -> one object a batch in S3.

Run as ``python -m onebox.sink``, with the environment Vector gets on the Kafka host
(``CRYPTOTRADES_KAFKA_BOOTSTRAP``, ``CRYPTOTRADES_BUCKET``, ``AWS_REGION``) plus the standard
``AWS_ENDPOINT_URL_S3`` when S3 is not AWS. Every setting it acts on comes from
``vector/vector.toml`` (see ``onebox.vector_config``); the batching and the commit rule are
the pure ``onebox.batches``.

Delivery is at least once, as with Vector and its acknowledgements: an offset is committed
only after every record before it is in S3; a failed put is retried with the same key,
with backoff, for as long as it takes, and nothing past it is committed meanwhile. A sink
killed mid-batch replays from the last commit; the duplicates are absorbed by the
aggregator, which counts a trade once by (symbol, agg id).

Stopping (SIGTERM or SIGINT): read the topic to the end it had when told to stop, store
every open batch, commit, exit. That is a flush Vector does not do (it leaves unread
records in Kafka); here the embedded broker goes away with the run, so the tail must not
stay behind in it. SIGUSR1 stores every open batch now and goes on (the one-box sends it
when a replay is all in Kafka, so its last minutes need not wait for the batch timeout).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import confluent_kafka
import msgspec
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from onebox import child, vector_config
from onebox.batches import Batch, Batcher, KeyRenderer, Slot, body, commit_positions
from onebox.errors import OneboxError, StageError
from onebox.stages import SINK, SinkCounters
from onebox.stats import StatsFile
from onebox.vector_config import SinkPlan
from producer.timing import backoff_delay

logger = logging.getLogger(__name__)

CONSUME_BATCH = 5000  # records per consume() call: amortises the call, small beside a minute
RETRY_BASE_S = 0.5
RETRY_CAP_S = 10.0
EXIT_NOT_STORED = 3  # stopped with records it could not store (they stay uncommitted in Kafka)


class GaveUpError(OneboxError):
    """Told to stop while S3 kept refusing a put: what was not stored stays uncommitted."""


class Sink:
    """The consume -> batch -> put -> commit loop. Clients come in, so tests can pass their own."""

    def __init__(
        self,
        plan: SinkPlan,
        consumer: Any,
        s3: Any,
        stats: StatsFile,
        *,
        stop: threading.Event,
        flush: threading.Event | None = None,
        stop_grace_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.plan = plan
        self.consumer = consumer
        self.s3 = s3
        self.stats = stats
        self.stop = stop
        self.flush = flush if flush is not None else threading.Event()
        self.stop_grace_s = stop_grace_s
        self.clock = clock
        self.wall = wall
        self.keys = KeyRenderer(plan)
        self.batcher = Batcher(
            timeout_s=plan.batch_timeout_s, max_bytes=plan.batch_max_bytes, max_events=plan.batch_max_events
        )
        self.consumed: dict[Slot, int] = {}  # next offset to read, per partition
        self.committed: dict[Slot, int] = {}
        self.stop_targets: dict[Slot, int] | None = None  # the topic's end when told to stop
        self.stop_deadline: float | None = None
        self.last_commit = 0.0
        self.counters = SinkCounters(state="starting")

    @property
    def counts(self) -> dict[str, Any]:
        """The counters as a plain dict (for messages and tests that name them)."""
        return msgspec.structs.asdict(self.counters)

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        self._assign()
        while not self._finished():
            self._consume_once()
            for batch in self.batcher.due(self.clock()):
                self._store(batch)
            if self.flush.is_set():
                self.flush.clear()
                logger.info("asked to flush: storing %d open batches", len(self.batcher.open))
                for batch in self.batcher.close_all():
                    self._store(batch)
                self._commit(force=True)
            self._commit()
            self._report()
        for batch in self.batcher.close_all():
            self._store(batch)
        self._commit(force=True)
        self.counters.state = "stopped"
        self._report(force=True)
        logger.info(
            "stopped: %d records consumed, %d objects written, offsets committed %s",
            self.counters.consumed,
            self.counters.objects,
            _describe(self.committed),
        )

    def _assign(self) -> None:
        """Read every partition of the topics from the group's committed offsets.

        Partitions are assigned, not subscribed: one sink per pipeline needs no group
        rebalancing, and a restarted sink resumes at once instead of waiting for the
        dead member's session to expire. Offsets are still committed to the group.
        """
        slots = self._wait_for_partitions()
        committed = self.consumer.committed(
            [confluent_kafka.TopicPartition(t, p) for t, p in slots], timeout=30
        )
        assignment = []
        for tp in committed:
            slot = (tp.topic, tp.partition)
            low, high = self.consumer.get_watermark_offsets(tp, timeout=30, cached=False)
            if tp.offset >= 0:
                start = tp.offset
            else:  # no commit yet: the source's auto_offset_reset decides
                start = low if self.plan.auto_offset_reset in ("smallest", "earliest", "beginning") else high
            self.consumed[slot] = self.committed[slot] = start
            assignment.append(confluent_kafka.TopicPartition(tp.topic, tp.partition, start))
        self.consumer.assign(assignment)
        self.last_commit = self.clock()  # like Vector's commit timer: the first commit is one interval in
        logger.info(
            "reading %s as group %s from %s",
            ",".join(self.plan.topics),
            self.plan.group_id,
            _describe(self.consumed),
        )
        self.counters.state = "running"
        self._report(force=True)

    def _wait_for_partitions(self) -> list[Slot]:
        """The topics' partitions, once the topics exist (the producer may create them later)."""
        while True:
            metadata = self.consumer.list_topics(timeout=10)
            slots = [
                (topic, partition)
                for topic in self.plan.topics
                if topic in metadata.topics and metadata.topics[topic].error is None
                for partition in metadata.topics[topic].partitions
            ]
            if len({t for t, _ in slots}) == len(self.plan.topics):
                return sorted(slots)
            if self.stop.wait(0.5):
                raise StageError(f"stopped before the topic(s) {', '.join(self.plan.topics)} existed")

    def _consume_once(self) -> None:
        deadline = self.batcher.next_deadline()
        timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - self.clock()))
        records = self.consumer.consume(num_messages=CONSUME_BATCH, timeout=timeout)
        now = self.clock()
        counters = self.counters
        for record in records:
            error = record.error()
            if error is not None:
                if error.code() != confluent_kafka.KafkaError._PARTITION_EOF:
                    logger.warning("kafka: %s", error)
                continue
            value = record.value() or b""
            kind, timestamp = record.timestamp()
            if kind == confluent_kafka.TIMESTAMP_NOT_AVAILABLE:
                timestamp = int(self.wall() * 1000)  # Vector's kafka source falls back to now
            slot = (record.topic(), record.partition())
            offset = record.offset()
            self.consumed[slot] = offset + 1
            counters.consumed += 1
            counters.bytes += len(value)
            full = self.batcher.add(self.keys.prefix(timestamp), value, slot, offset, now)
            if full is not None:
                self._store(full)

    def _finished(self) -> bool:
        if not self.stop.is_set():
            return False
        if self.stop_targets is None:
            self.stop_targets = {}
            for topic, partition in self.consumed:
                tp = confluent_kafka.TopicPartition(topic, partition)
                self.stop_targets[(topic, partition)] = self.consumer.get_watermark_offsets(
                    tp, timeout=10, cached=False
                )[1]
            logger.info("stopping: reading up to %s first", _describe(self.stop_targets))
        behind = {s: end for s, end in self.stop_targets.items() if self.consumed.get(s, 0) < end}
        if behind and self._past_grace():
            logger.error("stopping with the topic unread from %s: it did not arrive in time", behind)
            return True
        return not behind

    def _past_grace(self) -> bool:
        """Told to stop, and the grace period for finishing has run out."""
        if self.stop_deadline is None:
            self.stop_deadline = self.clock() + self.stop_grace_s
        return self.clock() > self.stop_deadline

    # -- storing and committing -------------------------------------------------------

    def _store(self, batch: Batch) -> None:
        """Put one batch as one object, retrying the same key until S3 takes it."""
        key = self.keys.key(batch.prefix, self.wall(), uuid.uuid4())
        data = body(batch.lines, self.plan.compression)
        extra: dict[str, str] = {}
        if self.plan.content_type:
            extra["ContentType"] = self.plan.content_type
        if self.plan.content_encoding:
            extra["ContentEncoding"] = self.plan.content_encoding
        attempt = 0
        while True:
            try:
                self.s3.put_object(Bucket=self.plan.bucket, Key=key, Body=data, **extra)
                break
            except (BotoCoreError, ClientError) as exc:
                attempt += 1
                self.counters.put_failures += 1
                if self.stop.is_set() and self._past_grace():
                    raise GaveUpError(
                        f"s3://{self.plan.bucket}/{key}: put failed {attempt} times and the sink was told "
                        f"to stop; {len(batch.lines)} records from {_describe(batch.first_offsets)} "
                        "stay uncommitted in Kafka"
                    ) from exc
                wait = backoff_delay(attempt - 1, base=RETRY_BASE_S, cap=RETRY_CAP_S, rand=random.random())
                logger.warning(
                    "put s3://%s/%s failed (attempt %d, %d records): %s; retrying in %.1f s",
                    self.plan.bucket,
                    key,
                    attempt,
                    len(batch.lines),
                    exc,
                    wait,
                )
                self._report(force=True)
                time.sleep(wait)
        self.counters.objects += 1
        self.counters.records_stored += len(batch.lines)
        self.counters.last_key = key
        self._report()
        logger.info(
            "stored s3://%s/%s: %d records, %d bytes", self.plan.bucket, key, len(batch.lines), len(data)
        )

    def _commit(self, *, force: bool = False) -> None:
        """Commit the first unstored offset of each partition, every commit interval."""
        now = self.clock()
        if not force and (now - self.last_commit) * 1000 < self.plan.commit_interval_ms:
            return
        self.last_commit = now
        positions = commit_positions(self.consumed, (b.first_offsets for b in self.batcher.open.values()))
        changed = {s: o for s, o in positions.items() if self.committed.get(s) != o}
        if not changed:
            return
        self.consumer.commit(
            offsets=[confluent_kafka.TopicPartition(t, p, o) for (t, p), o in changed.items()],
            asynchronous=False,
        )
        self.committed.update(changed)
        logger.debug("committed %s", _describe(changed))

    def _report(self, *, force: bool = False) -> None:
        counters = self.counters
        counters.open_batches = len(self.batcher.open)
        counters.pending = self.batcher.pending_records
        counters.committed = sum(self.committed.values())
        counters.uncommitted = sum(self.consumed.values()) - counters.committed
        self.stats.write(counters, force=force)


def _describe(offsets: Mapping[Slot, int]) -> str:
    return ", ".join(f"{t}[{p}]@{o}" for (t, p), o in sorted(offsets.items())) or "nothing"


def consumer_config(plan: SinkPlan) -> dict[str, Any]:
    return {
        "bootstrap.servers": plan.bootstrap_servers,
        "group.id": plan.group_id,
        "client.id": "cryptotrades-onebox-sink",
        "enable.auto.commit": False,  # commits follow stored objects, nothing else
        "enable.auto.offset.store": False,
        "auto.offset.reset": plan.auto_offset_reset,
        "fetch.wait.max.ms": plan.fetch_wait_max_ms,  # as Vector's source sets it
        "log_level": 4,  # librdkafka warnings and worse
    }


def s3_client(plan: SinkPlan) -> Any:
    """Honours AWS_ENDPOINT_URL_S3 like every boto3 client; path-style as Vector's default."""
    return boto3.client(
        "s3",
        region_name=plan.region or None,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "total_max_attempts": 1},  # one layer of retries: ours, logged
            connect_timeout=5,
            read_timeout=60,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    stage = child.begin(SINK, argv, __doc__)
    flush = threading.Event()
    child.stop_on_signals(flush, signal.SIGUSR1)
    path = stage.settings.vector_config
    try:
        plan = vector_config.sink_plan(vector_config.load(path, os.environ), where=str(path))
    except OneboxError as exc:
        logger.error("%s", exc)
        return 2
    consumer = confluent_kafka.Consumer(consumer_config(plan))
    stage.report(SinkCounters(state="starting"), force=True)
    sink = Sink(plan, consumer, s3_client(plan), stage.stats, stop=stage.stop, flush=flush)
    try:
        sink.run()
    except GaveUpError as exc:
        logger.error("%s", exc)
        sink.counters.state = "gave up"
        sink._report(force=True)
        return EXIT_NOT_STORED
    except StageError as exc:
        logger.error("%s", exc)
        return 2
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
