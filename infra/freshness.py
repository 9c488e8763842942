"""A read-only function that says how fresh the minute rows are (``cryptotrades check-deployment``).

It runs ``lambda_aggregator.freshness.lambda_handler`` from the aggregator's package, signed in
as the read-only ``dashboard`` user: invoking it can reveal the newest minute's time and
change nothing. Rather that than a special event for the aggregator, whose user may write.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from contract.pipeline import FRESHNESS_HANDLER
from infra.aggregator import LambdaPackage, vpc_function
from infra.schema import SECRET_ENV

HANDLER = FRESHNESS_HANDLER


class FreshnessProbe(Construct):
    """The function, granted the read-only user's secret.

    Parameters
    ----------
    package
        The aggregator's package.
    vpc, subnets
        Isolated subnets, like the aggregator.
    secret
        The ``dashboard`` user's secret.

    Attributes
    ----------
    function
        Admit it to the database and the Secrets Manager endpoint.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        package: LambdaPackage,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        secret: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = vpc_function(
            self,
            "Function",
            package=package,
            handler=HANDLER,
            vpc=vpc,
            subnets=subnets,
            timeout=Duration.seconds(30),
            description="Read-only: the newest minute row per symbol (cryptotrades check-deployment)",
            reserved_concurrent_executions=2,  # a probe, never a crowd on the database
        )
        self.function.add_environment(SECRET_ENV, secret.secret_arn)
        secret.grant_read(self.function)
