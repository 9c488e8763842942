"""The IAM roles a template deploys, and a real policy evaluator to ask what each may do.

Every role's policies are collected as AWS would attach them: its inline ``Policies``, the
``AWS::IAM::Policy`` and ``AWS::IAM::ManagedPolicy`` resources that name it, and the AWS
managed policies in ``ManagedPolicyArns`` (their documents from moto's copy of AWS's managed
policies, the only offline source). Intrinsics are resolved (``template.Stack``), so a
statement is compared with the ARN of a real object key, secret or queue.

The evaluation is principalmapper's local policy simulation
(``principalmapper.querying.query_interface.local_check_authorization_full``): explicit denies
first, resource policies (bucket policies, secret resource policies), then the role's
policies, with wildcards, ``NotAction``/``NotResource`` and condition operators. A request
carries the context keys every SDK call here has: HTTPS (``aws:SecureTransport``) and TLS 1.3.

principalmapper's last release (1.1.5, 2022) imports ``Mapping`` from ``collections``, which
Python 3.10 removed: the two names are put back, as aliases of ``collections.abc``, before the
import. ``tests/unit/test_infra_permissions.py`` checks the evaluator on known answers
(object-key prefixes, ``NotResource``, a Deny with a condition) so we know what we rely on.
"""

from __future__ import annotations

import collections
import collections.abc
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tests.model.template import ACCOUNT, Stack, TemplateError

for _name in ("Mapping", "MutableMapping"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

from principalmapper.common.nodes import Node  # noqa: E402 (after the compatibility aliases)
from principalmapper.common.policies import Policy  # noqa: E402
from principalmapper.querying.query_interface import local_check_authorization_full  # noqa: E402

# What every call made by an AWS SDK over HTTPS carries.
REQUEST_CONTEXT = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}


@cache
def aws_managed_policy(name: str) -> dict[str, Any]:
    """The document of an AWS managed policy, by name (moto keeps AWS's published versions)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    documents = json.loads(aws_managed_policies_data)
    if name not in documents:
        raise TemplateError(f"AWS managed policy {name} is not in moto's copy")
    return documents[name]["Document"]


def as_iam_stores_it(document: dict[str, Any]) -> dict[str, Any]:
    """A policy document with its condition values as strings, as IAM keeps them (``1.2`` -> ``"1.2"``)."""

    def text(value: Any) -> Any:
        if isinstance(value, list):
            return [text(item) for item in value]
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else str(value)

    statements = document["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    normalised = []
    for statement in statements:
        statement = dict(statement)
        if "Condition" in statement:
            statement["Condition"] = {
                operator: {key: text(value) for key, value in block.items()}
                for operator, block in statement["Condition"].items()
            }
        normalised.append(statement)
    return {**document, "Statement": normalised}


@dataclass
class Role:
    logical_id: str
    path: str  # the construct path
    arn: str
    trust: dict[str, Any]
    documents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (where, document)

    def node(self) -> Node:
        policies = [Policy(self.arn, where, document) for where, document in self.documents]
        return Node(
            self.arn,
            f"AROA{self.logical_id[:16].upper()}",
            policies,
            [],
            self.trust,
            None,
            0,
            False,
            False,
            None,
            False,
            {},
        )


class Permissions:
    """Roles and resource policies of one template, and the question "may this role do that?"."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.roles = self._roles()
        self.resource_policies = self._resource_policies()

    def allowed(self, role: str, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
        """May ``role`` (a logical id) call ``action`` on ``resource`` (an ARN)?"""
        policy = self.resource_policy_for(resource)
        return local_check_authorization_full(
            self.roles[role].node(),
            action,
            resource,
            {**REQUEST_CONTEXT, **(context or {})},
            resource_policy=policy,
            resource_owner=ACCOUNT if policy is not None else None,
        )

    def resource_policy_for(self, resource: str) -> dict[str, Any] | None:
        for prefix, document in self.resource_policies:
            if resource == prefix or resource.startswith(f"{prefix}/"):
                return document
        return None

    def role_of(self, logical_id: str) -> str:
        """The role a function or instance runs as, by the function's or instance's logical id."""
        props = self.stack.props(logical_id)
        kind = self.stack.resources[logical_id]["Type"]
        if kind == "AWS::Lambda::Function":
            (role,) = self.stack.refs_in(props["Role"])
            return role
        if kind == "AWS::EC2::Instance":
            (profile,) = self.stack.refs_in(props["IamInstanceProfile"])
            (role,) = self.stack.refs_in(self.stack.props(profile)["Roles"])
            return role
        raise TemplateError(f"{logical_id} is a {kind}: no role model")

    def documents(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every (role path, where, resolved document) in the template, AWS managed ones included."""
        for role in self.roles.values():
            for where, document in role.documents:
                yield role.path, where, document

    # --- building -----------------------------------------------------------------------

    def _roles(self) -> dict[str, Role]:
        stack = self.stack
        roles: dict[str, Role] = {}
        for name, body in stack.of_type("AWS::IAM::Role").items():
            props = body["Properties"]
            role = Role(
                logical_id=name,
                path=stack.path(name),
                arn=stack.get_att(name, "Arn"),
                trust=stack.resolve(props["AssumeRolePolicyDocument"]),
            )
            for inline in props.get("Policies", []):
                role.documents.append(
                    (f"inline {inline['PolicyName']}", self._document(inline["PolicyDocument"]))
                )
            for arn in props.get("ManagedPolicyArns", []):
                resolved = stack.text(arn)
                if ":iam::aws:policy/" not in resolved:
                    continue  # a customer managed policy: added below from its own resource
                managed = resolved.rsplit("/", 1)[-1]
                role.documents.append((f"AWS managed {managed}", aws_managed_policy(managed)))
            roles[name] = role
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for name, body in stack.of_type(kind).items():
                props = body["Properties"]
                for role in stack.refs_in(props.get("Roles", [])):
                    where = f"{kind.rsplit('::', 1)[-1]} {name}"
                    roles[role].documents.append((where, self._document(props["PolicyDocument"])))
        return roles

    def _resource_policies(self) -> list[tuple[str, dict[str, Any]]]:
        stack = self.stack
        found = []
        for body in stack.of_type("AWS::S3::BucketPolicy").values():
            props = body["Properties"]
            found.append(
                (f"arn:aws:s3:::{stack.text(props['Bucket'])}", self._document(props["PolicyDocument"]))
            )
        for body in stack.of_type("AWS::SecretsManager::ResourcePolicy").values():
            props = body["Properties"]
            found.append((stack.text(props["SecretId"]), self._document(props["ResourcePolicy"])))
        return found

    def _document(self, document: Any) -> dict[str, Any]:
        return as_iam_stores_it(self.stack.resolve(document))
