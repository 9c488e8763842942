"""The schema at deploy time: a custom resource whose handler applies ``sql/mysql/`` and makes the users.

``lambda_aggregator.schema.on_event`` (same package as the aggregator, signed in as the master
user) runs the numbered migrations and converges the application users on Create and on every
Update. Its properties are the digest of the SQL files and, per user, the user name and the ARN
of its secret: a changed migration, a new user or a replaced secret makes CloudFormation send
an Update.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from contract.pipeline import DB_SECRET_ARN_ENV, SCHEMA_HANDLER
from infra.aggregator import LambdaPackage, vpc_function
from infra.bundle import REPO_ROOT
from infra.database import DatabaseUser

HANDLER = SCHEMA_HANDLER
SECRET_ENV = DB_SECRET_ARN_ENV  # who the function is: lambda_aggregator.settings reads it
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
    admin_secret
        The master user's secret: the function signs in with it (and is granted it here).
    users
        The application users to create; the function is granted their secrets to set passwords.

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
        admin_secret: secretsmanager.ISecret,
        users: Sequence[DatabaseUser],
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
            description="Applies the sql/mysql migrations and makes the database users at deploy time "
            "(CloudFormation custom resource)",
        )
        # The package's environment names the aggregator's secret; this function is the master user.
        self.function.add_environment(SECRET_ENV, admin_secret.secret_arn)
        for secret in (admin_secret, *(user.secret for user in users)):
            secret.grant_read(self.function)
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
            properties={
                "SqlDigest": sql_digest(),
                "Users": {
                    user.role: {"Username": user.username, "SecretArn": user.secret.secret_arn}
                    for user in users
                },
            },
        )
