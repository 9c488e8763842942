"""The options: MSK (``synth_msk``); QuickSight, an alarm e-mail, the CA bundle (``synth_quicksight``)."""

from __future__ import annotations

import json
import re
from typing import Any

from infra.quicksight import DATA_SETS
from tests.fixtures.infra import ALARM_EMAIL, FAKE_CA_BUNDLE, QUICKSIGHT_PRINCIPAL, Synth, flatten


def by_path(synth: Synth, kind: str, path_part: str) -> tuple[str, dict[str, Any]]:
    found = [
        (name, body)
        for name, body in synth.resources(kind).items()
        if path_part in body.get("Metadata", {}).get("aws:cdk:path", "")
    ]
    assert len(found) == 1, f"{kind} at *{path_part}*: {[name for name, _ in found]}"
    return found[0]


def host_env(synth: Synth) -> dict[str, str]:
    (_, instance) = synth.one("AWS::EC2::Instance")
    text = flatten(instance["Properties"]["UserData"])
    block = re.search(r"<<'HOST_ENV'\n(.*?)\nHOST_ENV\n", text, re.S)
    assert block
    return dict(line.split("=", 1) for line in block[1].splitlines())


# --- MSK ------------------------------------------------------------------------------------


def test_msk_brokers_are_private_tls_only_and_logged(synth_msk: Synth) -> None:
    (_, cluster) = synth_msk.one("AWS::MSK::Cluster")
    properties = cluster["Properties"]
    assert properties["NumberOfBrokerNodes"] == 2
    nodes = properties["BrokerNodeGroupInfo"]
    assert all("IsolatedSubnet" in subnet["Ref"] for subnet in nodes["ClientSubnets"])
    assert properties["EncryptionInfo"]["EncryptionInTransit"] == {"ClientBroker": "TLS", "InCluster": True}
    assert properties["LoggingInfo"]["BrokerLogs"]["CloudWatchLogs"]["Enabled"] is True
    (_, configuration) = synth_msk.one("AWS::MSK::Configuration")
    assert "auto.create.topics.enable=false" in configuration["Properties"]["ServerProperties"].splitlines()


def test_on_msk_the_host_runs_no_broker_and_may_only_ask_for_the_bootstrap(synth_msk: Synth) -> None:
    env = host_env(synth_msk)
    (cluster_id, _) = synth_msk.one("AWS::MSK::Cluster")
    assert env["CRYPTOTRADES_KAFKA_MODE"] == "msk"
    assert env["CRYPTOTRADES_TOPIC_REPLICATION"] == "2"
    assert env["CRYPTOTRADES_TOPIC_RETENTION_MS"] == "300000"
    assert "CRYPTOTRADES_KAFKA_DATA_DIR" not in env
    (role_id, _) = by_path(synth_msk, "AWS::IAM::Role", "KafkaHost/Role/Resource")
    kafka_statements = [
        statement
        for policy in synth_msk.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "kafka" in json.dumps(statement["Action"])
    ]
    assert kafka_statements == [
        {
            "Action": "kafka:GetBootstrapBrokers",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [cluster_id, "Arn"]},
        }
    ]


def test_only_the_host_reaches_the_brokers_on_the_tls_port(synth_msk: Synth) -> None:
    (group_id, _) = by_path(synth_msk, "AWS::EC2::SecurityGroup", "Msk/SecurityGroup")
    (host_group, _) = by_path(synth_msk, "AWS::EC2::SecurityGroup", "KafkaHost/SecurityGroup")
    rules = [
        body["Properties"]
        for body in synth_msk.resources("AWS::EC2::SecurityGroupIngress").values()
        if body["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    from_host = [r for r in rules if r["SourceSecurityGroupId"] == {"Fn::GetAtt": [host_group, "GroupId"]}]
    assert [(r["FromPort"], r["ToPort"]) for r in from_host] == [(9094, 9094)]
    others = [r for r in rules if r not in from_host]
    assert all(r["SourceSecurityGroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]} for r in others)


# --- QuickSight -----------------------------------------------------------------------------


def test_quicksight_reads_the_views_through_a_vpc_connection_with_the_secret(synth_quicksight: Synth) -> None:
    (connection_id, connection) = synth_quicksight.one("AWS::QuickSight::VPCConnection")
    assert all("IsolatedSubnet" in s["Ref"] for s in connection["Properties"]["SubnetIds"])
    (_, source) = synth_quicksight.one("AWS::QuickSight::DataSource")
    properties = source["Properties"]
    assert properties["Type"] == "MYSQL"
    assert properties["DataSourceParameters"]["MySqlParameters"]["Port"] == 3306
    assert properties["DataSourceParameters"]["MySqlParameters"]["Database"] == "cryptotrades"
    assert set(properties["Credentials"]) == {"SecretArn"}, "no user name or password in the template"
    assert properties["SslProperties"] == {"DisableSsl": False}
    assert properties["VpcConnectionProperties"] == {
        "VpcConnectionArn": {"Fn::GetAtt": [connection_id, "Arn"]}
    }
    assert [p["Principal"] for p in properties["Permissions"]] == [QUICKSIGHT_PRINCIPAL]
    tables = {}
    for data_set in synth_quicksight.resources("AWS::QuickSight::DataSet").values():
        (table,) = data_set["Properties"]["PhysicalTableMap"].values()
        relational = table["RelationalTable"]
        tables[relational["Name"]] = [column["Name"] for column in relational["InputColumns"]]
        assert data_set["Properties"]["ImportMode"] == "DIRECT_QUERY"
        assert [p["Principal"] for p in data_set["Properties"]["Permissions"]] == [QUICKSIGHT_PRINCIPAL]
    assert set(tables) == {
        "daily_totals",
        "minute_prices",
        "minute_spread",
        "trade_minutes_maker_side",
        "trade_minutes",
    }
    assert tables == {name: [column for column, _ in columns] for name, columns in DATA_SETS.items()}


def test_the_database_admits_quicksight(synth_quicksight: Synth) -> None:
    (_, instance) = synth_quicksight.one("AWS::RDS::DBInstance")
    database_group = instance["Properties"]["VPCSecurityGroups"][0]["Fn::GetAtt"][0]
    (quicksight_group, _) = by_path(synth_quicksight, "AWS::EC2::SecurityGroup", "QuickSight/SecurityGroup")
    sources = [
        body["Properties"]["SourceSecurityGroupId"]
        for body in synth_quicksight.resources("AWS::EC2::SecurityGroupIngress").values()
        if body["Properties"]["GroupId"] == {"Fn::GetAtt": [database_group, "GroupId"]}
    ]
    assert {"Fn::GetAtt": [quicksight_group, "GroupId"]} in sources


# --- the alarm e-mail and the CA bundle -----------------------------------------------------


def test_the_alarm_topic_mails_the_given_address(synth_quicksight: Synth) -> None:
    (_, subscription) = synth_quicksight.one("AWS::SNS::Subscription")
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == ALARM_EMAIL


def test_with_the_ca_bundle_the_lambda_verifies_the_database(synth_quicksight: Synth) -> None:
    (_, function) = by_path(synth_quicksight, "AWS::Lambda::Function", "Aggregator/Function/Resource")
    env = function["Properties"]["Environment"]["Variables"]
    assert env["CRYPTOTRADES_DB_TLS"] == "verify"
    assert env["CRYPTOTRADES_DB_CA_FILE"] == "/var/task/rds-ca/bundle.pem"
    bundle = synth_quicksight.asset_dir(function["Properties"]["Code"]["S3Key"])
    assert (bundle / "rds-ca" / "bundle.pem").read_text() == FAKE_CA_BUNDLE


def test_quicksight_waits_for_the_schema_and_the_database_ingress(synth_quicksight: Synth) -> None:
    (schema_id, _) = synth_quicksight.one("Custom::CryptotradesSchema")
    (_, source) = synth_quicksight.one("AWS::QuickSight::DataSource")
    (quicksight_group, _) = by_path(synth_quicksight, "AWS::EC2::SecurityGroup", "QuickSight/SecurityGroup")
    ingress = [
        name
        for name, body in synth_quicksight.resources("AWS::EC2::SecurityGroupIngress").items()
        if body["Properties"]["SourceSecurityGroupId"] == {"Fn::GetAtt": [quicksight_group, "GroupId"]}
    ]
    assert len(ingress) == 1
    assert {schema_id, *ingress} <= set(source["DependsOn"])
    (source_id, _) = synth_quicksight.one("AWS::QuickSight::DataSource")
    for data_set in synth_quicksight.resources("AWS::QuickSight::DataSet").values():
        (table,) = data_set["Properties"]["PhysicalTableMap"].values()
        assert table["RelationalTable"]["DataSourceArn"] == {"Fn::GetAtt": [source_id, "Arn"]}
