"""The embedded S3 and SQS: moto in server mode on 127.0.0.1, and the bucket's wiring.

``python -m onebox.aws_endpoint --state-dir DIR`` serves the real S3 and SQS HTTP APIs on a
free port and writes ``{"endpoint": "http://127.0.0.1:PORT"}`` to ``DIR/stats/aws.json``.
Everything it holds is in memory and goes away with the process.

``prepare`` wires any S3/SQS endpoint (this one, or another S3-compatible one) as the
deployment wires AWS: the trades bucket, a queue, and the bucket's ObjectCreated
notifications for keys under ``trades/`` going to that queue (the one-box runner reads the
queue where AWS invokes the Lambda directly), plus a dead-letter queue.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from contract.pipeline import TRADES_PREFIX
from onebox import child
from onebox.stages import AWS, AwsCounters

logger = logging.getLogger(__name__)

QUEUE_NAME = "cryptotrades-object-created"
DEAD_LETTER_QUEUE_NAME = "cryptotrades-object-created-dead-letters"
NOTIFIED_PREFIX = TRADES_PREFIX  # quarantined lines (rejected/...) must not trigger the handler
# The one-box's own credentials for its embedded moto: never real ones, whatever is set.
EMBEDDED_AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "onebox", "AWS_SECRET_ACCESS_KEY": "onebox"}


@dataclass(frozen=True, slots=True)
class Wiring:
    bucket: str
    queue_url: str
    dead_letter_queue_url: str


def client(service: str, *, region: str, endpoint: str | None, embedded: bool) -> Any:
    """A boto3 client of the one-box's S3 or SQS: the embedded one's credentials, or the default chain."""
    options: dict[str, Any] = {"region_name": region}
    if endpoint:
        options["endpoint_url"] = endpoint
    if embedded:
        options.update(
            aws_access_key_id=EMBEDDED_AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=EMBEDDED_AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=None,
        )
    return boto3.session.Session().client(
        service, config=Config(retries={"mode": "standard", "max_attempts": 3}), **options
    )


def prepare(s3: Any, sqs: Any, bucket: str, region: str) -> Wiring:
    """Create (or reuse) the bucket and queues and point the bucket's notifications at the queue."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        options: dict[str, Any] = {}
        if region != "us-east-1":  # S3 refuses a LocationConstraint of us-east-1
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(Bucket=bucket, **options)
    dead_letters = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME)["QueueUrl"]
    queue = sqs.create_queue(
        QueueName=QUEUE_NAME,
        # The runner sets each retry's delay itself; this is only the default lease.
        Attributes={"VisibilityTimeout": "60"},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # An SQS queue policy letting S3 send would go here on AWS; moto does not check one.
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "trades-object-created",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": NOTIFIED_PREFIX}]}},
                }
            ]
        },
    )
    logger.info("bucket %s notifies %s of objects created under %s", bucket, queue_arn, NOTIFIED_PREFIX)
    return Wiring(bucket=bucket, queue_url=queue, dead_letter_queue_url=dead_letters)


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    stage = child.begin(AWS, argv, __doc__)

    from moto.server import ThreadedMotoServer  # heavy: imported only by this process

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    counters = AwsCounters(state="running", endpoint=f"http://{host}:{port}")
    stage.report(counters, force=True)
    logger.info("S3 and SQS (moto) on %s", counters.endpoint)
    stage.stop.wait()
    server.stop()
    counters.state = "stopped"
    stage.report(counters, force=True)
    logger.info("moto on %s stopped; its objects and messages are gone with it", counters.endpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
