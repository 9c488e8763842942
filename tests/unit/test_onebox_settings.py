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
    assert settings.dashboard_port == 8050  # preferred: another one when it is taken


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
        ({"CRYPTOTRADES_BUCKET": "Not_A_Bucket"}, {}, "is not an S3 bucket name"),
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


def test_the_progress_line_shows_rates_lag_and_the_newest_minute():
    row = minute_rows(sample_trades())[0]
    before = Progress(received=1000, produced=1000, trades_aggregated=0)
    now = Progress(
        received=5000,
        produced=4990,
        objects_written=3,
        objects_aggregated=2,
        trades_aggregated=2990,
        last_row=status.row_text(row),
    )
    line = now.line(12.0, before, since_s=5.0)
    assert "in 5000 (800/s) | stored 2990 (598/s) | lag 2000 trades | objects 3 written, 2 summed" in line
    assert "newest minute: 2026-01-01 00:00 BTCUSDT buy" in line and "close 87648" in line
    assert "DEAD LETTERS" not in line
    assert "(" not in Progress(received=3).line(1.0).split("|")[1]  # no rate before a first line
    assert "DEAD LETTERS 1" in Progress(dead_letters=1).line(1.0)


class _Rows:
    def __init__(self) -> None:
        self.row = ""

    def last_row(self) -> str:
        return self.row


def test_the_progress_line_is_quiet_while_nothing_changes(tmp_path, monkeypatch):
    import io

    from onebox.pipeline import Pipeline
    from onebox.stages import RUNNER

    out = io.StringIO()
    pipeline = Pipeline(OneboxSettings(state_dir=tmp_path), out=out)
    pipeline.database = _Rows()  # type: ignore[assignment]
    runner = RUNNER.counters(trades=10)
    monkeypatch.setattr(pipeline, "_counters", lambda kind: runner if kind is RUNNER else kind.counters())
    pipeline._progress()
    pipeline._progress()
    pipeline._progress()
    assert len(out.getvalue().splitlines()) == 1
    runner = RUNNER.counters(trades=20)
    pipeline._progress()
    pipeline.database.row = "2026-01-01 00:01 BTCUSDT ..."
    pipeline._progress()
    pipeline._progress(final=True)  # nothing new since: nothing shown
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert "stored 20 (" in lines[1] and "newest minute: 2026-01-01 00:01" in lines[2]


def test_the_ready_line_names_the_dashboard_and_how_to_stop():
    from onebox.progress import ready_line

    line = ready_line("http://127.0.0.1:8050/", 5.0)
    assert line.startswith("ready: open http://127.0.0.1:8050/;") and "Ctrl-C stops" in line
    assert "cryptotrades status" in ready_line(None, 5.0)


def test_status_text_is_exact_and_names_its_source(tmp_path):
    row = minute_rows(sample_trades())[0]
    text = status.row_text(row)
    # BTC as stored (exact), USD to the cent for the eye.
    assert f"buy {row.count_buy} ({row.btc_buy.normalize():f} BTC" in text
    assert Decimal(text.split("sell ")[1].split(" (")[1].split(" BTC")[0]) == row.btc_sell
    totals = LedgerTotals(objects=3, lines=5003, accepted=5000, rejected=3, duplicates=0, redeliveries=0)
    assert status.ledger_text(totals) == (
        "3 objects, 5003 lines: 5000 trades stored, 3 lines rejected (quarantined under rejected/)"
    )
    assert status.dead_letters_text([], tmp_path / "dead-letters.jsonl") == ["dead letters: none"]


def test_a_replay_of_stored_data_reads_as_what_it_is_not_as_an_alarm():
    # The demo run twice: the second run's 5000 trades were all stored by the first.
    totals = LedgerTotals(objects=4, lines=10000, accepted=10000, rejected=0, duplicates=5000, redeliveries=0)
    text = status.ledger_text(totals)
    assert text == (
        "4 objects, 10000 lines: 5000 trades stored, "
        "5000 trades were already stored (a replay or a repeated object; counted once)"
    )
    assert "duplicate" not in text and "rejected" not in text


def test_the_ledger_names_the_klines_among_its_lines():
    totals = LedgerTotals(
        objects=1, lines=5001, accepted=5000, rejected=0, duplicates=0, redeliveries=0, klines=1
    )
    assert status.ledger_text(totals) == "1 objects, 5001 lines: 5000 trades stored, 1 Binance kline stored"


def test_the_producer_and_runner_summaries_say_what_their_counts_mean():
    from onebox.stages import ProducerCounters, RunnerCounters

    replay = ProducerCounters(received=5000, produced=5000, duplicates=5000, gaps=1, backfilled=5000)
    assert replay.summary() == (
        "received 5000, produced 5000, 1 gap in the stream filled from REST (5000 trades), "
        "5000 trades seen twice where stream and REST overlap (sent once)"
    )
    assert ProducerCounters(received=10, produced=10).summary() == "received 10, produced 10"
    assert "HOLES 1 (7 trades" in ProducerCounters(holes=1, hole_trades=7).summary()
    runner = RunnerCounters(events=2, objects=2, trades=5000, duplicates=5000)
    assert runner.summary() == "events 2, objects 2, trades 5000, 5000 already stored (counted once)"


def test_the_one_box_copies_every_producer_counter_it_names_from_the_producer_itself():
    from onebox.producer_stage import counters_of
    from onebox.stages import ProducerCounters, StageCounters
    from producer.stats import COUNTERS, Stats

    stats = Stats()
    for number, name in enumerate(COUNTERS, 1):
        setattr(stats, name, number)
    counters = counters_of(stats, "running")
    snapshot = stats.snapshot()
    named = set(ProducerCounters.__struct_fields__) - set(StageCounters.__struct_fields__)
    # A counter renamed on one side would silently read 0: every name must exist in the snapshot.
    assert named <= set(snapshot), named - set(snapshot)
    assert {name: getattr(counters, name) for name in named - {"uptime"}} == {
        name: snapshot[name] for name in named - {"uptime"}
    }
    assert counters.state == "running" and counters.klines_produced == COUNTERS.index("klines_produced") + 1
