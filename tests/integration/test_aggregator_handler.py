"""The Lambda handler over a real S3 API (moto server) and a real database (SQLite, MariaDB)."""

from __future__ import annotations

import gzip
import json

import pytest

from lambda_aggregator import handler
from lambda_aggregator.errors import AggregatorError, SettingsError
from lambda_aggregator.settings import AggregatorSettings
from minutes.aggregate import minute_rows
from minutes.store import open_store
from tests.fixtures.aggregator import s3_event
from tests.fixtures.data import event_line, sample_trades
from tests.fixtures.servers import mysql_admin

pytestmark = pytest.mark.integration

TRADES = sample_trades()
KEY = "trades/date=2026-01-01/hour=00/minute=00/1767225660-0b6f.ndjson"


def ndjson(trades) -> bytes:
    return b"".join(event_line(t) + b"\n" for t in trades)


def stored(db_url: str):
    with open_store(db_url) as target:
        return target.minute_rows(), target.ledger_totals()


def test_every_record_of_an_event_is_processed(aggregator, bucket, lambda_context):
    objects = [bucket.put(f"{KEY}.{i}", ndjson(TRADES[i * 1000 : (i + 1) * 1000])) for i in range(5)]
    result = handler.lambda_handler(s3_event(*objects), lambda_context)
    assert [o["accepted"] for o in result["objects"]] == [1000] * 5
    rows, ledger = stored(aggregator)
    assert rows == minute_rows(TRADES)
    assert (ledger.objects, ledger.accepted, ledger.rejected) == (5, 5000, 0)


def test_a_duplicate_event_is_a_no_op(aggregator, bucket, lambda_context):
    obj = bucket.put(KEY, ndjson(TRADES))
    handler.lambda_handler(s3_event(obj), lambda_context)
    before = stored(aggregator)[0]
    result = handler.lambda_handler(s3_event(obj, obj), lambda_context)
    assert [o["redelivered"] for o in result["objects"]] == [True, True]
    rows, ledger = stored(aggregator)
    assert rows == before
    assert (ledger.objects, ledger.redeliveries) == (1, 2)


def test_overlapping_objects_and_a_minute_over_three_objects(aggregator, bucket, lambda_context):
    minute = [t for t in TRADES if t.minute == TRADES[0].minute]
    thirds = [
        minute[: len(minute) // 3],
        minute[len(minute) // 3 : 2 * len(minute) // 3],
        minute[2 * len(minute) // 3 :],
    ]
    objects = [bucket.put(f"{KEY}.{i}", ndjson(part)) for i, part in enumerate(thirds)]
    objects.append(
        bucket.put(f"{KEY}.overlap", ndjson(minute[10:200] + TRADES[len(minute) : len(minute) + 50]))
    )
    handler.lambda_handler(s3_event(*objects[::-1]), lambda_context)
    rows, ledger = stored(aggregator)
    assert rows == minute_rows(minute + TRADES[len(minute) : len(minute) + 50])
    assert ledger.duplicates == 190


def test_half_bad_lines_are_quarantined_and_the_good_half_counts(aggregator, bucket, lambda_context):
    lines = [event_line(t) for t in TRADES[:200]]
    for i in range(0, 200, 2):
        lines[i] = lines[i].replace(b'"q":"', b'"q":"-')  # a negative quantity
    obj = bucket.put(KEY, b"\n".join(lines) + b"\n")
    (summary,) = handler.lambda_handler(s3_event(obj), lambda_context)["objects"]
    assert (summary["lines"], summary["accepted"], summary["rejected"]) == (200, 100, 100)
    quarantined = [json.loads(line) for line in bucket.get(f"rejected/{KEY}.jsonl").splitlines()]
    assert [q["line"] for q in quarantined] == list(range(1, 201, 2))
    assert all("field q (qty)" in q["reason"] for q in quarantined)
    assert all(q["source"] == f"s3://{bucket.name}/{KEY}" for q in quarantined)
    assert quarantined[0]["text"] == lines[0].decode()
    rows, ledger = stored(aggregator)
    assert rows == minute_rows(TRADES[1:200:2])
    assert (ledger.lines, ledger.accepted, ledger.rejected) == (200, 100, 100)


def test_an_empty_object_is_recorded(aggregator, bucket, lambda_context):
    handler.lambda_handler(s3_event(bucket.put(KEY, b"")), lambda_context)
    rows, ledger = stored(aggregator)
    assert (rows, ledger.objects, ledger.lines) == ([], 1, 0)


def test_a_gzip_object_as_vector_writes_it(aggregator, bucket, lambda_context):
    obj = bucket.put(f"{KEY}.gz", gzip.compress(ndjson(TRADES)))
    handler.lambda_handler(s3_event(obj), lambda_context)
    assert stored(aggregator)[0] == minute_rows(TRADES)


def test_a_key_with_spaces_and_equals_signs_is_decoded(aggregator, bucket, lambda_context):
    key = "trades/date=2026-01-01/odd name+plus=sign.ndjson"
    obj = bucket.put(key, ndjson(TRADES[:10]))
    event = s3_event(obj)
    assert (
        event["Records"][0]["s3"]["object"]["key"] == "trades/date%3D2026-01-01/odd+name%2Bplus%3Dsign.ndjson"
    )
    (summary,) = handler.lambda_handler(event, lambda_context)["objects"]
    assert (summary["key"], summary["accepted"]) == (key, 10)


def test_a_missing_object_raises_so_lambda_retries(aggregator, bucket, lambda_context):
    good = bucket.put(KEY, ndjson(TRADES[:10]))
    with pytest.raises(Exception, match="NoSuchKey"):
        handler.lambda_handler(s3_event(good, (bucket.name, "trades/gone.ndjson", "abc")), lambda_context)
    _rows, ledger = stored(aggregator)
    assert ledger.objects == 1  # the object before the failure is done; its retry is a no-op


def test_a_database_failure_mid_object_leaves_nothing_and_the_retry_succeeds(
    aggregator, bucket, lambda_context, monkeypatch
):
    obj = bucket.put(KEY, ndjson(TRADES))
    target = handler.store()
    monkeypatch.setattr(
        target, "_recompute", lambda touched: (_ for _ in ()).throw(ConnectionError("db lost"))
    )
    with pytest.raises(AggregatorError, match="db lost"):
        handler.lambda_handler(s3_event(obj), lambda_context)
    monkeypatch.undo()
    rows, ledger = stored(aggregator)
    assert (rows, ledger.objects) == ([], 0)
    handler.lambda_handler(s3_event(obj), lambda_context)
    assert stored(aggregator)[0] == minute_rows(TRADES)


@pytest.mark.parametrize("db_url", ["mysql"], indirect=True)  # SQLite has no server to drop it
def test_a_warm_connection_the_server_dropped_is_replaced(aggregator, bucket, lambda_context):
    handler.lambda_handler(s3_event(bucket.put(KEY, ndjson(TRADES[:10]))), lambda_context)
    warm = handler.store()
    ((connection_id,),) = warm.execute("SELECT CONNECTION_ID()")
    admin = mysql_admin()
    with admin.cursor() as cursor:
        cursor.execute("KILL %s", (connection_id,))
    admin.close()
    handler.lambda_handler(s3_event(bucket.put(f"{KEY}.2", ndjson(TRADES[10:20]))), lambda_context)
    assert handler.store() is not warm
    assert stored(aggregator)[0] == minute_rows(TRADES[:20])


def test_a_corrupt_gzip_object_is_rejected_whole_with_its_reason_and_never_retried(
    aggregator, bucket, lambda_context
):
    obj = bucket.put(f"{KEY}.gz", b"\x1f\x8b" + b"not really gzip")
    (summary,) = handler.lambda_handler(s3_event(obj), lambda_context)["objects"]
    assert summary["status"] == "rejected"
    (record,) = [json.loads(line) for line in bucket.get(f"rejected/{KEY}.gz.jsonl").splitlines()]
    assert record["rejected_whole"] is True and record["source"] == f"s3://{bucket.name}/{KEY}.gz"
    assert "not a readable gzip stream" in record["reason"]
    (again,) = handler.lambda_handler(s3_event(obj), lambda_context)["objects"]
    assert again["redelivered"]  # a retry of the event is a no-op, not a loop
    rows, ledger = stored(aggregator)
    assert (rows, ledger.objects, ledger.rejected_objects) == ([], 1, 1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set exactly one of CRYPTOTRADES_DB_URL and CRYPTOTRADES_DB_SECRET_ARN"),
        (
            {"CRYPTOTRADES_DB_URL": "sqlite:///x", "CRYPTOTRADES_DB_TLS": "maybe"},
            "CRYPTOTRADES_DB_TLS='maybe'",
        ),
        (
            {"CRYPTOTRADES_DB_SECRET_ARN": "arn:x", "CRYPTOTRADES_DB_PORT": "33o6"},
            "CRYPTOTRADES_DB_PORT='33o6'",
        ),
        (
            {"CRYPTOTRADES_DB_SECRET_ARN": "arn:x", "CRYPTOTRADES_DB_TLS": "verify"},
            "needs CRYPTOTRADES_DB_CA_FILE",
        ),
    ],
)
def test_bad_settings_name_the_variable_and_value(env, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        AggregatorSettings.from_env(env)


def test_the_rds_secret_gives_connection_parameters_without_leaking():
    config = AggregatorSettings.from_env(
        {"CRYPTOTRADES_DB_SECRET_ARN": "arn:secret", "CRYPTOTRADES_DB_TLS": "encrypt"}
    )
    params = config.mysql_params(
        json.dumps(
            {"username": "admin", "password": "s3cret!", "host": "db.internal", "port": 3306, "dbname": "ct"}
        )
    )
    assert {k: params[k] for k in ("host", "port", "user", "database")} == {
        "host": "db.internal",
        "port": 3306,
        "user": "admin",
        "database": "ct",
    }
    assert params["ssl"] is not None
    with pytest.raises(SettingsError) as caught:
        config.mysql_params(json.dumps({"username": "admin", "password": "s3cret!"}))
    assert "host" in str(caught.value) and "s3cret" not in str(caught.value)
