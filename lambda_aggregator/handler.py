"""The Lambda: S3 "object created" events -> exact minute rows in the database.

Each object is read as the event names it (``IfMatch`` on its ETag, or its ``VersionId``),
streamed and decompressed within bounds, parsed under the trade contract and stored in
one database transaction (see ``minutes.store``):

- a bad line is *quarantined*: kept with its number and reason in
  ``<quarantine prefix><key>.jsonl`` (the first ``quarantine_max_lines`` in full, then
  counted), written before the transaction commits; the good lines still count;
- an object that decompresses past ``max_object_bytes``, holds more than
  ``max_object_lines`` lines, or whose gzip is broken is *rejected whole*: a quarantine
  record says why, the ledger records it, nothing is stored, and it is not retried;
- a record that is not an object creation (``s3:TestEvent``, ``ObjectRemoved``, other
  EventBridge events), a key under the quarantine prefix, and an object overwritten since
  its event (HTTP 412: the newer version has its own event) are *skipped* with a log line;
- any other failure (S3 or the database unreachable, ...) fails that record only: the
  others are still processed, and the failures are raised together at the end so Lambda
  *retries* the event; records already in the ledger are no-ops on the retry.

A closed kline line (``"e":"kline"``, ``binance.klines``) in an object is stored in
``binance_klines`` in the same transaction as the object's trades; a bad one is quarantined
like a bad trade line. After the records, when an object was processed and klines are stored,
the minute check of the 24 hours up to the newest kline is measured (``minutes.klines``):
``MinutesDisagreeing`` (minutes whose row differs from the kline) and ``MinutesWithoutRow``
(klines with trades and no row), both levels, alarmed on in infra/alarms.py.

After that, a bounded share of the retention work runs (``Store.prune``).

The S3 client and the database connection live at module level because Lambda keeps the
process warm between events; both are built on first use, so importing this module opens
nothing and needs no credentials.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventBridgeNotificationEvent
from botocore.exceptions import ClientError

from binance.errors import UnreadableFileError
from binance.files import ReadLimits, Rejected, read_event_stream
from binance.parse import now_ms
from contract.pipeline import (
    AGGREGATOR_SERVICE_NAME,
    LATE_OBJECTS_METRIC,
    METRICS_NAMESPACE,
    MINUTES_DISAGREEING_METRIC,
    MINUTES_WITHOUT_ROW_METRIC,
    POWERTOOLS_METRICS_NAMESPACE_ENV,
    POWERTOOLS_SERVICE_NAME_ENV,
)
from lambda_aggregator.errors import AggregatorError
from lambda_aggregator.settings import AggregatorSettings
from minutes.errors import StoreError
from minutes.klines import CheckSummary, MinuteDifference, check_summary, recent_window, store_klines
from minutes.store import IngestResult, MySqlStore, ObjectRef, Store, open_store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=os.environ.get(POWERTOOLS_SERVICE_NAME_ENV, AGGREGATOR_SERVICE_NAME))
metrics = Metrics(namespace=os.environ.get(POWERTOOLS_METRICS_NAMESPACE_ENV, METRICS_NAMESPACE))
READ_CHUNK_BYTES = 1024 * 1024
SECRET_MAX_AGE_S = 300  # the secret is read again at most every 5 minutes (rotation)

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
    """The database the settings name; on AWS, with credentials from Secrets Manager
    (Powertools caches the secret for ``SECRET_MAX_AGE_S``)."""
    if config.db_url:
        return open_store(config.db_url)
    secret = parameters.get_secret(config.db_secret_arn, max_age=SECRET_MAX_AGE_S)
    return MySqlStore.open(**config.mysql_params(secret))


def reset_clients() -> None:
    """Forget the warm clients and cached secrets (tests, and the one-box when settings change)."""
    current = _clients.pop("store", None)
    if current is not None:
        current.close()
    _clients.clear()
    parameters.clear_caches()


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One object an event says was created."""

    bucket: str
    key: str
    etag: str
    version_id: str | None = None

    @property
    def source(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that names no object to read, and why."""

    why: str
    key: str | None = None


def object_events(event: dict[str, Any]) -> Iterator[ObjectEvent | Skipped]:
    """The objects of an S3 notification (``Records``) or an EventBridge S3 event; the rest
    are `Skipped` with a reason, never a KeyError."""
    if event.get("Event") == "s3:TestEvent":
        yield Skipped("an s3:TestEvent (sent when notifications are configured)")
        return
    if event.get("source") == "aws.s3" and isinstance(event.get("detail"), dict):
        bridged = S3EventBridgeNotificationEvent(event)
        if bridged.detail_type != "Object Created":
            yield Skipped(f"an EventBridge {bridged.detail_type!r} event")
            return
        found = bridged.detail.object
        yield ObjectEvent(bridged.detail.bucket.name, found.key, found.etag, found.get("version-id"))
        return
    if not isinstance(event.get("Records"), list):
        yield Skipped(f"not an S3 event (keys: {', '.join(sorted(map(str, event))[:8])})")
        return
    for record in S3Event(event).records:
        try:
            found = record.s3.get_object
            key = unquote_plus(found.key)  # S3 URL-encodes keys in events ("a b=c" arrives as "a+b%3Dc")
            if not record.event_name.startswith("ObjectCreated:"):
                yield Skipped(f"a {record.event_name} record", key)
                continue
            yield ObjectEvent(record.s3.bucket.name, key, found.etag.strip('"'), found.version_id)
        except (KeyError, TypeError, AttributeError) as exc:
            yield Skipped(f"a record without {exc} (not an S3 notification record)")


class ObjectChangedError(AggregatorError):
    """The object was overwritten after its event (HTTP 412): its newer version has its own event."""


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    now = now_ms()
    done: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    failures: list[tuple[ObjectEvent, Exception]] = []
    for item in object_events(event):
        if isinstance(item, ObjectEvent) and item.key.startswith(config.quarantine_prefix):
            item = Skipped(f"a key under the quarantine prefix {config.quarantine_prefix!r}", item.key)
        if isinstance(item, Skipped):
            _skip(skipped, item.why, item.key)
            continue
        try:
            result = process_object(item, s3_client(), store(), config, now=now)
        except ObjectChangedError as exc:
            metrics.add_metric(name="ChangedObjects", unit=MetricUnit.Count, value=1)
            _skip(skipped, str(exc), item.key)
            continue
        except Exception as exc:  # every record is tried; the failures are raised together below
            logger.exception("object failed", extra={"bucket": item.bucket, "key": item.key})
            metrics.add_metric(name="FailedObjects", unit=MetricUnit.Count, value=1)
            failures.append((item, exc))
            continue
        _count(result)
        done.append(_summary(result))
    if not failures:  # with the database failing, these would fail too; the next event does them
        if any(not item["redelivered"] for item in done):
            measure_minute_check()
        _prune(config, now)
    if failures:
        raise AggregatorError(
            f"{len(failures)} of {len(failures) + len(done)} objects failed (Lambda retries the event; "
            "the others are in the ledger): "
            + "; ".join(f"{item.source}: {type(exc).__name__}: {exc}" for item, exc in failures)
        ) from failures[0][1]
    return {"objects": done, "skipped": skipped}


def process_object(
    item: ObjectEvent, s3: Any, target: Store, config: AggregatorSettings, *, now: int | None = None
) -> IngestResult:
    """Read one object as its event names it, quarantine its bad lines, store its trades:
    all or nothing."""
    logger.append_keys(bucket=item.bucket, key=item.key)
    if not item.etag:  # an event without eTag: key the ledger by the version there now
        head = _read(s3.head_object, item, Bucket=item.bucket, Key=item.key)
        item = ObjectEvent(item.bucket, item.key, head["ETag"].strip('"'), item.version_id)
    limits = ReadLimits(
        max_bytes=config.max_object_bytes, max_line=config.max_line_bytes, max_lines=config.max_object_lines
    )
    with target.ingestion(ObjectRef(item.bucket, item.key, item.etag)) as ingestion:
        if ingestion.result is not None:  # in the ledger already: a repeated event
            logger.info("object processed before: no change")
            return ingestion.result
        response = _get_object(s3, item)
        quarantine = Quarantine(item.source, config.quarantine_max_lines, config.quarantine_max_bytes)
        lines = klines = 0
        body = response["Body"]
        try:
            for parsed in read_event_stream(body.iter_chunks(READ_CHUNK_BYTES), item.source, limits, now=now):
                ingestion.add(parsed.trades)
                if parsed.klines:  # in the object's transaction: stored with its trades or not at all
                    store_klines(target, parsed.klines)
                    klines += len(parsed.klines)
                quarantine.add(parsed.rejects)
                lines += parsed.lines
        except UnreadableFileError as exc:  # too large, or broken gzip: no retry can help
            key = _put_quarantine(s3, item, quarantine.rejected_whole(str(exc), lines), config)
            result = ingestion.reject_whole(str(exc), lines=lines, quarantine_key=key)
            logger.error("object rejected whole", extra={"reason": str(exc), "quarantine_key": key})
            return result
        finally:
            body.close()
        key = _put_quarantine(s3, item, quarantine.records(), config) if quarantine.count else None
        result = ingestion.finish(lines=lines, rejected=quarantine.count, quarantine_key=key, klines=klines)
    logger.info("object processed", extra=_summary(result))
    return result


def _get_object(s3: Any, item: ObjectEvent) -> dict[str, Any]:
    """The version the event names: by VersionId when the bucket is versioned, else only if
    its ETag still matches, so the ledger's (key, etag) and the content read agree."""
    if item.version_id:
        return _read(s3.get_object, item, Bucket=item.bucket, Key=item.key, VersionId=item.version_id)
    return _read(s3.get_object, item, Bucket=item.bucket, Key=item.key, IfMatch=f'"{item.etag}"')


def _read(call: Any, item: ObjectEvent, **params: str) -> dict[str, Any]:
    try:
        return call(**params)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            raise ObjectChangedError(
                f"{item.source} changed after its event (etag {item.etag} is gone): skipped, "
                "its newer version has its own event"
            ) from exc
        raise


@dataclass
class Quarantine:
    """The bad lines of one object, bounded: the first ``max_lines`` (up to ``max_bytes``
    of records) kept in full, the rest only counted."""

    source: str
    max_lines: int
    max_bytes: int
    count: int = 0
    kept: list[bytes] = field(default_factory=list)
    size: int = 0
    first_omitted: int | None = None
    last_omitted: int | None = None

    def add(self, rejects: list[Rejected]) -> None:
        for reject in rejects:
            self.count += 1
            record = _json_line(
                {"source": self.source, "line": reject.line, "reason": reject.reason, "text": reject.text}
            )
            if len(self.kept) < self.max_lines and self.size + len(record) <= self.max_bytes:
                self.kept.append(record)
                self.size += len(record)
            else:
                self.first_omitted = self.first_omitted or reject.line
                self.last_omitted = reject.line

    def records(self) -> bytes:
        omitted = self.count - len(self.kept)
        if not omitted:
            return b"".join(self.kept)
        summary = {
            "source": self.source,
            "summary": True,
            "rejected": self.count,
            "kept": len(self.kept),
            "omitted": omitted,
            "first_omitted_line": self.first_omitted,
            "last_omitted_line": self.last_omitted,
        }
        return b"".join(self.kept) + _json_line(summary)

    def rejected_whole(self, reason: str, lines: int) -> bytes:
        record = {"source": self.source, "rejected_whole": True, "reason": reason, "lines_read": lines}
        return _json_line(record)


def _json_line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def _put_quarantine(s3: Any, item: ObjectEvent, body: bytes, config: AggregatorSettings) -> str:
    key = f"{config.quarantine_prefix}{item.key}.jsonl"
    s3.put_object(Bucket=item.bucket, Key=key, Body=body, ContentType="application/x-ndjson")
    logger.warning("lines quarantined", extra={"quarantine_key": key, "bytes": len(body)})
    return key


def measure_minute_check() -> CheckSummary | None:
    """Emit the minute check of the 24 hours up to the newest stored kline as two levels:
    ``MinutesDisagreeing`` (a row differs from its kline) and ``MinutesWithoutRow`` (a kline with
    trades and no row). Pending minutes count in neither. Nothing is emitted before the first
    kline; a failure is logged and counted, and never fails the event (its objects are done)."""
    try:
        window = recent_window(store())
        summary = None if window is None else check_summary(store(), *window, limit=5)
    except StoreError:
        logger.exception("minute check failed")
        metrics.add_metric(name="MinuteCheckFailures", unit=MetricUnit.Count, value=1)
        return None
    if summary is None:
        return None
    disagreeing = summary.counts["differs"] - summary.without_row
    metrics.add_metric(name=MINUTES_DISAGREEING_METRIC, unit=MetricUnit.Count, value=disagreeing)
    metrics.add_metric(name=MINUTES_WITHOUT_ROW_METRIC, unit=MetricUnit.Count, value=summary.without_row)
    if summary.differing:
        logger.warning(
            "minutes differ from Binance's klines",
            extra={"counts": summary.counts, "first": [_difference(d) for d in summary.differing]},
        )
    return summary


def _difference(minute: MinuteDifference) -> dict[str, Any]:
    return {
        "symbol": minute.symbol,
        "minute": minute.minute,
        "fields": {f.field: [str(f.ours), str(f.kline)] for f in minute.fields},
    }


def _prune(config: AggregatorSettings, now: int) -> None:
    """A bounded share of the retention work; a failure is logged and counted, and the next
    invocation tries again: it never fails the event (its objects are done)."""
    if not config.prune_max_rows:
        return
    try:
        pruned = store().prune(now_ms=now, retention_ms=config.retention_ms, max_rows=config.prune_max_rows)
    except StoreError:
        logger.exception("retention pass failed")
        metrics.add_metric(name="PruneFailures", unit=MetricUnit.Count, value=1)
        return
    if pruned.deleted:
        metrics.add_metric(name="TradesPruned", unit=MetricUnit.Count, value=pruned.deleted)
        logger.info("raw trades pruned", extra={"rows": pruned.deleted, "final_before": pruned.final_before})


def _skip(skipped: list[dict[str, Any]], why: str, key: str | None) -> None:
    logger.info("record skipped", extra={"why": why, "key": key})
    metrics.add_metric(name="SkippedRecords", unit=MetricUnit.Count, value=1)
    skipped.append({"key": key, "why": why})


def _count(result: IngestResult) -> None:
    if result.redelivered:
        metrics.add_metric(name="RedeliveredObjects", unit=MetricUnit.Count, value=1)
        return
    if result.reason is not None:
        metrics.add_metric(name="RejectedObjects", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ObjectsProcessed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="LinesRead", unit=MetricUnit.Count, value=result.lines)
    metrics.add_metric(name="LinesRejected", unit=MetricUnit.Count, value=result.rejected)
    metrics.add_metric(name="DuplicateTrades", unit=MetricUnit.Count, value=result.duplicates)
    metrics.add_metric(name="MinuteRowsWritten", unit=MetricUnit.Count, value=result.minutes)
    if result.klines:
        metrics.add_metric(name="KlinesStored", unit=MetricUnit.Count, value=result.klines)
    if result.late:
        metrics.add_metric(name=LATE_OBJECTS_METRIC, unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="LateTrades", unit=MetricUnit.Count, value=result.late)


def _summary(result: IngestResult) -> dict[str, Any]:
    return {
        "bucket": result.ref.bucket,
        "key": result.ref.key,
        "etag": result.ref.etag,
        "status": result.status,
        "lines": result.lines,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "duplicates": result.duplicates,
        "late": result.late,
        "minutes": result.minutes,
        "klines": result.klines,
        "redelivered": result.redelivered,
    }
