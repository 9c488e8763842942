"""The AWS wiring of the aggregator: credentials from a Secrets Manager secret (moto's
server, holding what RDS generates) for the handler and for the deploy-time schema
resource, against the real MariaDB."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import boto3
import pytest

from lambda_aggregator import handler, schema
from minutes.aggregate import minute_rows
from minutes.store import open_store
from tests.fixtures.aggregator import s3_event
from tests.fixtures.data import event_line, sample_trades

pytestmark = pytest.mark.integration

TRADES = sample_trades()[:300]


@pytest.fixture
def rds_secret(mysql_url, moto_endpoint, aws_env, monkeypatch) -> str:
    """A secret shaped like the one RDS generates, pointing at the test database; its ARN."""
    parts = urlsplit(mysql_url)
    secret = {
        "engine": "mysql",
        "username": parts.username,
        "password": parts.password or "",
        "host": parts.hostname,
        "port": parts.port,
        "dbname": parts.path.lstrip("/"),
    }
    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="eu-west-1")
    arn = client.create_secret(Name="cryptotrades-db", SecretString=json.dumps(secret))["ARN"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_endpoint)
    monkeypatch.setenv("CRYPTOTRADES_DB_SECRET_ARN", arn)
    monkeypatch.delenv("CRYPTOTRADES_DB_URL", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    handler.reset_clients()
    yield arn
    handler.reset_clients()


def test_the_schema_resource_migrates_on_create_and_update_and_keeps_data_on_delete(
    rds_secret, mysql_url, lambda_context
):
    created = schema.on_event({"RequestType": "Create"}, lambda_context)
    assert created["PhysicalResourceId"] == schema.PHYSICAL_ID
    assert created["Data"]["Applied"] == (
        "001_agg_trades,002_trade_minutes,003_processed_objects,004_views,005_binary_symbols,"
        "006_minute_bounds,007_ledger_outcomes,008_final_ranges,009_minute_status,010_history,"
        "011_minute_check"
    )
    updated = schema.on_event(
        {"RequestType": "Update", "PhysicalResourceId": schema.PHYSICAL_ID}, lambda_context
    )
    assert updated["Data"]["Applied"] == "none"
    deleted = schema.on_event(
        {"RequestType": "Delete", "PhysicalResourceId": schema.PHYSICAL_ID}, lambda_context
    )
    assert deleted == {"PhysicalResourceId": schema.PHYSICAL_ID}
    with open_store(mysql_url) as target:
        assert target.execute("SELECT COUNT(*) FROM schema_migrations") == [(11,)]


def test_the_handler_connects_with_the_secret(rds_secret, mysql_url, bucket, lambda_context):
    schema.on_event({"RequestType": "Create"}, lambda_context)
    obj = bucket.put("trades/date=2026-01-01/hour=00/minute=00/a.ndjson", b"\n".join(map(event_line, TRADES)))
    (summary,) = handler.lambda_handler(s3_event(obj), lambda_context)["objects"]
    assert summary["accepted"] == len(TRADES)
    with open_store(mysql_url) as target:
        assert target.minute_rows() == minute_rows(TRADES)
