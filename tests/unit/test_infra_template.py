"""Every promise of the default deployment, read off the synthesized template (issue 5).

The template comes from ``python -m infra.app`` (tests/fixtures/infra.py), synthesized once.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template

from infra.aggregator import MINUTE_ROWS_METRIC, SERVICE_NAME
from infra.kafka_host import release_id
from infra.schema import sql_digest
from tests.fixtures.infra import REPO_ROOT, STACK, Synth, flatten

RAW_RETENTION_DAYS = 90


@pytest.fixture(scope="module")
def template(synth_default: Synth) -> Template:
    return Template.from_json(synth_default.template)


def statements(synth: Synth, role_logical_id: str) -> list[dict[str, Any]]:
    """Every IAM statement of the inline policies attached to a role."""
    found = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        roles = policy["Properties"].get("Roles", [])
        if {"Ref": role_logical_id} in roles:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def logical_id(synth: Synth, kind: str, path_part: str) -> str:
    matches = [
        name
        for name, body in synth.resources(kind).items()
        if path_part in body.get("Metadata", {}).get("aws:cdk:path", "")
    ]
    assert len(matches) == 1, f"{kind} at *{path_part}*: {matches}"
    return matches[0]


# --- region and naming ----------------------------------------------------------------------


def test_the_stack_targets_a_region_binance_serves(synth_default: Synth) -> None:
    manifest = json.loads((synth_default.outdir / "manifest.json").read_text())
    environment = manifest["artifacts"][STACK]["environment"]
    assert environment == "aws://unknown-account/eu-west-1"


def test_no_resource_has_a_physical_name(synth_default: Synth) -> None:
    # Two copies of the stack must coexist in one account: names are generated.
    named = {
        "AWS::S3::Bucket": "BucketName",
        "AWS::Lambda::Function": "FunctionName",
        "AWS::IAM::Role": "RoleName",
        "AWS::RDS::DBInstance": "DBInstanceIdentifier",
        "AWS::SQS::Queue": "QueueName",
        "AWS::SNS::Topic": "TopicName",
        "AWS::EC2::SecurityGroup": "GroupName",
        "AWS::SecretsManager::Secret": "Name",
    }
    for kind, prop in named.items():
        for name, body in synth_default.resources(kind).items():
            assert prop not in body.get("Properties", {}), f"{name} sets {prop}"


# --- network --------------------------------------------------------------------------------


def test_the_vpc_has_no_nat_gateway_and_uses_endpoints(template: Template, synth_default: Synth) -> None:
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    endpoints = synth_default.resources("AWS::EC2::VPCEndpoint")
    kinds = {flatten(body["Properties"]["ServiceName"]).split(".")[-1]: body for body in endpoints.values()}
    assert set(kinds) == {"s3", "secretsmanager"}
    assert kinds["s3"]["Properties"]["VpcEndpointType"] == "Gateway"
    secrets = kinds["secretsmanager"]["Properties"]
    assert secrets["VpcEndpointType"] == "Interface"
    assert secrets["PrivateDnsEnabled"] is True
    assert len(secrets["SubnetIds"]) == 1, "one interface endpoint ENI: the cost-sized choice"


def test_subnets_are_public_without_automatic_addresses_and_isolated(synth_default: Synth) -> None:
    subnets = synth_default.resources("AWS::EC2::Subnet")
    kinds = sorted(
        next(tag["Value"] for tag in body["Properties"]["Tags"] if tag["Key"] == "aws-cdk:subnet-type")
        for body in subnets.values()
    )
    assert kinds == ["Isolated", "Isolated", "Public", "Public"]
    assert all(body["Properties"]["MapPublicIpOnLaunch"] is False for body in subnets.values())
    # Isolated subnets have no default route at all.
    routes = synth_default.resources("AWS::EC2::Route")
    assert all("GatewayId" in body["Properties"] for body in routes.values())
    assert len(routes) == 2  # the public subnets' routes to the internet gateway


def test_rejected_traffic_is_logged(template: Template) -> None:
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "REJECT", "ResourceType": "VPC"})


def test_nothing_is_open_to_the_internet_and_no_ssh(synth_default: Synth) -> None:
    rules = []
    for body in synth_default.resources("AWS::EC2::SecurityGroup").values():
        rules.extend(body["Properties"].get("SecurityGroupIngress", []))
    rules.extend(
        body["Properties"] for body in synth_default.resources("AWS::EC2::SecurityGroupIngress").values()
    )
    for rule in rules:
        assert "CidrIp" not in rule and "CidrIpv6" not in rule, f"a CIDR ingress rule: {rule}"
        assert rule.get("FromPort") != 22


# --- Kafka host -----------------------------------------------------------------------------


def host(synth: Synth) -> dict[str, Any]:
    return synth.one("AWS::EC2::Instance")[1]


def test_the_kafka_host_is_graviton_amazon_linux_2023_in_a_public_subnet(synth_default: Synth) -> None:
    properties = host(synth_default)["Properties"]
    assert properties["InstanceType"] == "t4g.small"
    image_parameter = properties["ImageId"]["Ref"]
    assert synth_default.template["Parameters"][image_parameter]["Default"] == (
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-arm64"
    )
    interface = properties["NetworkInterfaces"][0]
    assert interface["AssociatePublicIpAddress"] is True
    subnet = synth_default.template["Resources"][interface["SubnetId"]["Ref"]]
    assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    assert "PublicSubnet" in interface["SubnetId"]["Ref"]
    volume = properties["BlockDeviceMappings"][0]["Ebs"]
    assert volume["Encrypted"] is True


def test_the_kafka_host_requires_imdsv2_and_has_no_inbound_rule(synth_default: Synth) -> None:
    (_, template_body) = synth_default.one("AWS::EC2::LaunchTemplate")
    assert template_body["Properties"]["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"
    group_ref = host(synth_default)["Properties"]["NetworkInterfaces"][0]["GroupSet"][0]["Fn::GetAtt"][0]
    group = synth_default.template["Resources"][group_ref]["Properties"]
    assert "SecurityGroupIngress" not in group
    targets = [
        body["Properties"]["GroupId"]
        for body in synth_default.resources("AWS::EC2::SecurityGroupIngress").values()
    ]
    assert {"Fn::GetAtt": [group_ref, "GroupId"]} not in targets


def test_the_host_role_puts_under_trades_reads_its_release_and_has_session_manager(
    synth_default: Synth,
) -> None:
    role_id = logical_id(synth_default, "AWS::IAM::Role", "KafkaHost/Role/Resource")
    role = synth_default.template["Resources"][role_id]["Properties"]
    # No AmazonSSMManagedInstanceCore: its ssm:GetParameter(s) on * would read every parameter.
    assert "ManagedPolicyArns" not in role
    bucket_id = logical_id(synth_default, "AWS::S3::Bucket", "Trades/Bucket/")
    by_action: dict[str, list[str]] = {}
    for statement in statements(synth_default, role_id):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).extend(flatten(r) for r in as_list(statement["Resource"]))
    assert by_action.pop("s3:PutObject") == [
        flatten({"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/trades/*"]]})
    ]
    (release,) = by_action.pop("s3:GetObject")
    assert re.fullmatch(r"arn:aws:s3:::TOKEN/[0-9a-f]{64}\.zip", release), release  # the one release object
    assert by_action.pop("ssm:UpdateInstanceInformation") == ["arn:aws:ec2:eu-west-1:TOKEN:instance/*"]
    assert set(by_action) <= {
        *(
            f"ssmmessages:{a}"
            for a in ("CreateControlChannel", "CreateDataChannel", "OpenControlChannel", "OpenDataChannel")
        ),
        *(
            f"ec2messages:{a}"
            for a in (
                "AcknowledgeMessage",
                "DeleteMessage",
                "FailMessage",
                "GetEndpoint",
                "GetMessages",
                "SendReply",
            )
        ),
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
        "cloudformation:SignalResource",
    }, by_action


def user_data(synth: Synth) -> str:
    return flatten(host(synth)["Properties"]["UserData"])


def host_env(synth: Synth) -> dict[str, str]:
    text = user_data(synth)
    block = re.search(r"<<'HOST_ENV'\n(.*?)\nHOST_ENV\n", text, re.S)
    assert block, text
    return dict(line.split("=", 1) for line in block[1].splitlines())


def test_user_data_carries_the_topic_retention_and_runs_the_installer(synth_default: Synth) -> None:
    env = host_env(synth_default)
    assert env["CRYPTOTRADES_KAFKA_MODE"] == "ec2"
    assert env["CRYPTOTRADES_TOPIC"] == "cryptotrades"
    assert env["CRYPTOTRADES_TOPIC_RETENTION_MS"] == "300000"
    assert int(env["CRYPTOTRADES_TOPIC_SEGMENT_MS"]) < int(env["CRYPTOTRADES_TOPIC_RETENTION_MS"])
    assert env["CRYPTOTRADES_KAFKA_DATA_DIR"] == "/var/lib/kafka/data"  # not under /tmp
    assert env["CRYPTOTRADES_BUCKET"] == "TOKEN"  # the generated bucket name, resolved by CloudFormation
    assert env["AWS_REGION"] == "eu-west-1"
    text = user_data(synth_default)
    assert text.startswith("#!/bin/bash\nset -euo pipefail\n")
    assert text.rstrip().endswith("bash /opt/cryptotrades/release/infra/host/install.sh")


def test_a_deploy_waits_for_the_host_to_report_its_install(synth_default: Synth) -> None:
    (instance_id, instance) = synth_default.one("AWS::EC2::Instance")
    policy = instance["CreationPolicy"]["ResourceSignal"]
    assert policy["Timeout"] == "PT20M" and policy.get("Count", 1) == 1  # CloudFormation's default count is 1
    text = user_data(synth_default)
    assert re.search(r"^trap signal EXIT$", text, re.M), (
        "the exit status goes to CloudFormation whatever happens"
    )
    signal = re.search(r"^ +/opt/aws/bin/cfn-signal (.*)$", text, re.M)
    assert signal, text
    assert signal[1] == f'--exit-code "$status" --stack {STACK} --resource {instance_id} --region eu-west-1'


def test_the_host_release_holds_the_code_units_and_wheels_for_arm64(synth_default: Synth) -> None:
    text = user_data(synth_default)
    key = re.search(r"/([0-9a-f]{64})\.zip", json.dumps(host(synth_default)["Properties"]["UserData"]))
    assert key and "aws s3 cp" in text
    release = synth_default.asset_dir(key[1])
    for path in (
        "vector/vector.toml",
        "producer/settings.py",
        "binance/events.py",
        "infra/host/install.sh",
        "infra/host/render-config.sh",
        "infra/host/systemd/kafka.service",
    ):
        assert (release / path).is_file(), path
    assert not list(release.rglob("__pycache__"))
    extensions = list((release / "site-packages").glob("confluent_kafka/cimpl*.so"))
    assert extensions and elf_machine(extensions[0]) == AARCH64


AARCH64 = 183  # ELF e_machine of 64-bit ARM
RUNTIME_PROVIDED = {"boto3", "botocore"}  # part of Lambda's Python runtime


def third_party_imports(*folders: str) -> set[str]:
    """Top-level modules the code in ``folders`` imports that are neither stdlib nor ours."""
    names: set[str] = set()
    for folder in folders:
        for path in (REPO_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    ours = {"contract", "binance", "minutes", "lambda_aggregator", "producer", "__future__"}
    return names - set(sys.stdlib_module_names) - ours


def importable(root: Path, module: str) -> bool:
    return (
        (root / module).is_dir()
        or (root / f"{module}.py").is_file()
        or bool(list(root.glob(f"{module}.*.so")))
    )


def test_the_host_release_has_every_package_the_producer_imports(synth_default: Synth) -> None:
    key = re.search(r"/([0-9a-f]{64})\.zip", json.dumps(host(synth_default)["Properties"]["UserData"]))
    assert key
    packages = synth_default.asset_dir(key[1]) / "site-packages"
    needed = third_party_imports("producer", "binance")
    assert needed >= {"confluent_kafka", "websockets", "msgspec"}
    assert {module for module in needed if not importable(packages, module)} == set()


def elf_machine(path: Any) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    return int.from_bytes(header[18:20], "little")


# --- bucket ---------------------------------------------------------------------------------


def test_the_bucket_is_private_encrypted_logged_and_expires_raw_objects(synth_default: Synth) -> None:
    bucket_id = logical_id(synth_default, "AWS::S3::Bucket", "Trades/Bucket/")
    logs_id = logical_id(synth_default, "AWS::S3::Bucket", "Trades/AccessLogs/")
    for name in (bucket_id, logs_id):
        properties = synth_default.template["Resources"][name]["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        encryption = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert synth_default.template["Resources"][name]["DeletionPolicy"] == "Retain"
    bucket = synth_default.template["Resources"][bucket_id]["Properties"]
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireRawTrades"]["Prefix"] == "trades/"
    assert rules["ExpireRawTrades"]["ExpirationInDays"] == RAW_RETENTION_DAYS
    assert rules["ExpireQuarantine"]["Prefix"] == "rejected/"
    assert rules["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_every_bucket_refuses_plain_http_and_old_tls(synth_default: Synth) -> None:
    policies = synth_default.resources("AWS::S3::BucketPolicy")
    buckets = synth_default.resources("AWS::S3::Bucket")
    assert len(policies) == len(buckets) == 3  # trades, its access logs, Athena results
    for body in policies.values():
        denies = [s for s in body["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        conditions = [s["Condition"] for s in denies]
        assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
        assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions


def test_new_objects_under_trades_and_only_there_invoke_the_aggregator(synth_default: Synth) -> None:
    (_, notifications) = synth_default.one("Custom::S3BucketNotifications")
    configuration = notifications["Properties"]["NotificationConfiguration"]
    assert set(configuration) == {"LambdaFunctionConfigurations"}
    (target,) = configuration["LambdaFunctionConfigurations"]
    assert target["Events"] == ["s3:ObjectCreated:*"]
    assert target["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "trades/"}]}}
    aggregator_id = logical_id(synth_default, "AWS::Lambda::Function", "Aggregator/Function/Resource")
    assert target["LambdaFunctionArn"] == {"Fn::GetAtt": [aggregator_id, "Arn"]}


# --- Lambda ---------------------------------------------------------------------------------


def aggregator(synth: Synth) -> dict[str, Any]:
    return synth.template["Resources"][
        logical_id(synth, "AWS::Lambda::Function", "Aggregator/Function/Resource")
    ]


def test_the_aggregator_runs_python_3_12_on_arm_in_isolated_subnets(synth_default: Synth) -> None:
    properties = aggregator(synth_default)["Properties"]
    assert properties["Runtime"] == "python3.12"
    assert properties["Handler"] == "lambda_aggregator.handler.lambda_handler"
    assert properties["Architectures"] == ["arm64"]
    subnets = properties["VpcConfig"]["SubnetIds"]
    assert len(subnets) == 2 and all("IsolatedSubnet" in subnet["Ref"] for subnet in subnets)


def test_the_aggregator_environment_names_the_secret_never_its_value(synth_default: Synth) -> None:
    env = aggregator(synth_default)["Properties"]["Environment"]["Variables"]
    attachment = logical_id(
        synth_default, "AWS::SecretsManager::SecretTargetAttachment", "Database/AggregatorSecret/"
    )
    assert env == {
        "CRYPTOTRADES_DB_SECRET_ARN": {"Ref": attachment},
        "CRYPTOTRADES_DB_TLS": "verify",
        "CRYPTOTRADES_DB_CA_FILE": "/var/task/rds-ca/bundle.pem",
        "CRYPTOTRADES_QUARANTINE_PREFIX": "rejected/",
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": STACK,
    }


def test_the_aggregator_may_read_its_secret_and_the_bucket_prefixes_only(synth_default: Synth) -> None:
    role_id = aggregator(synth_default)["Properties"]["Role"]["Fn::GetAtt"][0]
    attachment = logical_id(
        synth_default, "AWS::SecretsManager::SecretTargetAttachment", "Database/AggregatorSecret/"
    )
    bucket_id = logical_id(synth_default, "AWS::S3::Bucket", "Trades/Bucket/")
    by_action: dict[str, list[str]] = {}
    for statement in statements(synth_default, role_id):
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).extend(json.dumps(r) for r in as_list(statement["Resource"]))
    assert by_action["secretsmanager:GetSecretValue"] == [json.dumps({"Ref": attachment})]
    trades = json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/trades/*"]]})
    rejected = json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/rejected/*"]]})
    # Exactly the two calls the handler makes: no listing, no bucket reads, no deletes.
    assert by_action["s3:GetObject"] == [trades]
    assert by_action["s3:PutObject"] == [rejected]
    assert {action for action in by_action if action.startswith("s3:")} == {"s3:GetObject", "s3:PutObject"}
    assert all(resource != '"*"' for resources in by_action.values() for resource in resources)


def test_failed_events_go_to_a_queue_after_two_retries(synth_default: Synth) -> None:
    (_, config) = synth_default.one("AWS::Lambda::EventInvokeConfig")
    properties = config["Properties"]
    assert properties["MaximumRetryAttempts"] == 2
    queue_id = logical_id(synth_default, "AWS::SQS::Queue", "Aggregator/FailedEvents")
    assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    queue = synth_default.template["Resources"][queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_the_lambda_bundle_holds_code_sql_and_arm_wheels_only(synth_default: Synth) -> None:
    bundle = synth_default.asset_dir(aggregator(synth_default)["Properties"]["Code"]["S3Key"])
    for path in (
        "lambda_aggregator/handler.py",
        "lambda_aggregator/schema.py",
        "minutes/store.py",
        "binance/parse.py",
    ):
        assert (bundle / path).is_file(), path
    for migration in (REPO_ROOT / "sql" / "mysql").glob("*.sql"):
        assert (bundle / "sql" / "mysql" / migration.name).read_bytes() == migration.read_bytes()
    assert not list(bundle.rglob("__pycache__")) and not list(bundle.rglob("*.pyc"))
    assert not (bundle / "tests").exists() and not (bundle / "producer").exists()
    (extension,) = (bundle / "msgspec").glob("_core*.so")
    assert elf_machine(extension) == AARCH64
    assert (bundle / "pymysql").is_dir() and (bundle / "aws_lambda_powertools").is_dir()
    assert not (bundle / "boto3").exists(), "boto3 comes with the runtime"
    needed = third_party_imports("lambda_aggregator", "minutes", "binance", "contract") - RUNTIME_PROVIDED
    assert needed >= {"msgspec", "pymysql", "aws_lambda_powertools"}
    assert {module for module in needed if not importable(bundle, module)} == set()


def test_the_schema_is_migrated_at_deploy_by_the_same_package(synth_default: Synth) -> None:
    (name, resource) = synth_default.one("Custom::CryptotradesSchema")
    assert resource["Properties"]["SqlDigest"] == sql_digest()
    schema_id = logical_id(synth_default, "AWS::Lambda::Function", "Schema/Function/Resource")
    schema = synth_default.template["Resources"][schema_id]["Properties"]
    assert schema["Handler"] == "lambda_aggregator.schema.on_event"
    assert schema["Code"] == aggregator(synth_default)["Properties"]["Code"]
    # The same environment, but signed in as the master user: the one function that is.
    master = logical_id(synth_default, "AWS::SecretsManager::SecretTargetAttachment", "Database/Instance")
    aggregator_env = aggregator(synth_default)["Properties"]["Environment"]["Variables"]
    assert schema["Environment"]["Variables"] == {
        **aggregator_env,
        "CRYPTOTRADES_DB_SECRET_ARN": {"Ref": master},
    }
    instance_id = logical_id(synth_default, "AWS::RDS::DBInstance", "Database/Instance")
    assert instance_id in resource["DependsOn"]
    # The host (and so the producer) starts only once the schema exists.
    assert name in host(synth_default)["DependsOn"]


# --- database -------------------------------------------------------------------------------


def test_the_database_is_private_encrypted_backed_up_and_protected(synth_default: Synth) -> None:
    (_, instance) = synth_default.one("AWS::RDS::DBInstance")
    properties = instance["Properties"]
    assert properties["Engine"] == "mysql"
    assert properties["EngineVersion"] == "8.4"  # the major only (tests/unit/test_infra_database.py)
    assert properties["PubliclyAccessible"] is False
    assert properties["StorageEncrypted"] is True
    assert properties["DeletionProtection"] is True
    assert properties["BackupRetentionPeriod"] == 7
    assert properties["AutoMinorVersionUpgrade"] is True
    assert instance["DeletionPolicy"] == "Snapshot"
    (_, subnet_group) = synth_default.one("AWS::RDS::DBSubnetGroup")
    assert all("IsolatedSubnet" in s["Ref"] for s in subnet_group["Properties"]["SubnetIds"])
    (_, parameters) = synth_default.one("AWS::RDS::DBParameterGroup")
    assert parameters["Properties"]["Parameters"]["require_secure_transport"] == "1"
    # The password is generated by Secrets Manager, never written in the template.
    assert "MasterUserPassword" in properties and "resolve:secretsmanager" in json.dumps(
        properties["MasterUserPassword"]
    )


def test_the_credentials_rotate_every_30_days_through_the_endpoint(synth_default: Synth) -> None:
    secrets = synth_default.resources("AWS::SecretsManager::Secret")
    assert len(secrets) == 3  # master, aggregator, dashboard
    assert all("GenerateSecretString" in secret["Properties"] for secret in secrets.values())
    schedules = synth_default.resources("AWS::SecretsManager::RotationSchedule")
    assert len(schedules) == 3
    for schedule in schedules.values():
        assert schedule["Properties"]["RotationRules"] == {"ScheduleExpression": "rate(30 days)"}
    applications = synth_default.resources("AWS::Serverless::Application")
    assert len(applications) == 3
    for application in applications.values():
        assert "secretsmanager" in flatten(application["Properties"]["Parameters"]["endpoint"])


def test_only_our_functions_reach_the_database(synth_default: Synth) -> None:
    instance_group = synth_default.one("AWS::RDS::DBInstance")[1]["Properties"]["VPCSecurityGroups"][0]
    group_id = instance_group["Fn::GetAtt"][0]
    sources = sorted(
        body["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0]
        for body in synth_default.resources("AWS::EC2::SecurityGroupIngress").values()
        if body["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    )
    assert len(sources) == 4
    assert any("Aggregator" in s for s in sources) and any("Schema" in s for s in sources)
    assert any("Rotation" in s for s in sources) and any("Freshness" in s for s in sources)


# --- alarms ---------------------------------------------------------------------------------


def alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {name: body["Properties"] for name, body in synth.resources("AWS::CloudWatch::Alarm").items()}


def test_no_new_minute_row_for_five_minutes_alarms_even_without_data(synth_default: Synth) -> None:
    (quiet,) = [a for a in alarms(synth_default).values() if a.get("MetricName") == MINUTE_ROWS_METRIC]
    env = aggregator(synth_default)["Properties"]["Environment"]["Variables"]
    assert quiet["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert quiet["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert quiet["Statistic"] == "Sum"
    assert quiet["Period"] * quiet["EvaluationPeriods"] == 300
    assert quiet["DatapointsToAlarm"] == quiet["EvaluationPeriods"]
    assert quiet["ComparisonOperator"] == "LessThanThreshold" and quiet["Threshold"] == 1
    assert quiet["TreatMissingData"] == "breaching"


def test_errors_failed_events_and_the_host_have_alarms_that_notify(synth_default: Synth) -> None:
    found = alarms(synth_default)
    metrics = {a.get("MetricName") for a in found.values()}
    assert {"Errors", "ApproximateNumberOfMessagesVisible", "StatusCheckFailed_System"} <= metrics
    (topic_id, _) = synth_default.one("AWS::SNS::Topic")
    for name, alarm in found.items():
        assert {"Ref": topic_id} in alarm["AlarmActions"], name
    (recovery,) = [a for a in found.values() if a.get("MetricName") == "StatusCheckFailed_System"]
    assert any(":ec2:recover" in flatten(action) for action in recovery["AlarmActions"])


def test_the_outputs_say_where_to_look(template: Template) -> None:
    for name in (
        "TradesBucketName",
        "KafkaHostInstanceId",
        "KafkaHostLogGroup",
        "DatabaseSecretArn",
        "AlarmTopicArn",
    ):
        template.has_output(name, {"Value": Match.any_value()})


def test_a_new_release_is_a_new_host_and_the_same_release_the_same_host() -> None:
    stack = Stack(App(), "Probe")
    first = release_id(stack, ["bash install.sh", "KAFKA_VERSION=4.1.1"])
    assert release_id(stack, ["bash install.sh", "KAFKA_VERSION=4.1.1"]) == first
    assert release_id(stack, ["bash install.sh", "KAFKA_VERSION=4.2.0"]) != first


# --- issue 9: sized, versioned, watched --------------------------------------------------------


def test_the_aggregator_reserves_few_enough_copies_for_a_micro_database(synth_default: Synth) -> None:
    from infra.aggregator import AGGREGATOR_CONCURRENCY

    reserved = aggregator(synth_default)["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == AGGREGATOR_CONCURRENCY == 5
    # db.t4g.micro: max_connections = DBInstanceClassMemory / 12582880 < 1 GiB / 12582880 = 85.
    micro_connections = 1024**3 // 12582880
    assert micro_connections == 85
    # One connection per warm copy; half the slots at least stay for everything else.
    assert reserved <= micro_connections // 2


def test_concurrency_zero_reserves_none() -> None:
    from infra.settings import InfraSettings

    assert InfraSettings.from_context({"aggregatorConcurrency": "0"}.get, {}).aggregator_concurrency == 0


def test_the_bucket_is_versioned_and_expires_overwritten_versions(synth_default: Synth) -> None:
    bucket_id = logical_id(synth_default, "AWS::S3::Bucket", "Trades/Bucket/")
    bucket = synth_default.template["Resources"][bucket_id]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    overwritten = rules["ExpireOverwritten"]
    assert overwritten["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert overwritten["ExpiredObjectDeleteMarker"] is True and "Prefix" not in overwritten


def test_throttles_a_near_timeout_and_failed_rotations_alarm(synth_default: Synth) -> None:
    found = alarms(synth_default)
    function = {"Ref": logical_id(synth_default, "AWS::Lambda::Function", "Aggregator/Function/Resource")}
    by_metric = {(a["MetricName"], json.dumps(a["Dimensions"])): a for a in found.values()}
    throttles = by_metric[("Throttles", json.dumps([{"Name": "FunctionName", "Value": function}]))]
    assert throttles["Threshold"] == 1 and throttles["Statistic"] == "Sum"
    duration = by_metric[("Duration", json.dumps([{"Name": "FunctionName", "Value": function}]))]
    timeout_ms = aggregator(synth_default)["Properties"]["Timeout"] * 1000
    assert duration["Statistic"] == "Maximum" and duration["Threshold"] == 0.8 * timeout_ms
    # Every rotation in the template has one (the rule finds rotations added anywhere): the master's
    # and each application user's.
    rotations = {
        a["Properties"]["Parameters"]["functionName"]
        for a in synth_default.resources("AWS::Serverless::Application").values()
    }
    assert len(rotations) == 3
    for rotation in rotations:
        rotation_alarm = by_metric[("Errors", json.dumps([{"Name": "FunctionName", "Value": rotation}]))]
        assert rotation_alarm["Threshold"] == 1
    alarmed = {
        a["Dimensions"][0]["Value"]
        for a in found.values()
        if a.get("MetricName") == "Errors" and isinstance(a["Dimensions"][0]["Value"], str)
    }
    assert rotations <= alarmed


# --- issue 14: the minute check and late objects are watched -----------------------------------


def test_disagreeing_minutes_minutes_without_a_row_and_late_objects_alarm(synth_default: Synth) -> None:
    from contract.pipeline import LATE_OBJECTS_METRIC, MINUTES_DISAGREEING_METRIC, MINUTES_WITHOUT_ROW_METRIC

    env = aggregator(synth_default)["Properties"]["Environment"]["Variables"]
    by_name = {a.get("MetricName"): a for a in alarms(synth_default).values()}
    (topic_id, _) = synth_default.one("AWS::SNS::Topic")
    for name, statistic in (
        (MINUTES_DISAGREEING_METRIC, "Maximum"),  # a level: differing minutes in the last 24 h
        (MINUTES_WITHOUT_ROW_METRIC, "Maximum"),
        (LATE_OBJECTS_METRIC, "Sum"),  # a count of objects
    ):
        alarm = by_name[name]
        assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"], name
        assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}], name
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            statistic,
            "GreaterThanOrEqualToThreshold",
            1,
        ), name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert {"Ref": topic_id} in alarm["AlarmActions"] and {"Ref": topic_id} in alarm["OKActions"], name
