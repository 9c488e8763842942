"""Query parameters and time windows of the dashboard's API (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboard.errors import BadParameterError
from dashboard.window import (
    MAX_WINDOW_MINUTES,
    RANGES,
    WINDOW_PARAMETERS,
    Window,
    WindowRequest,
    describe,
    iso_time,
    parse_time,
    query_parameters,
    resolve,
    symbol_of,
    window_request,
)

WEEK = RANGES["7d"]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def refused(parameter: str, call, *args) -> str:
    with pytest.raises(BadParameterError) as caught:
        call(*args)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(f"{parameter}: ")
    return str(caught.value)


def test_query_parameters_one_value_each():
    assert query_parameters("range=1h&anchor=now&symbol=btcusdt", WINDOW_PARAMETERS) == {
        "range": "1h",
        "anchor": "now",
        "symbol": "btcusdt",
    }
    assert query_parameters("", WINDOW_PARAMETERS) == {}


def test_unknown_repeated_and_malformed_parameters_are_named():
    message = refused("rnage", query_parameters, "rnage=1h", WINDOW_PARAMETERS)
    assert "unknown parameter" in message and "range" in message  # says what it takes
    assert "given 2 times" in refused("range", query_parameters, "range=1h&range=24h", WINDOW_PARAMETERS)
    refused("query", query_parameters, "range", WINDOW_PARAMETERS)  # no '='
    refused("query", query_parameters, "x=" + "a" * 3000, WINDOW_PARAMETERS)
    assert "takes: none" in refused("symbol", query_parameters, "symbol=X", ())


def test_symbol_is_upper_cased_and_checked():
    assert symbol_of({"symbol": "ethusdt"}, "BTCUSDT") == "ETHUSDT"
    assert symbol_of({}, "BTCUSDT") == "BTCUSDT"
    assert "'BTC-USDT'" in refused("symbol", symbol_of, {"symbol": "btc-usdt"}, "BTCUSDT")
    refused("symbol", symbol_of, {"symbol": ""}, "BTCUSDT")


def test_preset_defaults_and_choices():
    assert window_request({}, "1h", WEEK) == WindowRequest("1h", "latest", None, None)
    assert window_request({"range": "7d", "anchor": "now"}, "1h", WEEK) == WindowRequest(
        "7d", "now", None, None
    )
    assert "'2h'" in refused("range", window_request, {"range": "2h"}, "1h", WEEK)
    assert "'later'" in refused("anchor", window_request, {"anchor": "later"}, "1h", WEEK)
    assert "7 days" in refused("range", window_request, {"range": "30d"}, "1h", WEEK)  # an endpoint's cap


def test_past_a_week_the_grain_is_hours_and_past_90_days_days():
    assert window_request({"range": "7d"}, "1h", MAX_WINDOW_MINUTES).grain == "minute"
    assert window_request({"range": "30d"}, "1h", MAX_WINDOW_MINUTES).grain == "hour"
    start = "2026-01-01T00:00:00Z"
    grains = {
        "2026-01-08T00:00:00Z": "minute",
        "2026-01-08T00:01:00Z": "hour",
        "2026-04-01T00:00:00Z": "hour",  # 90 days
        "2026-04-01T00:01:00Z": "day",
        "2027-02-05T00:00:00Z": "day",  # 400 days
    }
    for end, grain in grains.items():
        assert window_request({"start": start, "end": end}, "1h", MAX_WINDOW_MINUTES).grain == grain, end
    too_long = {"start": start, "end": "2027-02-05T00:01:00Z"}
    assert "400 days" in refused("end", window_request, too_long, "1h", MAX_WINDOW_MINUTES)


def test_a_grain_can_be_asked_for_when_it_can_serve_the_window():
    assert window_request({"range": "24h", "grain": "hour"}, "1h", MAX_WINDOW_MINUTES).grain == "hour"
    assert window_request({"range": "30d", "grain": "day"}, "1h", MAX_WINDOW_MINUTES).grain == "day"
    message = refused("grain", window_request, {"range": "30d", "grain": "minute"}, "1h", MAX_WINDOW_MINUTES)
    assert "at most 7 days" in message and "30 days" in message and "hour or day" in message
    assert "'week'" in refused("grain", window_request, {"grain": "week"}, "1h", MAX_WINDOW_MINUTES)


def test_a_coarse_custom_window_is_whole_hours_or_days():
    hours = window_request(
        {"start": "2026-01-01T00:30:00Z", "end": "2026-01-20T10:05:00Z"}, "1h", MAX_WINDOW_MINUTES
    )
    assert (hours.start_ms, hours.end_ms, hours.grain) == (
        ms("2026-01-01 00:00:00"),
        ms("2026-01-20 11:00:00"),
        "hour",
    )
    days = window_request(
        {"start": "2026-01-01T09:00:00+09:00", "end": "2026-06-01T00:00:01Z"}, "1h", MAX_WINDOW_MINUTES
    )
    assert (days.start_ms, days.end_ms) == (ms("2026-01-01 00:00:00"), ms("2026-06-02 00:00:00"))


def test_a_coarse_preset_ends_with_the_hour_or_day_of_its_anchor():
    newest = ms("2026-01-01 00:12:00")
    hours = resolve(WindowRequest("30d", "latest", None, None, "hour"), newest, ms("2026-11-27 15:00:07"))
    assert (hours.start_ms, hours.end_ms) == (ms("2025-12-02 01:00:00"), ms("2026-01-01 01:00:00"))
    assert hours.bucket_ms == 3_600_000
    days = resolve(WindowRequest("7d", "now", None, None, "day"), newest, ms("2026-11-27 15:00:07"))
    assert (days.start_ms, days.end_ms) == (ms("2026-11-21 00:00:00"), ms("2026-11-28 00:00:00"))
    assert describe(days)["grain"] == "day" and describe(days)["minutes"] == 7 * 1440


def test_custom_window_is_whole_minutes_covering_the_times_asked():
    request = window_request({"start": "2026-01-01T00:00:30Z", "end": "2026-01-01T00:10:01Z"}, "1h", WEEK)
    assert request == WindowRequest(
        None, None, ms("2026-01-01 00:00:00"), ms("2026-01-01 00:11:00"), "minute"
    )
    exact = window_request({"start": "2026-01-01T09:00:00+09:00", "end": "2026-01-01T00:05:00Z"}, "1h", WEEK)
    assert (exact.start_ms, exact.end_ms) == (ms("2026-01-01 00:00:00"), ms("2026-01-01 00:05:00"))


def test_custom_window_mistakes_are_named():
    start = "2026-01-01T00:00:00Z"
    assert "both start and end" in refused("end", window_request, {"start": start}, "1h", WEEK)
    assert "both start and end" in refused("start", window_request, {"end": start}, "1h", WEEK)
    assert "not both" in refused(
        "range", window_request, {"start": start, "end": start, "range": "1h"}, "1h", WEEK
    )
    assert "zone" in refused(
        "start", window_request, {"start": "2026-01-01T00:00:00", "end": start}, "1h", WEEK
    )
    assert "'yesterday'" in refused("end", window_request, {"start": start, "end": "yesterday"}, "1h", WEEK)
    assert "after start" in refused("end", window_request, {"start": start, "end": start}, "1h", WEEK)
    late = {"start": start, "end": "2026-01-08T00:01:00Z"}
    assert "7 days" in refused("end", window_request, late, "1h", WEEK)
    assert "2009" in refused(
        "start", window_request, {"start": "1999-01-01T00:00:00Z", "end": start}, "1h", WEEK
    )


def test_latest_anchor_ends_with_the_newest_minute():
    newest = ms("2026-01-01 00:12:00")
    window = resolve(WindowRequest("1h", "latest", None, None), newest, now_ms=ms("2026-11-27 15:00:07"))
    assert window == Window(ms("2025-12-31 23:13:00"), ms("2026-01-01 00:13:00"), "1h", "latest")
    assert window.minutes == 60


def test_now_anchor_and_an_empty_database_end_with_the_current_minute():
    now = ms("2026-11-27 15:00:07")
    expected = Window(ms("2026-11-26 15:01:00"), ms("2026-11-27 15:01:00"), "24h", "now")
    assert resolve(WindowRequest("24h", "now", None, None), ms("2026-01-01 00:12:00"), now) == expected
    empty = resolve(WindowRequest("24h", "latest", None, None), None, now)
    assert (empty.start_ms, empty.end_ms) == (expected.start_ms, expected.end_ms)


def test_custom_window_ignores_the_anchor_inputs():
    request = WindowRequest(None, None, ms("2026-01-01 00:00:00"), ms("2026-01-01 00:13:00"))
    assert resolve(request, None, 0) == Window(request.start_ms, request.end_ms, None, None)


def test_times_are_iso_utc():
    assert iso_time(ms("2026-01-01 00:12:00")) == "2026-01-01T00:12:00Z"
    assert iso_time(ms("2026-01-01 00:12:00") + 5) == "2026-01-01T00:12:00.005Z"
    assert parse_time("start", "2026-01-01T01:00:00+01:00") == ms("2026-01-01 00:00:00")
