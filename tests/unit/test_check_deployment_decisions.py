"""check-deployment's decisions on answers moto cannot give: failed stacks and hosts, errors, timeouts."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptotrades import deployment

OUTPUTS = [{"OutputKey": key, "OutputValue": "x"} for key in deployment.OUTPUTS]


def test_a_rolled_back_stack_fails_and_points_at_its_events() -> None:
    check = deployment.decide_stack(
        "Cryptotrades",
        {"StackStatus": "UPDATE_ROLLBACK_COMPLETE", "StackStatusReason": "Schema failed", "Outputs": OUTPUTS},
    )
    assert not check.ok and "UPDATE_ROLLBACK_COMPLETE (Schema failed)" in check.detail
    assert "describe-stack-events --stack-name Cryptotrades" in check.look_at


def test_a_stack_of_an_older_version_lacks_outputs() -> None:
    check = deployment.decide_stack(
        "Cryptotrades", {"StackStatus": "UPDATE_COMPLETE", "Outputs": OUTPUTS[:2]}
    )
    assert not check.ok and "FreshnessFunctionName" in check.detail


def test_a_host_whose_signal_failed_points_at_its_logs() -> None:
    resources = [
        {
            "PhysicalResourceId": "i-1",
            "ResourceType": "AWS::EC2::Instance",
            "ResourceStatus": "CREATE_FAILED",
            "ResourceStatusReason": "Received FAILURE signal with UniqueId i-1",
        }
    ]
    check = deployment.decide_host_signal("i-1", resources)
    assert not check.ok and "FAILURE signal" in check.detail and "log group" in check.look_at
    assert not deployment.decide_host_signal("i-2", resources).ok


def test_a_health_command_that_never_finished_or_answered_garbage_fails() -> None:
    assert "within 60 s" in deployment.decide_producer("i-1", None).detail
    garbage = deployment.decide_producer("i-1", {"Status": "Success", "StandardOutputContent": "<html>\n502"})
    assert not garbage.ok and "HTTP 502 with no JSON" in garbage.detail
    refused = deployment.decide_producer(
        "i-1", {"Status": "Failed", "StandardOutputContent": "", "StandardErrorContent": "curl: (7) refused"}
    )
    assert not refused.ok and "curl: (7) refused" in refused.detail


def test_aggregator_errors_fail_and_name_the_log_group() -> None:
    check = deployment.decide_errors("Fn", 3.0)
    assert not check.ok and "3 errors" in check.detail and "/aws/lambda/Fn" in check.look_at
    assert deployment.decide_errors("Fn", 0.0).ok


def test_no_minute_row_yet_or_a_function_error_is_not_fresh() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert not deployment.decide_freshness("Fn", {"symbols": {}}, now).ok
    assert "not a freshness report" in deployment.decide_freshness("Fn", "an error: boom", now).detail
