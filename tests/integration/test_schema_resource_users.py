"""The schema custom resource makes the application users: Create, Update and Delete, with the
secrets in moto's Secrets Manager (server mode) and the real MariaDB; then the aggregator signs
in as its own user, not the master one."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import pymysql
import pytest

from lambda_aggregator import freshness, handler, schema
from lambda_aggregator.errors import SettingsError
from lambda_aggregator.settings import AggregatorSettings
from minutes import users
from minutes.aggregate import minute_rows
from minutes.migrations import migrations
from minutes.store import open_store
from tests.fixtures.aggregator import s3_event
from tests.fixtures.data import event_line, sample_trades
from tests.fixtures.servers import MYSQL_HOST, MYSQL_PORT, mysql_admin

pytestmark = pytest.mark.integration

TRADES = sample_trades()[:300]


@dataclass
class Deployment:
    """What the CDK app would have made: the master secret, one secret per user, the properties."""

    client: Any
    database: str
    master_arn: str
    secrets: dict[str, str]  # role -> secret ARN
    names: dict[str, str]  # role -> user name

    def properties(self) -> dict[str, Any]:
        return {
            "SqlDigest": "digest",
            schema.USERS_PROPERTY: {
                role: {"Username": self.names[role], "SecretArn": arn} for role, arn in self.secrets.items()
            },
        }

    def event(self, request: str) -> dict[str, Any]:
        event = {"RequestType": request, "ResourceProperties": self.properties()}
        if request != "Create":
            event["PhysicalResourceId"] = schema.PHYSICAL_ID
        return event

    def password(self, role: str, stage: str = "AWSCURRENT") -> str:
        value = self.client.get_secret_value(SecretId=self.secrets[role], VersionStage=stage)
        return json.loads(value["SecretString"])["password"]

    def connect(self, role: str, password: str | None = None) -> pymysql.Connection:
        return pymysql.connect(
            host=MYSQL_HOST,
            port=MYSQL_PORT,
            user=self.names[role],
            password=self.password(role) if password is None else password,
            database=self.database,
            connect_timeout=5,
        )


def rds_secret(username: str, password: str, database: str) -> str:
    """A secret shaped like the ones RDS and the CDK attach to an instance."""
    return json.dumps(
        {
            "engine": "mysql",
            "username": username,
            "password": password,
            "host": MYSQL_HOST,
            "port": MYSQL_PORT,
            "dbname": database,
        }
    )


@pytest.fixture
def deployment(mysql_url, moto_endpoint, aws_env, monkeypatch) -> Iterator[Deployment]:
    parts = urlsplit(mysql_url)
    database = parts.path.lstrip("/")
    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="eu-west-1")
    master = client.create_secret(
        Name="master", SecretString=rds_secret(parts.username or "root", parts.password or "", database)
    )["ARN"]
    suffix = uuid.uuid4().hex[:8]
    names = {role: f"t_{role[:4]}_{suffix}" for role in users.PRIVILEGES}
    secrets = {
        role: client.create_secret(
            Name=f"{role}-user", SecretString=rds_secret(name, f"p{uuid.uuid4().hex}'\"", database)
        )["ARN"]
        for role, name in names.items()
    }
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_endpoint)
    monkeypatch.setenv("CRYPTOTRADES_DB_SECRET_ARN", master)
    monkeypatch.delenv("CRYPTOTRADES_DB_URL", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    handler.reset_clients()
    try:
        yield Deployment(client, database, master, secrets, names)
    finally:
        handler.reset_clients()
        admin = mysql_admin()
        with admin.cursor() as cursor:
            for name in names.values():
                cursor.execute("DROP USER IF EXISTS %s@%s", (name, users.HOST))
        admin.close()


def new_password(deployment: Deployment, role: str, stages: list[str] | None = None) -> str:
    """Store a new version of a user's secret, as a rotation's createSecret step does."""
    password = f"n{uuid.uuid4().hex}"
    secret = rds_secret(deployment.names[role], password, deployment.database)
    deployment.client.put_secret_value(
        SecretId=deployment.secrets[role], SecretString=secret, VersionStages=stages or ["AWSCURRENT"]
    )
    return password


def test_create_migrates_makes_both_users_and_the_aggregator_signs_in_as_its_own(
    deployment, bucket, lambda_context, monkeypatch
) -> None:
    created = schema.on_event(deployment.event("Create"), lambda_context)
    assert created["PhysicalResourceId"] == schema.PHYSICAL_ID
    assert created["Data"]["Applied"] == ",".join(f"{m.version:03d}_{m.name}" for m in migrations("mysql"))
    assert created["Data"]["Users"] == ",".join(deployment.names[role] for role in sorted(deployment.names))

    # The aggregator function's environment names its own secret.
    monkeypatch.setenv("CRYPTOTRADES_DB_SECRET_ARN", deployment.secrets[users.AGGREGATOR])
    handler.reset_clients()
    obj = bucket.put("trades/date=2026-01-01/hour=00/minute=00/a.ndjson", b"\n".join(map(event_line, TRADES)))
    (summary,) = handler.lambda_handler(s3_event(obj), lambda_context)["objects"]
    assert summary["accepted"] == len(TRADES)
    connection = handler.store().connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT CURRENT_USER()")
        ((current,),) = cursor.fetchall()
    assert current.split("@")[0] == deployment.names[users.AGGREGATOR]

    # The freshness probe signs in as the dashboard user and reports the newest minute.
    monkeypatch.setenv("CRYPTOTRADES_DB_SECRET_ARN", deployment.secrets[users.DASHBOARD])
    fresh = freshness.lambda_handler({}, lambda_context)
    newest = max(row.minute for row in minute_rows(TRADES))
    (symbol,) = {trade.symbol for trade in TRADES}
    assert fresh["symbols"][symbol]["newest_minute"] == datetime.fromtimestamp(newest / 1000, UTC).isoformat()
    assert fresh["symbols"][symbol]["age_seconds"] >= 0
    assert fresh["objects_processed"] == 1 and fresh["last_object_processed"] is not None

    dashboard = deployment.connect(users.DASHBOARD)
    with dashboard.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM trade_minutes")
        assert cursor.fetchall() == ((len(minute_rows(TRADES)),),)
        with pytest.raises(pymysql.MySQLError):
            cursor.execute("DELETE FROM trade_minutes")
    dashboard.close()


def test_update_converges_a_changed_password_and_repeats_harmlessly(deployment, lambda_context) -> None:
    schema.on_event(deployment.event("Create"), lambda_context)
    old = deployment.password(users.DASHBOARD)
    new = new_password(deployment, users.DASHBOARD)
    updated = schema.on_event(deployment.event("Update"), lambda_context)
    assert updated["Data"]["Applied"] == "none"
    deployment.connect(users.DASHBOARD, new).close()
    with pytest.raises(pymysql.MySQLError) as caught:
        deployment.connect(users.DASHBOARD, old)
    assert caught.value.args[0] == 1045
    again = schema.on_event(deployment.event("Update"), lambda_context)
    assert again == updated
    deployment.connect(users.AGGREGATOR).close()


def test_delete_touches_neither_the_database_nor_the_secrets(deployment, lambda_context, monkeypatch) -> None:
    schema.on_event(deployment.event("Create"), lambda_context)
    # Even with no reachable secret or database, Delete answers at once.
    monkeypatch.setenv(
        "CRYPTOTRADES_DB_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gone"
    )
    deleted = schema.on_event(deployment.event("Delete"), lambda_context)
    assert deleted == {"PhysicalResourceId": schema.PHYSICAL_ID}
    deployment.connect(users.AGGREGATOR).close()
    with open_store(f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{deployment.database}") as store:
        assert store.execute("SELECT COUNT(*) FROM schema_migrations") == [(len(migrations("mysql")),)]


def test_a_rotation_under_way_is_waited_for_and_its_new_password_used(deployment) -> None:
    schema.apply(deployment.properties(), AggregatorSettings.from_env(), deployment.client)
    pending = new_password(deployment, users.AGGREGATOR, ["AWSPENDING"])
    arn = deployment.secrets[users.AGGREGATOR]
    version = next(
        vid
        for vid, stages in deployment.client.describe_secret(SecretId=arn)["VersionIdsToStages"].items()
        if stages == ["AWSPENDING"]
    )
    polls: list[float] = []

    def finish_rotation(seconds: float) -> None:
        # The second poll finds the rotation finished: its version is now AWSCURRENT.
        polls.append(seconds)
        if len(polls) == 2:
            current = deployment.client.describe_secret(SecretId=arn)["VersionIdsToStages"]
            (old,) = [vid for vid, stages in current.items() if "AWSCURRENT" in stages]
            deployment.client.update_secret_version_stage(
                SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=version, RemoveFromVersionId=old
            )

    schema.apply(
        deployment.properties(),
        AggregatorSettings.from_env(),
        deployment.client,
        poll_s=0.01,
        sleep=finish_rotation,
    )
    assert len(polls) == 2
    deployment.connect(users.AGGREGATOR, pending).close()


def test_a_rotation_that_never_finishes_fails_the_deploy_naming_the_secret(deployment) -> None:
    schema.apply(deployment.properties(), AggregatorSettings.from_env(), deployment.client)
    current = deployment.password(users.DASHBOARD)
    new_password(deployment, users.DASHBOARD, ["AWSPENDING"])
    stop = threading.Event()
    with pytest.raises(schema.RotationInProgressError) as caught:
        schema.apply(
            deployment.properties(),
            AggregatorSettings.from_env(),
            deployment.client,
            timeout_s=0.05,
            poll_s=0.01,
            sleep=stop.wait,
        )
    assert deployment.secrets[users.DASHBOARD] in str(caught.value)
    assert "cancel-rotate-secret" in str(caught.value)
    deployment.connect(users.DASHBOARD, current).close()  # left as it was


def test_a_secret_for_another_user_is_refused(deployment) -> None:
    properties = deployment.properties()
    properties[schema.USERS_PROPERTY][users.DASHBOARD]["Username"] = deployment.names[users.AGGREGATOR]
    with pytest.raises(SettingsError, match="is for user"):
        schema.apply(properties, AggregatorSettings.from_env(), deployment.client)


@pytest.mark.parametrize(
    ("users_property", "message"),
    [
        ({"admin": {"Username": "x", "SecretArn": "arn"}}, "unknown role 'admin'"),
        ({"dashboard": {"Username": "x"}}, "needs Username and SecretArn"),
        ({"dashboard": {"Username": "x'; DROP USER root; --", "SecretArn": "arn"}}, "database user name"),
        (["dashboard"], "expected a map"),
    ],
)
def test_a_malformed_users_property_is_refused_before_connecting(users_property, message) -> None:
    with pytest.raises(users.UsersError if "user name" in message else SettingsError, match=message):
        schema.user_requests({schema.USERS_PROPERTY: users_property})
