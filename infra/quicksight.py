"""QuickSight over the database (context ``quicksight=true``): VPC connection, data source, data sets.

One data set per dashboard source: the views ``daily_totals``, ``minute_prices``,
``minute_spread``, ``trade_minutes_maker_side`` and the table ``trade_minutes``, in direct
query mode (no SPICE capacity to pay for; QuickSight queries RDS). The columns are declared
here because CloudFormation needs them; a test checks them against the real schema.

Prerequisites that CloudFormation cannot do (docs/infra.md): a QuickSight subscription in the
account and region, and QuickSight's access to Secrets Manager enabled for the database secret.
"""

from __future__ import annotations

from aws_cdk import Names, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_quicksight as quicksight
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.database import DATABASE_NAME, PORT

# QuickSight input types of each column, in the order the database returns them. DECIMAL columns
# are FLOAT in QuickSight: its FIXED decimals keep 4 places, fewer than BTC amounts have.
_MINUTE_COLUMNS = (("symbol", "STRING"), ("TIME", "DATETIME"))
DATA_SETS: dict[str, tuple[tuple[str, str], ...]] = {
    "trade_minutes": (
        *_MINUTE_COLUMNS,
        ("TOTAL_COUNT_BUY", "INTEGER"),
        ("TOTAL_COUNT_SELL", "INTEGER"),
        ("TOTAL_BTC_BUY", "DECIMAL"),
        ("TOTAL_BTC_SELL", "DECIMAL"),
        ("TOTAL_USD_BUY", "DECIMAL"),
        ("TOTAL_USD_SELL", "DECIMAL"),
        ("TRADES_BUY", "INTEGER"),
        ("TRADES_SELL", "INTEGER"),
        ("PRICE_OPEN", "DECIMAL"),
        ("PRICE_HIGH", "DECIMAL"),
        ("PRICE_LOW", "DECIMAL"),
        ("PRICE_CLOSE", "DECIMAL"),
        ("FIRST_AGG_ID", "INTEGER"),
        ("LAST_AGG_ID", "INTEGER"),
    ),
    "daily_totals": (
        ("symbol", "STRING"),
        ("DAY", "DATETIME"),
        # SUM() of an integer column is a DECIMAL in MySQL.
        ("TOTAL_COUNT_BUY", "DECIMAL"),
        ("TOTAL_COUNT_SELL", "DECIMAL"),
        ("TOTAL_COUNT", "DECIMAL"),
        ("TRADES_BUY", "DECIMAL"),
        ("TRADES_SELL", "DECIMAL"),
        ("TOTAL_BTC_BUY", "DECIMAL"),
        ("TOTAL_BTC_SELL", "DECIMAL"),
        ("TOTAL_USD_BUY", "DECIMAL"),
        ("TOTAL_USD_SELL", "DECIMAL"),
        ("AVG_PRICE_BUY", "DECIMAL"),
        ("AVG_PRICE_SELL", "DECIMAL"),
        ("MINUTES", "INTEGER"),
    ),
    "minute_prices": (*_MINUTE_COLUMNS, ("AVG_PRICE_BUY", "DECIMAL"), ("AVG_PRICE_SELL", "DECIMAL")),
    "minute_spread": (
        *_MINUTE_COLUMNS,
        ("TOTAL_USD_BUY", "DECIMAL"),
        ("TOTAL_USD_SELL", "DECIMAL"),
        ("USD_SPREAD", "DECIMAL"),
        ("USD_SPREAD_30M", "DECIMAL"),
    ),
    "trade_minutes_maker_side": (
        *_MINUTE_COLUMNS,
        ("TOTAL_COUNT_BUY", "INTEGER"),
        ("TOTAL_COUNT_SELL", "INTEGER"),
        ("TOTAL_BTC_BUY", "DECIMAL"),
        ("TOTAL_BTC_SELL", "DECIMAL"),
        ("TOTAL_USD_BUY", "DECIMAL"),
        ("TOTAL_USD_SELL", "DECIMAL"),
    ),
}

DATA_SOURCE_ACTIONS = [
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
    "quicksight:UpdateDataSource",
    "quicksight:DeleteDataSource",
    "quicksight:UpdateDataSourcePermissions",
]
DATA_SET_ACTIONS = [
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
    "quicksight:UpdateDataSet",
    "quicksight:DeleteDataSet",
    "quicksight:CreateIngestion",
    "quicksight:CancelIngestion",
    "quicksight:UpdateDataSetPermissions",
]
# What QuickSight's VPC connection role needs to place its network interfaces (QuickSight's guide).
VPC_CONNECTION_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:ModifyNetworkInterfaceAttribute",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
]


def construct_id(table: str) -> str:
    """``minute_spread`` -> ``MinuteSpread``."""
    return "".join(part.capitalize() for part in table.split("_"))


class QuickSightDataSets(Construct):
    """QuickSight's way into the VPC and the data sets over our views.

    Parameters
    ----------
    vpc, subnets
        Where QuickSight's network interfaces go (the database's isolated subnets).
    database
        The RDS instance (host and port of the data source).
    secret
        The database secret QuickSight signs in with (QuickSight must be allowed to read it).
    principal_arn
        The QuickSight user or group that owns the data source and data sets.

    Attributes
    ----------
    connections
        QuickSight's security group: admit it to the database.
    data_source
        The MySQL data source.
    data_sets
        Table or view name -> its data set.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        database: rds.IDatabaseInstance,
        secret: secretsmanager.ISecret,
        principal_arn: str,
    ) -> None:
        super().__init__(scope, construct_id_)
        stack = Stack.of(self)
        security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="QuickSight network interfaces: to the database only",
            allow_all_outbound=False,
        )
        # QuickSight's network interfaces are not stateful: replies from the database need a rule.
        for database_group in database.connections.security_groups:
            security_group.add_ingress_rule(database_group, ec2.Port.all_tcp(), "replies from the database")
        self.connections = ec2.Connections(security_groups=[security_group])

        role = iam.Role(
            self,
            "VpcConnectionRole",
            assumed_by=iam.ServicePrincipal("quicksight.amazonaws.com"),
            description="Lets QuickSight place its network interfaces in the database subnets",
        )
        role.add_to_policy(iam.PolicyStatement(actions=VPC_CONNECTION_ACTIONS, resources=["*"]))
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="QuickSight's documented VPC connection policy: the Describe actions have no "
                    "resource level, and QuickSight names the interfaces it creates",
                    applies_to=["Resource::*"],
                )
            ],
            apply_to_children=True,
        )
        vpc_connection = quicksight.CfnVPCConnection(
            self,
            "VpcConnection",
            aws_account_id=stack.account,
            vpc_connection_id=Names.unique_resource_name(self, max_length=100, separator="-"),
            name=f"{stack.stack_name} database",
            role_arn=role.role_arn,
            security_group_ids=[security_group.security_group_id],
            subnet_ids=vpc.select_subnets(subnet_type=subnets.subnet_type).subnet_ids,
        )

        def owner(actions: list[str]) -> list[quicksight.CfnDataSource.ResourcePermissionProperty]:
            return [
                quicksight.CfnDataSource.ResourcePermissionProperty(principal=principal_arn, actions=actions)
            ]

        self.data_source = quicksight.CfnDataSource(
            self,
            "DataSource",
            aws_account_id=stack.account,
            data_source_id=Names.unique_resource_name(self, max_length=128, separator="-"),
            name=f"{stack.stack_name} MySQL",
            type="MYSQL",
            data_source_parameters=quicksight.CfnDataSource.DataSourceParametersProperty(
                my_sql_parameters=quicksight.CfnDataSource.MySqlParametersProperty(
                    host=database.db_instance_endpoint_address,
                    port=PORT,  # a number: CloudFormation's endpoint attribute is a string
                    database=DATABASE_NAME,
                )
            ),
            credentials=quicksight.CfnDataSource.DataSourceCredentialsProperty(secret_arn=secret.secret_arn),
            vpc_connection_properties=quicksight.CfnDataSource.VpcConnectionPropertiesProperty(
                vpc_connection_arn=vpc_connection.attr_arn
            ),
            # The parameter group requires TLS.
            ssl_properties=quicksight.CfnDataSource.SslPropertiesProperty(disable_ssl=False),
            permissions=owner(DATA_SOURCE_ACTIONS),
        )

        self.data_sets: dict[str, quicksight.CfnDataSet] = {}
        for table, columns in DATA_SETS.items():
            data_set_scope = Construct(self, construct_id(table))
            self.data_sets[table] = quicksight.CfnDataSet(
                data_set_scope,
                "DataSet",
                aws_account_id=stack.account,
                data_set_id=Names.unique_resource_name(data_set_scope, max_length=128, separator="-"),
                name=f"{stack.stack_name} {table}",
                import_mode="DIRECT_QUERY",
                physical_table_map={
                    "Table": quicksight.CfnDataSet.PhysicalTableProperty(
                        relational_table=quicksight.CfnDataSet.RelationalTableProperty(
                            data_source_arn=self.data_source.attr_arn,
                            schema=DATABASE_NAME,
                            name=table,
                            input_columns=[
                                quicksight.CfnDataSet.InputColumnProperty(
                                    name=name, type=kind, sub_type="FLOAT" if kind == "DECIMAL" else None
                                )
                                for name, kind in columns
                            ],
                        )
                    )
                },
                permissions=[
                    quicksight.CfnDataSet.ResourcePermissionProperty(
                        principal=principal_arn, actions=DATA_SET_ACTIONS
                    )
                ],
            )
