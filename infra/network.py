"""The VPC, sized for cost: no NAT gateway.

Two AZs (RDS needs a subnet group in two). The Kafka host sits in a public subnet with a
public address so it can reach Binance and the package mirrors through the internet gateway;
nothing may connect to it (its security group has no inbound rule). Lambda and RDS sit in
isolated subnets with no route out; they reach S3 through the gateway endpoint (free) and
Secrets Manager through one interface endpoint, placed in a single AZ: one endpoint ENI is
about $7/month, a NAT gateway about $35/month before data.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

CIDR = "10.40.0.0/16"


class Network(Construct):
    """VPC, endpoints and flow logs.

    Attributes
    ----------
    vpc
        The VPC: ``PUBLIC`` subnets for the Kafka host, ``PRIVATE_ISOLATED`` for Lambda and RDS.
    isolated_subnets
        The subnet selection for everything that must not reach the internet.
    secrets_endpoint
        The Secrets Manager interface endpoint. It admits nobody by itself (``open=False``) and,
        with private DNS on, a caller it does not admit times out instead of failing: admit every
        caller, with ``grant_secret_read`` (a function of ours) or ``secrets_client_group`` (a
        function the CDK builds for us: a secret rotation).
    """

    def __init__(self, scope: Construct, construct_id: str, *, max_azs: int = 2) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(CIDR),
            max_azs=max_azs,
            nat_gateways=0,
            subnet_configuration=[
                # No automatic public IPs: the one instance that needs one asks for it.
                ec2.SubnetConfiguration(
                    name="Public",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=24,
                    map_public_ip_on_launch=False,
                ),
                ec2.SubnetConfiguration(
                    name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            restrict_default_security_group=True,
        )
        self.isolated_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        # Route tables of both tiers: the host's uploads stay on the AWS network too.
        self.vpc.add_gateway_endpoint(
            "S3Endpoint",
            service=ec2.GatewayVpcEndpointAwsService.S3,
            subnets=[self.isolated_subnets, ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)],
        )
        self.secrets_endpoint = self.vpc.add_interface_endpoint(
            "SecretsManagerEndpoint",
            service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            subnets=ec2.SubnetSelection(subnets=self.vpc.isolated_subnets[:1]),
            private_dns_enabled=True,
            open=False,  # callers are admitted one by one (allow_secrets_from)
        )
        # Rejected connections only: enough to see who knocks, a fraction of the volume of ALL.
        flow_log_group = logs.LogGroup(
            self, "FlowLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        self.vpc.add_flow_log(
            "RejectedTraffic",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

    def grant_secret_read(self, secret: secretsmanager.ISecret, *callers: lambda_.IFunction) -> None:
        """Let each caller read ``secret``: the IAM grant and the way in to the endpoint, always together."""
        for caller in callers:
            secret.grant_read(caller)
            self.allow_secrets_from(caller)

    def allow_secrets_from(self, *peers: ec2.IConnectable) -> None:
        for peer in peers:
            self.secrets_endpoint.connections.allow_default_port_from(peer, "Secrets Manager API (HTTPS)")


def secrets_client_group(
    scope: Construct,
    construct_id: str,
    *,
    vpc: ec2.IVpc,
    endpoint: ec2.IInterfaceVpcEndpoint,
    description: str,
) -> ec2.SecurityGroup:
    """A security group admitted to the Secrets Manager endpoint on 443.

    For callers the CDK builds for us, which take a ``security_group=``: every secret rotation
    (``add_rotation_single_user`` / ``add_rotation_multi_user``) gets one, since the group the
    CDK would make by itself is admitted to the database but not to the endpoint.
    """
    group = ec2.SecurityGroup(scope, construct_id, vpc=vpc, description=description)
    endpoint.connections.allow_default_port_from(group, "Secrets Manager API (HTTPS)")
    return group
