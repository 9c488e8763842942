"""``cryptotrades check-deployment``: after ``cdk deploy``, does the pipeline work?

One line per check, ``ok`` or ``failed`` with what to look at; exit 0 only if every check is
ok. The checks, in pipeline order:

1. the stack is complete and has the outputs the other checks read;
2. the Kafka host signalled its install (its resource completed its creation policy);
3. the producer on the host is healthy: ``GET 127.0.0.1:9108/health`` run there through SSM
   Run Command (the host has the SSM agent and no inbound port);
4. objects arrive under ``trades/`` (one within the last 2 minutes);
5. the aggregator raised no error in the last 15 minutes (CloudWatch ``AWS/Lambda`` Errors);
6. no event waits in its failed-events queue;
7. the newest minute row is recent: the read-only freshness function (signed in as the
   ``dashboard`` user) says how old the newest minute of each symbol is.

The decisions are pure functions of what AWS answered (``decide_*``); ``gather`` makes the
calls through clients it is given, so the tests run it against moto's server.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from contract.pipeline import HEALTH_PORT, TRADES_PREFIX
from cryptotrades import arguments

DEFAULT_STACK = "Cryptotrades"  # infra/settings.py's default stack name
ARRIVAL_WINDOW = timedelta(minutes=2)
ERROR_WINDOW = timedelta(minutes=15)
FRESH_MINUTES = 5  # infra/alarms.py QUIET_MINUTES: the NoNewMinuteRows alarm's patience
HEALTH_COMMAND = f"curl -sS --max-time 5 -w '\\n%{{http_code}}' http://127.0.0.1:{HEALTH_PORT}/health"
SSM_WAIT_S = 60.0
SSM_POLL_S = 2.0

# Outputs of infra/stack.py that the checks read.
OUTPUTS = (
    "TradesBucketName",
    "KafkaHostInstanceId",
    "AggregatorFunctionName",
    "FailedEventsQueueUrl",
    "FreshnessFunctionName",
)
_GOOD_STACK = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
_GOOD_RESOURCE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
_SSM_DONE = ("Success", "Failed", "Cancelled", "TimedOut", "Cancelling", "Undeliverable", "Terminated")


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    look_at: str = ""

    def line(self) -> str:
        if self.ok:
            return f"ok      {self.name}: {self.detail}"
        return f"failed  {self.name}: {self.detail}" + (f" -> {self.look_at}" if self.look_at else "")


@dataclass(frozen=True, slots=True)
class Clients:
    """The boto3 clients ``gather`` calls (moto's in the tests)."""

    cloudformation: Any
    ssm: Any
    s3: Any
    sqs: Any
    cloudwatch: Any
    lambda_: Any

    @classmethod
    def for_region(cls, region: str | None) -> Clients:
        session = boto3.session.Session(region_name=region)
        return cls(
            cloudformation=session.client("cloudformation"),
            ssm=session.client("ssm"),
            s3=session.client("s3"),
            sqs=session.client("sqs"),
            cloudwatch=session.client("cloudwatch"),
            lambda_=session.client("lambda"),
        )


# --- decisions: plain data in, a Check out --------------------------------------------------


def decide_stack(stack_name: str, stack: Mapping[str, Any] | None) -> Check:
    name = "stack"
    if stack is None:
        return Check(name, False, f"no stack {stack_name!r}", "the region (--region) and name (--stack)")
    status = stack["StackStatus"]
    outputs = outputs_of(stack)
    missing = [key for key in OUTPUTS if key not in outputs]
    if status not in _GOOD_STACK:
        reason = stack.get("StackStatusReason", "")
        return Check(
            name,
            False,
            f"{stack_name} is {status}" + (f" ({reason})" if reason else ""),
            f"aws cloudformation describe-stack-events --stack-name {stack_name}",
        )
    if missing:
        return Check(
            name,
            False,
            f"{stack_name} is {status} but lacks the outputs {', '.join(missing)}",
            "deploy this version of the app (cdk deploy)",
        )
    return Check(name, True, f"{stack_name} is {status}, {len(outputs)} outputs")


def outputs_of(stack: Mapping[str, Any] | None) -> dict[str, str]:
    if stack is None:
        return {}
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}


def decide_host_signal(instance_id: str, resources: Iterable[Mapping[str, Any]]) -> Check:
    name = "host signalled"
    for resource in resources:
        if (
            resource.get("PhysicalResourceId") == instance_id
            and resource["ResourceType"] == "AWS::EC2::Instance"
        ):
            status = resource["ResourceStatus"]
            if status in _GOOD_RESOURCE:
                return Check(name, True, f"{instance_id} reported its install ({status})")
            return Check(
                name,
                False,
                f"{instance_id} is {status}: {resource.get('ResourceStatusReason', 'no reason given')}",
                "the host's log group (cloud-init, kafka, vector, producer) and the stack events",
            )
    return Check(
        name, False, f"{instance_id} is not a resource of the stack", "the KafkaHostInstanceId output"
    )


def decide_producer(instance_id: str, invocation: Mapping[str, Any] | None) -> Check:
    """From SSM's GetCommandInvocation of HEALTH_COMMAND (stdout: the body, then the HTTP code)."""
    name = "producer healthy"
    look = f"aws ssm start-session --target {instance_id}, then journalctl -u cryptotrades-producer"
    if invocation is None:
        return Check(name, False, f"SSM ran nothing on {instance_id} within {SSM_WAIT_S:.0f} s", look)
    status = invocation.get("Status", "?")
    output = invocation.get("StandardOutputContent", "").strip()
    body, _, code = output.rpartition("\n")
    if status != "Success" or not output:
        error = invocation.get("StandardErrorContent", "").strip()
        detail = f"the health command ended {status}" + (f": {error[:200]}" if error else "")
        return Check(name, False, detail if output or error else f"{detail}, with no output", look)
    try:
        health = json.loads(body)
    except ValueError:
        return Check(
            name, False, f"the health endpoint answered HTTP {code} with no JSON: {body[:200]!r}", look
        )
    if code != "200" or health.get("status") != "ok":
        problems = "; ".join(health.get("problems", [])) or "no reason given"
        return Check(name, False, f"HTTP {code}, {health.get('status')}: {problems}", look)
    return Check(name, True, "GET /health answers ok")


def decide_arrivals(bucket: str, last_modified: Sequence[datetime], now: datetime) -> Check:
    name = "objects arriving"
    recent = [moment for moment in last_modified if now - moment <= ARRIVAL_WINDOW]
    if recent:
        return Check(
            name, True, f"{len(recent)} new under s3://{bucket}/{TRADES_PREFIX} in the last 2 minutes"
        )
    newest = max(last_modified, default=None)
    seen = f"the newest is {int((now - newest).total_seconds())} s old" if newest else "none this hour"
    return Check(
        name,
        False,
        f"nothing new under s3://{bucket}/{TRADES_PREFIX} for 2 minutes ({seen})",
        "the producer's health (above), then Vector on the host: journalctl -u vector",
    )


def decide_errors(function: str, errors: float) -> Check:
    name = "aggregator errors"
    if errors == 0:
        return Check(name, True, f"{function}: no error in the last 15 minutes")
    return Check(
        name,
        False,
        f"{function}: {errors:.0f} errors in the last 15 minutes",
        f"its log group /aws/lambda/{function} (or the AggregatorErrors alarm)",
    )


def decide_failed_events(queue_url: str, attributes: Mapping[str, str]) -> Check:
    name = "failed events"
    waiting = sum(
        int(attributes.get(key, "0"))
        for key in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    )
    if waiting == 0:
        return Check(name, True, "the failed-events queue is empty")
    return Check(
        name,
        False,
        f"{waiting} S3 events wait in {queue_url}",
        "the aggregator's log for why, then replay them from the queue once fixed (docs/infra.md)",
    )


def decide_freshness(function: str, payload: Any, now: datetime) -> Check:
    """From the freshness function's answer (``lambda_aggregator.freshness.report``)."""
    name = "newest minute"
    look = f"the aggregator's log and the freshness function's log (/aws/lambda/{function})"
    if not isinstance(payload, Mapping) or not isinstance(payload.get("symbols"), Mapping):
        return Check(name, False, f"{function} answered {str(payload)[:200]!r}, not a freshness report", look)
    symbols = payload["symbols"]
    if not symbols:
        return Check(name, False, "no minute row yet", look)
    ages = {symbol: int(item["age_seconds"]) for symbol, item in symbols.items()}
    stale = {symbol: age for symbol, age in ages.items() if age > FRESH_MINUTES * 60}
    described = ", ".join(
        f"{symbol} {age // 60} min {age % 60} s old" for symbol, age in sorted(ages.items())
    )
    if stale:
        return Check(name, False, f"older than {FRESH_MINUTES} minutes: {described}", look)
    return Check(name, True, described)


# --- calls: the shell around the decisions --------------------------------------------------


def gather(
    clients: Clients,
    stack_name: str,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    ssm_wait_s: float = SSM_WAIT_S,
) -> list[Check]:
    """Every check, in order; a check whose input is missing is reported, not skipped."""
    stack = _stack(clients.cloudformation, stack_name)
    checks = [decide_stack(stack_name, stack)]
    outputs = outputs_of(stack)
    if not all(key in outputs for key in OUTPUTS):
        return checks  # the stack line said what is missing; nothing else can be found
    instance_id = outputs["KafkaHostInstanceId"]
    resources = _paged(
        clients.cloudformation, "list_stack_resources", "StackResourceSummaries", StackName=stack_name
    )
    checks.append(decide_host_signal(instance_id, resources))
    checks.append(
        decide_producer(instance_id, run_health_command(clients.ssm, instance_id, sleep, ssm_wait_s))
    )
    moment = now()
    bucket = outputs["TradesBucketName"]
    checks.append(decide_arrivals(bucket, _recent_objects(clients.s3, bucket, moment), moment))
    function = outputs["AggregatorFunctionName"]
    checks.append(decide_errors(function, _errors(clients.cloudwatch, function, moment)))
    queue = outputs["FailedEventsQueueUrl"]
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    ).get("Attributes", {})
    checks.append(decide_failed_events(queue, attributes))
    probe = outputs["FreshnessFunctionName"]
    checks.append(decide_freshness(probe, _invoke(clients.lambda_, probe), now()))
    return checks


def _stack(cloudformation: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stack


def _paged(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    return [item for page in client.get_paginator(operation).paginate(**params) for item in page.get(key, [])]


def run_health_command(
    ssm: Any, instance_id: str, sleep: Callable[[float], None], wait_s: float
) -> dict[str, Any] | None:
    """Send HEALTH_COMMAND to the host and wait for its invocation to finish; None if it never did."""
    command = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Comment="cryptotrades check-deployment: producer health",
        Parameters={"commands": [HEALTH_COMMAND]},
        TimeoutSeconds=30,
    )["Command"]
    waited = 0.0
    while waited <= wait_s:
        try:
            invocation = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=instance_id)
        except ssm.exceptions.InvocationDoesNotExist:
            invocation = None  # SSM registers the invocation a moment after send_command
        if invocation is not None and invocation.get("Status") in _SSM_DONE:
            return invocation
        sleep(SSM_POLL_S)
        waited += SSM_POLL_S
    return None


def _recent_objects(s3: Any, bucket: str, now: datetime) -> list[datetime]:
    """LastModified of the objects under this hour's (and, near its start, the last hour's) prefix."""
    hours = {now, now - ARRIVAL_WINDOW - timedelta(minutes=1)}
    found = []
    for hour in sorted({moment.strftime("%Y-%m-%d/%H") for moment in hours}):
        day, at = hour.split("/")
        prefix = f"{TRADES_PREFIX}date={day}/hour={at}/"
        found.extend(
            item["LastModified"]
            for item in _paged(s3, "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix)
        )
    return found


def _errors(cloudwatch: Any, function: str, now: datetime) -> float:
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=now - ERROR_WINDOW,
        EndTime=now,
        Period=int(ERROR_WINDOW.total_seconds()),
        Statistics=["Sum"],
    )
    return float(sum(point["Sum"] for point in answer.get("Datapoints", [])))


def _invoke(lambda_: Any, function: str) -> Any:
    answer = lambda_.invoke(FunctionName=function, Payload=b"{}")
    text = answer["Payload"].read().decode("utf-8", "replace")
    if answer.get("FunctionError"):
        return f"an error: {text}"
    try:
        return json.loads(text)
    except ValueError:
        return text


# --- the command ----------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    check = subparsers.add_parser(
        "check-deployment",
        help="after cdk deploy: is every stage of the deployed pipeline working?",
        description="Check the deployed stack stage by stage (stack, host, producer, S3, aggregator, "
        "failed events, newest minute row). One line per check; exit 0 only if every check is ok. "
        "Uses the AWS credentials of the environment; needs cloudformation:Describe*/List*, "
        "ssm:SendCommand on the host and ssm:GetCommandInvocation, s3:ListBucket, "
        "cloudwatch:GetMetricStatistics, sqs:GetQueueAttributes and lambda:InvokeFunction on the "
        "freshness function.",
    )
    check.add_argument(
        "--stack", type=arguments.stack, default=DEFAULT_STACK, help=f"stack name (default {DEFAULT_STACK})"
    )
    check.add_argument(
        "--region", type=arguments.region, help="AWS region (default: the environment's, e.g. AWS_REGION)"
    )
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks = gather(Clients.for_region(args.region), args.stack)
    for check in checks:
        sys.stdout.write(check.line() + "\n")
    return 0 if checks and all(check.ok for check in checks) else 1
