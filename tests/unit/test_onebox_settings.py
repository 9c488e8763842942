"""One-box settings, retry decisions and the text it shows: pure, offline."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from minutes.aggregate import minute_rows
from minutes.store import LedgerTotals, redacted
from onebox import status
from onebox.errors import SettingsError
from onebox.progress import Progress
from onebox.replay import align_delay, expected_ids
from onebox.runner import LambdaContext, next_step
from onebox.settings import OneboxSettings
from onebox.stages import IdRange, RetryPolicy
from tests.fixtures.data import sample_trades


def test_defaults_need_nothing_installed():
    settings = OneboxSettings.from_env({})
    assert settings.embedded_kafka and settings.embedded_aws
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        "data/onebox/cryptotrades.db"
    )
    assert settings.dashboard_port == 0  # a free port


def test_a_flag_beats_the_environment_which_beats_the_default():
    env = {"CRYPTOTRADES_BUCKET": "from-env-bucket", "AWS_REGION": "ap-northeast-1"}
    settings = OneboxSettings.from_env(env, bucket="from-flag-bucket")
    assert (settings.bucket, settings.region) == ("from-flag-bucket", "ap-northeast-1")


@pytest.mark.parametrize(
    ("env", "overrides", "message"),
    [
        ({}, {"speed": -1.0}, "--speed -1.0"),
        ({}, {"until_drained": True}, "--until-drained needs --replay"),
        ({"CRYPTOTRADES_KAFKA_BOOTSTRAP": "no-port"}, {}, "CRYPTOTRADES_KAFKA_BOOTSTRAP='no-port'"),
        ({"CRYPTOTRADES_S3_ENDPOINT": "ftp://x"}, {}, "CRYPTOTRADES_S3_ENDPOINT='ftp://x'"),
        ({"CRYPTOTRADES_S3_ENDPOINT": "aws"}, {}, "needs CRYPTOTRADES_QUEUE_URL"),
        ({"CRYPTOTRADES_BUCKET": "Not_A_Bucket"}, {}, "not a valid S3 bucket name"),
        ({"CRYPTOTRADES_ONEBOX_MAX_TRIES": "many"}, {}, "CRYPTOTRADES_ONEBOX_MAX_TRIES='many'"),
        ({}, {"replay": Path("/nonexistent/trades.csv")}, "no such file"),
        ({}, {"retry_base_s": 5.0, "retry_cap_s": 1.0}, "0 < base <= cap"),
    ],
)
def test_a_bad_setting_is_refused_naming_it_and_its_value(env, overrides, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace("+", r"\+")):
        OneboxSettings.from_env(env, **overrides)


def test_passwords_never_reach_the_screen():
    assert redacted("mysql://app:s3cret@db:3306/cryptotrades") == "mysql://app:***@db:3306/cryptotrades"
    assert redacted("sqlite:///data/x.db") == "sqlite:///data/x.db"


def test_failed_events_are_retried_with_growing_delays_then_dead_lettered():
    policy = RetryPolicy(max_tries=4, base_s=1, cap_s=30)
    assert [next_step(tries, policy, jitter=0.999999) for tries in (1, 2, 3)] == [1, 2, 4]
    assert next_step(4, policy, jitter=0.5) is None


def test_the_lambda_context_counts_down():
    context = LambdaContext("request-1", "eu-west-1", deadline=time.time() + 120)
    assert 118_000 < context.get_remaining_time_in_millis() <= 120_000
    assert context.invoked_function_arn.startswith("arn:aws:lambda:eu-west-1:")


def test_a_replay_expects_each_symbols_distinct_ids():
    trades = sample_trades()
    assert expected_ids(trades + trades[:10]) == {"BTCUSDT": IdRange(3800397495, 3800402494, 5000)}


def test_a_real_time_replay_starts_on_the_recordings_second_of_the_minute():
    first_trade_ms = sample_trades()[0].trade_time  # 00:00:00.039
    now = 1_800_000_030.0  # 30 s into a minute
    wait = align_delay(first_trade_ms, now)
    assert (now + wait) % 60 == pytest.approx((first_trade_ms / 1000) % 60)
    assert 0 <= wait < 60


def test_the_progress_line_shows_each_stage_and_the_last_row():
    row = minute_rows(sample_trades())[0]
    progress = Progress(received=5000, produced=4990, objects_written=3, objects_aggregated=2)
    progress.last_row = status.row_text(row)
    line = progress.line(12.0)
    assert "received 5000 | produced 4990 | objects written 3 | aggregated 2" in line
    assert "2026-01-01 00:00 BTCUSDT buy" in line and "close 87648" in line
    assert "DEAD LETTERS" not in line
    assert "DEAD LETTERS 1" in Progress(dead_letters=1).line(1.0)


def test_status_text_is_exact_and_names_its_source(tmp_path):
    row = minute_rows(sample_trades())[0]
    text = status.row_text(row)
    # BTC as stored (exact), USD to the cent for the eye.
    assert f"buy {row.count_buy} ({row.btc_buy.normalize():f} BTC" in text
    assert Decimal(text.split("sell ")[1].split(" (")[1].split(" BTC")[0]) == row.btc_sell
    totals = LedgerTotals(objects=3, lines=5003, accepted=5000, rejected=3, duplicates=7, redeliveries=1)
    assert status.ledger_text(totals).startswith(
        "3 objects, 5003 lines: 5000 trades accepted, 3 lines rejected"
    )
    assert status.dead_letters_text([], tmp_path / "dead-letters.jsonl") == ["dead letters: none"]
