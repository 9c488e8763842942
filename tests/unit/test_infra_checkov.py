"""checkov over each synthesized template: every failed check is fixed or listed here with why.

checkov runs from its own virtualenv (``make checkov`` builds ``.venv-checkov`` from
requirements-checkov.txt: it pins an older boto3 than the project's). Each accepted finding
names the check and the resources it is accepted on; a finding on any other resource fails,
and so does an accepted one that no longer occurs (the list must not rot).

One finding was real and is fixed: CKV2_AWS_69 caught ``require_secure_transport=ON`` in the
parameter group, a value RDS does not accept for that parameter (0 or 1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.infra import CONFIGURATIONS, REPO_ROOT, STACK, Synth
from tests.fixtures.servers import missing_server

# (check, construct path part) -> reason. The CDK's helpers: BucketNotificationsHandler,
# LogRetention, Custom::VpcRestrictDefaultSG, the provider framework.
CDK_HELPERS = (
    "/BucketNotificationsHandler",
    "/LogRetention",
    "/Custom::VpcRestrictDefaultSG",
    "/framework-onEvent",
)
ACCEPTED: dict[tuple[str, str], str] = {
    **{
        ("CKV_AWS_117", helper): "the CDK's deploy-time helpers call AWS APIs only; in the isolated "
        "subnets they could not reach them"
        for helper in CDK_HELPERS
    },
    **{
        ("CKV_AWS_115", part): "runs at deploy time only, invoked once by CloudFormation: no burst to limit"
        for part in (*CDK_HELPERS, "/Schema/Function/")
    },
    **{
        ("CKV_AWS_116", part): "invoked synchronously by CloudFormation (a custom resource): a dead-letter "
        "queue only serves asynchronous invocations; a failure fails the deploy"
        for part in (*CDK_HELPERS, "/Schema/Function/")
    },
    ("CKV_AWS_116", "/Aggregator/Function/"): "the aggregator has an on-failure destination (the "
    "failed-events queue, with the whole event and error), the successor of a dead-letter queue",
    ("CKV_AWS_116", "/Freshness/Function/"): "invoked synchronously by `cryptotrades check-deployment`, "
    "which shows the error itself; a dead-letter queue only serves asynchronous invocations",
    **{
        ("CKV_AWS_173", part): "the environment holds ARNs, names and flags, never a secret; Lambda "
        "encrypts it at rest with its service key"
        for part in (
            "/Aggregator/Function/",
            "/Schema/Function/",
            "/Freshness/Function/",
            "/framework-onEvent",
        )
    },
    ("CKV_AWS_158", "/"): "CloudWatch Logs encrypts every log group at rest with its service key; a "
    "customer key per group costs more than these logs (no secrets, no trades) are worth",
    ("CKV_AWS_149", "/Database/"): "the database secrets use Secrets Manager's AWS-managed key; a "
    "customer key would need grants for every reader, QuickSight included, for no gain here",
    ("CKV_AWS_157", "/Database/Instance/"): "single-AZ for cost (cdk-nag RDS3 says the same): 7 days of "
    "backups with point-in-time restore, and the raw objects in S3 rebuild every row",
    ("CKV_AWS_118", "/Database/Instance/"): "enhanced monitoring adds a per-second agent and a log "
    "stream; CloudWatch's standard RDS metrics and the storage alarm cover this database",
    ("CKV_AWS_161", "/Database/Instance/"): "clients sign in with rotated Secrets Manager passwords over "
    "TLS; IAM authentication would add a token call per connection and is not used",
    ("CKV_AWS_18", "/Trades/AccessLogs/"): "this is the access-log bucket: logging it into itself "
    "would log each log delivery",
    ("CKV_AWS_21", "/History/Results/"): "Athena's query results: each is written once under its "
    "query id and expires; an older version would be nothing anyone reads",
    ("CKV_AWS_21", "/Trades/AccessLogs/"): "access logs expire after 90 days and are written only by "
    "S3's log delivery: versions would keep nothing worth having",
    ("CKV_AWS_27", "/Aggregator/FailedEvents/"): "encrypted with SQS-managed keys (SqsManagedSseEnabled); "
    "checkov counts only a KMS key",
    ("CKV_AWS_26", "/Alarms/Topic/"): "alarm notifications carry alarm names and states only; "
    "CloudWatch cannot publish to a topic under the AWS-managed SNS key, and a customer key costs "
    "more than that is worth",
    ("CKV_AWS_88", "/KafkaHost/Instance"): "by design: the host reaches Binance through the internet "
    "gateway (no NAT gateway, ~$35/month); its security group admits nothing",
    ("CKV_AWS_111", "/LogRetention"): "the CDK's log-retention helper sets retention on RDS's log "
    "groups, whose names are not known in advance",
    ("CKV_AWS_111", "/QuickSight/VpcConnectionRole/"): "QuickSight's documented VPC connection policy: "
    "the network-interface actions have no resource level",
}


def checkov_binary() -> str:
    found = os.environ.get("CHECKOV") or (
        str(REPO_ROOT / ".venv-checkov/bin/checkov")
        if (REPO_ROOT / ".venv-checkov/bin/checkov").exists()
        else shutil.which("checkov")
    )
    if found is None:
        missing_server("checkov (make checkov: .venv-checkov from requirements-checkov.txt)")
    return str(found)


_RESULTS: dict[str, list[dict]] = {}


def failed_checks(synth: Synth) -> list[dict]:
    key = str(synth.outdir)
    if key not in _RESULTS:
        result = subprocess.run(
            [
                checkov_binary(),
                "--file",
                str(synth.outdir / f"{STACK}.template.json"),
                "--framework",
                "cloudformation",
                "--output",
                "json",
                "--quiet",
                "--compact",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: some check failed
        report = json.loads(result.stdout)
        report = report if isinstance(report, dict) else report[0]
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        assert report["summary"]["passed"] > 100, report["summary"]  # it really checked
        _RESULTS[key] = report["results"]["failed_checks"]
    return _RESULTS[key]


@pytest.fixture(params=CONFIGURATIONS)
def synth(request: pytest.FixtureRequest) -> Synth:
    return request.getfixturevalue(request.param)


def path_of(synth: Synth, finding: dict) -> str:
    logical_id = finding["resource"].split(".", 1)[1]
    return synth.template["Resources"][logical_id].get("Metadata", {}).get("aws:cdk:path", logical_id)


def test_checkov_finds_nothing_that_is_not_accepted_with_a_reason(synth: Synth) -> None:
    unexplained = [
        f"{f['check_id']} {path_of(synth, f)}: {f['check_name']}"
        for f in failed_checks(synth)
        if not any(f["check_id"] == check and part in path_of(synth, f) for check, part in ACCEPTED)
    ]
    assert not unexplained, "\n".join(unexplained)


def test_every_accepted_finding_still_occurs_somewhere(
    synth_default: Synth, synth_msk: Synth, synth_quicksight: Synth
) -> None:
    seen = set()
    for synth in (synth_default, synth_msk, synth_quicksight):
        for finding in failed_checks(synth):
            seen |= {
                (check, part)
                for check, part in ACCEPTED
                if finding["check_id"] == check and part in path_of(synth, finding)
            }
    assert set(ACCEPTED) - seen == set()


def test_the_database_requires_tls_in_the_form_rds_accepts(synth_default: Synth) -> None:
    assert not [f for f in failed_checks(synth_default) if f["check_id"] == "CKV2_AWS_69"]


def test_checkov_as_run_here_does_report_a_finding(tmp_path: Path) -> None:
    bucket = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}}}}
    template = tmp_path / "template.json"
    template.write_text(json.dumps(bucket))
    result = subprocess.run(
        [
            checkov_binary(),
            "--file",
            str(template),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    report = report if isinstance(report, dict) else report[0]
    assert "CKV_AWS_21" in {f["check_id"] for f in report["results"]["failed_checks"]}
