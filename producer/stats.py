"""The producer's counters, the periodic log line and the health verdict made of them.

`Stats` is written by the service on its event loop and may be read from any thread (the
one-box runner polls it): its fields are plain ints, floats and dicts replaced or updated
whole, which CPython reads safely without a lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# Health: how long each condition may last before GET /health answers 503.
DISCONNECTED_GRACE = 60.0
KAFKA_STALL_GRACE = 60.0
# Health: how long a hole (trades that will not be in Kafka) or a corrected resume point
# keeps GET /health "degraded" (still 200: restarting cannot bring those trades back).
DEGRADED_WINDOW = 15 * 60.0

# Why a frame or a REST item was not published: the keys of `Stats.rejected`.
REJECT_REASONS = (
    "unreadable",  # not a JSON object: malformed, not UTF-8, another JSON type, nested too deep
    "not_a_trade",  # an aggTrade event that breaks the trade contract (field, type, value, bounds)
    "wrong_symbol",  # a trade of a symbol this producer did not ask for
    "id_out_of_range",  # an agg id below 0 or above 2**63 - 1
    "unconfirmed_jump",  # an id ahead of the last by more than one that REST does not know
    "contradicts_rest",  # a jump whose trade differs from REST's under that id (REST's is published)
    "too_large",  # a frame over the WebSocket size limit (the connection is closed and replaced)
    "error_frame",  # {"code": …, "msg": …} from the server
    "other_event",  # an event of another type (not aggTrade, not serverShutdown)
    "rest_item",  # an item of a REST answer that is not a valid trade or closed kline
    "not_a_kline",  # a closed kline event that breaks the kline contract (binance/klines.py)
    "wrong_kline",  # a closed kline of a symbol this producer did not ask for
    "internal",  # a frame whose handling raised something unexpected (a bug: logged with its traceback)
)

COUNTERS = (
    "received",  # trade events read from the stream (every connection, duplicates included)
    "duplicates",  # stream trades dropped: at or below the last id released
    "gaps",  # jumps in the stream's ids (each one filled from REST, or logged as a hole)
    "backfilled",  # trades fetched from REST and released
    "holes",  # id ranges given up (beyond max_backfill, or REST does not have them)
    "hole_trades",  # trades in those ranges
    "produced",  # trades Kafka confirmed (delivery report without error)
    "delivery_failures",  # delivery reports with an error (each such trade is sent again)
    "producer_restarts",  # Kafka producers replaced after a fatal error
    "reconnects",  # connections replaced after an unplanned close
    "rotations",  # connections replaced make-before-break (age, or serverShutdown)
    "server_shutdowns",  # serverShutdown events received
    "bad_frames",  # stream frames not published (every reason of `rejected` but rest_item)
    "resume_corrections",  # resume points found ahead of REST's newest id and moved back
    "rest_requests",
    "rest_rate_limited",  # REST answers 429 or 418
    "buffer_full_waits",  # pauses in reading because Kafka held buffer_messages unconfirmed trades
    # Klines (Binance's own closed 1-minute klines, published beside the trades; docs/producer.md)
    "klines_received",  # closed kline events read from the stream (every connection, repeats included)
    "klines_open",  # kline events of a minute still open (k.x false): ignored, as they are not final
    "kline_duplicates",  # closed klines dropped: at or before the last one released
    "klines_backfilled",  # closed klines fetched from REST and released
    "kline_holes",  # minutes whose kline was given up (REST failing, or further back than we fetch)
    "klines_produced",  # klines Kafka confirmed
)


@dataclass
class Stats:
    """What the producer has done since it started; `snapshot` gives a plain dict of it."""

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
    resume_corrections: int = 0
    rest_requests: int = 0
    rest_rate_limited: int = 0
    buffer_full_waits: int = 0
    klines_received: int = 0
    klines_open: int = 0
    kline_duplicates: int = 0
    klines_backfilled: int = 0
    kline_holes: int = 0
    klines_produced: int = 0
    pending: int = 0  # trades and klines handed to Kafka, not yet confirmed
    connected: bool = False
    connections_open: int = 0
    started_at: float = field(default_factory=time.time)  # wall clock, epoch seconds
    disconnected_since: float | None = field(default_factory=time.monotonic)
    last_confirmed_at: float = field(default_factory=time.monotonic)  # monotonic
    rejected: dict[str, int] = field(default_factory=dict)  # frames and REST items not published, per reason
    last_hole_at: float | None = None  # monotonic time of the last hole logged
    last_correction_at: float | None = None  # monotonic time of the last resume point corrected
    released: dict[str, int] = field(default_factory=dict)  # last id handed to Kafka, per symbol
    confirmed: dict[str, int] = field(default_factory=dict)  # every id up to this one is in Kafka
    # Per symbol, the open time (ms) of the last kline released; every kline up to it is in Kafka.
    kline_released: dict[str, int] = field(default_factory=dict)
    kline_confirmed: dict[str, int] = field(default_factory=dict)
    health_port: int | None = None  # the health endpoint's port, once it listens
    running: bool = False  # true between start-up (state read, Kafka ready) and the end of shutdown

    def snapshot(self) -> dict[str, Any]:
        values: dict[str, Any] = {name: getattr(self, name) for name in COUNTERS}
        values.update(
            pending=self.pending,
            connected=self.connected,
            connections_open=self.connections_open,
            running=self.running,
            uptime=round(time.time() - self.started_at, 1),
            rejected=dict(self.rejected),
            released=dict(self.released),
            confirmed=dict(self.confirmed),
            kline_released=dict(self.kline_released),
            kline_confirmed=dict(self.kline_confirmed),
        )
        return values


def log_line(snapshot: dict[str, Any]) -> str:
    """``key=value`` pairs (logfmt), which journald keeps and grep reads."""
    parts = []
    for key, value in snapshot.items():
        if isinstance(value, dict):
            parts.extend(f"{key}.{symbol}={number}" for symbol, number in sorted(value.items()))
        elif isinstance(value, bool):
            parts.append(f"{key}={'true' if value else 'false'}")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def reject(stats: Stats, reason: str) -> None:
    """Count one frame or REST item that was not published, by reason (see `REJECT_REASONS`)."""
    stats.rejected[reason] = stats.rejected.get(reason, 0) + 1
    if reason != "rest_item":
        stats.bad_frames += 1


def health_status(stats: Stats, now: float) -> tuple[str, list[str]]:
    """``("ok" | "degraded" | "failing", reasons)`` at monotonic ``now``."""
    problems = health_problems(stats, now)
    if problems:
        return "failing", problems
    worries = degradations(stats, now)
    return ("degraded", worries) if worries else ("ok", [])


def degradations(stats: Stats, now: float) -> list[str]:
    """Why the producer is running but the topic is not whole: real trades given up lately."""
    worries = []
    if stats.last_hole_at is not None and now - stats.last_hole_at <= DEGRADED_WINDOW:
        worries.append(
            f"a hole was logged {now - stats.last_hole_at:.0f} s ago "
            f"({stats.holes} holes, {stats.hole_trades} trades, since start)"
        )
    if stats.last_correction_at is not None and now - stats.last_correction_at <= DEGRADED_WINDOW:
        worries.append(
            f"a resume point ahead of Binance was corrected {now - stats.last_correction_at:.0f} s ago "
            "(the topic may hold ids Binance does not know)"
        )
    return worries


def health_problems(stats: Stats, now: float) -> list[str]:
    """Why the producer is unhealthy at monotonic ``now``; empty when it is fine."""
    problems = []
    if not stats.running:
        problems.append("not running")
    if stats.disconnected_since is not None and now - stats.disconnected_since > DISCONNECTED_GRACE:
        problems.append(f"no Binance connection for {now - stats.disconnected_since:.0f} s")
    if stats.pending and now - stats.last_confirmed_at > KAFKA_STALL_GRACE:
        problems.append(
            f"Kafka has confirmed nothing for {now - stats.last_confirmed_at:.0f} s "
            f"while {stats.pending} trades wait"
        )
    return problems
