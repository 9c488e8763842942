"""The whole pipeline on one machine, run for real: ``cryptotrades run --replay <real file>``.

Every stage is the real one: the fake Binance's WebSocket, the production producer, the
embedded Kafka-protocol broker, the Vector-compatible sink, moto's S3 with real event
notifications to SQS, the Lambda handler, SQLite or MariaDB. The database's rows must be
what ``cryptotrades aggregate`` computes from the same file, to the last digit, also when
the sink is killed, S3 refuses puts, the database goes away, or the file has bad lines.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

from minutes.aggregate import minute_rows, record
from minutes.store import open_store
from tests.fixtures.data import SAMPLE_CSV, sample_trades
from tests.fixtures.kafka import TcpProxy
from tests.fixtures.onebox import REPO, aggregate_records, db_records, vector_config

pytestmark = pytest.mark.integration

SAMPLE_TRADES = 5000


def ledger(url: str):
    with open_store(url) as store:
        return store.ledger_totals()


def status_output(state_dir: Path, db_url: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "cryptotrades.cli", "status", "--state-dir", str(state_dir), "--db", db_url],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def proxied_mysql(mysql_url: str):
    """The test's MariaDB database behind a TCP proxy the test can cut: (url via proxy, direct url)."""
    parts = urlsplit(mysql_url)
    proxy = TcpProxy((parts.hostname, parts.port or 3306))
    host, port = proxy.address
    try:
        yield proxy, mysql_url.replace(f"@{parts.hostname}:{parts.port}", f"@{host}:{port}"), mysql_url
    finally:
        proxy.close()


def test_a_replay_ends_in_the_database_exactly_as_aggregate_computes_it(start_onebox, db_url):
    run = start_onebox("--replay", str(SAMPLE_CSV), "--speed", "0", "--until-drained", "--db", db_url)
    assert run.wait() == 0, run.output
    assert db_records(db_url) == aggregate_records(SAMPLE_CSV)
    assert f"{SAMPLE_TRADES} of {SAMPLE_TRADES} in the database" in run.output
    assert run.stats("producer")["produced"] == SAMPLE_TRADES
    assert run.stats("sink")["records_stored"] == SAMPLE_TRADES
    assert run.stats("runner")["trades"] == SAMPLE_TRADES
    totals = ledger(db_url)
    assert (totals.accepted, totals.rejected, totals.duplicates) == (SAMPLE_TRADES, 0, 0)

    shown = status_output(run.state_dir, db_url)
    newest = aggregate_records(SAMPLE_CSV)[-1]
    assert f"{newest['TIME'][:16]} BTCUSDT buy {newest['TOTAL_COUNT_BUY']}" in shown
    assert f"{SAMPLE_TRADES} trades stored" in shown and "already stored" not in shown
    assert "runner    stopped" in shown and "dead letters: none" in shown


def test_a_sink_killed_mid_batch_loses_nothing_and_its_duplicates_are_absorbed(
    start_onebox, sqlite_url, tmp_path
):
    # Small batches, and offsets committed only at the end: every object stored before the
    # kill is read again from Kafka after the restart and stored a second time.
    config = vector_config(
        tmp_path, **{"batch.max_events": 400, "batch.timeout_secs": 120, "commit_interval_ms": 600000}
    )
    run = start_onebox(
        "--replay", str(SAMPLE_CSV), "--speed", "100", "--until-drained", "--db", sqlite_url,
        "--vector-config", str(config),
    )  # fmt: skip
    run.wait_for(
        lambda: run.stats("sink").get("objects", 0) >= 2 and run.stats("sink").get("pending", 0) > 0,
        "the sink has stored two objects and holds an open batch",
    )
    killed = run.stats("sink")
    os.kill(killed["pid"], signal.SIGKILL)
    assert run.wait() == 0, run.output
    assert "the sink stage exited with -9: restarting it" in run.output
    assert db_records(sqlite_url) == aggregate_records(SAMPLE_CSV)
    totals = ledger(sqlite_url)
    assert totals.duplicates >= killed["records_stored"], totals  # stored twice, counted once
    assert totals.accepted - totals.duplicates == SAMPLE_TRADES


def test_s3_refusing_puts_for_a_while_delays_but_loses_nothing(
    start_onebox, sqlite_url, s3_fault_proxy, aws_env, tmp_path
):
    s3_fault_proxy.fail_puts(3)  # the first put fails three times in a row
    config = vector_config(tmp_path, **{"batch.max_events": 1000})
    run = start_onebox(
        "--replay", str(SAMPLE_CSV), "--speed", "0", "--until-drained", "--db", sqlite_url,
        "--s3-endpoint", s3_fault_proxy.url, "--vector-config", str(config),
    )  # fmt: skip
    assert run.wait() == 0, run.output
    assert s3_fault_proxy.refused == 3
    assert run.stats("sink")["put_failures"] == 3
    assert "put s3://cryptotrades-onebox/trades/" in run.log("sink")
    assert db_records(sqlite_url) == aggregate_records(SAMPLE_CSV)
    assert ledger(sqlite_url).duplicates == 0  # a retried put keeps its key: no second object


def test_the_database_down_while_events_arrive_is_retried_until_all_rows_are_right(
    start_onebox, proxied_mysql, tmp_path
):
    proxy, via_proxy, direct = proxied_mysql
    config = vector_config(tmp_path, **{"batch.max_events": 1000})
    run = start_onebox(
        "--replay", str(SAMPLE_CSV), "--speed", "0", "--until-drained", "--db", via_proxy,
        "--vector-config", str(config), "--retry-base", "0.5", "--retry-cap", "2", "--max-tries", "50",
    )  # fmt: skip
    run.wait_for(lambda: run.stats("runner").get("state") == "running", "the runner is ready")
    proxy.cut()  # after the schema is in place, before the first object
    run.wait_for(lambda: run.stats("runner").get("failures", 0) >= 3, "three failed deliveries")
    proxy.restore()
    assert run.wait() == 0, run.output
    assert run.stats("runner")["dead_letters"] == 0
    assert db_records(direct) == aggregate_records(SAMPLE_CSV)


def test_events_that_keep_failing_go_to_the_dead_letters_and_status_lists_them(
    start_onebox, proxied_mysql, tmp_path
):
    proxy, via_proxy, direct = proxied_mysql
    config = vector_config(tmp_path, **{"batch.max_events": 2500})
    run = start_onebox(
        "--replay", str(SAMPLE_CSV), "--speed", "0", "--until-drained", "--db", via_proxy,
        "--vector-config", str(config), "--retry-base", "0.2", "--retry-cap", "0.5", "--max-tries", "2",
    )  # fmt: skip
    run.wait_for(lambda: run.stats("runner").get("state") == "running", "the runner is ready")
    proxy.cut()
    assert run.wait() == 1, run.output  # not drained: the trades did not reach the database
    assert "dead letters this run: 2" in run.output
    assert run.stats("runner")["dead_letters"] == run.stats("sink")["objects"] == 2
    proxy.restore()
    shown = status_output(run.state_dir, direct)
    assert "dead letters: 2" in shown
    assert "failed 2 times" in shown and "cryptotrades-onebox" not in shown.split("dead letters:")[0]


def test_a_replay_file_with_bad_lines_counts_and_quarantines_them_and_the_rest_is_right(
    start_onebox, sqlite_url, moto_endpoint, aws_env, kafka, tmp_path
):
    """Also the pipeline with its endpoints given from outside: --kafka and --s3-endpoint."""
    kafka.create_topic("cryptotrades", partitions=2)
    # Lines added to the real file, none taking a trade's place: the trades stay the same.
    lines = SAMPLE_CSV.read_text().splitlines()
    bad = {
        10: lines[10].replace(lines[10].split(",")[1], "12a.5", 1),  # a copy of a trade with a bad price
        2000: ",".join(lines[2000].split(",")[:5]),  # a row cut short
        3000: "this line is not a trade",
    }
    for number in sorted(bad, reverse=True):
        lines.insert(number, bad[number])
    path = tmp_path / "BTCUSDT-aggTrades-2026-01-01.csv"
    path.write_text("\n".join(lines) + "\n")

    run = start_onebox(
        "--replay", str(path), "--speed", "0", "--until-drained", "--db", sqlite_url,
        "--s3-endpoint", moto_endpoint, "--kafka", kafka.bootstrap,
    )  # fmt: skip
    assert run.wait() == 0, run.output
    assert "3 lines of the file were not trades" in run.output
    assert f"kafka     {kafka.bootstrap} (given)" in run.output
    assert not (run.state_dir / "stats" / "broker.json").exists()  # no embedded broker was started
    totals = ledger(sqlite_url)
    assert (totals.accepted, totals.rejected) == (SAMPLE_TRADES, 3)
    assert db_records(sqlite_url) == aggregate_records(path)

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="eu-west-1")
    quarantined = []
    for item in s3.list_objects_v2(Bucket="cryptotrades-onebox", Prefix="rejected/").get("Contents", []):
        body = s3.get_object(Bucket="cryptotrades-onebox", Key=item["Key"])["Body"].read().decode()
        quarantined += [json.loads(line) for line in body.splitlines()]
    assert sorted(q["text"] for q in quarantined) == sorted(bad.values())
    assert all(q["reason"] for q in quarantined)


def test_make_demo_shows_every_row_while_it_runs_and_stops_on_ctrl_c(start_onebox, sqlite_url):
    """`make demo`: speed 0, no --until-drained; the rows appear without waiting for the batch timeout."""
    demo = REPO / "data" / "demo" / "BTCUSDT-aggTrades-2026-01-01_first5000rows.csv"
    run = start_onebox("--replay", str(demo), "--speed", "0", "--db", sqlite_url)
    expected = aggregate_records(demo)
    run.wait_for(lambda: run.stats("runner").get("trades") == SAMPLE_TRADES, "every trade aggregated", 60)
    assert db_records(sqlite_url) == expected  # while the pipeline and its dashboard stay up
    assert run.process.poll() is None
    run.process.send_signal(signal.SIGINT)
    assert run.wait() == 0, run.output
    assert "the replay is all in Kafka" in run.output


def test_ctrl_c_mid_replay_stops_cleanly_with_every_produced_trade_in_the_database(
    start_onebox, sqlite_url, tmp_path
):
    config = vector_config(tmp_path, **{"batch.max_events": 500})
    run = start_onebox(
        "--replay", str(SAMPLE_CSV), "--speed", "30", "--db", sqlite_url, "--vector-config", str(config)
    )
    run.wait_for(lambda: run.stats("sink").get("objects", 0) >= 2, "two objects stored")
    run.process.send_signal(signal.SIGINT)
    assert run.wait() == 0, run.output
    produced = run.stats("producer")["produced"]
    assert 1000 <= produced < SAMPLE_TRADES  # stopped mid-replay, after two objects
    assert run.stats("sink")["open_batches"] == 0  # the open batch was stored, not dropped
    expected = [record(row) for row in minute_rows(sample_trades()[:produced])]
    assert db_records(sqlite_url) == [json.loads(json.dumps(r)) for r in expected]


def test_live_mode_without_binance_says_so_in_one_line(tmp_path):
    closed = TcpProxy(("127.0.0.1", 9))  # a port that answers nothing: the proxy refuses once cut
    closed.cut()
    host, port = closed.address
    result = subprocess.run(
        [sys.executable, "-m", "cryptotrades.cli", "run", "--state-dir", str(tmp_path), "--no-dashboard"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "CRYPTOTRADES_BINANCE_REST_URL": f"http://{host}:{port}"},
        timeout=60,
        check=False,
    )
    closed.close()
    assert result.returncode == 2
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "cannot reach Binance" in lines[0] and "make demo" in lines[0], result.stdout


def test_a_first_run_says_ready_with_the_dashboard_and_a_second_run_reads_as_a_replay(
    start_onebox, sqlite_url
):
    """`make demo` twice: one ready line with a dashboard that answers (on another port when the
    preferred one is taken), progress lines only when something changed, and the second run's
    trades, all stored by the first, reported as such rather than as duplicates."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        run = start_onebox(
            "--replay", str(SAMPLE_CSV), "--speed", "0", "--db", sqlite_url,
            "--dashboard", "--dashboard-port", str(port),
        )  # fmt: skip
        run.wait_for(lambda: "ready: open " in run.output, "the ready line")
        ready = next(line for line in run.output.splitlines() if line.startswith("ready: "))
        url = ready.removeprefix("ready: open ").split(";")[0]
        assert f":{port}/" not in url
        assert f"dashboard: port {port} is taken, so it is on {urlsplit(url).port} instead" in run.output
        with urllib.request.urlopen(url + "api/health", timeout=10) as answer:
            assert answer.status == 200
        run.wait_for(lambda: run.stats("runner").get("trades") == SAMPLE_TRADES, "every trade stored", 60)
        time.sleep(6)  # a progress interval or more with nothing new
        run.process.send_signal(signal.SIGINT)
        assert run.wait() == 0, run.output
    finally:
        taken.close()
    assert run.output.count("ready: ") == 1
    shown = [line.split("|", 1)[1] for line in run.output.splitlines() if " | in " in line]
    assert shown and all(a != b for a, b in itertools.pairwise(shown)), run.output

    again = start_onebox(
        "--replay", str(SAMPLE_CSV), "--speed", "0", "--until-drained", "--db", sqlite_url, name="again"
    )
    assert again.wait() == 0, again.output
    assert f"{SAMPLE_TRADES} trades were already stored (a replay" in again.output
    shown = status_output(again.state_dir, sqlite_url)
    assert f"{SAMPLE_TRADES} trades stored, {SAMPLE_TRADES} trades were already stored" in shown
    assert "duplicate" not in (again.output + shown).lower(), again.output + shown
