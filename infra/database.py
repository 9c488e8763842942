"""RDS MySQL 8.4 (the LTS line; 8.0 has left standard support), the database of record.

Private (isolated subnets, not publicly accessible), encrypted, TLS required by the parameter
group, 7 days of backups, deletion protection, a snapshot when the stack is deleted.

Three users, each with a generated Secrets Manager secret (username, password, host, port,
dbname) attached to the instance and rotated every 30 days by its own single-user rotation:

- the master user: only the schema custom resource signs in with it (migrations, users);
- ``aggregator``: the S3 handler, DML on its three tables;
- ``dashboard``: read-only, for the dashboard, QuickSight and ``check-deployment``.

The schema resource creates the two application users and their privileges
(``minutes/users.py``). Single-user rotation (each user changes its own password)
keeps the master secret away from the rotation functions of the other two; the cost is a
moment, during a rotation, when a new connection may be refused and is retried.
No rotation runs at deploy time: the passwords are freshly generated then, and an immediate
rotation would race the schema resource that signs in with them (and, for the application
users, would start before the schema resource has created them).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, CfnResource, Duration, RemovalPolicy, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct, IConstruct

from contract.pipeline import DATABASE_NAME
from infra.errors import InfraError
from infra.network import secrets_client_group

ADMIN_USER = "cryptotrades_admin"
PORT = 3306
# The major version only: RDS creates the instance on the region's default 8.4 minor and
# upgrades minors itself (auto_minor_version_upgrade). A pinned minor would fail to create once
# RDS retires it, and would contradict the instance after each automatic upgrade.
ENGINE_VERSION = rds.MysqlEngineVersion.of("8.4", "8.4")
# Both linters check EngineVersion against the list of full versions RDS reports, so they call
# "8.4" an error; CloudFormation and RDS take a major version (RDS picks its default minor).
ENGINE_VERSION_REASON = (
    "EngineVersion '8.4' is a major version on purpose: RDS creates the instance on its default 8.4 "
    "minor and upgrades minors itself; the linter only knows full versions"
)
ROTATION_DAYS = 30
# The slow-query log that is exported to CloudWatch Logs: statements over a second (an object's
# ingest takes milliseconds; the 30-minute spread view over a long window is what would show).
SLOW_QUERY_SECONDS = 1
AGGREGATOR_USER = "aggregator"  # roles and user names of minutes/users.py
DASHBOARD_USER = "dashboard"


@dataclass(frozen=True, slots=True)
class DatabaseUser:
    """An application user: its name, its secret (attached to the instance) and that secret's rotation."""

    role: str
    username: str
    secret: secretsmanager.ISecret
    rotation: secretsmanager.SecretRotation
    schedule: IConstruct  # the secret's RotationSchedule (a child of the secret, not of the rotation)


class Database(Construct):
    """The RDS instance, its parameters, secret and rotation.

    Parameters
    ----------
    vpc, subnets
        Where the instance lives: isolated subnets of two AZs.
    secrets_endpoint
        The Secrets Manager interface endpoint the rotation function reaches the API through.
    instance_type
        E.g. ``t4g.micro``.
    allocated_storage_gib, max_allocated_storage_gib
        Starting storage and the ceiling storage autoscaling may grow to.

    Attributes
    ----------
    instance
        The ``DatabaseInstance``; ``instance.connections`` admits clients.
    secret
        The master credentials (attached to the instance, so it holds host, port and dbname too):
        for the schema resource only.
    aggregator, dashboard
        The application users (``DatabaseUser``): grant a function ``user.secret`` to sign in.
    rotation_security_group
        The group every rotation of this database's secrets runs in.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        secrets_endpoint: ec2.IInterfaceVpcEndpoint,
        instance_type: str,
        allocated_storage_gib: int = 20,
        max_allocated_storage_gib: int = 100,
    ) -> None:
        super().__init__(scope, construct_id)
        engine = rds.DatabaseInstanceEngine.mysql(version=ENGINE_VERSION)
        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description="cryptotrades: TLS required, UTC, slow queries logged",
            parameters={
                # "1", not "ON": RDS lists the allowed values of this boolean as 0 and 1.
                "require_secure_transport": "1",
                "time_zone": "UTC",
                # Exported below (cloudwatch_logs_exports): without these the slowquery log stays empty.
                "slow_query_log": "1",
                "long_query_time": str(SLOW_QUERY_SECONDS),
                "log_output": "FILE",
            },
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            engine=engine,
            instance_type=ec2.InstanceType(instance_type),
            vpc=vpc,
            vpc_subnets=subnets,
            publicly_accessible=False,
            port=PORT,
            credentials=rds.Credentials.from_generated_secret(ADMIN_USER),
            database_name=DATABASE_NAME,
            parameter_group=parameters,
            allocated_storage=allocated_storage_gib,
            max_allocated_storage=max_allocated_storage_gib,
            storage_type=rds.StorageType.GP3,
            storage_encrypted=True,
            multi_az=False,
            backup_retention=Duration.days(7),
            delete_automated_backups=False,
            deletion_protection=True,
            removal_policy=RemovalPolicy.SNAPSHOT,
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            ca_certificate=rds.CaCertificate.RDS_CA_RSA2048_G1,
            cloudwatch_logs_exports=["error", "slowquery"],
            cloudwatch_logs_retention=logs.RetentionDays.ONE_MONTH,
        )
        cfn_instance = self.instance.node.default_child
        if not isinstance(cfn_instance, CfnResource):
            raise InfraError("the database instance has no CloudFormation resource")
        Validations.of(cfn_instance).acknowledge(
            Acknowledgment(id="CloudFormation-Validate::E9006", reason=ENGINE_VERSION_REASON)
        )
        cfn_instance.add_metadata("cfn-lint", {"config": {"ignore_checks": ["E3691"]}})
        if self.instance.secret is None:  # from_generated_secret always makes one
            raise InfraError("the database instance has no generated secret")
        self.secret: secretsmanager.ISecret = self.instance.secret
        # Every rotation of this database's secrets runs in this group: the rotation admits it to
        # the database, and it is admitted to the Secrets Manager endpoint here.
        self.rotation_security_group = secrets_client_group(
            self,
            "RotationSecurityGroup",
            vpc=vpc,
            endpoint=secrets_endpoint,
            description="Secret rotation functions: to the database and the Secrets Manager endpoint",
        )
        self.rotation = self.instance.add_rotation_single_user(
            automatically_after=Duration.days(ROTATION_DAYS),
            vpc_subnets=subnets,
            endpoint=secrets_endpoint,
            security_group=self.rotation_security_group,
            rotate_immediately_on_update=False,
        )
        self.aggregator = self._user(AGGREGATOR_USER, AGGREGATOR_USER, vpc, subnets, secrets_endpoint)
        self.dashboard = self._user(DASHBOARD_USER, DASHBOARD_USER, vpc, subnets, secrets_endpoint)
        NagSuppressions.add_resource_suppressions(
            self.instance,
            [
                NagPackSuppression(
                    id="AwsSolutions-RDS3",
                    reason="Single-AZ for cost (the original ran on the free tier); 7 days of backups with "
                    "point-in-time restore, and every raw object stays in S3 to rebuild from",
                ),
                NagPackSuppression(
                    id="AwsSolutions-RDS11",
                    reason="The standard port is only reachable from our own security groups inside isolated "
                    "subnets; a non-standard port adds no protection there",
                ),
            ],
        )

    def _user(
        self,
        role: str,
        username: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        secrets_endpoint: ec2.IInterfaceVpcEndpoint,
    ) -> DatabaseUser:
        construct_id = role.capitalize()
        secret = rds.DatabaseSecret(self, f"{construct_id}Secret", username=username, dbname=DATABASE_NAME)
        attached = secret.attach(self.instance)  # adds host, port and engine to the secret
        rotation = secretsmanager.SecretRotation(
            self,
            f"{construct_id}Rotation",
            application=secretsmanager.SecretRotationApplication.MYSQL_ROTATION_SINGLE_USER,
            secret=attached,
            target=self.instance,
            vpc=vpc,
            vpc_subnets=subnets,
            endpoint=secrets_endpoint,
            security_group=self.rotation_security_group,
            automatically_after=Duration.days(ROTATION_DAYS),
            rotate_immediately_on_update=False,
        )
        schedule = attached.node.try_find_child("RotationSchedule")
        if schedule is None:
            raise InfraError(f"the {role} secret has no rotation schedule")
        return DatabaseUser(role, username, attached, rotation, schedule)

    @property
    def users(self) -> tuple[DatabaseUser, ...]:
        return (self.aggregator, self.dashboard)

    def rotate_users_after(self, creator: IConstruct) -> None:
        """Schedule the users' rotations only once ``creator`` (the schema resource) has made the users."""
        for user in self.users:
            user.schedule.node.add_dependency(creator)

    def allow_from(self, *peers: ec2.IConnectable, description: str) -> None:
        for peer in peers:
            self.instance.connections.allow_default_port_from(peer, description)
