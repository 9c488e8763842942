"""The Lambda: S3 ObjectCreated events -> exact minute rows in the database.

Each record of the event is one object, processed in one database transaction (see
``store.py``). Bad lines are quarantined to ``<prefix><key>.jsonl`` in the same bucket
before that transaction commits; the good lines of the object still count. Any S3 or
database failure raises, so Lambda retries the event; objects done before the failure
are in the ledger and their retry is a no-op.

The S3 client and the database connection live at module level because Lambda keeps the
process warm between events; both are built on first use, so importing this module opens
nothing and needs no credentials.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event

from binance.files import Parsed, parse_ndjson
from contract.pipeline import METRICS_NAMESPACE
from lambda_aggregator.errors import AggregatorError
from lambda_aggregator.settings import AggregatorSettings
from minutes.store import IngestResult, MySqlStore, ObjectRef, Store, open_store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "cryptotrades-aggregator"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE))

_clients: dict[str, Any] = {}


def settings() -> AggregatorSettings:
    if "settings" not in _clients:
        _clients["settings"] = AggregatorSettings.from_env()
    return _clients["settings"]


def s3_client() -> Any:
    if "s3" not in _clients:
        _clients["s3"] = boto3.client("s3")  # honours AWS_ENDPOINT_URL_S3 (the one-box's moto)
    return _clients["s3"]


def store() -> Store:
    """The warm connection, replaced if the server dropped it while the function slept."""
    current = _clients.get("store")
    if isinstance(current, MySqlStore) and not current.is_alive():
        logger.info("the database closed the warm connection; opening a new one")
        current.close()
        current = None
    if current is None:
        current = _clients["store"] = open_configured_store(settings())
    return current


def open_configured_store(config: AggregatorSettings) -> Store:
    """The database the settings name; on AWS, with credentials from Secrets Manager."""
    if config.db_url:
        return open_store(config.db_url)
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=config.db_secret_arn)
    return MySqlStore.open(**config.mysql_params(secret["SecretString"]))


def reset_clients() -> None:
    """Forget the warm clients (tests, and the one-box runner when settings change)."""
    current = _clients.pop("store", None)
    if current is not None:
        current.close()
    _clients.clear()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    results = []
    for record in S3Event(event).records:
        s3_object = record.s3.get_object
        # S3 URL-encodes keys in events ("a b=c" arrives as "a+b%3Dc").
        ref = ObjectRef(record.s3.bucket.name, unquote_plus(s3_object.key), s3_object.etag.strip('"'))
        result = process_object(ref, s3_client(), store(), settings().quarantine_prefix)
        _count(result)
        results.append(result)
    return {"objects": [_summary(result) for result in results]}


def process_object(ref: ObjectRef, s3: Any, target: Store, quarantine_prefix: str) -> IngestResult:
    """Read one object, quarantine its bad lines, store its trades: all or nothing."""
    logger.append_keys(bucket=ref.bucket, key=ref.key)
    response = s3.get_object(Bucket=ref.bucket, Key=ref.key)
    if not ref.etag:  # an event without eTag: key the ledger by the version we read
        ref = ObjectRef(ref.bucket, ref.key, response["ETag"].strip('"'))
    parsed = parse_ndjson(_decompressed(response["Body"].read(), ref), source=f"s3://{ref.bucket}/{ref.key}")
    quarantine_key = _quarantine(s3, ref, parsed, quarantine_prefix) if parsed.rejects else None
    result = target.ingest(
        ref, parsed.trades, lines=parsed.lines, rejected=len(parsed.rejects), quarantine_key=quarantine_key
    )
    logger.info("object processed", extra=_summary(result))
    return result


def _decompressed(body: bytes, ref: ObjectRef) -> bytes:
    """Vector writes gzip (``.ndjson.gz``); plain objects pass through."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    try:
        return gzip.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise AggregatorError(f"s3://{ref.bucket}/{ref.key}: not a readable gzip object: {exc}") from exc


def _quarantine(s3: Any, ref: ObjectRef, parsed: Parsed, prefix: str) -> str:
    """Keep every rejected line, with its number and reason, beside the trades."""
    key = f"{prefix}{ref.key}.jsonl"
    body = "".join(
        json.dumps({"source": parsed.source, "line": r.line, "reason": r.reason, "text": r.text}) + "\n"
        for r in parsed.rejects
    )
    s3.put_object(Bucket=ref.bucket, Key=key, Body=body.encode(), ContentType="application/x-ndjson")
    logger.warning("lines rejected", extra={"rejected": len(parsed.rejects), "quarantine_key": key})
    return key


def _count(result: IngestResult) -> None:
    if result.redelivered:
        metrics.add_metric(name="RedeliveredObjects", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="ObjectsProcessed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="LinesRead", unit=MetricUnit.Count, value=result.lines)
    metrics.add_metric(name="LinesRejected", unit=MetricUnit.Count, value=result.rejected)
    metrics.add_metric(name="DuplicateTrades", unit=MetricUnit.Count, value=result.duplicates)
    metrics.add_metric(name="MinuteRowsWritten", unit=MetricUnit.Count, value=result.minutes)


def _summary(result: IngestResult) -> dict[str, Any]:
    return {
        "bucket": result.ref.bucket,
        "key": result.ref.key,
        "etag": result.ref.etag,
        "lines": result.lines,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "duplicates": result.duplicates,
        "minutes": result.minutes,
        "redelivered": result.redelivered,
    }
