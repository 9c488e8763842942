"""The trades bucket: Vector's one-object-a-minute output, the Lambda's input and quarantine.

Private (all public access blocked, bucket-owner-enforced ownership), TLS only, encrypted with
S3-managed keys, with server access logs in a second bucket. Raw objects expire after a
retention period: every trade they hold is also a row of ``agg_trades`` in the database.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from contract.pipeline import REJECTED_PREFIX, TRADES_PREFIX

ACCESS_LOG_PREFIX = "trades-bucket/"


class TradesBucket(Construct):
    """The data bucket and its access-log bucket.

    Parameters
    ----------
    raw_retention_days
        Days a raw object under ``trades/`` is kept.
    rejected_retention_days
        Days a quarantine object under ``rejected/`` is kept (small, and worth a longer look).
    access_log_retention_days
        Days server access logs are kept.
    noncurrent_days
        Days an overwritten or expired version is kept (the bucket is versioned).

    Attributes
    ----------
    bucket
        The data bucket (retained when the stack is deleted: it holds the raw record).
    access_logs
        Where S3 writes the data bucket's server access logs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        raw_retention_days: int,
        rejected_retention_days: int = 365,
        access_log_retention_days: int = 90,
        noncurrent_days: int = 7,
    ) -> None:
        super().__init__(scope, construct_id)
        private = {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "encryption": s3.BucketEncryption.S3_MANAGED,
            "enforce_ssl": True,
            "minimum_tls_version": 1.2,
            "removal_policy": RemovalPolicy.RETAIN,
        }
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            lifecycle_rules=[
                s3.LifecycleRule(id="ExpireLogs", expiration=Duration.days(access_log_retention_days))
            ],
            **private,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireRawTrades", prefix=TRADES_PREFIX, expiration=Duration.days(raw_retention_days)
                ),
                s3.LifecycleRule(
                    id="ExpireQuarantine",
                    prefix=REJECTED_PREFIX,
                    expiration=Duration.days(rejected_retention_days),
                ),
                s3.LifecycleRule(
                    id="AbortIncompleteUploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                ),
                # Versioned: an object the host writes again (same key) keeps its first bytes for
                # a week, long enough to notice and replay; expired objects leave no markers.
                s3.LifecycleRule(
                    id="ExpireOverwritten",
                    noncurrent_version_expiration=Duration.days(noncurrent_days),
                    expired_object_delete_marker=True,
                ),
            ],
            versioned=True,
            **private,
        )

    def notify(self, function: lambda_.IFunction) -> None:
        """Invoke ``function`` for each object created under ``trades/`` (and only there)."""
        self.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(function),
            s3.NotificationKeyFilter(prefix=TRADES_PREFIX),
        )

    def grant_aggregator(self, grantee: iam.IGrantable) -> None:
        """Read raw objects, write quarantine objects: the two S3 calls the aggregator makes.

        Exactly ``s3:GetObject`` under ``trades/`` and ``s3:PutObject`` under ``rejected/``: no
        listing, no bucket-level reads, no deletes (``grant_read``/``grant_put`` would add those).
        """
        self._grant(grantee, "s3:GetObject", TRADES_PREFIX)
        self._grant(grantee, "s3:PutObject", REJECTED_PREFIX)
        _suppress_prefix_wildcards(
            grantee,
            (TRADES_PREFIX, REJECTED_PREFIX),
            "The aggregator reads whichever objects S3 announces under trades/ and writes quarantine "
            "objects under rejected/: object keys are not known in advance, so the grants are per prefix",
        )

    def grant_writer(self, grantee: iam.IGrantable) -> None:
        """Put objects under ``trades/``: what Vector on the Kafka host does, and nothing more."""
        self._grant(grantee, "s3:PutObject", TRADES_PREFIX)
        _suppress_prefix_wildcards(
            grantee,
            (TRADES_PREFIX,),
            "Vector writes a new object under trades/ every minute with a generated name; the grant is "
            "put-only on that prefix",
        )

    def _grant(self, grantee: iam.IGrantable, action: str, prefix: str) -> None:
        iam.Grant.add_to_principal(
            grantee=grantee, actions=[action], resource_arns=[self.bucket.arn_for_objects(f"{prefix}*")]
        )


def _suppress_prefix_wildcards(grantee: iam.IGrantable, prefixes: tuple[str, ...], reason: str) -> None:
    resources = [
        RegexAppliesTo(regex=rf"/^Resource::<[A-Za-z0-9]+\.Arn>\/{prefix}\*$/") for prefix in prefixes
    ]
    NagSuppressions.add_resource_suppressions(
        grantee,
        [NagPackSuppression(id="AwsSolutions-IAM5", reason=reason, applies_to=resources)],
        apply_to_children=True,
    )
