"""Kline lines through the Lambda handler (moto S3, SQLite and MariaDB): stored with the object's
trades, bad ones quarantined with their reason, and the minute check measured as two metrics."""

from __future__ import annotations

import json

import pytest

from binance.events import MINUTE_MS
from lambda_aggregator import handler
from minutes import klines as check
from minutes.aggregate import minute_rows
from minutes.store import open_store
from tests.fixtures.aggregator import failing_minute_writes, s3_event
from tests.fixtures.data import event_line, kline_event_line, kline_of, sample_trades

pytestmark = pytest.mark.integration

TRADES = sample_trades()
ROWS = minute_rows(TRADES)
KEY = "trades/date=2026-01-01/hour=00/minute=00/1767225660-0b6f.ndjson"


def body(trades, kline_lines) -> bytes:
    """Trades and kline events interleaved as the topic carries them (a kline after its minute)."""
    lines = [event_line(t) for t in trades]
    return b"".join(line + b"\n" for line in [*lines[:2500], *kline_lines, *lines[2500:]])


def listen(monkeypatch, capsys) -> None:
    """Metrics on, from a clean slate (the module's Metrics keeps what earlier events added)."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    handler.metrics.clear_metrics()
    capsys.readouterr()


def emitted(capsys) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' in line:
            for name, value in json.loads(line).items():
                if not name.startswith("_") and isinstance(value, list | float | int):
                    found.setdefault(name, []).extend(value if isinstance(value, list) else [value])
    return found


def test_klines_are_stored_with_the_trades_bad_ones_quarantined_and_the_check_measured(
    aggregator, bucket, lambda_context, monkeypatch, capsys
):
    lines = [kline_event_line(kline_of(row)) for row in ROWS]
    lines[7] = kline_event_line(kline_of(ROWS[7], trades=ROWS[7].trades_buy + ROWS[7].trades_sell + 1))
    bad = lines[3].replace(b'"x":true', b'"x":false')
    obj = bucket.put(KEY, body(TRADES, [*lines, bad]))
    listen(monkeypatch, capsys)
    (summary,) = handler.lambda_handler(s3_event(obj), lambda_context)["objects"]
    assert (summary["accepted"], summary["klines"], summary["rejected"], summary["lines"]) == (
        5000,
        13,
        1,
        5014,
    )
    (quarantined,) = [json.loads(line) for line in bucket.get(f"rejected/{KEY}.jsonl").splitlines()]
    assert quarantined["line"] == 2500 + 14
    assert quarantined["reason"].startswith("kline event: field k.x (closed): False is not true")
    metrics = emitted(capsys)
    assert metrics["KlinesStored"] == [13.0]
    assert (metrics["MinutesDisagreeing"], metrics["MinutesWithoutRow"]) == ([1.0], [0.0])
    with open_store(aggregator) as target:
        assert len(check.stored_klines(target)) == 13
        assert target.execute("SELECT klines FROM processed_objects") == [(13,)]
        summary = check.check_summary(target, *check.recent_window(target))
    assert (summary.counts["agrees"], summary.counts["differs"]) == (12, 1)
    assert summary.differing[0].fields[0].field == "trades"


def test_a_kline_of_a_minute_without_a_row_is_measured(
    aggregator, bucket, lambda_context, monkeypatch, capsys
):
    without = kline_of(ROWS[-1], open_time=ROWS[-1].minute + MINUTE_MS)  # no trade of ours in that minute
    obj = bucket.put(KEY, body(TRADES, [kline_event_line(kline_of(ROWS[0])), kline_event_line(without)]))
    listen(monkeypatch, capsys)
    handler.lambda_handler(s3_event(obj), lambda_context)
    metrics = emitted(capsys)
    assert (metrics["MinutesDisagreeing"], metrics["MinutesWithoutRow"]) == ([0.0], [1.0])


def test_an_object_that_fails_stores_no_kline_and_its_retry_stores_them_once(
    aggregator, bucket, lambda_context
):
    obj = bucket.put(KEY, body(TRADES, [kline_event_line(kline_of(row)) for row in ROWS]))
    with open_store(aggregator) as target, failing_minute_writes(target):
        with pytest.raises(Exception, match="1 of 1 objects failed"):
            handler.lambda_handler(s3_event(obj), lambda_context)
        assert check.stored_klines(target) == []
    handler.lambda_handler(s3_event(obj), lambda_context)  # Lambda's retry
    again = bucket.put(
        KEY.replace("0b6f", "copy"), body(TRADES, [kline_event_line(kline_of(r)) for r in ROWS])
    )
    (summary,) = handler.lambda_handler(s3_event(again), lambda_context)["objects"]  # a replayed copy
    assert (summary["klines"], summary["duplicates"]) == (13, 5000)
    with open_store(aggregator) as target:
        assert check.stored_klines(target) == [kline_of(row) for row in ROWS]
        assert target.execute("SELECT SUM(klines) FROM processed_objects") in ([(26,)], [(26.0,)])


def test_no_metric_before_the_first_kline(aggregator, bucket, lambda_context, monkeypatch, capsys):
    obj = bucket.put(KEY, body(TRADES, []))
    listen(monkeypatch, capsys)
    handler.lambda_handler(s3_event(obj), lambda_context)
    metrics = emitted(capsys)
    assert "MinutesDisagreeing" not in metrics and "KlinesStored" not in metrics
    assert metrics["MinuteRowsWritten"] == [13.0]
