"""``cryptotrades check-deployment`` against moto's server: a stack with the outputs the command
reads (bucket, queue, host instance, two functions), made through moto's CloudFormation.

What moto cannot do, and so these tests cannot show: run a command on an instance (its SSM
invocation always "succeeds" with no output), run a VPC function against a database (its
Lambda answers a fixed text without Docker), or emit Lambda's own metrics. The first test
shows how the command reports those; the second replaces just those two answers with what
the real host and the real freshness function say, to see a fully green run.
"""

from __future__ import annotations

import argparse
import io
import json
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from cryptotrades import deployment
from lambda_aggregator.freshness import report

pytestmark = pytest.mark.integration

STACK = "CryptotradesCheck"
REGION = "eu-west-1"

TEMPLATE = {
    "Parameters": {
        "ImageId": {"Type": "String"},
        "AggregatorName": {"Type": "String"},
        "FreshnessName": {"Type": "String"},
    },
    "Resources": {
        "TradesBucket": {"Type": "AWS::S3::Bucket"},
        "FailedEvents": {"Type": "AWS::SQS::Queue"},
        "KafkaHost": {
            "Type": "AWS::EC2::Instance",
            "Properties": {"ImageId": {"Ref": "ImageId"}, "InstanceType": "t4g.small"},
        },
    },
    "Outputs": {
        "TradesBucketName": {"Value": {"Ref": "TradesBucket"}},
        "KafkaHostInstanceId": {"Value": {"Ref": "KafkaHost"}},
        "AggregatorFunctionName": {"Value": {"Ref": "AggregatorName"}},
        "FailedEventsQueueUrl": {"Value": {"Ref": "FailedEvents"}},
        "FreshnessFunctionName": {"Value": {"Ref": "FreshnessName"}},
    },
}


@dataclass
class Deployed:
    clients: deployment.Clients
    outputs: dict[str, str]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@pytest.fixture
def deployed(moto_endpoint, aws_env) -> Deployed:
    # moto runs Lambda code only in Docker; without it, invoke answers a fixed text.
    config = urllib.request.Request(
        f"{moto_endpoint}/moto-api/config",
        data=json.dumps({"lambda": {"use_docker": False}}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(config, timeout=10).close()

    def client(name: str) -> Any:
        return boto3.client(name, endpoint_url=moto_endpoint, region_name=REGION)

    clients = deployment.Clients(
        cloudformation=client("cloudformation"),
        ssm=client("ssm"),
        s3=client("s3"),
        sqs=client("sqs"),
        cloudwatch=client("cloudwatch"),
        lambda_=client("lambda"),
    )
    role = client("iam").create_role(
        RoleName="fn",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    for name in ("AggregatorFunction", "FreshnessFunction"):
        clients.lambda_.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": _zip()},
        )
    image = "ami-12345678"  # moto runs instances of any image id (listing its images takes 20 s)
    clients.cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(TEMPLATE),
        Parameters=[
            {"ParameterKey": "ImageId", "ParameterValue": image},
            {"ParameterKey": "AggregatorName", "ParameterValue": "AggregatorFunction"},
            {"ParameterKey": "FreshnessName", "ParameterValue": "FreshnessFunction"},
        ],
    )
    (stack,) = clients.cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    return Deployed(clients, deployment.outputs_of(stack))


def put_object(deployed: Deployed, moment: datetime) -> None:
    key = moment.strftime("trades/date=%Y-%m-%d/hour=%H/minute=%M/") + "a.ndjson"
    deployed.clients.s3.put_object(Bucket=deployed.outputs["TradesBucketName"], Key=key, Body=b"{}\n")


def lines(checks: list[deployment.Check]) -> dict[str, deployment.Check]:
    return {check.name: check for check in checks}


def no_sleep(_: float) -> None:
    return None


class HealthyHost:
    """moto's SSM, except that the invocation carries what the real producer answers."""

    def __init__(self, ssm: Any, body: dict[str, Any], code: int = 200) -> None:
        self._ssm = ssm
        self._output = f"{json.dumps(body)}\n{code}"
        self.exceptions = ssm.exceptions
        self.sent: list[dict[str, Any]] = []

    def send_command(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return self._ssm.send_command(**kwargs)

    def get_command_invocation(self, **kwargs: Any) -> dict[str, Any]:
        return {**self._ssm.get_command_invocation(**kwargs), "StandardOutputContent": self._output}


class FreshRows:
    """moto's Lambda, except that invoking the freshness function answers what the real one does."""

    def __init__(self, lambda_: Any, answer: dict[str, Any]) -> None:
        self._lambda = lambda_
        self._answer = answer

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        real = self._lambda.invoke(**kwargs)  # the function exists and may be invoked
        return {**real, "Payload": io.BytesIO(json.dumps(self._answer).encode())}


def test_against_moto_alone_every_stage_moto_serves_is_ok_and_the_rest_say_why(deployed) -> None:
    now = datetime.now(UTC)
    put_object(deployed, now)
    found = lines(deployment.gather(deployed.clients, STACK, sleep=no_sleep))
    assert list(found) == [
        "stack",
        "host signalled",
        "producer healthy",
        "objects arriving",
        "aggregator errors",
        "failed events",
        "newest minute",
    ]
    for name in ("stack", "host signalled", "objects arriving", "aggregator errors", "failed events"):
        assert found[name].ok, found[name].line()
    assert "CREATE_COMPLETE" in found["stack"].detail
    # moto's SSM runs nothing; its Lambda answers a fixed text: both reported, with where to look.
    assert not found["producer healthy"].ok and "no output" in found["producer healthy"].detail
    assert "start-session" in found["producer healthy"].look_at
    assert not found["newest minute"].ok and "not a freshness report" in found["newest minute"].detail


def test_with_a_healthy_host_and_fresh_rows_every_line_is_ok_and_the_command_exits_0(
    deployed, monkeypatch, capsys
) -> None:
    now = datetime.now(UTC)
    put_object(deployed, now - timedelta(seconds=30))
    host = HealthyHost(deployed.clients.ssm, {"status": "ok", "problems": [], "produced": 1234})
    fresh = report([("BTCUSDT", (now - timedelta(minutes=2)).replace(tzinfo=None))], (10, None), now)
    clients = replace(deployed.clients, ssm=host, lambda_=FreshRows(deployed.clients.lambda_, fresh))
    monkeypatch.setattr(deployment.Clients, "for_region", classmethod(lambda cls, region: clients))
    monkeypatch.setattr(deployment.time, "sleep", no_sleep)
    status = deployment.run(argparse.Namespace(stack=STACK, region=REGION))
    printed = capsys.readouterr().out.splitlines()
    assert status == 0, printed
    assert len(printed) == 7 and all(line.startswith("ok ") for line in printed)
    (sent,) = host.sent
    assert sent["InstanceIds"] == [deployed.outputs["KafkaHostInstanceId"]]
    assert sent["Parameters"]["commands"] == [deployment.HEALTH_COMMAND]


def test_failures_name_what_failed_and_where_to_look(deployed) -> None:
    put_object(deployed, datetime.now(UTC))
    now = datetime.now(UTC) + timedelta(minutes=10)  # ten minutes later, nothing new has come
    deployed.clients.sqs.send_message(QueueUrl=deployed.outputs["FailedEventsQueueUrl"], MessageBody="{}")
    host = HealthyHost(deployed.clients.ssm, {"status": "failing", "problems": ["no message for 90 s"]}, 503)
    stale = report([("BTCUSDT", now - timedelta(minutes=12))], (10, None), now)
    clients = replace(deployed.clients, ssm=host, lambda_=FreshRows(deployed.clients.lambda_, stale))
    found = lines(deployment.gather(clients, STACK, now=lambda: now, sleep=no_sleep))
    assert not found["producer healthy"].ok and "no message for 90 s" in found["producer healthy"].detail
    assert not found["objects arriving"].ok and "journalctl -u vector" in found["objects arriving"].look_at
    assert not found["failed events"].ok and "1 S3 events wait" in found["failed events"].detail
    assert not found["newest minute"].ok and "BTCUSDT 12 min" in found["newest minute"].detail
    assert found["stack"].ok and found["host signalled"].ok and found["aggregator errors"].ok


def test_a_stack_that_does_not_exist_is_one_failed_line_and_exit_1(deployed, monkeypatch, capsys) -> None:
    monkeypatch.setattr(deployment.Clients, "for_region", classmethod(lambda cls, region: deployed.clients))
    status = deployment.run(argparse.Namespace(stack="NoSuchStack", region=REGION))
    (line,) = capsys.readouterr().out.splitlines()
    assert status == 1
    assert line.startswith("failed  stack: no stack 'NoSuchStack'") and "--region" in line
