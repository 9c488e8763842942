"""The one stack: it wires the constructs of this package together and holds no resources itself."""

from __future__ import annotations

from aws_cdk import CfnOutput, Environment, Stack
from constructs import Construct

from infra.aggregator import TIMEOUT as AGGREGATOR_TIMEOUT
from infra.aggregator import Aggregator, lambda_package
from infra.alarms import PipelineAlarms
from infra.bucket import TradesBucket
from infra.database import Database
from infra.freshness import FreshnessProbe
from infra.history import History
from infra.kafka_host import Downloads, KafkaHost, MskBrokers, TopicSettings
from infra.msk import MskCluster
from infra.nag import suppress_cdk_internals
from infra.network import Network
from infra.quicksight import QuickSightDataSets
from infra.schema import SchemaMigration
from infra.settings import InfraSettings


class CryptotradesStack(Stack):
    """Binance -> producer -> Kafka (EC2 or MSK) -> Vector -> S3 -> Lambda -> RDS MySQL (-> QuickSight)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: InfraSettings) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=settings.account, region=settings.region),
            description="cryptotrades: every BTC/USDT trade on Binance, one exact row per minute",
        )
        network = Network(self, "Network")
        trades = TradesBucket(self, "Trades", raw_retention_days=settings.raw_retention_days)
        database = Database(
            self,
            "Database",
            vpc=network.vpc,
            subnets=network.isolated_subnets,
            secrets_endpoint=network.secrets_endpoint,
            instance_type=settings.db_instance_type,
        )

        package = lambda_package(
            secret_arn=database.aggregator.secret.secret_arn,
            ca_bundle=settings.ca_bundle,
            metrics_namespace=self.stack_name,
        )
        schema = SchemaMigration(
            self,
            "Schema",
            package=package,
            vpc=network.vpc,
            subnets=network.isolated_subnets,
            admin_secret=database.secret,
            users=database.users,
        )
        aggregator = Aggregator(
            self,
            "Aggregator",
            package=package,
            vpc=network.vpc,
            subnets=network.isolated_subnets,
            reserved_concurrency=settings.aggregator_concurrency,
        )
        network.grant_secret_read(database.aggregator.secret, aggregator.function)
        freshness = FreshnessProbe(
            self,
            "Freshness",
            package=package,
            vpc=network.vpc,
            subnets=network.isolated_subnets,
            secret=database.dashboard.secret,
        )
        database.allow_from(
            schema.function,
            aggregator.function,
            freshness.function,
            description="schema migration, aggregator and freshness probe",
        )
        # Schema and probe read their secrets by the names in their environment (granted in their
        # constructs); the rotations' group is admitted where it is made (secrets_client_group).
        network.allow_secrets_from(schema.function, freshness.function)
        # The migration needs the database reachable: the instance, its secret and the ingress rules
        # (all under the instance); the users' rotations start once it has made the users.
        schema.resource.node.add_dependency(database.instance)
        database.rotate_users_after(schema.resource)
        trades.grant_aggregator(aggregator.function)
        trades.notify(aggregator.function)

        msk = None
        if settings.kafka == "msk":
            cluster = MskCluster(
                self,
                "Msk",
                vpc=network.vpc,
                subnets=network.isolated_subnets,
                kafka_version=settings.msk_kafka_version,
            )
            msk = MskBrokers(
                cluster_arn=cluster.cluster_arn,
                connections=cluster.connections,
                replication=cluster.replication,
            )
        host = KafkaHost(
            self,
            "KafkaHost",
            vpc=network.vpc,
            bucket_name=trades.bucket.bucket_name,
            instance_type=settings.kafka_instance_type,
            topic=TopicSettings(),
            downloads=Downloads(
                kafka_version=settings.kafka_version,
                vector_version=settings.vector_version,
                kafka_sha512=settings.kafka_digest,
            ),
            msk=msk,
        )
        trades.grant_writer(host.role)
        # Produce only once the schema exists: earlier objects would fail into the queue.
        host.node.add_dependency(schema.resource)

        alarms = PipelineAlarms(
            self,
            "Alarms",
            aggregator=aggregator.function,
            failed_events=aggregator.failed_events,
            metrics_namespace=package.metrics_namespace,
            service_name=package.service_name,
            database=database.instance,
            kafka_instance=host.instance,
            timeout=AGGREGATOR_TIMEOUT,
            alarm_email=settings.alarm_email,
        )

        if settings.quicksight and settings.quicksight_principal:
            quicksight = QuickSightDataSets(
                self,
                "QuickSight",
                vpc=network.vpc,
                subnets=network.isolated_subnets,
                database=database.instance,
                secret=database.dashboard.secret,
                principal_arn=settings.quicksight_principal,
            )
            database.allow_from(quicksight.connections, description="QuickSight VPC connection")
            # Its views exist and its way in is open before QuickSight checks the data source
            # (the data sets hang on the data source): the schema, and the database's group with
            # its ingress rules.
            quicksight.data_source.node.add_dependency(
                schema.resource, *database.instance.connections.security_groups
            )
            CfnOutput(self, "QuickSightDataSource", value=quicksight.data_source.attr_arn)

        # Athena over the raw trades (Glue table with partition projection, workgroup, named query).
        history = History(self, "History", trades_bucket=trades.bucket, access_logs=trades.access_logs)
        CfnOutput(self, "HistoryWorkGroup", value=history.workgroup_name)

        suppress_cdk_internals(self)
        CfnOutput(self, "TradesBucketName", value=trades.bucket.bucket_name)
        CfnOutput(self, "KafkaHostInstanceId", value=host.instance.instance_id)
        CfnOutput(self, "KafkaHostLogGroup", value=host.log_group.log_group_name)
        CfnOutput(self, "DatabaseEndpoint", value=database.instance.db_instance_endpoint_address)
        CfnOutput(self, "DatabaseSecretArn", value=database.secret.secret_arn)
        CfnOutput(self, "AggregatorFunctionName", value=aggregator.function.function_name)
        CfnOutput(self, "FreshnessFunctionName", value=freshness.function.function_name)
        CfnOutput(self, "DashboardSecretArn", value=database.dashboard.secret.secret_arn)
        CfnOutput(self, "FailedEventsQueueUrl", value=aggregator.failed_events.queue_url)
        CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn)
