"""The schema at deploy time: a CloudFormation custom resource that applies ``sql/``.

The CDK's custom-resource provider calls ``on_event`` on Create and Update (apply what is
new; migrations are idempotent) and on Delete (nothing: the data outlives the stack's
custom resource, and the database has deletion protection of its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from lambda_aggregator.handler import open_configured_store
from lambda_aggregator.settings import AggregatorSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="cryptotrades-schema")
PHYSICAL_ID = "cryptotrades-schema"


@logger.inject_lambda_context
def on_event(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event["RequestType"]
    if request == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", PHYSICAL_ID)}
    with open_configured_store(AggregatorSettings.from_env()) as target:
        applied = target.migrate()
    logger.info("schema migrated", extra={"request": request, "applied": applied})
    return {"PhysicalResourceId": PHYSICAL_ID, "Data": {"Applied": ",".join(applied) or "none"}}
