"""The checkers on both synthesized configurations: cdk-nag, the CDK's own validation, cfn-lint."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.infra import CONFIGURATIONS, STACK, Synth

# cfn-lint findings we accept, each explained. W3005: the CDK writes an explicit DependsOn on a
# function's role next to the GetAtt of that role (so the role's policy exists before the
# function); harmless, and not ours to change.
ACCEPTED_CFN_LINT = {"W3005"}


@pytest.fixture(params=CONFIGURATIONS)
def synth(request: pytest.FixtureRequest) -> Synth:
    return request.getfixturevalue(request.param)


def test_cdk_nag_aws_solutions_has_no_unsuppressed_finding(synth: Synth) -> None:
    assert synth.nag_rows, "cdk-nag wrote no report"
    bad = [row for row in synth.nag_rows if row["Compliance"] not in ("Compliant", "Suppressed")]
    assert not bad, "\n".join(f"{r['Rule ID']} {r['Resource ID']}: {r['Rule Info']}" for r in bad)


def test_every_suppression_carries_a_specific_reason(synth: Synth) -> None:
    suppressed = [row for row in synth.nag_rows if row["Compliance"] == "Suppressed"]
    assert suppressed
    for row in suppressed:
        reason = row["Exception Reason"]
        assert len(reason) >= 40, f"{row['Rule ID']} on {row['Resource ID']}: reason too thin: {reason!r}"
    # A reason is written for its rule: no blanket text reused across different rules.
    rules_by_reason: dict[str, set[str]] = {}
    for row in suppressed:
        rules_by_reason.setdefault(row["Exception Reason"], set()).add(row["Rule ID"].split("[")[0])
    assert all(len(rules) == 1 for rules in rules_by_reason.values()), rules_by_reason


# Findings of the CDK's validation acknowledged in the code, each with its reason there.
# E9006: the database's EngineVersion is the major "8.4" on purpose (infra/database.py).
ACKNOWLEDGED_VALIDATION = {("CloudFormation-Validate::E9006", "Properties.EngineVersion")}


def test_the_cdk_validation_reported_nothing(synth: Synth) -> None:
    # @aws-cdk/core:validateAgainstDefaultRules is on (cdk.json): errors would have failed the
    # synth; no violation also means no warnings from CloudFormation Validate or annotations.
    assert all(report["violations"] == [] for report in synth.validation["pluginReports"])
    acknowledged = {
        (violation["acknowledgedId"], path)
        for report in synth.validation["pluginReports"]
        for violation in report.get("suppressedViolations", [])
        for construct in violation["violatingConstructs"]
        for path in construct["cloudFormationResource"]["propertyPaths"]
    }
    assert acknowledged <= ACKNOWLEDGED_VALIDATION


def test_the_feature_flag_that_makes_validation_strict_is_on() -> None:
    context = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
    assert context["@aws-cdk/core:validateAgainstDefaultRules"] is True


def cfn_lint(template: Path) -> list[dict[str, Any]]:
    """cfn-lint's findings on a template, as its JSON output lists them."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--format",
            "json",
            "--regions",
            "eu-west-1",
            "--",
            str(template),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert not result.stderr.strip(), result.stderr
    return json.loads(result.stdout)


def test_cfn_lint_as_run_here_does_report_errors(tmp_path: Path) -> None:
    # The canary: the invocation below really lints (a broken template is not silently passed).
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"Nope": 1}}}})
    )
    assert [f["Level"] for f in cfn_lint(broken)] == ["Error"]


def test_cfn_lint_finds_no_error_and_only_explained_warnings(synth: Synth) -> None:
    findings = cfn_lint(synth.outdir / f"{STACK}.template.json")
    unexplained = [f for f in findings if f["Rule"]["Id"] not in ACCEPTED_CFN_LINT]
    assert not unexplained, json.dumps(unexplained, indent=1)[:4000]
    for finding in findings:
        # The accepted warning is only ever about a role the CDK made for one of its functions.
        assert finding["Level"] == "Warning"
        assert "Role" in finding["Message"] and "dependency already enforced" in finding["Message"]


# --- suppressions that match nothing ------------------------------------------------------------


def suppressions(synth: Synth) -> dict[tuple[str, str, tuple[str, ...]], set[str]]:
    """Each suppression as written in the code -> the construct paths carrying a copy of it.

    ``apply_to_children`` copies one suppression onto every resource below the construct, so a
    suppression is identified by its rule, reason and ``applies_to``, not by where it landed.
    """
    found: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
    for body in synth.template["Resources"].values():
        metadata = body.get("Metadata", {})
        for rule in metadata.get("cdk_nag", {}).get("rules_to_suppress", []):
            applies = tuple(
                item if isinstance(item, str) else f"regex:{item['regex']}"
                for item in rule.get("applies_to", [])
            )
            found.setdefault((rule["id"], rule["reason"], applies), set()).add(metadata["aws:cdk:path"])
    return found


def finding_matches(pattern: str, finding: str) -> bool:
    if pattern.startswith("regex:"):
        body = pattern.removeprefix("regex:")
        return re.search(body[1 : body.rindex("/")], finding) is not None
    return pattern == finding


def dead_suppressions(synth: Synth) -> list[str]:
    suppressed = [row for row in synth.nag_rows if row["Compliance"] == "Suppressed"]
    dead = []
    for (rule, reason, applies), paths in suppressions(synth).items():
        rows = [r for r in suppressed if r["Rule ID"] == rule and r["Resource ID"] in paths]
        if not applies:
            if not any(r["Exception Reason"] == reason for r in rows):
                dead.append(f"{rule} on {sorted(paths)[0]}: {reason[:60]}")
            continue
        findings = [
            r["Exception Reason"][1 : r["Exception Reason"].index("] ")]
            for r in rows
            if r["Exception Reason"].startswith("[") and r["Exception Reason"].endswith(f"] {reason}")
        ]
        for pattern in applies:
            if not any(finding_matches(pattern, finding) for finding in findings):
                dead.append(f"{rule}[{pattern}] on {sorted(paths)[0]}: {reason[:60]}")
    return dead


def test_every_suppression_matches_a_finding(synth: Synth) -> None:
    assert suppressions(synth), "no suppression found in the template metadata"
    assert dead_suppressions(synth) == []


def test_a_suppression_that_matches_nothing_is_reported(synth: Synth) -> None:
    # The canary: a suppression for a finding the template does not have is caught.
    template = json.loads(json.dumps(synth.template))
    bucket = next(b for b in template["Resources"].values() if b["Type"] == "AWS::S3::Bucket")
    bucket.setdefault("Metadata", {}).setdefault("cdk_nag", {}).setdefault("rules_to_suppress", []).append(
        {"id": "AwsSolutions-S10", "reason": "a suppression left behind after its finding was fixed"}
    )
    altered = Synth(synth.outdir, template, synth.nag_rows, synth.validation, synth.context)
    assert any("AwsSolutions-S10" in line for line in dead_suppressions(altered))
