"""The wiring check: over each synthesized template, can every part reach what it must, and
does nothing else reach the database or the Secrets Manager endpoint?

The network is modelled from the template alone (tests/model/network.py: subnets and route
tables, security groups and their rules wherever written, VPC endpoints, DNS), and the table
below says what each compute resource needs. Rows are found by construct path, and by rule
for what other constructs add: every secret rotation, every QuickSight VPC connection, and
every function allowed to read a database secret (by the role's policies, evaluated in
tests/model/permissions.py) must reach the endpoint and the database.

On the template of issue 9 (before the fix) this fails: the aggregator, the schema function and
the rotation cannot reach the Secrets Manager endpoint (its group admitted nobody).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.fixtures.infra import CONFIGURATIONS, Synth
from tests.model.network import HTTPS, Network, Node, Reach
from tests.model.permissions import Permissions
from tests.model.template import Stack

MYSQL = 3306
BINANCE_STREAM = 9443  # wss://stream.binance.com:9443 (binance/streams.py); REST and fallbacks on 443
MSK_TLS = 9094


@dataclass(frozen=True)
class Deployment:
    stack: Stack
    network: Network
    permissions: Permissions

    @property
    def database(self) -> Node:
        (database,) = self.network.nodes_of("database")
        return database

    def database_secrets(self) -> set[str]:
        """ARNs of the secrets that sign in to the database: attached to it, or rotated by a rotation."""
        stack = self.stack
        found = {
            stack.text(body["Properties"]["SecretId"])
            for body in stack.of_type("AWS::SecretsManager::SecretTargetAttachment").values()
            if self.database.logical_id in set(stack.refs_in(body["Properties"]["TargetId"]))
        }
        for body in stack.of_type("AWS::SecretsManager::RotationSchedule").values():
            found.add(stack.text(body["Properties"]["SecretId"]))
        return found

    def reads_database_secret(self, node: Node) -> bool:
        if node.kind != "function":
            return False
        role = self.permissions.role_of(node.logical_id)
        return any(
            self.permissions.allowed(role, "secretsmanager:GetSecretValue", secret)
            for secret in self.database_secrets()
        )


_DEPLOYMENTS: dict[str, Deployment] = {}  # one model per synth: building it resolves every resource


@pytest.fixture(params=CONFIGURATIONS)
def deployment(request: pytest.FixtureRequest) -> Deployment:
    synth: Synth = request.getfixturevalue(request.param)
    key = str(synth.outdir)
    if key not in _DEPLOYMENTS:
        stack = synth.stack
        _DEPLOYMENTS[key] = Deployment(stack, Network(stack), Permissions(stack))
    return _DEPLOYMENTS[key]


# --- what each part must reach ---------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    what: str
    check: Callable[[Deployment, Node], Reach]


def secrets_manager(d: Deployment, node: Node) -> Reach:
    # A rotation is given the endpoint's own name (its "endpoint" parameter); code of ours uses
    # the usual name, which only private DNS points at the endpoint.
    return d.network.interface_endpoint(node, "secretsmanager", endpoint_name=node.kind == "rotation")


def database(d: Deployment, node: Node) -> Reach:
    return d.network.connect(node, d.database, d.network.database_port(d.database))


def s3_gateway(d: Deployment, node: Node) -> Reach:
    return d.network.gateway_endpoint(node, "s3")


def internet(port: int) -> Callable[[Deployment, Node], Reach]:
    return lambda d, node: d.network.internet(node, port)


def kafka(d: Deployment, node: Node) -> Reach:
    brokers = d.network.nodes_of("kafka")
    if not brokers:  # the broker runs on the host itself: loopback and its own address
        return Reach(True, f"{node.name}: the broker is local")
    (cluster,) = brokers
    return d.network.connect(node, cluster, MSK_TLS)


def lambda_logs(d: Deployment, node: Node) -> Reach:
    """Not a network path: the Lambda service ships stdout to the function's log group with its role."""
    props = d.stack.props(node.logical_id)
    group = props.get("LoggingConfig", {}).get("LogGroup")
    if group is None:
        return Reach(False, f"{node.name}: no log group of its own (LoggingConfig.LogGroup)")
    (group_id,) = d.stack.refs_in(group)
    group_arn = d.stack.get_att(group_id, "Arn").removesuffix(":*")
    role = d.permissions.role_of(node.logical_id)
    stream = f"{group_arn}:log-stream:2026/01/01/[$LATEST]0123456789abcdef"
    missing = [
        action
        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
        if not d.permissions.allowed(role, action, stream)
    ]
    if missing:
        return Reach(False, f"{node.name}: its role may not {missing} on {group_arn}")
    return Reach(True, f"{node.name}: through the Lambda service into {group_arn}")


SECRETS = Need("Secrets Manager (interface endpoint, 443)", secrets_manager)
DATABASE = Need("the database (3306)", database)
S3 = Need("S3 (gateway endpoint)", s3_gateway)
LOGS = Need("CloudWatch Logs (through the Lambda service)", lambda_logs)
# The host's calls to AWS APIs without an endpoint in the VPC (cfn-signal, Session Manager,
# CloudWatch Logs, kafka:GetBootstrapBrokers) and its downloads all leave over 443.
AWS_APIS = Need(
    "CloudFormation, SSM, CloudWatch Logs, MSK APIs, dnf and Apache mirrors (internet, 443)", internet(HTTPS)
)
BINANCE = Need("Binance's stream (internet, 9443)", internet(BINANCE_STREAM))
KAFKA = Need("the Kafka brokers", kafka)

# Construct path -> what it must reach. Rules below add rows for what has no fixed path.
NEEDS: dict[str, tuple[Need, ...]] = {
    "/Aggregator/Function/Resource": (S3, SECRETS, DATABASE, LOGS),
    "/Schema/Function/Resource": (SECRETS, DATABASE, LOGS),
    "/KafkaHost/Instance": (AWS_APIS, BINANCE, S3, KAFKA),
}


def required(d: Deployment) -> list[tuple[Node, Need]]:
    rows: list[tuple[Node, Need]] = []
    for path, needs in NEEDS.items():
        node = d.network.find(path)
        rows.extend((node, need) for need in needs)
    for node in d.network.nodes.values():
        if node.kind == "rotation":
            rows.extend([(node, SECRETS), (node, DATABASE)])
        elif node.kind == "quicksight":
            rows.append((node, DATABASE))
        elif d.reads_database_secret(node) and not any(path in node.name for path in NEEDS):
            rows.extend([(node, SECRETS), (node, DATABASE), (node, LOGS)])
    return rows


def test_every_part_reaches_what_it_must(deployment: Deployment) -> None:
    failures = [
        f"{node.name} -> {need.what}: {reach.why}"
        for node, need in required(deployment)
        if not (reach := need.check(deployment, node))
    ]
    assert not failures, "\n".join(failures)


def test_the_table_covers_rotations_quicksight_and_every_secret_reader(deployment: Deployment) -> None:
    rows = required(deployment)
    kinds = {node.kind for node, _ in rows}
    assert {"rotation", "function", "instance"} <= kinds
    readers = {
        node.name for node in deployment.network.nodes.values() if deployment.reads_database_secret(node)
    }
    assert readers, "no function may read a database secret: the permission model found nothing"
    assert readers <= {node.name for node, need in rows if need is SECRETS}
    if deployment.network.nodes_of("quicksight"):
        assert any(node.kind == "quicksight" and need is DATABASE for node, need in rows)


def test_nothing_else_reaches_the_database(deployment: Deployment) -> None:
    network, db = deployment.network, deployment.database
    port = network.database_port(db)
    allowed = {node.name for node, need in required(deployment) if need is DATABASE}
    reaching = {
        node.name for node in network.nodes.values() if node is not db and network.connect(node, db, port)
    }
    assert reaching - allowed == set(), f"reach the database without needing it: {sorted(reaching - allowed)}"
    # And on no other port: the database's groups admit the database port only.
    for node in network.nodes.values():
        for other in (22, 80, 443, 33060):
            assert not network.connect(node, db, other), f"{node.name} reaches the database on {other}"


def test_nothing_else_reaches_the_secrets_endpoint(deployment: Deployment) -> None:
    network = deployment.network
    allowed = {node.name for node, need in required(deployment) if need is SECRETS}
    reaching = {
        node.name
        for node in network.nodes.values()
        if network.interface_endpoint(node, "secretsmanager", endpoint_name=True)
    }
    assert reaching - allowed == set(), (
        f"reach the Secrets Manager endpoint without needing it: {sorted(reaching - allowed)}"
    )


def test_whoever_may_read_a_secret_can_also_reach_the_endpoint(deployment: Deployment) -> None:
    # The blocker of issue 9, as a rule: a grant without the way in times out at run time.
    stack, permissions, network = deployment.stack, deployment.permissions, deployment.network
    secrets = {stack.ref(name) for name in stack.of_type("AWS::SecretsManager::Secret")}
    for node in network.nodes_of("function"):
        if not node.in_vpc:
            continue
        role = permissions.role_of(node.logical_id)
        readable = [s for s in secrets if permissions.allowed(role, "secretsmanager:GetSecretValue", s)]
        if readable:
            assert network.interface_endpoint(node, "secretsmanager"), (node.name, readable)


def test_the_database_and_the_functions_have_no_way_to_the_internet(deployment: Deployment) -> None:
    network = deployment.network
    for node in network.nodes.values():
        if node.kind in ("database", "rotation", "quicksight", "kafka") or (
            node.kind == "function" and node.in_vpc
        ):
            assert not network.internet(node, HTTPS), node.name


# --- the model itself, on small templates with known answers ---------------------------------


def tiny_template(
    *, endpoint_ingress: bool, private_dns: bool = True, inline_egress: list | None = None
) -> Stack:
    """A VPC with one isolated subnet, a function, a database and a Secrets Manager endpoint."""

    def group(name: str, egress: list | None = None) -> dict:
        props: dict = {"GroupDescription": name, "VpcId": {"Ref": "Vpc"}}
        if egress is not None:
            props["SecurityGroupEgress"] = egress
        return {"Type": "AWS::EC2::SecurityGroup", "Properties": props}

    resources = {
        "Vpc": {
            "Type": "AWS::EC2::VPC",
            "Properties": {"CidrBlock": "10.0.0.0/16", "EnableDnsHostnames": True},
        },
        "Subnet": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"CidrBlock": "10.0.1.0/24", "VpcId": {"Ref": "Vpc"}},
        },
        "Table": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
        "Association": {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {"SubnetId": {"Ref": "Subnet"}, "RouteTableId": {"Ref": "Table"}},
        },
        "FunctionGroup": group("function", inline_egress),
        "EndpointGroup": group("endpoint"),
        "Endpoint": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "ServiceName": "com.amazonaws.eu-west-1.secretsmanager",
                "VpcEndpointType": "Interface",
                "SubnetIds": [{"Ref": "Subnet"}],
                "SecurityGroupIds": [{"Fn::GetAtt": ["EndpointGroup", "GroupId"]}],
                "PrivateDnsEnabled": private_dns,
            },
        },
        "Function": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "VpcConfig": {
                    "SubnetIds": [{"Ref": "Subnet"}],
                    "SecurityGroupIds": [{"Fn::GetAtt": ["FunctionGroup", "GroupId"]}],
                }
            },
        },
    }
    if endpoint_ingress:
        resources["Rule"] = {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {
                "GroupId": {"Fn::GetAtt": ["EndpointGroup", "GroupId"]},
                "SourceSecurityGroupId": {"Fn::GetAtt": ["FunctionGroup", "GroupId"]},
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
            },
        }
    return Stack({"Resources": resources}, "Tiny", "eu-west-1")


def test_the_model_says_an_endpoint_without_an_ingress_rule_admits_nobody() -> None:
    closed = Network(tiny_template(endpoint_ingress=False))
    reach = closed.interface_endpoint(closed.node("Function"), "secretsmanager")
    assert not reach and "no ingress rule" in reach.why
    open_ = Network(tiny_template(endpoint_ingress=True))
    assert open_.interface_endpoint(open_.node("Function"), "secretsmanager")


def test_the_model_needs_private_dns_for_the_usual_name_only() -> None:
    network = Network(tiny_template(endpoint_ingress=True, private_dns=False))
    function = network.node("Function")
    assert not network.interface_endpoint(function, "secretsmanager")
    assert network.interface_endpoint(function, "secretsmanager", endpoint_name=True)


def test_the_model_knows_an_inline_egress_list_replaces_the_default() -> None:
    placeholder = [{"CidrIp": "255.255.255.255/32", "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86}]
    network = Network(tiny_template(endpoint_ingress=True, inline_egress=placeholder))
    reach = network.interface_endpoint(network.node("Function"), "secretsmanager")
    assert not reach and "no egress rule" in reach.why
