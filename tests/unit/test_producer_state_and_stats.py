"""The state file (atomic, checked on read) and the counters' log line, rejects and health verdict."""

from __future__ import annotations

import json

import pytest

from producer.errors import StateFileError
from producer.state import SavedState, decode_state, encode_state, load_state, save_state
from producer.stats import (
    DEGRADED_WINDOW,
    DISCONNECTED_GRACE,
    KAFKA_STALL_GRACE,
    REJECT_REASONS,
    Stats,
    health_problems,
    health_status,
    log_line,
    reject,
)


def test_state_round_trip(tmp_path):
    path = tmp_path / "state" / "producer.json"  # the directory is made on first save
    save_state(path, {"BTCUSDT": 3800397495, "ETHUSDT": 12}, saved_at=1767225600.5)
    assert load_state(path) == SavedState({"BTCUSDT": 3800397495, "ETHUSDT": 12}, 1767225600.5)
    assert [p.name for p in path.parent.iterdir()] == ["producer.json"]  # no temporary left behind


def test_a_missing_state_file_is_a_first_start(tmp_path):
    assert load_state(tmp_path / "absent.json") == SavedState()


def test_save_replaces_the_file_whole(tmp_path):
    path = tmp_path / "state.json"
    save_state(path, {"BTCUSDT": 1}, saved_at=1.0)
    first_inode = path.stat().st_ino
    save_state(path, {"BTCUSDT": 2}, saved_at=2.0)
    assert load_state(path).last_agg_ids == {"BTCUSDT": 2}
    assert path.stat().st_ino != first_inode  # a new file renamed over the old, not rewritten in place


def test_save_into_an_unwritable_place_names_the_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StateFileError, match=r"file/state.json: cannot write the state file"):
        save_state(blocker / "state.json", {"BTCUSDT": 1}, saved_at=1.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "expected a version 1 state object"),
        (b'{"version": 2, "last_agg_ids": {}}', "expected a version 1 state object"),
        (b'{"version": 1, "last_agg_ids": [1]}', "'last_agg_ids' is not an object"),
        (b'{"version": 1, "last_agg_ids": {"BTCUSDT": "7"}}', "last agg id of 'BTCUSDT' is '7'"),
        (b'{"version": 1, "last_agg_ids": {"BTCUSDT": -1}}', "last agg id of 'BTCUSDT' is -1"),
        (b'{"version": 1, "last_agg_ids": {"BTCUSDT": true}}', "last agg id of 'BTCUSDT' is True"),
        (b'{"version": 1, "last_agg_ids": {"BTCUSDT": 9223372036854775808}}', "not a whole number from 0 to"),
        (b'{"version": 1, "last_agg_ids": {"BTCUSDT": 1' + b"0" * 100 + b"}}", "is 1000000000"),
        (b'{"version": 1, "last_agg_ids": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not JSON"),
    ],
)
def test_a_bad_state_file_is_refused_with_its_name(data, message):
    with pytest.raises(StateFileError) as caught:
        decode_state(data, "/var/lib/cryptotrades-producer/state.json")
    assert str(caught.value).startswith("/var/lib/cryptotrades-producer/state.json: ")
    assert message in str(caught.value)


def test_encoded_state_is_plain_json():
    document = json.loads(encode_state({"ETHUSDT": 2, "BTCUSDT": 1}, saved_at=3.0))
    assert document == {"version": 1, "saved_at": 3.0, "last_agg_ids": {"BTCUSDT": 1, "ETHUSDT": 2}}


def test_log_line_is_key_value_pairs():
    stats = Stats(received=10, produced=9, connected=True)
    stats.released["BTCUSDT"] = 42
    line = log_line(stats.snapshot())
    assert "received=10 " in line
    assert "produced=9 " in line
    assert "connected=true" in line
    assert "released.BTCUSDT=42" in line
    assert "{" not in line


def test_health_problems():
    now = 1000.0
    fine = Stats(running=True, connected=True, disconnected_since=None, last_confirmed_at=now - 1, pending=5)
    assert health_problems(fine, now) == []
    away = Stats(running=True, disconnected_since=now - DISCONNECTED_GRACE - 5, last_confirmed_at=now)
    assert health_problems(away, now) == [f"no Binance connection for {DISCONNECTED_GRACE + 5:.0f} s"]
    stalled = Stats(
        running=True, disconnected_since=None, pending=7, last_confirmed_at=now - KAFKA_STALL_GRACE - 1
    )
    assert health_problems(stalled, now) == [
        f"Kafka has confirmed nothing for {KAFKA_STALL_GRACE + 1:.0f} s while 7 trades wait"
    ]
    idle = Stats(running=True, disconnected_since=None, pending=0, last_confirmed_at=now - 3600)
    assert health_problems(idle, now) == []  # nothing waiting: a quiet Kafka is not a stalled one
    assert health_problems(Stats(running=False, disconnected_since=None), now) == ["not running"]


def test_rejects_are_counted_by_reason_and_stream_rejects_are_bad_frames():
    stats = Stats()
    for reason in ("unreadable", "unreadable", "unconfirmed_jump", "rest_item"):
        reject(stats, reason)
    assert stats.rejected == {"unreadable": 2, "unconfirmed_jump": 1, "rest_item": 1}
    assert stats.bad_frames == 3  # a REST item is not a frame
    assert "rejected.unreadable=2" in log_line(stats.snapshot())
    assert set(stats.rejected) <= set(REJECT_REASONS)


def test_health_is_degraded_for_a_while_after_a_hole_or_a_corrected_resume_point():
    now = 10_000.0
    fine = Stats(running=True, connected=True, disconnected_since=None, last_confirmed_at=now)
    assert health_status(fine, now) == ("ok", [])
    fine.rejected = {"unreadable": 50, "unconfirmed_jump": 3}  # junk that cost nothing: still ok
    assert health_status(fine, now)[0] == "ok"
    holed = Stats(running=True, disconnected_since=None, holes=2, hole_trades=1500, last_hole_at=now - 60)
    assert health_status(holed, now) == (
        "degraded",
        ["a hole was logged 60 s ago (2 holes, 1500 trades, since start)"],
    )
    assert health_status(holed, now + DEGRADED_WINDOW)[0] == "ok"  # a while later: fine again
    corrected = Stats(running=True, disconnected_since=None, last_correction_at=now - 5)
    status, reasons = health_status(corrected, now)
    assert status == "degraded" and reasons[0].startswith("a resume point ahead of Binance was corrected")
    failing = Stats(running=False, disconnected_since=None, last_hole_at=now)
    assert health_status(failing, now) == ("failing", ["not running"])  # failing beats degraded
