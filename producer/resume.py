"""The agg ids per symbol already in the topic, read from its tail at start.

The state file is written every few seconds and holds only what Kafka confirmed; after a
crash (SIGKILL, power loss) the topic may hold a few trades more than it says. Reading the
last messages of each partition tells exactly where to resume, so a restart after a crash
sends no trade twice. When Kafka cannot be read in time the service goes on with the state
file alone (and says so).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import msgspec
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from producer.logs import LibrdkafkaLog
from producer.sequence import id_in_range
from producer.settings import ProducerSettings

logger = logging.getLogger(__name__)

TAIL_DEPTH = 1000  # messages read back per partition


class _Ids(msgspec.Struct):
    a: int  # Binance's name for the agg id


_IDS = msgspec.json.Decoder(_Ids)


def tail_ids(
    messages: Iterable[tuple[bytes | None, bytes | None]], symbols: Iterable[str]
) -> dict[str, list[int]]:
    """Per wanted symbol, the agg ids among (key, value) messages, ascending and distinct.

    Unreadable values and ids no Binance id can be are skipped. All ids are kept, not only
    the highest: when the highest is not Binance's (a poisoned tail), the service resumes
    after the highest one REST knows.
    """
    wanted = {symbol.encode(): symbol for symbol in symbols}
    found: dict[str, set[int]] = {}
    for key, value in messages:
        symbol = wanted.get(key or b"")
        if symbol is None or value is None:
            continue
        try:
            agg_id = _IDS.decode(value).a
        except (msgspec.MsgspecError, RecursionError, ValueError, OverflowError):
            continue
        if id_in_range(agg_id):
            found.setdefault(symbol, set()).add(agg_id)
    return {symbol: sorted(ids) for symbol, ids in found.items()}


def read_topic_tail(settings: ProducerSettings, timeout: float) -> dict[str, list[int]]:
    """Blocking: the agg ids per symbol (ascending) in the last `TAIL_DEPTH` messages of each partition.

    Raises `KafkaException` when the broker cannot be asked within ``timeout`` seconds.
    """
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": "cryptotrades-producer-resume",  # never joined or committed: partitions are assigned
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",  # retention may have deleted the start of the tail
        "logger": LibrdkafkaLog(logging.getLogger("producer.librdkafka")),
    }
    config.update(dict(settings.kafka_options))
    consumer = Consumer(config)
    try:
        metadata = consumer.list_topics(settings.topic, timeout=timeout)
        topic = metadata.topics.get(settings.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            return {}  # no topic yet: nothing was ever produced
        starts, ends = [], {}
        for partition in topic.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(settings.topic, partition), timeout=timeout, cached=False
            )
            if high > low:
                starts.append(TopicPartition(settings.topic, partition, max(low, high - TAIL_DEPTH)))
                ends[partition] = high - 1  # the last offset there was when we looked
        if not starts:
            return {}
        consumer.assign(starts)
        messages: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise KafkaException(f"the tail of {settings.topic} was not read within {timeout:g} s")
            # Short waits: consume() returns early only with a full batch.
            for message in consumer.consume(500, 0.1):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        ends.pop(message.partition(), None)
                        continue
                    raise KafkaException(error)
                messages.append((message.key(), message.value()))
                if message.offset() >= ends.get(message.partition(), message.offset() + 1):
                    ends.pop(message.partition(), None)
        return tail_ids(messages, settings.symbols)
    finally:
        consumer.close()
