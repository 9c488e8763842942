"""The schema at deploy time: a CloudFormation custom resource that applies ``sql/`` and makes the users.

The CDK's custom-resource provider calls ``on_event``:

- Create and Update: sign in as the master user (``CRYPTOTRADES_DB_SECRET_ARN`` of this
  function is the master secret), apply the migrations that are new, then converge each
  application user of the ``Users`` property (``minutes.users``): role -> its user
  name (a constant of the CDK app) and the ARN of its generated secret, whose password it gets.
  Both requests do the same, so an Update converges whatever drifted.
- Delete: nothing. The data and its users outlive the custom resource (the database has
  deletion protection and a final snapshot of its own); the users' secrets go with the stack.

Rotation does not race this: the CDK app schedules no rotation at deploy time (the first is
30 days after), and before reading a secret this waits while a rotation of it is under way
(a version staged AWSPENDING but not AWSCURRENT), so it never signs in with, or sets, a
password that is about to change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from aws_lambda_powertools import Logger

from lambda_aggregator.errors import AggregatorError, SettingsError
from lambda_aggregator.settings import AggregatorSettings
from minutes import users
from minutes.store import MySqlStore, Store, open_store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="cryptotrades-schema")
PHYSICAL_ID = "cryptotrades-schema"
USERS_PROPERTY = "Users"
ROTATION_WAIT_S = 180.0  # rotations take seconds; the function's timeout is 5 minutes
ROTATION_POLL_S = 5.0


class RotationInProgressError(AggregatorError):
    """A secret stayed mid-rotation longer than we wait; its rotation function's log says why."""


@dataclass(frozen=True, slots=True)
class UserRequest:
    """One application user the resource is asked to converge."""

    role: str
    username: str
    secret_arn: str


def user_requests(properties: Mapping[str, Any]) -> list[UserRequest]:
    """The ``Users`` property: ``{role: {"Username": ..., "SecretArn": ...}}``, checked."""
    found = properties.get(USERS_PROPERTY) or {}
    if not isinstance(found, Mapping):
        raise SettingsError(f"custom resource property {USERS_PROPERTY}: expected a map of role -> user")
    requests = []
    for role, spec in sorted(found.items()):
        if role not in users.PRIVILEGES:
            raise SettingsError(
                f"custom resource property {USERS_PROPERTY}: unknown role {role!r} "
                f"(expected {', '.join(users.PRIVILEGES)})"
            )
        if not isinstance(spec, Mapping) or not spec.get("Username") or not spec.get("SecretArn"):
            raise SettingsError(
                f"custom resource property {USERS_PROPERTY}.{role}: needs Username and SecretArn"
            )
        requests.append(UserRequest(role, users.check_name(str(spec["Username"])), str(spec["SecretArn"])))
    return requests


def rotation_in_progress(version_stages: Mapping[str, list[str]]) -> bool:
    """Whether some version is staged AWSPENDING without being AWSCURRENT (rotation under way)."""
    return any("AWSPENDING" in stages and "AWSCURRENT" not in stages for stages in version_stages.values())


def wait_for_rotation(
    client: Any,
    secret_arn: str,
    *,
    timeout_s: float = ROTATION_WAIT_S,
    poll_s: float = ROTATION_POLL_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once no rotation of the secret is under way; raise after ``timeout_s``."""
    deadline = clock() + timeout_s
    while rotation_in_progress(client.describe_secret(SecretId=secret_arn).get("VersionIdsToStages", {})):
        if clock() >= deadline:
            raise RotationInProgressError(
                f"secret {secret_arn} is still being rotated after {timeout_s:.0f} s (a version is "
                "AWSPENDING): see its rotation function's log; if that rotation failed, fix it or run "
                "'aws secretsmanager cancel-rotate-secret', then deploy again"
            )
        logger.info("waiting for a rotation to finish", extra={"secret": secret_arn})
        sleep(poll_s)


def read_secret(client: Any, secret_arn: str, **wait: Any) -> dict[str, Any]:
    """The current value of a secret (JSON), once no rotation of it is under way."""
    wait_for_rotation(client, secret_arn, **wait)
    # AWSCURRENT is the default; named anyway (moto 5.2 answers the first version after a move).
    text = client.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["SecretString"]
    try:
        value = json.loads(text)
    except ValueError:
        raise SettingsError(f"secret {secret_arn}: not JSON") from None  # never echo the value
    if not isinstance(value, dict):
        raise SettingsError(f"secret {secret_arn}: expected a JSON object")
    return value


def open_admin_store(config: AggregatorSettings, client: Any, **wait: Any) -> Store:
    """The database as the master user (or the URL of a local run)."""
    if config.db_url:
        return open_store(config.db_url)
    if config.db_secret_arn is None:  # AggregatorSettings requires one of the two
        raise SettingsError("no database: neither a URL nor a secret is configured")
    secret = read_secret(client, config.db_secret_arn, **wait)
    return MySqlStore.open(**config.mysql_params(secret))


def apply(
    properties: Mapping[str, Any], config: AggregatorSettings, client: Any, **wait: Any
) -> dict[str, str]:
    """Create and Update: migrate, then converge every requested user. Answers the resource's Data."""
    requests = user_requests(properties)
    with open_admin_store(config, client, **wait) as store:
        applied = store.migrate()
        if requests and not isinstance(store, MySqlStore):
            raise SettingsError(f"database users need MySQL, not {store.dialect}")
        database = urlsplit(store.url).path.lstrip("/")
        for request in requests:
            secret = read_secret(client, request.secret_arn, **wait)
            if secret.get("username") != request.username:
                raise SettingsError(
                    f"secret {request.secret_arn} is for user {secret.get('username')!r}, "
                    f"not the {request.role} user {request.username!r}"
                )
            if not isinstance(secret.get("password"), str) or not secret["password"]:
                raise SettingsError(f"secret {request.secret_arn}: no password")
            users.converge_user(
                store.connection,
                role=request.role,
                username=request.username,
                password=secret["password"],
                database=database,
            )
            logger.info("user converged", extra={"role": request.role, "user": request.username})
    return {
        "Applied": ",".join(applied) or "none",
        "Users": ",".join(request.username for request in requests) or "none",
    }


@logger.inject_lambda_context
def on_event(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event["RequestType"]
    if request == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", PHYSICAL_ID)}
    data = apply(
        event.get("ResourceProperties", {}), AggregatorSettings.from_env(), boto3.client("secretsmanager")
    )
    logger.info("schema migrated", extra={"request": request, **data})
    return {"PhysicalResourceId": PHYSICAL_ID, "Data": data}
