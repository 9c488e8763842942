"""The embedded Kafka-protocol broker: librdkafka's mock cluster, in a process of its own.

The mock cluster speaks the real Kafka protocol on 127.0.0.1 (produce, fetch, consumer
group offsets, idempotent producers), so the producer and the sink use it exactly as they
would use a real broker. It keeps every record in memory for the life of the process, and
creates a topic with 4 partitions the first time a client asks for it; this process asks
for the pipeline's topics at start, so they exist before anyone reads them.

``python -m onebox.broker --state-dir DIR --topics cryptotrades`` writes its bootstrap
address to ``DIR/stats/broker.json`` (``BrokerCounters``: ``{"bootstrap": "127.0.0.1:PORT", ...}``)
and runs until SIGTERM, SIGINT or, with ``--watch-parent``, the end of its stdin.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import confluent_kafka

from onebox import child
from onebox.errors import StageError
from onebox.stages import BROKER, BrokerCounters

logger = logging.getLogger(__name__)


def start_mock_cluster() -> tuple[confluent_kafka.Producer, str]:
    """A client that holds a mock cluster, and the cluster's bootstrap address."""
    holder = confluent_kafka.Producer({"test.mock.num.brokers": 1, "bootstrap.servers": "", "log_level": 4})
    metadata = holder.list_topics(timeout=10)
    bootstrap = ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())
    if not bootstrap:
        raise StageError("librdkafka's mock cluster reported no broker")
    return holder, bootstrap


def create_topics(bootstrap: str, topics: Sequence[str]) -> dict[str, int]:
    """Ask for each topic's metadata: the mock cluster creates a topic it does not know."""
    asker = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "log_level": 4})
    partitions = {}
    for topic in topics:
        metadata = asker.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            raise StageError(
                f"the embedded broker at {bootstrap} did not create topic {topic!r}: {metadata.error}"
            )
        partitions[topic] = len(metadata.partitions)
    asker.flush(0)
    return partitions


def main(argv: list[str] | None = None) -> int:
    stage = child.begin(BROKER, argv, __doc__)
    holder, bootstrap = start_mock_cluster()
    counters = BrokerCounters(
        state="running", bootstrap=bootstrap, partitions=create_topics(bootstrap, stage.settings.topics)
    )
    stage.report(counters, force=True)
    logger.info(
        "Kafka-protocol broker (librdkafka mock cluster) on %s, topics %s", bootstrap, counters.partitions
    )
    while not stage.stop.is_set():
        holder.poll(0.5)  # serves the holder's own callbacks; the cluster runs on its own threads
    counters.state = "stopped"
    stage.report(counters, force=True)
    logger.info("broker on %s stopped; its records are gone with it", bootstrap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
