"""The Vector-compatible sink against a real Kafka-protocol broker and moto's S3.

What Vector promises with acknowledgements, checked where it can be seen: the group's
committed offsets (read back from the broker) never pass a record that is not in S3, a
refused put is retried with the same key, and a stop stores what it holds.
"""

from __future__ import annotations

import dataclasses
import gzip
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import boto3
import confluent_kafka
import pytest

from binance.files import parse_ndjson
from onebox import vector_config
from onebox.sink import Sink, consumer_config, s3_client
from onebox.stats import StatsFile
from tests.fixtures.data import sample_ndjson_lines
from tests.fixtures.onebox import S3FaultProxy

pytestmark = pytest.mark.integration

BUCKET = "cryptotrades-onebox"


@dataclasses.dataclass
class RunningSink:
    sink: Sink
    thread: threading.Thread
    stop: threading.Event
    flush: threading.Event
    stats: StatsFile
    plan: vector_config.SinkPlan

    def wait(self, condition, what: str, timeout_s: float = 60) -> None:
        deadline = threading.Event()
        timer = threading.Timer(timeout_s, deadline.set)
        timer.start()
        try:
            while not condition():
                if deadline.wait(0.05):
                    pytest.fail(f"not within {timeout_s} s: {what}; sink counters {self.sink.counts}")
                assert self.thread.is_alive(), "the sink thread died"
        finally:
            timer.cancel()


def committed(bootstrap: str, plan: vector_config.SinkPlan, topic: str) -> int:
    """The group's committed offset of partition 0, read from the broker (-1001: none)."""
    reader = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": plan.group_id})
    try:
        (position,) = reader.committed([confluent_kafka.TopicPartition(topic, 0)], timeout=10)
        return position.offset
    finally:
        reader.close()


@pytest.fixture
def produce(kafka, topic):
    producer = confluent_kafka.Producer({"bootstrap.servers": kafka.bootstrap, "enable.idempotence": True})

    def send(lines: list[bytes]) -> None:
        for line in lines:
            producer.produce(topic, line, b"BTCUSDT")
        assert producer.flush(30) == 0

    return send


@pytest.fixture
def start_sink(kafka, topic, s3_fault_proxy: S3FaultProxy, aws_env, tmp_path: Path) -> Iterator:
    boto3.client("s3", endpoint_url=s3_fault_proxy.target, region_name="eu-west-1").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    started: list[RunningSink] = []

    def start(**changes) -> RunningSink:
        env = {
            "CRYPTOTRADES_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "CRYPTOTRADES_BUCKET": BUCKET,
            "AWS_REGION": "eu-west-1",
        }
        plan = vector_config.sink_plan(vector_config.load(vector_config.DEFAULT_PATH, env))
        plan = dataclasses.replace(plan, topics=(topic,), **changes)
        stop, flush = threading.Event(), threading.Event()
        stats = StatsFile(tmp_path / "sink.json", "test")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ENDPOINT_URL_S3", s3_fault_proxy.url)
            s3 = s3_client(plan)
        consumer = confluent_kafka.Consumer(consumer_config(plan))
        sink = Sink(plan, consumer, s3, stats, stop=stop, flush=flush, stop_grace_s=60)
        thread = threading.Thread(target=sink.run, name="sink-under-test", daemon=True)
        thread.start()
        running = RunningSink(sink, thread, stop, flush, stats, plan)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop.set()
        running.thread.join(60)
        running.sink.consumer.close()


def stored_objects(proxy: S3FaultProxy) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=proxy.target, region_name="eu-west-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) for key in keys}


def test_nothing_is_committed_past_a_put_s3_refuses_and_the_retry_keeps_its_key(
    start_sink, produce, kafka, topic, s3_fault_proxy
):
    lines = sample_ndjson_lines()[:1200]
    s3_fault_proxy.fail_puts(1000)  # S3 refuses every put until told otherwise
    running = start_sink(batch_max_events=500, batch_timeout_s=300, commit_interval_ms=0)
    produce(lines)
    running.wait(lambda: running.sink.counts["put_failures"] >= 3, "three refused puts")
    assert committed(kafka.bootstrap, running.plan, topic) < 0  # not one record committed
    refused_keys = {unquote(path) for path in s3_fault_proxy.refused_paths}
    assert len(refused_keys) == 1  # the same key each time: a retry, not a new object

    s3_fault_proxy.fail_puts(0)
    running.wait(lambda: running.sink.counts["objects"] == 2, "the two full batches stored")
    running.wait(lambda: committed(kafka.bootstrap, running.plan, topic) == 1000, "offset 1000 committed")
    # Records 1000..1199 wait in the open batch: the commit stops at the first of them.
    running.flush.set()
    running.wait(lambda: committed(kafka.bootstrap, running.plan, topic) == 1200, "the flush committed")

    objects = stored_objects(s3_fault_proxy)
    assert len(objects) == 3
    in_order = sorted(objects, key=lambda key: parse_ndjson(objects[key]).trades[0].agg_id)
    assert refused_keys == {f"/{BUCKET}/{in_order[0]}"}  # the refused object is the first one stored
    body = b"".join(objects[key] for key in in_order)
    assert body == b"".join(line + b"\n" for line in lines)  # every record once, in order, as produced


def test_a_stop_reads_the_topic_to_its_end_and_stores_the_open_batch(
    start_sink, produce, kafka, topic, s3_fault_proxy
):
    lines = sample_ndjson_lines()[:1000]
    running = start_sink(batch_timeout_s=300)
    produce(lines[:700])
    running.wait(lambda: running.sink.counts["consumed"] >= 1, "the first record read")
    produce(lines[700:])
    running.stop.set()
    running.thread.join(60)
    assert not running.thread.is_alive()
    assert running.sink.counts["consumed"] == running.sink.counts["records_stored"] == 1000
    assert committed(kafka.bootstrap, running.plan, topic) == 1000
    (body,) = stored_objects(s3_fault_proxy).values()
    assert len(parse_ndjson(body).trades) == 1000
