"""The aggregator Lambda: S3 ObjectCreated under ``trades/`` -> minute rows in MySQL.

Its code is the modules its handlers import (``infra/modules.py`` follows the imports of
``lambda_aggregator.handler`` and ``.schema``) and ``sql/``, plus the wheels of
``lambda_aggregator/requirements.txt`` for Lambda's platform, bundled locally. The same
package, with the same environment, also serves the schema custom resource (``schema.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from contract.pipeline import (
    AGGREGATOR_HANDLER,
    AGGREGATOR_SERVICE_NAME,
    DB_CA_FILE_ENV,
    DB_SECRET_ARN_ENV,
    DB_TLS_ENV,
    FRESHNESS_HANDLER,
    POWERTOOLS_METRICS_NAMESPACE_ENV,
    POWERTOOLS_SERVICE_NAME_ENV,
    QUARANTINE_PREFIX_ENV,
    SCHEMA_HANDLER,
)
from infra.bucket import REJECTED_PREFIX
from infra.bundle import REPO_ROOT, PythonBundle, asset_options, lambda_platforms
from infra.modules import module_files

HANDLER = AGGREGATOR_HANDLER
REQUIREMENTS = REPO_ROOT / "lambda_aggregator" / "requirements.txt"
# The modules that hold the three handlers; the bundle holds them and what they import.
ENTRY_MODULES = tuple(
    handler.rpartition(".")[0] for handler in (AGGREGATOR_HANDLER, SCHEMA_HANDLER, FRESHNESS_HANDLER)
)
CA_BUNDLE_PATH = "rds-ca/bundle.pem"  # inside the package, i.e. /var/task/rds-ca/bundle.pem
LAMBDA_TASK_ROOT = "/var/task"
SERVICE_NAME = AGGREGATOR_SERVICE_NAME
MINUTE_ROWS_METRIC = "MinuteRowsWritten"  # emitted by lambda_aggregator/handler.py
REJECTED_LINES_METRIC = "LinesRejected"
_MANAGED = ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole")
TIMEOUT = Duration.seconds(120)
# Reserved concurrency, sized against the database: a db.t4g.micro (1 GiB) allows
# max_connections = DBInstanceClassMemory / 12582880, at most 85 and fewer in practice (RDS
# keeps part of the memory for itself). Each warm aggregator holds one connection, and writers
# of one symbol queue on its lock anyway, so more than a few concurrent copies only hold
# connections while waiting. 5 leaves room for the schema function, rotations, QuickSight's
# direct queries and an operator; a burst above it is throttled, and Lambda keeps retrying
# throttled S3 events (up to max_event_age) before they reach the failed-events queue.
AGGREGATOR_CONCURRENCY = 5


def lambda_sources() -> tuple[str, ...]:
    """The repo files of the bundle: every module the handlers import, and the migrations."""
    return (*module_files(ENTRY_MODULES, REPO_ROOT), "sql")


@dataclass(frozen=True, slots=True)
class LambdaPackage:
    """Code, runtime settings and environment shared by every function built from the bundle."""

    code: lambda_.Code
    architecture: lambda_.Architecture
    environment: dict[str, str]
    metrics_namespace: str
    service_name: str


def lambda_bundle(*, arm64: bool, ca_bundle: Path | None) -> PythonBundle:
    extra = ((CA_BUNDLE_PATH, ca_bundle),) if ca_bundle else ()
    return PythonBundle(
        sources=lambda_sources(),
        requirements=REQUIREMENTS,
        platforms=lambda_platforms(arm64),
        python_version="3.12",
        extra_files=extra,
    )


def lambda_environment(
    *, secret_arn: str, ca_bundle: bool, metrics_namespace: str, service_name: str
) -> dict[str, str]:
    """The env vars ``lambda_aggregator.settings`` and Powertools read.

    TLS: ``verify`` when the RDS CA bundle ships in the package, else ``encrypt`` (TLS on the
    wire without checking the certificate: the server is reachable only inside the VPC).
    """
    env = {
        DB_SECRET_ARN_ENV: secret_arn,
        DB_TLS_ENV: "verify" if ca_bundle else "encrypt",
        QUARANTINE_PREFIX_ENV: REJECTED_PREFIX,
        POWERTOOLS_SERVICE_NAME_ENV: service_name,
        POWERTOOLS_METRICS_NAMESPACE_ENV: metrics_namespace,
    }
    if ca_bundle:
        env[DB_CA_FILE_ENV] = f"{LAMBDA_TASK_ROOT}/{CA_BUNDLE_PATH}"
    return env


def lambda_package(*, secret_arn: str, ca_bundle: Path | None, metrics_namespace: str) -> LambdaPackage:
    # Graviton: 20% cheaper per GB-second, and msgspec ships aarch64 wheels.
    bundle = lambda_bundle(arm64=True, ca_bundle=ca_bundle)
    code = lambda_.Code.from_asset(str(REPO_ROOT / "lambda_aggregator"), **asset_options(bundle))
    return LambdaPackage(
        code=code,
        architecture=lambda_.Architecture.ARM_64,
        environment=lambda_environment(
            secret_arn=secret_arn,
            ca_bundle=ca_bundle is not None,
            metrics_namespace=metrics_namespace,
            service_name=SERVICE_NAME,
        ),
        metrics_namespace=metrics_namespace,
        service_name=SERVICE_NAME,
    )


def vpc_function(
    scope: Construct,
    construct_id: str,
    *,
    package: LambdaPackage,
    handler: str,
    vpc: ec2.IVpc,
    subnets: ec2.SubnetSelection,
    timeout: Duration,
    description: str,
    **extra: object,
) -> lambda_.Function:
    """A function of the package inside the VPC, with a log group that expires."""
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
    )
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=lambda_.Runtime.PYTHON_3_12,
        architecture=package.architecture,
        code=package.code,
        handler=handler,
        environment=package.environment,
        vpc=vpc,
        vpc_subnets=subnets,
        timeout=timeout,
        memory_size=512,
        log_group=log_group,
        description=description,
        **extra,
    )
    NagSuppressions.add_resource_suppressions(
        function,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM4",
                reason="Lambda's managed execution policies are the documented minimum: CloudWatch Logs, "
                "and the EC2 network-interface actions a VPC function needs (those take no resource scope)",
                applies_to=[
                    f"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{name}" for name in _MANAGED
                ],
            ),
            NagPackSuppression(
                id="AwsSolutions-L1",
                reason="Python 3.12 is the runtime the bundle's wheels are built and tested for "
                "(lambda_aggregator/requirements.txt); Lambda supports it until October 2028",
            ),
        ],
        apply_to_children=True,
    )
    return function


class Aggregator(Construct):
    """The function, the queue that keeps events it failed on, and their wiring.

    Parameters
    ----------
    package
        The bundled code and environment (``lambda_package``).
    vpc, subnets
        Isolated subnets: the function reaches S3 and Secrets Manager through endpoints only.
    reserved_concurrency
        Copies that may run at once (``AGGREGATOR_CONCURRENCY``: why 5); 0 reserves none.

    Attributes
    ----------
    function
        The aggregator. Grant it the bucket and the secret, admit it to the database.
    failed_events
        Events still failing after Lambda's retries (on-failure destination), kept 14 days.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        package: LambdaPackage,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        reserved_concurrency: int = AGGREGATOR_CONCURRENCY,
    ) -> None:
        super().__init__(scope, construct_id)
        self.failed_events = sqs.Queue(
            self,
            "FailedEvents",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.function = vpc_function(
            self,
            "Function",
            package=package,
            handler=HANDLER,
            vpc=vpc,
            subnets=subnets,
            timeout=TIMEOUT,
            description="S3 objects of aggTrade lines -> exact per-minute rows in MySQL",
            reserved_concurrent_executions=reserved_concurrency or None,
            # S3 invokes asynchronously: two retries, then the event goes to the queue for replay.
            retry_attempts=2,
            max_event_age=Duration.hours(6),
            on_failure=destinations.SqsDestination(self.failed_events),
        )
        NagSuppressions.add_resource_suppressions(
            self.failed_events,
            [
                NagPackSuppression(
                    id="AwsSolutions-SQS3",
                    reason="This queue is itself the dead-letter destination of the aggregator's events",
                )
            ],
        )
