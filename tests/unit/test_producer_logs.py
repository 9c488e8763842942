"""The producer's log discipline: rate limits, and librdkafka's lines at levels matching what they say."""

from __future__ import annotations

import logging

import pytest

from producer.logs import LibrdkafkaLog, LogGate, held_back, librdkafka_level

REFUSED = (
    "[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: "
    "Connection refused (after 0ms in state CONNECT)"
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_gate_admits_one_line_per_key_per_interval_and_counts_the_rest():
    clock = Clock()
    gate = LogGate(30.0, clock)
    assert gate.admit("refused") == 0
    assert gate.admit("other") == 0  # keys are independent
    for second in range(1, 30):
        clock.now = second
        assert gate.admit("refused") is None
    clock.now = 30.0
    assert gate.admit("refused") == 29  # the next line says how many were held back
    assert gate.admit("refused") is None
    assert held_back(29, 30.0) == " (29 more like it in the last 30 s not logged)"
    assert held_back(0, 30.0) == ""


@pytest.mark.parametrize(
    ("level", "facility", "message", "expected"),
    [
        (logging.ERROR, "FAIL", REFUSED, logging.WARNING),  # a broker away: we wait, nothing is lost
        (logging.ERROR, "FAIL", "127.0.0.1:9/1: Disconnected (after 5ms in state UP)", logging.WARNING),
        (logging.ERROR, "ERROR", "1/1 brokers are down", logging.WARNING),
        (logging.WARNING, "CONFWARN", "Configuration property enable.gapless.guarantee is experimental", 20),
        (logging.WARNING, "CONFWARN", "Configuration property foo is deprecated", logging.WARNING),
        (logging.ERROR, "FATAL", "Fatal error: Inconsistent state: gapless guarantee", logging.ERROR),
        (logging.WARNING, "ERROR", "Fatal idempotent producer error: out of sequence", logging.ERROR),
        (logging.ERROR, "SSL", "certificate verify failed", logging.ERROR),  # not ours to soften
        (logging.INFO, "TERMINATE", "Client terminating", logging.INFO),
    ],
)
def test_librdkafka_lines_get_the_level_of_what_they_say(level, facility, message, expected):
    assert librdkafka_level(level, facility, message) == expected


def test_librdkafka_log_writes_a_repeated_line_once_per_interval_at_warning(caplog):
    caplog.set_level(logging.DEBUG, logger="test.librdkafka")
    log = LibrdkafkaLog(logging.getLogger("test.librdkafka"), interval=30.0)
    for attempt in range(20):  # what a 10 s broker outage looks like: twice a second, numbers changing
        text = REFUSED.replace("after 0ms", f"after {attempt}ms")
        if attempt % 2:  # and librdkafka noting, now and then, how many it held back itself
            text = text.replace("CONNECT)", f"CONNECT, {attempt} identical error(s) suppressed)")
        log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", text)
    log.log(logging.DEBUG, "%s [%s] %s", "BROKER", "rdkafka#producer-1", "debug line")
    log.log(logging.DEBUG, "%s [%s] %s", "BROKER", "rdkafka#producer-1", "debug line")
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert records == [
        (logging.WARNING, f"FAIL [rdkafka#producer-1] {REFUSED}"),
        (logging.DEBUG, "BROKER [rdkafka#producer-1] debug line"),
        (logging.DEBUG, "BROKER [rdkafka#producer-1] debug line"),
    ]
