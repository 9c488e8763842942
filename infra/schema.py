"""The schema at deploy time: a custom resource whose handler applies ``sql/mysql/``.

``lambda_aggregator.schema.on_event`` (same package and environment as the aggregator) runs
the numbered migrations on Create and on every Update; the digest of the SQL files is a
property, so a changed migration makes CloudFormation send an Update.
"""

from __future__ import annotations

import hashlib

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from contract.pipeline import SCHEMA_HANDLER
from infra.aggregator import LambdaPackage, vpc_function
from infra.bundle import REPO_ROOT

HANDLER = SCHEMA_HANDLER
SQL_DIR = REPO_ROOT / "sql" / "mysql"


def sql_digest() -> str:
    """SHA-256 over the MySQL migrations' names and contents, in order."""
    digest = hashlib.sha256()
    for path in sorted(SQL_DIR.glob("*.sql")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class SchemaMigration(Construct):
    """The migration function, its provider and the custom resource.

    Parameters
    ----------
    package
        The aggregator's package (the handler reads the same env vars).
    vpc, subnets
        Isolated subnets, like the aggregator.

    Attributes
    ----------
    function
        The migration function: admit it to the database and grant it the secret.
    resource
        The custom resource; make what needs the schema depend on it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        package: LambdaPackage,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = vpc_function(
            self,
            "Function",
            package=package,
            handler=HANDLER,
            vpc=vpc,
            subnets=subnets,
            timeout=Duration.minutes(5),
            description="Applies the sql/mysql migrations at deploy time (CloudFormation custom resource)",
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            log_group=logs.LogGroup(
                self,
                "ProviderLogs",
                retention=logs.RetentionDays.ONE_MONTH,
                removal_policy=RemovalPolicy.DESTROY,
            ),
        )
        NagSuppressions.add_resource_suppressions(
            provider,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason="The CDK's provider framework function: Lambda's managed logging policy",
                    applies_to=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                    ],
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="The framework may invoke any version of the migration function (ARN:*)",
                    applies_to=[RegexAppliesTo(regex=r"/^Resource::<SchemaFunction[A-Za-z0-9]+\.Arn>:\*$/")],
                ),
            ],
            apply_to_children=True,
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::CryptotradesSchema",
            properties={"SqlDigest": sql_digest()},
        )
