"""Each role of the template, checked against the calls its code makes, by a real IAM evaluator.

For every role: the exact API calls its code makes (action and resource ARN) are allowed, and a
list of calls it must never make is denied. The policies are the synthesized ones, resolved
and evaluated by principalmapper's local policy simulation (tests/model/permissions.py),
bucket and secret resource policies included. Every policy document is also linted with
parliament, each accepted finding named with its reason.

A role the table does not know fails ``test_every_role_is_in_the_table``: a new function or
host must say what it calls before it ships.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import parliament
import pytest

from tests.fixtures.infra import CONFIGURATIONS, Synth
from tests.model.permissions import Permissions, as_iam_stores_it
from tests.model.template import ACCOUNT, Stack

OBJECT_KEY = "date=2026-01-01/hour=00/minute=00/1767225600-0b6c5f3e-1d0e-4c55-9b8e-4f0f3a4f2b11.ndjson.gz"
OTHER_BUCKET = "arn:aws:s3:::someone-elses-bucket"
FOREIGN_SECRET = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:some-other-secret-XyZ123"


@dataclass(frozen=True)
class Facts:
    """ARNs of the template's resources, resolved: what the calls below are made on."""

    stack: Stack

    def arn(self, kind: str, path: str) -> str:
        (name,) = self.stack.find(kind, path)
        return self.stack.get_att(name, "Arn")

    @property
    def bucket(self) -> str:
        return self.arn("AWS::S3::Bucket", "/Trades/Bucket/")

    @property
    def access_logs(self) -> str:
        return self.arn("AWS::S3::Bucket", "/Trades/AccessLogs/")

    def secrets(self) -> set[str]:
        return {self.stack.ref(name) for name in self.stack.of_type("AWS::SecretsManager::Secret")}

    def env_secrets(self, function_path: str) -> set[str]:
        """The secrets a function's environment names: the ones its code reads."""
        (name,) = self.stack.find("AWS::Lambda::Function", function_path)
        env = self.stack.resolve(self.stack.props(name).get("Environment", {}).get("Variables", {}))
        return {value for value in env.values() if value in self.secrets()}

    def log_stream(self, function_path: str) -> str:
        (name,) = self.stack.find("AWS::Lambda::Function", function_path)
        (group,) = self.stack.refs_in(self.stack.props(name)["LoggingConfig"]["LogGroup"])
        return self.stack.get_att(group, "Arn").removesuffix(":*") + ":log-stream:2026/01/01/[$LATEST]abc"

    def release_object(self) -> str:
        (name,) = self.stack.find("AWS::EC2::Instance", "/KafkaHost/")
        user_data = self.stack.text(self.stack.props(name)["UserData"])
        url = next(word for word in user_data.split() if word.strip("'").startswith("s3://"))
        return "arn:aws:s3:::" + url.strip("'").removeprefix("s3://")

    def function(self, path: str) -> str:
        return self.arn("AWS::Lambda::Function", path)


Call = tuple[str, str]  # (action, resource ARN)


@dataclass(frozen=True)
class Entry:
    """A role's user, the calls its code makes and calls it must not be able to make."""

    allowed: Callable[[Facts, Stack], list[Call]]
    denied: Callable[[Facts, Stack], list[Call]]


def aggregator_allowed(f: Facts, stack: Stack) -> list[Call]:
    path = "/Aggregator/Function/Resource"
    calls = [
        ("s3:GetObject", f"{f.bucket}/trades/{OBJECT_KEY}"),  # handler.py: s3.get_object
        ("s3:PutObject", f"{f.bucket}/rejected/{OBJECT_KEY}.rejected.ndjson"),  # quarantine
        ("sqs:SendMessage", f.arn("AWS::SQS::Queue", "/Aggregator/FailedEvents")),  # on-failure destination
        ("logs:CreateLogStream", f.log_stream(path)),
        ("logs:PutLogEvents", f.log_stream(path)),
        ("ec2:CreateNetworkInterface", "*"),  # Lambda places its interfaces with the function's role
    ]
    calls += [("secretsmanager:GetSecretValue", secret) for secret in f.env_secrets(path)]
    return calls


def aggregator_denied(f: Facts, stack: Stack) -> list[Call]:
    path = "/Aggregator/Function/Resource"
    own = f.env_secrets(path)
    return [
        ("s3:DeleteObject", f"{f.bucket}/trades/{OBJECT_KEY}"),
        ("s3:DeleteObjectVersion", f"{f.bucket}/trades/{OBJECT_KEY}"),
        ("s3:PutObject", f"{f.bucket}/trades/{OBJECT_KEY}"),  # never rewrite the raw record
        ("s3:GetObject", f"{f.bucket}/rejected/{OBJECT_KEY}"),
        ("s3:ListBucket", f.bucket),
        ("s3:PutBucketPolicy", f.bucket),
        ("s3:GetObject", f"{f.access_logs}/trades-bucket/2026-01-01-00-00-00-ABC"),
        ("s3:GetObject", f"{OTHER_BUCKET}/trades/{OBJECT_KEY}"),
        ("secretsmanager:GetSecretValue", FOREIGN_SECRET),
        *[("secretsmanager:PutSecretValue", secret) for secret in own],
        *[("secretsmanager:GetSecretValue", secret) for secret in f.secrets() - own],
    ]


def schema_allowed(f: Facts, stack: Stack) -> list[Call]:
    # lambda_aggregator/schema.py signs in with the master secret (its environment) and reads each
    # user's secret (named in the custom resource's Users property) to set that user's password.
    path = "/Schema/Function/Resource"
    return [
        *[("secretsmanager:GetSecretValue", secret) for secret in f.secrets()],
        ("logs:PutLogEvents", f.log_stream(path)),
    ]


def schema_denied(f: Facts, stack: Stack) -> list[Call]:
    return [
        ("s3:GetObject", f"{f.bucket}/trades/{OBJECT_KEY}"),
        ("s3:PutObject", f"{f.bucket}/rejected/x"),
        ("secretsmanager:GetSecretValue", FOREIGN_SECRET),
        *[("secretsmanager:DeleteSecret", secret) for secret in f.secrets()],
        *[("secretsmanager:PutSecretValue", secret) for secret in f.secrets()],
    ]


def freshness_allowed(f: Facts, stack: Stack) -> list[Call]:
    path = "/Freshness/Function/Resource"  # lambda_aggregator/freshness.py: signs in as `dashboard`
    return [
        *[("secretsmanager:GetSecretValue", secret) for secret in f.env_secrets(path)],
        ("logs:PutLogEvents", f.log_stream(path)),
    ]


def freshness_denied(f: Facts, stack: Stack) -> list[Call]:
    own = f.env_secrets("/Freshness/Function/Resource")
    return [
        ("s3:GetObject", f"{f.bucket}/trades/{OBJECT_KEY}"),
        ("s3:PutObject", f"{f.bucket}/trades/{OBJECT_KEY}"),
        ("secretsmanager:GetSecretValue", FOREIGN_SECRET),
        # Not the master's, not the aggregator's: a probe that can only read a timestamp.
        *[("secretsmanager:GetSecretValue", secret) for secret in f.secrets() - own],
        *[("secretsmanager:PutSecretValue", secret) for secret in own],
    ]


def host_allowed(f: Facts, stack: Stack) -> list[Call]:
    region_arn = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0123456789abcdef0"
    calls = [
        ("s3:PutObject", f"{f.bucket}/trades/{OBJECT_KEY}"),  # Vector's aws_s3 sink
        ("s3:GetObject", f.release_object()),  # user data: aws s3 cp of the release
        ("ssm:UpdateInstanceInformation", region_arn),  # the SSM agent
        ("ssmmessages:CreateControlChannel", "*"),
        ("ssmmessages:OpenDataChannel", "*"),
        ("ec2messages:GetMessages", "*"),  # Run Command (check-deployment's health probe)
        ("cloudformation:SignalResource", stack.ref("AWS::StackId")),  # user data's fallback signal
    ]
    for name in stack.find("AWS::Logs::LogGroup", "/KafkaHost/"):
        stream = stack.get_att(name, "Arn").removesuffix(":*") + ":log-stream:i-0123456789abcdef0/journal"
        calls += [(action, stream) for action in ("logs:CreateLogStream", "logs:PutLogEvents")]
    for name in stack.of_type("AWS::MSK::Cluster"):
        calls.append(("kafka:GetBootstrapBrokers", stack.get_att(name, "Arn")))
    return calls


def host_denied(f: Facts, stack: Stack) -> list[Call]:
    asset_bucket = f.release_object().rsplit("/", 1)[0]
    return [
        ("s3:GetObject", f"{f.bucket}/trades/{OBJECT_KEY}"),
        ("s3:DeleteObject", f"{f.bucket}/trades/{OBJECT_KEY}"),
        ("s3:PutObject", f"{f.bucket}/rejected/{OBJECT_KEY}"),
        ("s3:ListBucket", f.bucket),
        (
            "s3:GetObject",
            f"{asset_bucket}/0000000000000000000000000000000000000000000000000000000000000000.zip",
        ),
        ("s3:ListBucket", asset_bucket),
        ("ssm:GetParameter", f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/any/parameter"),
        ("ssm:GetParameters", f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/any/parameter"),
        ("ssm:SendCommand", f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0123456789abcdef0"),
        *[("secretsmanager:GetSecretValue", secret) for secret in f.secrets()],
        ("kafka:DeleteCluster", f"arn:aws:kafka:eu-west-1:{ACCOUNT}:cluster/any/1"),
        ("cloudformation:SignalResource", f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/Other/1"),
        ("logs:PutLogEvents", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:other:log-stream:x"),
    ]


def provider_allowed(f: Facts, stack: Stack) -> list[Call]:
    return [("lambda:InvokeFunction", f.function("/Schema/Function/Resource"))]


def provider_denied(f: Facts, stack: Stack) -> list[Call]:
    return [("lambda:InvokeFunction", f.function("/Aggregator/Function/Resource"))]


def notifications_allowed(f: Facts, stack: Stack) -> list[Call]:
    return [("s3:PutBucketNotification", f.bucket)]


def notifications_denied(f: Facts, stack: Stack) -> list[Call]:
    return [("s3:PutBucketNotification", OTHER_BUCKET), ("s3:GetObject", f"{f.bucket}/trades/{OBJECT_KEY}")]


def quicksight_allowed(f: Facts, stack: Stack) -> list[Call]:
    return [("ec2:CreateNetworkInterface", "*"), ("ec2:DescribeSubnets", "*")]


def quicksight_denied(f: Facts, stack: Stack) -> list[Call]:
    return [
        ("ec2:RunInstances", "*"),
        ("ec2:AuthorizeSecurityGroupIngress", "*"),
        ("s3:GetObject", f"{f.bucket}/x"),
    ]


def flow_logs_allowed(f: Facts, stack: Stack) -> list[Call]:
    (group,) = stack.find("AWS::Logs::LogGroup", "/Network/FlowLogs")
    return [
        ("logs:PutLogEvents", stack.get_att(group, "Arn").removesuffix(":*") + ":log-stream:eni-1-reject")
    ]


def flow_logs_denied(f: Facts, stack: Stack) -> list[Call]:
    return [("s3:GetObject", f"{f.bucket}/trades/{OBJECT_KEY}"), ("logs:DeleteLogGroup", "*")]


def none(f: Facts, stack: Stack) -> list[Call]:
    return []


# Role construct path (part) -> its calls. The CDK's own helpers are listed with theirs.
TABLE: dict[str, Entry] = {
    "/Aggregator/Function/ServiceRole/": Entry(aggregator_allowed, aggregator_denied),
    "/Schema/Function/ServiceRole/": Entry(schema_allowed, schema_denied),
    "/Schema/Provider/framework-onEvent/ServiceRole/": Entry(provider_allowed, provider_denied),
    "/Freshness/Function/ServiceRole/": Entry(freshness_allowed, freshness_denied),
    "/KafkaHost/Role/": Entry(host_allowed, host_denied),
    "/QuickSight/VpcConnectionRole/": Entry(quicksight_allowed, quicksight_denied),
    "/Network/Vpc/RejectedTraffic/IAMRole/": Entry(flow_logs_allowed, flow_logs_denied),
    "/BucketNotificationsHandler": Entry(notifications_allowed, notifications_denied),
    "/LogRetention": Entry(none, notifications_denied),
    "/Custom::VpcRestrictDefaultSGCustomResourceProvider/": Entry(none, notifications_denied),
}


@pytest.fixture(params=CONFIGURATIONS)
def synth(request: pytest.FixtureRequest) -> Synth:
    return request.getfixturevalue(request.param)


_MODELS: dict[str, Permissions] = {}


def permissions(synth: Synth) -> Permissions:
    key = str(synth.outdir)
    if key not in _MODELS:
        _MODELS[key] = Permissions(synth.stack)
    return _MODELS[key]


def entry_of(role_path: str) -> Entry | None:
    matches = [entry for part, entry in TABLE.items() if part in role_path]
    return matches[0] if len(matches) == 1 else None


def test_every_role_is_in_the_table(synth: Synth) -> None:
    model = permissions(synth)
    unknown = [role.path for role in model.roles.values() if entry_of(role.path) is None]
    assert not unknown, f"roles whose calls nobody declared (add them to TABLE): {unknown}"


def test_each_role_may_make_the_calls_its_code_makes(synth: Synth) -> None:
    model, facts = permissions(synth), Facts(synth.stack)
    refused = []
    for role in model.roles.values():
        entry = entry_of(role.path)
        assert entry is not None
        for action, resource in entry.allowed(facts, synth.stack):
            if not model.allowed(role.logical_id, action, resource):
                refused.append(f"{role.path}: {action} on {resource}")
    assert not refused, "\n".join(refused)


def test_each_role_is_refused_what_it_must_never_do(synth: Synth) -> None:
    model, facts = permissions(synth), Facts(synth.stack)
    granted = []
    for role in model.roles.values():
        entry = entry_of(role.path)
        assert entry is not None
        for action, resource in entry.denied(facts, synth.stack):
            if model.allowed(role.logical_id, action, resource):
                granted.append(f"{role.path}: {action} on {resource}")
    assert not granted, "\n".join(granted)


def test_the_aggregator_reads_exactly_the_secret_its_environment_names(synth: Synth) -> None:
    facts = Facts(synth.stack)
    assert len(facts.env_secrets("/Aggregator/Function/Resource")) == 1
    assert len(facts.env_secrets("/Freshness/Function/Resource")) == 1


def test_plain_http_is_refused_by_the_bucket_policy(synth: Synth) -> None:
    model, facts = permissions(synth), Facts(synth.stack)
    (function,) = synth.stack.find("AWS::Lambda::Function", "/Aggregator/Function/Resource")
    role = model.role_of(function)
    key = f"{facts.bucket}/trades/{OBJECT_KEY}"
    assert model.allowed(role, "s3:GetObject", key)
    assert not model.allowed(role, "s3:GetObject", key, {"aws:SecureTransport": "false"})


# --- parliament ---------------------------------------------------------------------------------

# (issue, role path part, where part, detail part) -> why it is accepted.
ACCEPTED_LINT = {
    ("RESOURCE_MISMATCH", "/KafkaHost/Role/", "Policy", "kafka:GetBootstrapBrokers"): "parliament's "
    "data says the action takes only '*'; AWS's MSK guide ('Accessing one Amazon MSK cluster') "
    "grants kafka:Get* on one cluster ARN to get its bootstrap brokers, so the scoped grant stays",
    ("RESOURCE_STAR", "", "AWS managed AWSLambdaBasicExecutionRole", ""): "Lambda's logging policy, "
    "maintained by AWS; a function's log group is its own (LoggingConfig)",
    ("RESOURCE_STAR", "", "AWS managed AWSLambdaVPCAccessExecutionRole", ""): "the network-interface "
    "actions take no resource ARN",
    ("RESOURCE_STAR", "/LogRetention", "Policy", ""): "the CDK's log-retention helper sets retention on "
    "RDS's log groups, whose names are not known in advance",
    ("RESOURCE_STAR", "/QuickSight/VpcConnectionRole/", "Policy", ""): "QuickSight's documented VPC "
    "connection policy: ec2:Describe* and the interface actions have no resource level",
}


def test_parliament_finds_nothing_but_the_accepted(synth: Synth) -> None:
    unexplained = []
    for role_path, where, document in permissions(synth).documents():
        for finding in parliament.analyze_policy_string(json.dumps(document)).findings:
            if not any(
                finding.issue == issue
                and part in role_path
                and where.startswith(source)
                and detail in str(finding.detail)
                for issue, part, source, detail in ACCEPTED_LINT
            ):
                unexplained.append(f"{role_path} ({where}): {finding.issue} {finding.detail}")
    assert not unexplained, "\n".join(unexplained)


def test_parliament_as_run_here_does_report_a_bad_policy() -> None:
    bad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject*", "Resource": "*"}],
    }
    issues = {f.issue for f in parliament.analyze_policy_string(json.dumps(bad)).findings}
    assert "RESOURCE_STAR" in issues or "RESOURCE_MISMATCH" in issues, issues


# --- what the evaluator is relied on for, on known answers --------------------------------------


def evaluate(statements: list[dict], action: str, resource: str, context: dict | None = None) -> bool:
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                    "Policies": [
                        {
                            "PolicyName": "p",
                            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                        }
                    ],
                },
            }
        }
    }
    return Permissions(Stack(template, "Probe", "eu-west-1")).allowed("Role", action, resource, context)


def allow(action: str, resource: str, **extra: object) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_the_evaluator_checks_object_keys_against_prefixes() -> None:
    statements = [allow("s3:GetObject", "arn:aws:s3:::b/trades/*")]
    assert evaluate(statements, "s3:GetObject", "arn:aws:s3:::b/trades/date=2026-01-01/x.gz")
    assert not evaluate(statements, "s3:GetObject", "arn:aws:s3:::b/rejected/x")
    assert not evaluate(statements, "s3:GetObject", "arn:aws:s3:::b2/trades/x")
    assert not evaluate(statements, "s3:GetObjectAcl", "arn:aws:s3:::b/trades/x")


def test_the_evaluator_expands_action_wildcards_case_insensitively() -> None:
    statements = [allow("s3:getobject*", "*")]
    assert evaluate(statements, "s3:GetObjectVersion", "arn:aws:s3:::b/x")
    assert not evaluate(statements, "s3:PutObject", "arn:aws:s3:::b/x")


def test_the_evaluator_honours_not_resource_and_conditional_denies() -> None:
    statements = [
        {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/secret/*"},
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]
    assert evaluate(statements, "s3:GetObject", "arn:aws:s3:::b/x")
    assert not evaluate(statements, "s3:GetObject", "arn:aws:s3:::b/secret/x")
    assert not evaluate(statements, "s3:GetObject", "arn:aws:s3:::b/x", {"aws:SecureTransport": "false"})


def test_condition_values_are_compared_as_iam_stores_them() -> None:
    document = {
        "Statement": [{"Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}, "Bool": {"k": True}}}]
    }
    assert as_iam_stores_it(document)["Statement"][0]["Condition"] == {
        "NumericLessThan": {"s3:TlsVersion": "1.2"},
        "Bool": {"k": "true"},
    }
