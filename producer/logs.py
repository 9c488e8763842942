"""Keeping the producer's log readable: rate limits, and librdkafka's lines at honest levels.

A broker outage or a stream of bad frames must not bury the journal: each kind of line is
written at most once per interval, and the next one says how many were held back. librdkafka
reports a refused connection at syslog's ERR level about twice a second while it retries;
`librdkafka_level` maps its lines to what they mean for us (a broker away is a WARNING we ride
out, the gapless notice we chose is INFO, only a fatal error is an ERROR).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Hashable

# librdkafka's facilities (the first word of its lines) and what they mean here.
_EXPECTED_NOTICES = ("enable.gapless.guarantee",)  # CONFWARN about settings we chose on purpose
_BROKER_AWAY = re.compile(
    r"connection refused|connect to .* failed|disconnected|brokers are down|timed out|"
    r"receive failed|send failed|broken pipe|reset by peer|no route|name or service not known",
    re.IGNORECASE,
)
_NUMBERS = re.compile(r"\d+")
# librdkafka's own note on a repeated error ("..., 1 identical error(s) suppressed)"): the line is
# still the same kind of line, so the note must not make it a new one for the gate.
_SUPPRESSED_NOTE = re.compile(r", \d+ identical error\(s\) suppressed")

LIBRDKAFKA_LOG_INTERVAL = 30.0  # docs/producer.md promises Kafka problems at most this often


class LogGate:
    """At most one line per key every ``interval`` seconds; counts the lines it held back.

    Not locked: used from one thread (the event loop, or the thread serving a client's logs).
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def admit(self, key: Hashable) -> int | None:
        """None: hold this line back. Else write it, noting the returned count held back before it."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)


def librdkafka_level(level: int, facility: str, message: str) -> int:
    """The logging level a librdkafka line deserves (``level`` is confluent_kafka's mapping of syslog's)."""
    if facility == "CONFWARN" and any(notice in message for notice in _EXPECTED_NOTICES):
        return logging.INFO
    if "fatal" in message.lower() or facility in ("FATAL", "FATALERR"):
        return max(level, logging.ERROR)
    if level >= logging.ERROR and _BROKER_AWAY.search(message):
        return logging.WARNING  # the producer waits for the broker; nothing is lost
    return level


def held_back(count: int, interval: float) -> str:
    """The note on a line after others like it were held back."""
    return f" ({count} more like it in the last {interval:g} s not logged)" if count else ""


class LibrdkafkaLog:
    """What confluent_kafka's ``logger`` setting calls: ``log(level, "%s [%s] %s", facility, name, text)``.

    Each line goes to ``logger`` at `librdkafka_level`, at most once per
    `LIBRDKAFKA_LOG_INTERVAL` for lines alike but for their numbers (DEBUG lines, asked for
    with librdkafka's ``debug`` setting, all pass).
    """

    def __init__(self, logger: logging.Logger, interval: float = LIBRDKAFKA_LOG_INTERVAL) -> None:
        self._logger = logger
        self._interval = interval
        self._gate = LogGate(interval)

    def log(self, level: int, fmt: str, *args: object) -> None:
        if len(args) == 3:
            facility, name, text = (str(arg) for arg in args)
        else:  # not the shape confluent_kafka uses today: pass it on as it is
            facility, name, text = "", "", fmt % args if args else fmt
        level = librdkafka_level(level, facility, text)
        if not self._logger.isEnabledFor(level):
            return
        if level > logging.DEBUG:
            held = self._gate.admit((facility, _NUMBERS.sub("#", _SUPPRESSED_NOTE.sub("", text))))
            if held is None:
                return
            text += held_back(held, self._interval)
        self._logger.log(level, "%s [%s] %s", facility, name, text)
