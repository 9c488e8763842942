"""A synthesized CloudFormation template read as CloudFormation would deploy it.

``Stack.resolve`` turns the intrinsic functions the CDK writes (``Ref``, ``Fn::GetAtt``,
``Fn::Join``, ``Fn::Sub``, ``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap``, pseudo
parameters) into the strings CloudFormation would put there, with invented but well-formed
physical names: a bucket is named after its logical id, a secret's ARN ends in a random-looking
suffix, the account is ``ACCOUNT``. The network and permission models (``network.py``,
``permissions.py``) work on these strings, so an IAM statement can be evaluated against a real
object key and a security group rule compared with a group id.

An intrinsic this module does not know raises ``TemplateError`` instead of guessing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ACCOUNT = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"


class TemplateError(Exception):
    """Something in the template this model cannot read."""


@dataclass(frozen=True)
class Stack:
    """A template plus the stack's name and region: everything needed to resolve it."""

    template: dict[str, Any]
    name: str
    region: str

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: body for name, body in self.resources.items() if body["Type"] == kind}

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {})

    def path(self, logical_id: str) -> str:
        """The construct path (``aws:cdk:path``), the most readable name a resource has."""
        return self.resources[logical_id].get("Metadata", {}).get("aws:cdk:path", logical_id)

    def find(self, kind: str, path_part: str) -> list[str]:
        """Logical ids of the resources of ``kind`` whose construct path holds ``path_part``."""
        return [name for name in self.of_type(kind) if path_part in self.path(name)]

    # --- resolution ---------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by what CloudFormation would put there."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                target, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(target, attribute)
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part)) for part in self.resolve(parts))
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if key == "Fn::FindInMap":
                mapping, first, second = (self.resolve(part) for part in argument)
                return self.template["Mappings"][mapping][first][second]
            if key == "Fn::Base64":
                return self.resolve(argument)
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not modelled: {json.dumps(value)[:200]}")
        return {key: self.resolve(item) for key, item in value.items()}

    def text(self, value: Any) -> str:
        resolved = self.resolve(value)
        if not isinstance(resolved, str):
            raise TemplateError(f"expected a string, got {resolved!r}")
        return resolved

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": self.name,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{self.region}:{ACCOUNT}:stack/{self.name}/1",
            "AWS::NoValue": "",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return str(self.template["Parameters"][name].get("Default", f"param-{name}"))
        if name not in self.resources:
            raise TemplateError(f"Ref to {name}, which is not in the template")
        kind = self.resources[name]["Type"]
        physical = physical_name(name)
        if kind in ("AWS::SecretsManager::Secret",):
            return self.arn("secretsmanager", f"secret:{physical}-AbCdEf")
        if kind == "AWS::SecretsManager::SecretTargetAttachment":
            # The attachment's Ref is the ARN of the secret it completes with host and port.
            return self.text(self.props(name)["SecretId"])
        if kind == "AWS::SNS::Topic":
            return self.arn("sns", physical)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.{URL_SUFFIX}/{ACCOUNT}/{physical}"
        if kind == "AWS::MSK::Cluster":
            return self.get_att(name, "Arn")
        if kind == "AWS::EC2::SecurityGroup":
            return group_id(name)
        if kind in EC2_PREFIXES:
            return f"{EC2_PREFIXES[kind]}-{name}"
        if kind == "AWS::EC2::VPCEndpoint":
            return f"vpce-{physical}"
        return physical

    def get_att(self, name: str, attribute: str) -> Any:
        if name not in self.resources:
            raise TemplateError(f"Fn::GetAtt of {name}, which is not in the template")
        kind = self.resources[name]["Type"]
        physical = physical_name(name)
        if attribute == "Arn":
            return self._arn_of(name, kind, physical)
        if kind == "AWS::EC2::SecurityGroup" and attribute == "GroupId":
            return group_id(name)
        if kind == "AWS::RDS::DBInstance" and attribute == "Endpoint.Port":
            return str(self.props(name).get("Port", "3306"))
        if kind == "AWS::RDS::DBInstance" and attribute == "Endpoint.Address":
            return f"{physical}.abcdefghijkl.{self.region}.rds.{URL_SUFFIX}"
        if kind == "AWS::Serverless::Application" and attribute.startswith("Outputs."):
            return self.arn("lambda", f"function:{self.text(self.props(name)['Parameters']['functionName'])}")
        return f"{physical}.{attribute}"

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        where = f"{self.region if region else ''}:{ACCOUNT if account else ''}"
        return f"arn:{PARTITION}:{service}:{where}:{resource}"

    def _arn_of(self, name: str, kind: str, physical: str) -> str:
        if kind == "AWS::S3::Bucket":
            return f"arn:{PARTITION}:s3:::{physical}"
        if kind == "AWS::Lambda::Function":
            return self.arn("lambda", f"function:{physical}")
        if kind == "AWS::SQS::Queue":
            return self.arn("sqs", physical)
        if kind == "AWS::IAM::Role":
            return self.arn("iam", f"role/{physical}", region=False)
        if kind == "AWS::Logs::LogGroup":
            return self.arn("logs", f"log-group:{physical}:*")
        if kind == "AWS::MSK::Cluster":
            return self.arn("kafka", f"cluster/{physical}/11111111-2222-3333-4444-555555555555-2")
        if kind == "AWS::SNS::Topic":
            return self.arn("sns", physical)
        if kind == "AWS::QuickSight::VPCConnection":
            return self.arn("quicksight", f"vpcConnection/{physical}")
        if kind == "AWS::QuickSight::DataSource":
            return self.arn("quicksight", f"datasource/{physical}")
        if kind == "AWS::MSK::Configuration":
            return self.arn("kafka", f"configuration/{physical}/1")
        raise TemplateError(f"the ARN of a {kind} ({name}) is not modelled")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            key = match[1]
            if key in variables:
                return str(self.resolve(variables[key]))
            if "." in key and not key.startswith("AWS::"):
                target, attribute = key.split(".", 1)
                return str(self.get_att(target, attribute))
            return str(self.ref(key))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    # --- helpers the models share -------------------------------------------------------

    def refs_in(self, value: Any) -> Iterator[str]:
        """Logical ids a property refers to (``Ref`` / ``Fn::GetAtt`` / ``${X.Attr}``), in order."""
        if isinstance(value, list):
            for item in value:
                yield from self.refs_in(item)
        elif isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in self.resources:
                yield value["Ref"]
            elif set(value) == {"Fn::GetAtt"}:
                target = value["Fn::GetAtt"]
                yield target[0] if isinstance(target, list) else target.split(".")[0]
            else:
                for item in value.values():
                    yield from self.refs_in(item)


# EC2 ids keep the logical id readable: "subnet-NetworkVpcIsolatedSubnet1…".
EC2_PREFIXES = {
    "AWS::EC2::Subnet": "subnet",
    "AWS::EC2::RouteTable": "rtb",
    "AWS::EC2::InternetGateway": "igw",
    "AWS::EC2::VPC": "vpc",
    "AWS::EC2::Instance": "i",
}


def physical_name(logical_id: str) -> str:
    """What CloudFormation would name an unnamed resource: derived from its logical id, lower case."""
    return f"cryptotrades-{logical_id.lower()}"[:63]


def group_id(logical_id: str) -> str:
    return f"sg-{logical_id}"
