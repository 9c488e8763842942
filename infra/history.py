"""Athena over the raw trades: a Glue table on ``trades/``, a workgroup, and a named query of minute rows.

At cloud scale a distributed engine reads the same raw record the Lambda reads. The Glue table
``trades`` describes Vector's objects (newline-delimited aggTrade events, gzip or plain) under
``trades/date=YYYY-MM-DD/hour=HH/minute=MM/``, with partition projection, so no crawler and no
``MSCK REPAIR``: Athena computes the partitions from the query's ``date`` range. Binance's
one-letter keys become words (``T`` is ``trade_time``, ``t`` would collide with it in a
case-insensitive SerDe, so the SerDe is case-sensitive and maps each column to its key).

The named query (``infra/athena/minute_rows.sql``) yields the minute rows of a date range as the
pure core computes them; tests run it through DuckDB over the same layout (transpiled by sqlglot).
Query results go to their own bucket, encrypted, expiring, in a workgroup that enforces that.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from contract.pipeline import TRADES_PREFIX

QUERY_FILE = Path(__file__).resolve().parent / "athena" / "minute_rows.sql"
GLUE_DATABASE = "cryptotrades_history"
TRADES_TABLE = "trades"
FIRST_DAY = "2017-07-01"  # Binance's spot aggTrades start after this

# (column, JSON key, Hive type): the aggTrade event as Vector writes it, one event a line.
TRADE_COLUMNS = [
    ("event_type", "e", "string"),
    ("event_time", "E", "bigint"),
    ("symbol", "s", "string"),
    ("agg_id", "a", "bigint"),
    ("price", "p", "string"),  # text: the exact decimal, cast to DECIMAL(20, 8) by the query
    ("qty", "q", "string"),
    ("first_trade_id", "f", "bigint"),
    ("last_trade_id", "l", "bigint"),
    ("trade_time", "T", "bigint"),
    ("is_buyer_maker", "m", "boolean"),
    ("is_best_match", "M", "boolean"),
]


class History(Construct):
    """Glue database and table over the trades bucket, an Athena workgroup and the named query.

    Parameters
    ----------
    trades_bucket
        The bucket Vector writes (``TradesBucket.bucket``).
    access_logs
        Where the results bucket's server access logs go (``TradesBucket.access_logs``).
    results_retention_days
        Days a query result is kept.

    Attributes
    ----------
    workgroup_name, database_name, table_name
        What an analyst selects in the Athena console.
    results
        The bucket of query results.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        trades_bucket: s3.IBucket,
        access_logs: s3.IBucket,
        results_retention_days: int = 30,
    ) -> None:
        super().__init__(scope, construct_id)
        self.results = s3.Bucket(
            self,
            "Results",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="athena-results/",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(results_retention_days))],
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=False,
        )
        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=GLUE_DATABASE, description="cryptotrades: raw aggTrade events as Vector writes them"
            ),
        )
        location = f"s3://{trades_bucket.bucket_name}/{TRADES_PREFIX}"
        table = glue.CfnTable(
            self,
            "TradesTable",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=GLUE_DATABASE,
            table_input=glue.CfnTable.TableInputProperty(
                name=TRADES_TABLE,
                description="aggTrade events, one a line, under trades/date=/hour=/minute=",
                table_type="EXTERNAL_TABLE",
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name="date", type="string"),
                    glue.CfnTable.ColumnProperty(name="hour", type="string"),
                    glue.CfnTable.ColumnProperty(name="minute", type="string"),
                ],
                parameters={
                    "classification": "json",
                    "projection.enabled": "true",
                    "projection.date.type": "date",
                    "projection.date.format": "yyyy-MM-dd",
                    "projection.date.range": f"{FIRST_DAY},NOW",
                    "projection.date.interval": "1",
                    "projection.date.interval.unit": "DAYS",
                    "projection.hour.type": "integer",
                    "projection.hour.range": "0,23",
                    "projection.hour.digits": "2",
                    "projection.minute.type": "integer",
                    "projection.minute.range": "0,59",
                    "projection.minute.digits": "2",
                    "storage.location.template": location + "date=${date}/hour=${hour}/minute=${minute}/",
                },
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.openx.data.jsonserde.JsonSerDe",
                        parameters={
                            "case.insensitive": "false",  # "T" and "t", "E" and "e" are different keys
                            "ignore.malformed.json": "true",  # a bad line is the aggregator's to quarantine
                            **{f"mapping.{column}": key for column, key, _ in TRADE_COLUMNS},
                        },
                    ),
                    columns=[glue.CfnTable.ColumnProperty(name=c, type=t) for c, _, t in TRADE_COLUMNS],
                ),
            ),
        )
        table.add_dependency(database)
        workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=f"{Stack.of(self).stack_name}-history",
            description="cryptotrades history queries; results encrypted, in their own bucket",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=1024**4,  # 1 TiB: a forgotten date range costs at most this
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results.bucket_name}/results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        query = athena.CfnNamedQuery(
            self,
            "MinuteRowsQuery",
            name="minute rows of a date range",
            description="the pure core's minute rows from the raw trades (edit the date range)",
            database=GLUE_DATABASE,
            query_string=QUERY_FILE.read_text(encoding="utf-8"),
            work_group=workgroup.ref,
        )
        query.add_dependency(table)
        self.workgroup_name = workgroup.ref
        self.database_name = GLUE_DATABASE
        self.table_name = TRADES_TABLE
