"""cdk-nag findings on resources the CDK creates for us as singletons at the stack's root.

Findings on our own resources are suppressed where those resources are made, each with its
reason; these helpers belong to no construct of ours, so they are found here by their ids.
"""

from __future__ import annotations

from aws_cdk import Stack
from cdk_nag import NagPackSuppression, NagSuppressions

_BASIC_EXECUTION = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# Id prefix of the CDK's singleton -> what it does, and why it has a wildcard resource (None: it
# has none; the bucket-notification helper's grant names the bucket).
_HELPERS: dict[str, tuple[str, str | None]] = {
    "BucketNotificationsHandler": ("the CDK's bucket-notification helper (runs at deploy only)", None),
    "LogRetention": (
        "the CDK's log-retention helper (sets the RDS log groups' retention at deploy)",
        "RDS creates those log groups under names not known in advance",
    ),
}


def suppress_cdk_internals(stack: Stack) -> None:
    """Suppress the findings on the CDK's own helper functions present in ``stack``."""
    for child in stack.node.children:
        for prefix, (what, why_wildcard) in _HELPERS.items():
            if child.node.id.startswith(prefix):
                rules = [
                    NagPackSuppression(
                        id="AwsSolutions-IAM4",
                        reason=f"{what}: Lambda's managed logging policy",
                        applies_to=[_BASIC_EXECUTION],
                    )
                ]
                if why_wildcard is not None:
                    rules.append(
                        NagPackSuppression(
                            id="AwsSolutions-IAM5",
                            reason=f"{what}: {why_wildcard}",
                            applies_to=["Resource::*"],
                        )
                    )
                NagSuppressions.add_resource_suppressions(child, rules, apply_to_children=True)
