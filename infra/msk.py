"""Amazon MSK in place of the Kafka host's own broker (context ``kafka=msk``).

Two ``kafka.t3.small`` brokers (one per AZ) in the isolated subnets, TLS between clients and
brokers and between brokers, unauthenticated clients admitted by security group only (the
producer's librdkafka and Vector both speak TLS; neither speaks MSK's IAM mechanism). The
Kafka host keeps running the producer and Vector, and creates the topic with the same
settings. MSK does not let a configuration set ``log.retention.check.interval.ms``: there the
retention checker keeps Kafka's 5-minute default, so a trade may outlive 5 minutes by up to 5
more; docs/infra.md says so.
"""

from __future__ import annotations

from aws_cdk import Names, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_msk as msk
from constructs import Construct

TLS_PORT = 9094
BROKER_TYPE = "kafka.t3.small"
SERVER_PROPERTIES = "\n".join(
    [
        "auto.create.topics.enable=false",
        "default.replication.factor=2",
        "min.insync.replicas=1",
        "num.partitions=1",
    ]
)


class MskCluster(Construct):
    """The MSK cluster, its configuration, broker logs and security group.

    Parameters
    ----------
    vpc, subnets
        Isolated subnets, one broker in each.
    kafka_version
        An MSK version string such as ``3.8.x``.
    volume_gib
        EBS storage per broker (5 minutes of trades need very little).

    Attributes
    ----------
    cluster_arn
        The cluster's ARN (the host asks MSK for the bootstrap brokers with it).
    connections
        Admit clients with ``connections.allow_default_port_from`` (TLS port).
    replication
        The topic's replication factor: the number of brokers.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        kafka_version: str,
        volume_gib: int = 10,
    ) -> None:
        super().__init__(scope, construct_id)
        subnet_ids = vpc.select_subnets(subnet_type=subnets.subnet_type).subnet_ids
        self.replication = len(subnet_ids)
        security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="MSK brokers: TLS from the Kafka host only",
            allow_all_outbound=False,
        )
        self.connections = ec2.Connections(
            security_groups=[security_group], default_port=ec2.Port.tcp(TLS_PORT)
        )
        # Brokers replicate to each other over the same group.
        security_group.add_ingress_rule(security_group, ec2.Port.all_tcp(), "broker to broker")
        security_group.add_egress_rule(security_group, ec2.Port.all_tcp(), "broker to broker")
        configuration = msk.CfnConfiguration(
            self,
            "Configuration",
            # MSK requires names; derived from the construct path, so two stacks never collide.
            name=Names.unique_resource_name(self, max_length=64, separator="-"),
            kafka_versions_list=[kafka_version],
            server_properties=SERVER_PROPERTIES,
        )
        broker_logs = logs.LogGroup(
            self, "BrokerLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        self.cluster = msk.CfnCluster(
            self,
            "Cluster",
            cluster_name=Names.unique_resource_name(self, max_length=64, separator="-"),
            kafka_version=kafka_version,
            number_of_broker_nodes=self.replication,
            broker_node_group_info=msk.CfnCluster.BrokerNodeGroupInfoProperty(
                instance_type=BROKER_TYPE,
                client_subnets=subnet_ids,
                security_groups=[security_group.security_group_id],
                storage_info=msk.CfnCluster.StorageInfoProperty(
                    ebs_storage_info=msk.CfnCluster.EBSStorageInfoProperty(volume_size=volume_gib)
                ),
            ),
            encryption_info=msk.CfnCluster.EncryptionInfoProperty(
                encryption_in_transit=msk.CfnCluster.EncryptionInTransitProperty(
                    client_broker="TLS", in_cluster=True
                )
            ),
            client_authentication=msk.CfnCluster.ClientAuthenticationProperty(
                unauthenticated=msk.CfnCluster.UnauthenticatedProperty(enabled=True)
            ),
            configuration_info=msk.CfnCluster.ConfigurationInfoProperty(
                arn=configuration.attr_arn, revision=configuration.attr_latest_revision_revision
            ),
            logging_info=msk.CfnCluster.LoggingInfoProperty(
                broker_logs=msk.CfnCluster.BrokerLogsProperty(
                    cloud_watch_logs=msk.CfnCluster.CloudWatchLogsProperty(
                        enabled=True, log_group=broker_logs.log_group_name
                    )
                )
            ),
        )
        self.cluster_arn = self.cluster.attr_arn
