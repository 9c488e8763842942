"""The database's users, secrets, rotations, parameters and TLS, read off the synthesized template
(issue 9, items 4 and 6), plus the settings that choose how the functions check the certificate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dashboard.queries import READS
from infra import rds_ca
from infra.database import AGGREGATOR_USER, DASHBOARD_USER, SLOW_QUERY_SECONDS
from infra.errors import ContextError
from infra.quicksight import DATA_SETS
from infra.settings import InfraSettings
from minutes import users
from tests.fixtures.infra import FAKE_CA_BUNDLE, Synth

FUNCTIONS = ("Aggregator/Function/Resource", "Schema/Function/Resource", "Freshness/Function/Resource")


def by_path(synth: Synth, kind: str, path_part: str) -> tuple[str, dict[str, Any]]:
    found = [
        (name, body)
        for name, body in synth.resources(kind).items()
        if path_part in body.get("Metadata", {}).get("aws:cdk:path", "")
    ]
    assert len(found) == 1, f"{kind} at *{path_part}*: {[name for name, _ in found]}"
    return found[0]


def attachment(synth: Synth, owner: str) -> str:
    """The logical id of a secret's attachment to the instance (what ``secret_arn`` refers to)."""
    return by_path(synth, "AWS::SecretsManager::SecretTargetAttachment", f"Database/{owner}/")[0]


def readers(synth: Synth, secret_ref: dict[str, str]) -> set[str]:
    """Roles (their cdk path) whose policies allow GetSecretValue on the secret."""
    found = set()
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if "secretsmanager:GetSecretValue" in actions and secret_ref in resources:
                for role in policy["Properties"]["Roles"]:
                    path = synth.template["Resources"][role["Ref"]]["Metadata"]["aws:cdk:path"]
                    found.add(path.split("/")[1])
    return found


# --- users and their secrets ----------------------------------------------------------------


def test_each_user_has_its_own_generated_secret_attached_to_the_instance(synth_default: Synth) -> None:
    (instance_id, _) = synth_default.one("AWS::RDS::DBInstance")
    for owner, username in (("AggregatorSecret", AGGREGATOR_USER), ("DashboardSecret", DASHBOARD_USER)):
        (_, secret) = by_path(synth_default, "AWS::SecretsManager::Secret", f"Database/{owner}/Resource")
        generate = secret["Properties"]["GenerateSecretString"]
        assert json.loads(generate["SecretStringTemplate"]) == {
            "username": username,
            "dbname": "cryptotrades",
        }
        assert generate["GenerateStringKey"] == "password"
        target = synth_default.template["Resources"][attachment(synth_default, owner)]["Properties"]
        assert target["TargetId"] == {"Ref": instance_id}
    assert (AGGREGATOR_USER, DASHBOARD_USER) == (users.AGGREGATOR, users.DASHBOARD)


def test_the_functions_sign_in_as_their_own_user_and_may_read_only_that_secret(synth_default: Synth) -> None:
    expected = {
        "Aggregator/Function/Resource": "AggregatorSecret",
        "Schema/Function/Resource": "Instance",  # the master user: only the schema resource
        "Freshness/Function/Resource": "DashboardSecret",
    }
    for path, owner in expected.items():
        (_, function) = by_path(synth_default, "AWS::Lambda::Function", path)
        env = function["Properties"]["Environment"]["Variables"]
        assert env["CRYPTOTRADES_DB_SECRET_ARN"] == {"Ref": attachment(synth_default, owner)}, path
    assert readers(synth_default, {"Ref": attachment(synth_default, "Instance")}) == {"Schema"}
    assert readers(synth_default, {"Ref": attachment(synth_default, "AggregatorSecret")}) == {
        "Schema",
        "Aggregator",
    }
    assert readers(synth_default, {"Ref": attachment(synth_default, "DashboardSecret")}) == {
        "Schema",
        "Freshness",
    }


def test_the_schema_resource_names_each_user_and_its_secret(synth_default: Synth) -> None:
    (_, resource) = synth_default.one("Custom::CryptotradesSchema")
    assert resource["Properties"]["Users"] == {
        users.AGGREGATOR: {
            "Username": AGGREGATOR_USER,
            "SecretArn": {"Ref": attachment(synth_default, "AggregatorSecret")},
        },
        users.DASHBOARD: {
            "Username": DASHBOARD_USER,
            "SecretArn": {"Ref": attachment(synth_default, "DashboardSecret")},
        },
    }


def test_the_dashboard_user_may_read_what_the_dashboard_and_quicksight_read() -> None:
    granted = set(users.PRIVILEGES[users.DASHBOARD])
    assert set(READS) <= granted
    assert set(DATA_SETS) <= granted
    assert "agg_trades" not in granted and "schema_migrations" not in granted


def test_quicksight_signs_in_as_the_dashboard_user(synth_quicksight: Synth) -> None:
    (_, source) = synth_quicksight.one("AWS::QuickSight::DataSource")
    assert source["Properties"]["Credentials"] == {
        "SecretArn": {"Ref": attachment(synth_quicksight, "DashboardSecret")}
    }


# --- rotation -------------------------------------------------------------------------------


def test_every_secret_rotates_single_user_every_30_days_and_never_at_deploy(synth_default: Synth) -> None:
    schedules = synth_default.resources("AWS::SecretsManager::RotationSchedule")
    rotated = {body["Properties"]["SecretId"]["Ref"] for body in schedules.values()}
    assert rotated == {
        attachment(synth_default, owner) for owner in ("Instance", "AggregatorSecret", "DashboardSecret")
    }
    for body in schedules.values():
        assert body["Properties"]["RotationRules"] == {"ScheduleExpression": "rate(30 days)"}
        # No rotation at deploy: it would race the schema resource signing in with the new passwords.
        assert body["Properties"]["RotateImmediatelyOnUpdate"] is False
    for application in synth_default.resources("AWS::Serverless::Application").values():
        (mapping, _, _) = application["Properties"]["Location"]["ApplicationId"]["Fn::FindInMap"]
        location = synth_default.template["Mappings"][mapping]["aws"]["applicationId"]
        assert location.endswith(":applications/SecretsManagerRDSMySQLRotationSingleUser"), location
        assert "masterSecretArn" not in application["Properties"]["Parameters"], (
            "no rotation reads the master"
        )


def test_the_users_rotate_only_after_the_schema_resource_made_them(synth_default: Synth) -> None:
    (schema_id, schema) = synth_default.one("Custom::CryptotradesSchema")
    for owner in ("AggregatorSecret", "DashboardSecret"):
        (_, schedule) = by_path(synth_default, "AWS::SecretsManager::RotationSchedule", f"Database/{owner}/")
        assert schema_id in schedule["DependsOn"], owner
    # The master's rotation is set up before the schema resource signs in (it depends on the instance).
    (master_schedule, _) = by_path(
        synth_default, "AWS::SecretsManager::RotationSchedule", "Database/Instance/"
    )
    assert master_schedule in schema["DependsOn"]


def test_every_rotation_runs_in_the_one_rotation_security_group(synth_default: Synth) -> None:
    (group, _) = by_path(synth_default, "AWS::EC2::SecurityGroup", "Database/RotationSecurityGroup")
    for application in synth_default.resources("AWS::Serverless::Application").values():
        assert application["Properties"]["Parameters"]["vpcSecurityGroupIds"] == {
            "Fn::GetAtt": [group, "GroupId"]
        }


# --- parameters and version -----------------------------------------------------------------


def test_slow_queries_are_logged_and_exported(synth_default: Synth) -> None:
    (_, parameters) = synth_default.one("AWS::RDS::DBParameterGroup")
    values = parameters["Properties"]["Parameters"]
    assert values["slow_query_log"] == "1"
    assert values["long_query_time"] == str(SLOW_QUERY_SECONDS)
    assert values["log_output"] == "FILE"  # CloudWatch Logs exports read the log files
    (_, instance) = synth_default.one("AWS::RDS::DBInstance")
    assert "slowquery" in instance["Properties"]["EnableCloudwatchLogsExports"]


def test_the_engine_is_pinned_to_the_major_version_only(synth_default: Synth) -> None:
    (_, instance) = synth_default.one("AWS::RDS::DBInstance")
    assert instance["Properties"]["EngineVersion"] == "8.4"
    assert instance["Properties"]["AutoMinorVersionUpgrade"] is True
    (_, parameters) = synth_default.one("AWS::RDS::DBParameterGroup")
    assert parameters["Properties"]["Family"] == "mysql8.4"
    # The linters' false positive on "8.4" is ignored there and nowhere else.
    ignored = {
        name: body["Metadata"]["cfn-lint"]
        for name, body in synth_default.template["Resources"].items()
        if "cfn-lint" in body.get("Metadata", {})
    }
    assert list(ignored.values()) == [{"config": {"ignore_checks": ["E3691"]}}]


# --- TLS ------------------------------------------------------------------------------------


def test_every_function_verifies_the_database_with_the_shipped_rds_roots(synth_default: Synth) -> None:
    for path in FUNCTIONS:
        (_, function) = by_path(synth_default, "AWS::Lambda::Function", path)
        env = function["Properties"]["Environment"]["Variables"]
        assert env["CRYPTOTRADES_DB_TLS"] == "verify", path
        assert env["CRYPTOTRADES_DB_CA_FILE"] == "/var/task/rds-ca/bundle.pem", path
        bundle = synth_default.asset_dir(function["Properties"]["Code"]["S3Key"]) / "rds-ca" / "bundle.pem"
        assert bundle.read_bytes() == rds_ca.BUNDLE.read_bytes(), path


def test_a_given_bundle_replaces_the_shipped_one(synth_quicksight: Synth) -> None:
    (_, function) = by_path(synth_quicksight, "AWS::Lambda::Function", "Freshness/Function/Resource")
    bundle = synth_quicksight.asset_dir(function["Properties"]["Code"]["S3Key"]) / "rds-ca" / "bundle.pem"
    assert bundle.read_text() == FAKE_CA_BUNDLE


def settings(**context: str) -> InfraSettings:
    return InfraSettings.from_context(context.get, {})


def test_tls_settings_default_to_verify_with_the_shipped_roots(tmp_path: Path) -> None:
    assert settings().ca_bundle == rds_ca.BUNDLE
    own = tmp_path / "bundle.pem"
    own.write_text(FAKE_CA_BUNDLE)
    assert settings(dbCaBundle=str(own)).ca_bundle == own
    assert settings(dbTls="encrypt").ca_bundle is None


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"region": "il-central-1"}, "do not cover this region"),
        ({"dbTls": "encrypt", "dbCaBundle": "{bundle}"}, "checks no certificate"),
        ({"dbTls": "sometimes"}, "expected verify or encrypt"),
    ],
)
def test_tls_settings_that_cannot_work_are_refused(
    tmp_path: Path, context: dict[str, str], message: str
) -> None:
    own = tmp_path / "bundle.pem"
    own.write_text(FAKE_CA_BUNDLE)
    values = {key: value.format(bundle=own) for key, value in context.items()}
    with pytest.raises(ContextError, match=message):
        settings(**values)


def test_a_region_the_shipped_roots_lack_works_with_a_given_bundle_or_encrypt(tmp_path: Path) -> None:
    own = tmp_path / "bundle.pem"
    own.write_text(FAKE_CA_BUNDLE)
    assert settings(region="il-central-1", dbCaBundle=str(own)).ca_bundle == own
    assert settings(region="il-central-1", dbTls="encrypt").ca_bundle is None


# --- the freshness probe --------------------------------------------------------------------


def test_the_freshness_probe_is_small_read_only_and_named_in_the_outputs(synth_default: Synth) -> None:
    (name, function) = by_path(synth_default, "AWS::Lambda::Function", "Freshness/Function/Resource")
    properties = function["Properties"]
    assert properties["Handler"] == "lambda_aggregator.freshness.lambda_handler"
    assert properties["ReservedConcurrentExecutions"] == 2
    assert all("IsolatedSubnet" in subnet["Ref"] for subnet in properties["VpcConfig"]["SubnetIds"])
    outputs = synth_default.template["Outputs"]
    assert outputs["FreshnessFunctionName"]["Value"] == {"Ref": name}
    assert outputs["DashboardSecretArn"]["Value"] == {"Ref": attachment(synth_default, "DashboardSecret")}
