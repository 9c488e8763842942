"""RDS MySQL 8.4 (the LTS line; 8.0 has left standard support), the database of record.

Private (isolated subnets, not publicly accessible), encrypted, TLS required by the parameter
group, 7 days of backups, deletion protection, a snapshot when the stack is deleted. The
credentials are a generated Secrets Manager secret (username, password, host, port, dbname)
that rotates every 30 days; code reads it by ARN.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from contract.pipeline import DATABASE_NAME
from infra.errors import InfraError
from infra.network import secrets_client_group

ADMIN_USER = "cryptotrades_admin"
PORT = 3306
ENGINE_VERSION = (
    rds.MysqlEngineVersion.VER_8_4_10
)  # newest 8.4 minor the CDK knows; minor upgrades are automatic


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
        The credentials (attached to the instance, so it holds host, port and dbname too).
    rotation_security_group
        The group every rotation of this database's secrets runs in (``security_group=``).
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
            description="cryptotrades: TLS required, UTC",
            # "1", not "ON": RDS lists the allowed values of this boolean as 0 and 1.
            parameters={"require_secure_transport": "1", "time_zone": "UTC"},
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
            automatically_after=Duration.days(30),
            vpc_subnets=subnets,
            endpoint=secrets_endpoint,
            security_group=self.rotation_security_group,
        )
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

    def allow_from(self, *peers: ec2.IConnectable, description: str) -> None:
        for peer in peers:
            self.instance.connections.allow_default_port_from(peer, description)
