"""A small model of the VPC a template deploys, to ask "can A reach B on port P?".

Built from the template only (``template.Stack``), as AWS would wire it:

- **Subnets** and their route tables: a route to an internet gateway gives the internet to a
  resource with a public address; no route out means nothing beyond the VPC and its endpoints.
  Every subnet reaches every other over the VPC's local route.
- **Security groups** with their rules: inline ``SecurityGroupIngress``/``SecurityGroupEgress``
  and the separate ``AWS::EC2::SecurityGroupIngress``/``Egress`` resources the CDK writes for
  rules between groups. A group with no inline egress gets EC2's default allow-all egress; an
  inline egress list replaces it (the CDK writes a "Disallow all traffic" placeholder to say
  none). Groups are stateful: replies pass. QuickSight's network interfaces are the exception
  (QuickSight's documentation): replies need an inbound rule on its group.
- **VPC endpoints**: a gateway endpoint serves the route tables it lists; an interface
  endpoint has network interfaces in its subnets behind its security group, and with private
  DNS (and the VPC's DNS support and hostnames on) the service's usual name resolves to them.
  Without private DNS the usual name resolves to public addresses: the internet path is needed.
- **A Lambda function in a VPC** talks to the VPC through its network interfaces, which never
  get a public address; its logs do not go that way: the Lambda service collects stdout and
  writes it to CloudWatch Logs with the function's role, so "logging works" is a permission
  question (see ``permissions.py``), not a network path. A function outside a VPC reaches AWS's
  public endpoints and nothing inside the VPC.

Each answer is a ``Reach``: yes or no, and why in words a failing assertion can show.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.model.template import Stack, TemplateError, group_id

Net = ipaddress.IPv4Network
ANYWHERE = ipaddress.ip_network("0.0.0.0/0")
EPHEMERAL = (1024, 65535)  # the ports replies come back to
HTTPS = 443


@dataclass(frozen=True)
class Rule:
    """One security group rule, its peer either a group id, an IPv4 range or a prefix list."""

    protocol: str  # "-1" (all), "tcp", "udp", "icmp"
    ports: tuple[int, int]
    group: str | None = None
    cidr: Net | None = None
    prefix_list: str | None = None
    description: str = ""

    def covers(self, port: int, protocol: str = "tcp") -> bool:
        if self.protocol in ("-1", "all"):
            return True
        return self.protocol == protocol and self.ports[0] <= port <= self.ports[1]

    def covers_range(self, low: int, high: int) -> bool:
        return self.protocol in ("-1", "all") or (
            self.protocol == "tcp" and self.ports[0] <= low and high <= self.ports[1]
        )


@dataclass
class SecurityGroup:
    group_id: str
    logical_id: str
    ingress: list[Rule] = field(default_factory=list)
    egress: list[Rule] = field(default_factory=list)


@dataclass(frozen=True)
class Subnet:
    logical_id: str
    cidr: Net
    route_table: str
    internet: bool  # a 0.0.0.0/0 route to an internet gateway


@dataclass(frozen=True)
class Endpoint:
    logical_id: str
    service: str  # the last part of the service name: "s3", "secretsmanager"
    kind: str  # "Gateway" | "Interface"
    route_tables: frozenset[str]
    subnets: tuple[str, ...]
    groups: tuple[str, ...]
    private_dns: bool


@dataclass(frozen=True)
class Node:
    """Something with network interfaces: a function, an instance, a database, a VPC connection."""

    name: str  # the construct path: what a reader recognises
    logical_id: str
    kind: str
    subnets: tuple[str, ...]
    groups: tuple[str, ...]
    in_vpc: bool = True
    public_address: bool = False
    stateful: bool = True  # False: replies need an inbound rule (QuickSight)


@dataclass(frozen=True)
class Reach:
    ok: bool
    why: str

    def __bool__(self) -> bool:
        return self.ok


class Network:
    """The VPC of one template: subnets, groups, endpoints and the nodes in it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.vpc_dns = self._vpc_dns()
        self.subnets = self._subnets()
        self.groups = self._groups()
        self.endpoints = self._endpoints()
        self.nodes = self._nodes()

    # --- questions ----------------------------------------------------------------------

    def node(self, logical_id: str) -> Node:
        return self.nodes[logical_id]

    def find(self, path_part: str) -> Node:
        found = [node for node in self.nodes.values() if path_part in node.name]
        if len(found) != 1:
            raise TemplateError(f"expected one node at *{path_part}*, found {[n.name for n in found]}")
        return found[0]

    def connect(self, source: Node, target: Node, port: int) -> Reach:
        """Can ``source`` open a TCP connection to ``target`` on ``port`` (and get the replies)?"""
        where = f"{source.name} -> {target.name}:{port}"
        if not (source.in_vpc and target.in_vpc):
            return Reach(
                False, f"{where}: {source.name if not source.in_vpc else target.name} is outside the VPC"
            )
        out = self._egress_allows(source, port, groups=target.groups, subnets=target.subnets)
        if not out:
            return Reach(False, f"{where}: no egress rule of {list(source.groups)} lets it out")
        inbound = self._ingress_allows(target, port, groups=source.groups, subnets=source.subnets)
        if not inbound:
            return Reach(
                False, f"{where}: no ingress rule of {list(target.groups)} admits {list(source.groups)}"
            )
        if not source.stateful and not self._replies_admitted(source, target):
            return Reach(False, f"{where}: {source.name} is not stateful and no rule admits the replies")
        return Reach(True, f"{where}: {out.description or 'egress'} / {inbound.description or 'ingress'}")

    def internet(self, source: Node, port: int) -> Reach:
        """Can ``source`` reach an address on the internet on ``port``?"""
        where = f"{source.name} -> internet:{port}"
        if not source.in_vpc:
            return Reach(True, f"{where}: outside the VPC, through the service's own network")
        if not source.public_address:
            return Reach(False, f"{where}: no public address (and no NAT gateway in this model)")
        routed = [s for s in source.subnets if self.subnets[s].internet]
        if len(routed) != len(source.subnets):
            return Reach(False, f"{where}: subnet without a route to an internet gateway")
        rule = self._egress_rule(source, port, lambda r: r.cidr is not None and r.cidr == ANYWHERE)
        if rule is None:
            return Reach(False, f"{where}: no egress rule to 0.0.0.0/0 on {port}")
        return Reach(True, f"{where}: public address, internet gateway route")

    def gateway_endpoint(self, source: Node, service: str) -> Reach:
        where = f"{source.name} -> {service} (gateway endpoint)"
        endpoints = [e for e in self.endpoints.values() if e.kind == "Gateway" and e.service == service]
        if not endpoints:
            return Reach(False, f"{where}: no {service} gateway endpoint")
        if not source.in_vpc:
            return Reach(False, f"{where}: outside the VPC")
        tables = {self.subnets[s].route_table for s in source.subnets}
        missing = tables - set().union(*(e.route_tables for e in endpoints))
        if missing:
            return Reach(False, f"{where}: route tables {sorted(missing)} have no route to the endpoint")
        rule = self._egress_rule(source, HTTPS, lambda r: r.cidr == ANYWHERE or r.prefix_list is not None)
        if rule is None:
            return Reach(False, f"{where}: no egress rule to the service's prefix list on 443")
        return Reach(True, f"{where}: route tables {sorted(tables)}")

    def interface_endpoint(self, source: Node, service: str, *, endpoint_name: bool = False) -> Reach:
        """Can ``source`` call ``service`` through its interface endpoint on 443?

        ``endpoint_name``: the caller uses the endpoint's own DNS name (``vpce-….service…``),
        which resolves to the endpoint without private DNS; otherwise the service's usual name.
        """
        where = f"{source.name} -> {service} (interface endpoint)"
        endpoints = [e for e in self.endpoints.values() if e.kind == "Interface" and e.service == service]
        if len(endpoints) != 1:
            return Reach(False, f"{where}: {len(endpoints)} {service} interface endpoints")
        (endpoint,) = endpoints
        if not endpoint_name and not (endpoint.private_dns and self.vpc_dns):
            return Reach(False, f"{where}: the usual name does not resolve to the endpoint (private DNS off)")
        target = Node(
            name=f"{service} endpoint",
            logical_id=endpoint.logical_id,
            kind="AWS::EC2::VPCEndpoint",
            subnets=endpoint.subnets,
            groups=endpoint.groups,
        )
        reach = self.connect(source, target, HTTPS)
        return Reach(reach.ok, reach.why)

    def database_port(self, database: Node) -> int:
        return int(self.stack.text(self.stack.props(database.logical_id).get("Port", "3306")))

    def nodes_of(self, *kinds: str) -> list[Node]:
        return [node for node in self.nodes.values() if node.kind in kinds]

    # --- rules --------------------------------------------------------------------------

    def _peer_matches(self, rule: Rule, groups: Iterable[str], subnets: Iterable[str]) -> bool:
        if rule.group is not None:
            return rule.group in groups
        if rule.cidr is not None:
            # Every address the peer may have lies in the range: its subnets are inside it.
            ranges = [self.subnets[s].cidr for s in subnets]
            return bool(ranges) and all(r.subnet_of(rule.cidr) for r in ranges)
        return False

    def _egress_allows(
        self, node: Node, port: int, *, groups: Iterable[str], subnets: Iterable[str]
    ) -> Rule | None:
        groups, subnets = list(groups), list(subnets)
        return self._egress_rule(node, port, lambda r: self._peer_matches(r, groups, subnets))

    def _egress_rule(self, node: Node, port: int, peer: Any) -> Rule | None:
        for group in node.groups:
            for rule in self.groups[group].egress:
                if rule.covers(port) and peer(rule):
                    return rule
        return None

    def _ingress_allows(
        self, node: Node, port: int, *, groups: Iterable[str], subnets: Iterable[str]
    ) -> Rule | None:
        groups, subnets = list(groups), list(subnets)
        for group in node.groups:
            for rule in self.groups[group].ingress:
                if rule.covers(port) and self._peer_matches(rule, groups, subnets):
                    return rule
        return None

    def _replies_admitted(self, node: Node, peer: Node) -> bool:
        for group in node.groups:
            for rule in self.groups[group].ingress:
                if rule.covers_range(*EPHEMERAL) and self._peer_matches(rule, peer.groups, peer.subnets):
                    return True
        return False

    # --- building -----------------------------------------------------------------------

    def _vpc_dns(self) -> bool:
        vpcs = self.stack.of_type("AWS::EC2::VPC")
        if len(vpcs) != 1:
            raise TemplateError(f"expected one VPC, found {sorted(vpcs)}")
        (props,) = (body["Properties"] for body in vpcs.values())
        return bool(props.get("EnableDnsSupport", True)) and bool(props.get("EnableDnsHostnames", False))

    def _subnets(self) -> dict[str, Subnet]:
        stack = self.stack
        gateways = set(stack.of_type("AWS::EC2::InternetGateway"))
        table_of = {
            stack.text(body["Properties"]["SubnetId"]): stack.text(body["Properties"]["RouteTableId"])
            for body in stack.of_type("AWS::EC2::SubnetRouteTableAssociation").values()
        }
        internet_tables = set()
        for body in stack.of_type("AWS::EC2::Route").values():
            props = body["Properties"]
            to_gateway = "GatewayId" in props and set(stack.refs_in(props["GatewayId"])) & gateways
            if props.get("DestinationCidrBlock") == "0.0.0.0/0" and to_gateway:
                internet_tables.add(stack.text(props["RouteTableId"]))
        subnets = {}
        for name, body in stack.of_type("AWS::EC2::Subnet").items():
            table = table_of.get(stack.ref(name))
            if table is None:
                raise TemplateError(f"subnet {name} has no route table association (the VPC's main table)")
            subnets[stack.ref(name)] = Subnet(
                logical_id=name,
                cidr=ipaddress.ip_network(body["Properties"]["CidrBlock"]),
                route_table=table,
                internet=table in internet_tables,
            )
        return subnets

    def _groups(self) -> dict[str, SecurityGroup]:
        stack = self.stack
        groups: dict[str, SecurityGroup] = {}
        for name, body in stack.of_type("AWS::EC2::SecurityGroup").items():
            props = body["Properties"]
            group = SecurityGroup(group_id=group_id(name), logical_id=name)
            group.ingress = [
                self._rule(r, "SourceSecurityGroupId", "SourcePrefixListId")
                for r in props.get("SecurityGroupIngress", [])
            ]
            if "SecurityGroupEgress" in props:
                group.egress = [
                    self._rule(r, "DestinationSecurityGroupId", "DestinationPrefixListId")
                    for r in props["SecurityGroupEgress"]
                ]
            else:  # EC2's default rule, removed only by an inline egress list
                group.egress = [
                    Rule(protocol="-1", ports=(0, 65535), cidr=ANYWHERE, description="EC2 default egress")
                ]
            groups[group.group_id] = group
        for kind, peer_key, prefix_key, direction in (
            ("AWS::EC2::SecurityGroupIngress", "SourceSecurityGroupId", "SourcePrefixListId", "ingress"),
            (
                "AWS::EC2::SecurityGroupEgress",
                "DestinationSecurityGroupId",
                "DestinationPrefixListId",
                "egress",
            ),
        ):
            for name, body in stack.of_type(kind).items():
                props = body["Properties"]
                owner = stack.text(props["GroupId"])
                if owner not in groups:
                    raise TemplateError(f"{name} adds a rule to {owner}, a group not in the template")
                getattr(groups[owner], direction).append(self._rule(props, peer_key, prefix_key))
        return groups

    def _rule(self, props: dict[str, Any], peer_key: str, prefix_key: str) -> Rule:
        stack = self.stack
        protocol = str(stack.resolve(props.get("IpProtocol", "-1")))
        protocol = {"6": "tcp", "17": "udp", "1": "icmp"}.get(protocol, protocol)
        low, high = props.get("FromPort", 0), props.get("ToPort", 65535)
        ports = (int(stack.resolve(low)), int(stack.resolve(high)))
        description = str(stack.resolve(props.get("Description", "")))
        if peer_key in props:
            return Rule(protocol, ports, group=stack.text(props[peer_key]), description=description)
        if "CidrIp" in props:
            return Rule(
                protocol,
                ports,
                cidr=ipaddress.ip_network(stack.text(props["CidrIp"])),
                description=description,
            )
        if prefix_key in props:
            return Rule(protocol, ports, prefix_list=stack.text(props[prefix_key]), description=description)
        if "CidrIpv6" in props:
            return Rule("none", (0, -1), description="IPv6 (no IPv6 in this VPC)")
        raise TemplateError(f"a security group rule with no peer: {props}")

    def _endpoints(self) -> dict[str, Endpoint]:
        stack = self.stack
        endpoints = {}
        for name, body in stack.of_type("AWS::EC2::VPCEndpoint").items():
            props = body["Properties"]
            endpoints[name] = Endpoint(
                logical_id=name,
                service=stack.text(props["ServiceName"]).rsplit(".", 1)[-1],
                kind=props.get("VpcEndpointType", "Gateway"),
                route_tables=frozenset(stack.text(t) for t in props.get("RouteTableIds", [])),
                subnets=tuple(stack.text(s) for s in props.get("SubnetIds", [])),
                groups=tuple(stack.text(g) for g in props.get("SecurityGroupIds", [])),
                private_dns=bool(props.get("PrivateDnsEnabled", False)),
            )
        return endpoints

    def _nodes(self) -> dict[str, Node]:
        stack = self.stack
        nodes: dict[str, Node] = {}

        def add(name: str, kind: str, subnets: Any, groups: Any, **extra: Any) -> None:
            nodes[name] = Node(
                name=stack.path(name),
                logical_id=name,
                kind=kind,
                subnets=tuple(stack.text(s) for s in subnets),
                groups=tuple(stack.text(g) for g in groups),
                **extra,
            )

        for name, body in stack.of_type("AWS::Lambda::Function").items():
            vpc = body["Properties"].get("VpcConfig")
            if vpc:
                add(name, "function", vpc["SubnetIds"], vpc["SecurityGroupIds"])
            else:
                add(name, "function", [], [], in_vpc=False)
        for name, body in stack.of_type("AWS::EC2::Instance").items():
            props = body["Properties"]
            interfaces = props.get("NetworkInterfaces") or [
                {"SubnetId": props["SubnetId"], "GroupSet": props.get("SecurityGroupIds", [])}
            ]
            (interface,) = interfaces
            subnet = stack.text(interface["SubnetId"])
            public = interface.get("AssociatePublicIpAddress")
            if public is None:
                public = self.stack.props(self.subnets[subnet].logical_id).get("MapPublicIpOnLaunch", False)
            add(name, "instance", [subnet], interface.get("GroupSet", []), public_address=bool(public))
        for name, body in stack.of_type("AWS::Serverless::Application").items():
            parameters = body["Properties"].get("Parameters", {})
            if "vpcSecurityGroupIds" in parameters:  # a Secrets Manager rotation function
                add(
                    name,
                    "rotation",
                    stack.text(parameters["vpcSubnetIds"]).split(","),
                    stack.text(parameters["vpcSecurityGroupIds"]).split(","),
                )
        for name, body in stack.of_type("AWS::RDS::DBInstance").items():
            props = body["Properties"]
            (subnet_group,) = stack.refs_in(props["DBSubnetGroupName"])
            add(name, "database", stack.props(subnet_group)["SubnetIds"], props["VPCSecurityGroups"])
        for name, body in stack.of_type("AWS::QuickSight::VPCConnection").items():
            props = body["Properties"]
            add(name, "quicksight", props["SubnetIds"], props["SecurityGroupIds"], stateful=False)
        for name, body in stack.of_type("AWS::MSK::Cluster").items():
            info = body["Properties"]["BrokerNodeGroupInfo"]
            add(name, "kafka", info["ClientSubnets"], info["SecurityGroups"])
        for node in nodes.values():
            for group in node.groups:
                if group not in self.groups:
                    raise TemplateError(f"{node.name} is in {group}, a group not in the template")
        return nodes
