"""The Kafka side: an idempotent producer whose every delivery report is checked.

How nothing is lost or doubled on the way into the topic:

- ``enable.idempotence=true`` and ``acks=all``: the broker numbers each producer's batches
  and drops a retried batch it already has, and a write counts once every in-sync replica
  has it. Ordering per partition holds across retries.
- ``message.timeout.ms=0``: librdkafka never gives up on a message; a broker outage is a
  wait, not a loss. The memory bound is ours instead: at most ``buffer_messages`` trades are
  unconfirmed at a time, and `KafkaSink.produce` waits (the service stops reading) when all
  are taken.
- ``enable.gapless.guarantee=true``: a failure that would leave a hole in a partition's
  sequence stops the producer with a fatal error instead of skipping ahead. The sink then
  replaces the producer and sends every unconfirmed trade again, in order.
- Every delivery report is checked: a confirmed trade leaves the buffer; a trade whose
  report carries a (non-fatal) error stays and is sent again after a backoff.

The key is the symbol (so a symbol's trades share a partition and keep their order), the
value the event bytes as Binance sent them. Closed klines travel the same way, keyed by
their symbol too, but are tracked apart (`produce_kline`, by open time): a kline waiting
for its report never holds back the trades' confirmed id, nor the other way round.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from producer.errors import KafkaSinkError
from producer.logs import LibrdkafkaLog, LogGate, held_back
from producer.settings import ProducerSettings
from producer.stats import Stats
from producer.timing import backoff_delay

logger = logging.getLogger(__name__)
_librdkafka_logger = logging.getLogger("producer.librdkafka")

POLL_INTERVAL = 0.05  # how often delivery reports are served when nothing else calls poll()
ROOM_CHECK_INTERVAL = 0.01  # how often a waiting produce() looks for room
ERROR_LOG_INTERVAL = 30.0  # the same broker error is logged at most this often


def producer_config(settings: ProducerSettings) -> dict[str, Any]:
    """librdkafka properties of the producer (callbacks added by the sink)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": "cryptotrades-producer",
        "enable.idempotence": True,
        "acks": "all",
        "enable.gapless.guarantee": True,
        "message.timeout.ms": 0,
        "compression.type": settings.kafka_compression,
        "linger.ms": settings.kafka_linger_ms,
        # Room for our bound twice over: a replaced producer's trades are sent again.
        "queue.buffering.max.messages": settings.buffer_messages * 2,
        "reconnect.backoff.max.ms": 2000,
    }
    config.update(dict(settings.kafka_options))
    return config


def kline_lane(symbol: str) -> str:
    """The sink's name for a symbol's klines (never a symbol: symbols hold no ``@``)."""
    return f"{symbol}@kline_1m"


class KafkaSink:
    """Hands trades to Kafka in order and knows, per symbol, which are confirmed.

    Runs on the service's event loop: `produce` from the processing task, `run` as a
    background task that serves delivery reports and resends. Not thread-safe.
    """

    def __init__(
        self,
        settings: ProducerSettings,
        stats: Stats,
        *,
        make_producer: Callable[[dict[str, Any]], Producer] = Producer,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._stats = stats
        self._make_producer = make_producer
        self._rand = rand
        self._topic = settings.topic
        self._limit = settings.buffer_messages
        self._keys: dict[str, bytes] = {}  # per lane, the Kafka key: the symbol
        # Unconfirmed messages per lane, in the order handed over: a symbol's trades by agg id
        # (lane: the symbol), its klines by open time (lane: `kline_lane`).
        self._pending: dict[str, dict[int, bytes]] = {}
        self._kline_lanes: set[str] = set()
        self._count = 0
        self._failed: list[tuple[str, int]] = []
        self._failures_in_row = 0
        self._retry_at = 0.0
        self._fatal: KafkaError | None = None
        self._restart_attempts = 0
        self._restart_at = 0.0
        self._generation = 0
        self._producer: Producer | None = None
        self._error_log = LogGate(ERROR_LOG_INTERVAL)
        self._librdkafka_log = LibrdkafkaLog(_librdkafka_logger)  # one for every producer it makes
        self._paused_since: float | None = None
        self._last_pause_log = -ERROR_LOG_INTERVAL

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._producer = self._new_producer()

    def _new_producer(self) -> Producer:
        config = producer_config(self._settings)
        config["error_cb"] = self._on_error
        config["logger"] = self._librdkafka_log
        try:
            return self._make_producer(config)
        except (KafkaException, ValueError, TypeError) as exc:
            raise KafkaSinkError(
                f"cannot create the Kafka producer for {self._settings.kafka_bootstrap}: {exc}"
            ) from exc

    def close(self) -> None:
        """Let go of the producer; anything unconfirmed is dropped here (the state file excludes it)."""
        if self._producer is None:
            return
        self._generation += 1
        try:
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.flush(0)
        except KafkaException as exc:
            logger.warning("closing the Kafka producer: %s", exc)
        self._producer = None

    # -- producing ---------------------------------------------------------------------------

    @property
    def unconfirmed(self) -> int:
        return self._count

    def first_unconfirmed(self, symbol: str) -> int | None:
        """The oldest agg id of ``symbol`` handed to Kafka and not yet confirmed."""
        return next(iter(self._pending.get(symbol, ())), None)

    def first_unconfirmed_kline(self, symbol: str) -> int | None:
        """The open time of the oldest kline of ``symbol`` handed to Kafka and not yet confirmed."""
        return next(iter(self._pending.get(kline_lane(symbol), ())), None)

    async def produce(self, symbol: str, agg_id: int, value: bytes) -> None:
        """Hand one trade to Kafka; waits while ``buffer_messages`` messages are unconfirmed."""
        await self._produce(symbol, symbol, agg_id, value)

    async def produce_kline(self, symbol: str, open_time: int, value: bytes) -> None:
        """Hand one closed kline to Kafka (key: the symbol), tracked by its open time."""
        lane = kline_lane(symbol)
        self._kline_lanes.add(lane)
        await self._produce(lane, symbol, open_time, value)

    async def _produce(self, lane: str, symbol: str, agg_id: int, value: bytes) -> None:
        if self._count >= self._limit or self._fatal is not None:
            await self._wait_for_room()
        pending = self._pending.get(lane)
        if pending is None:
            pending = self._pending[lane] = {}
            self._keys[lane] = symbol.encode()
        pending[agg_id] = value
        self._count += 1
        self._stats.pending = self._count
        self._send(lane, agg_id, value)

    def _send(self, lane: str, agg_id: int, value: bytes) -> None:
        producer = self._producer
        if producer is None:
            raise KafkaSinkError("the Kafka sink is not started")
        try:
            producer.produce(
                self._topic,
                value,
                self._keys[lane],
                on_delivery=functools.partial(self._delivered, self._generation, lane, agg_id),
            )
        except BufferError:
            # librdkafka's own queue is full (it is twice our bound, so only after a replacement):
            # keep the trade and send it again with the failed ones.
            self._failed.append((lane, agg_id))
        except KafkaException as exc:
            self._failure(lane, agg_id, exc.args[0])
        self._poll(producer)

    def _delivered(self, generation: int, lane: str, agg_id: int, error: KafkaError | None, _: Any) -> None:
        if generation != self._generation:
            return  # a report of a replaced producer: its trades were sent again
        if error is None:
            if self._pending[lane].pop(agg_id, None) is not None:
                self._count -= 1
                if lane in self._kline_lanes:
                    self._stats.klines_produced += 1
                else:
                    self._stats.produced += 1
                self._stats.pending = self._count
                self._stats.last_confirmed_at = time.monotonic()
                self._failures_in_row = 0
                self._restart_attempts = 0
            return
        self._failure(lane, agg_id, error)

    def _failure(self, symbol: str, agg_id: int, error: KafkaError) -> None:
        self._stats.delivery_failures += 1
        if error.fatal() or error.code() == KafkaError._FATAL:
            if self._fatal is None:
                logger.error(
                    "Kafka producer failed fatally at %s %d: %s; replacing it", symbol, agg_id, error
                )
            self._fatal = error
            return
        if self._fatal is not None:
            return  # the producer is being replaced: every unconfirmed trade is sent again anyway
        if not self._failed:
            self._failures_in_row += 1
            delay = backoff_delay(self._failures_in_row - 1, base=0.5, cap=30.0, rand=self._rand())
            self._retry_at = time.monotonic() + delay
            logger.warning(
                "Kafka did not take %s %d: %s; sending it again (and any other failed) in %.1f s",
                symbol,
                agg_id,
                error,
                delay,
            )
        self._failed.append((symbol, agg_id))

    def _poll(self, producer: Producer) -> None:
        """Serve delivery reports; confluent_kafka raises a fatal error out of poll() itself."""
        try:
            producer.poll(0)
        except KafkaException as exc:
            self._on_error(exc.args[0])

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            if self._fatal is None:
                logger.error("Kafka producer fatal error: %s; replacing the producer", error)
            self._fatal = error
            return
        held = self._error_log.admit(error.code())
        if held is not None:
            logger.warning(
                "Kafka: %s (%d trades unconfirmed; they wait, none is dropped)%s",
                error,
                self._count,
                held_back(held, ERROR_LOG_INTERVAL),
            )

    # -- background work ---------------------------------------------------------------------

    async def run(self) -> None:
        """Serve delivery reports, resend failed trades, replace a failed producer; until cancelled."""
        while True:
            self.tick()
            await asyncio.sleep(POLL_INTERVAL)

    def tick(self) -> None:
        """One round of the background work (also used while draining)."""
        if self._producer is None:
            return
        self._poll(self._producer)
        self._check_pause_over()
        now = time.monotonic()
        if self._fatal is not None:
            if now >= self._restart_at:
                self._replace_producer(now)
        elif self._failed and now >= self._retry_at:
            self._resend_failed()

    def _resend_failed(self) -> None:
        failed, self._failed = self._failed, []
        for symbol, agg_id in sorted(set(failed)):
            value = self._pending.get(symbol, {}).get(agg_id)
            if value is not None:
                self._send(symbol, agg_id, value)

    def _replace_producer(self, now: float) -> None:
        old = self._producer
        self._generation += 1  # reports from the old producer are ignored from here on
        if old is not None:
            try:
                old.purge(in_queue=True, in_flight=True, blocking=False)
                old.flush(0)
            except KafkaException as exc:
                logger.warning("purging the failed Kafka producer: %s", exc)
        self._fatal = None
        self._failed = []
        try:
            self._producer = self._new_producer()
        except KafkaSinkError:
            self._producer = old
            raise
        self._stats.producer_restarts += 1
        self._restart_attempts += 1
        self._restart_at = now + backoff_delay(
            self._restart_attempts - 1, base=1.0, cap=60.0, rand=self._rand()
        )
        logger.warning(
            "Kafka producer replaced; sending its %d unconfirmed trades again, in order", self._count
        )
        for symbol, pending in self._pending.items():
            for agg_id, value in list(pending.items()):
                self._send(symbol, agg_id, value)

    async def _wait_for_room(self) -> None:
        if self._paused_since is None:
            # One pause lasts until half the buffer is free again: log and count it once.
            now = self._paused_since = time.monotonic()
            self._stats.buffer_full_waits += 1
            if now - self._last_pause_log >= ERROR_LOG_INTERVAL:  # short pauses under load come in runs
                self._last_pause_log = now
                logger.warning(
                    "Kafka holds %d unconfirmed trades (the limit): reading paused until it confirms them "
                    "(%d pauses so far)",
                    self._count,
                    self._stats.buffer_full_waits,
                )
        while self._count >= self._limit or self._fatal is not None:
            self.tick()
            await asyncio.sleep(ROOM_CHECK_INTERVAL)

    def _check_pause_over(self) -> None:
        if self._paused_since is not None and self._count <= self._limit // 2 and self._fatal is None:
            paused = time.monotonic() - self._paused_since
            if paused >= 1.0:  # a pause worth telling: the broker was slow or away
                logger.info("Kafka took the backlog: reading freely again after %.1f s", paused)
            self._paused_since = None

    async def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for Kafka to confirm everything; answer how many are left."""
        deadline = time.monotonic() + timeout
        while self._count and time.monotonic() < deadline:
            self.tick()
            await asyncio.sleep(ROOM_CHECK_INTERVAL)
        if self._producer is not None:
            self._poll(self._producer)
        return self._count
