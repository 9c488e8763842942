"""The stop's questions: is the replay all in Kafka yet, how much does the topic hold, is the
runner's queue empty.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import confluent_kafka
from botocore.exceptions import BotoCoreError, ClientError

from onebox.stages import ProducerCounters, ReplayCounters

logger = logging.getLogger(__name__)

QUIET_BEFORE_DRAIN_S = 0.5  # the topic has not grown for this long: the replay is all in Kafka
STILL_TOPIC_S = 10.0  # ... or this long, when some replayed trades can never be produced


@dataclass
class TopicWatch:
    """When the topic last grew, to tell a replay that is all in Kafka from one still arriving."""

    count: int = -1
    since: float = 0.0

    def replay_in_kafka(
        self, replay: ReplayCounters, producer: ProducerCounters, in_kafka: int, now: float
    ) -> bool:
        """The fake has served every trade, the producer has them all confirmed (and every kline
        closed in replay time), the topic is still.

        A file whose ids have holes, or that repeats a trade, never gets "all" produced: once
        the topic has been still for a while with nothing pending, what can come has come.
        """
        if not replay.state or replay.published < replay.trades:
            return False
        if in_kafka != self.count:
            self.count, self.since = in_kafka, now
            return False
        if producer.pending:
            return False
        still = now - self.since
        return (
            producer.produced >= replay.distinct
            and producer.klines_produced >= replay.klines_closed
            and still >= QUIET_BEFORE_DRAIN_S
        ) or still >= STILL_TOPIC_S


class Watermarks:
    """How many records the topics hold, read from the broker's watermarks (a consumer that joins nothing)."""

    def __init__(self, bootstrap: str, run_id: str) -> None:
        self._consumer: Any = confluent_kafka.Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"cryptotrades-onebox-{run_id}", "log_level": 3}
        )

    def records(self, topics: Sequence[str]) -> int:
        total = 0
        metadata = self._consumer.list_topics(timeout=5)
        for topic in topics:
            found = metadata.topics.get(topic)
            for partition in found.partitions if found is not None else ():
                low, high = self._consumer.get_watermark_offsets(
                    confluent_kafka.TopicPartition(topic, partition), timeout=5, cached=False
                )
                total += max(0, high - low)
        return total

    def close(self) -> None:
        self._consumer.close()  # before the broker goes, or librdkafka complains of it


def queue_empty(sqs: Any, queue_url: str) -> bool:
    """No notification waits or is in flight; False also when the queue cannot be read."""
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
    except (BotoCoreError, ClientError) as exc:
        logger.warning("cannot read the queue's length: %s", exc)
        return False
    return (
        attributes["ApproximateNumberOfMessages"]
        == "0"
        == attributes["ApproximateNumberOfMessagesNotVisible"]
    )
