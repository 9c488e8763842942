"""The one-box stand-in for Lambda's S3 trigger: SQS notifications -> ``lambda_handler``.

On AWS, S3 invokes the aggregator Lambda with each ObjectCreated event. Here the bucket
sends the same notifications to an SQS queue (``onebox.aws_endpoint.prepare``), and this
process receives them and calls the function's handler (``contract.pipeline.AGGREGATOR_HANDLER``,
loaded by name as the Lambda runtime loads it) with the event exactly as delivered (the
message body), in a process whose environment is the function's
(``CRYPTOTRADES_DB_URL``, ``POWERTOOLS_*``, ``AWS_ENDPOINT_URL_S3``), as the Lambda runtime
would. S3's ``s3:TestEvent`` (sent once when the notification is configured) is not an
object and is dropped, as AWS never hands it to a Lambda either.

A failed event stays in the queue and comes back after a backoff (its visibility timeout);
after ``max_tries`` receives it moves to the dead-letter queue and to
``<state dir>/dead-letters.jsonl``, which ``cryptotrades status`` reports and which outlives
the embedded SQS. Told to stop, the runner finishes the events in hand; events still
waiting for a retry are dead-lettered then, with the reason, so none is lost silently.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from onebox import child
from onebox.stages import DEAD_LETTERS_FILE, RUNNER, RetryPolicy, RunnerCounters
from onebox.stats import StatsFile
from producer.timing import backoff_delay

logger = logging.getLogger(__name__)

FUNCTION_NAME = "cryptotrades-aggregator-onebox"
TIMEOUT_S = 120  # the deployed function's timeout, for get_remaining_time_in_millis
RECEIVE_WAIT_S = 1  # long poll, short enough to notice a stop within a second


def next_step(tries: int, policy: RetryPolicy, jitter: float) -> int | None:
    """Seconds until a failed event's next try, or None when it goes to the dead letters."""
    if tries >= policy.max_tries:
        return None
    return math.ceil(backoff_delay(tries - 1, base=policy.base_s, cap=policy.cap_s, rand=jitter))


@dataclass(frozen=True, slots=True)
class LambdaContext:
    """What the Lambda runtime hands the handler, with the fields Powertools reads."""

    aws_request_id: str
    region: str
    deadline: float  # time.time() when the invocation would time out
    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "onebox"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


@dataclass(slots=True)
class Failing:
    """An event that failed and waits in the queue for its next try."""

    body: str
    keys: list[str]
    tries: int
    error: str
    first_failed: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class Runner:
    """Receive, invoke, delete or retry. Clients and the handler come in, so tests can pass their own."""

    def __init__(
        self,
        sqs: Any,
        handler: Callable[[dict[str, Any], Any], Any],
        *,
        queue_url: str,
        dead_letter_queue_url: str | None,
        dead_letters: Path,
        policy: RetryPolicy,
        region: str,
        stats: StatsFile,
        stop: threading.Event,
    ) -> None:
        self.sqs = sqs
        self.handler = handler
        self.queue_url = queue_url
        self.dead_letter_queue_url = dead_letter_queue_url
        self.dead_letters = dead_letters
        self.policy = policy
        self.region = region
        self.stats = stats
        self.stop = stop
        self.failing: dict[str, Failing] = {}  # by SQS message id
        self.counters = RunnerCounters(state="running")

    def run(self) -> None:
        self._report(force=True)
        while not self.stop.is_set():
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=RECEIVE_WAIT_S,
                    AttributeNames=["ApproximateReceiveCount"],
                ).get("Messages", [])
            except (BotoCoreError, ClientError) as exc:
                logger.warning("cannot receive from %s: %s; trying again in 1 s", self.queue_url, exc)
                self.stop.wait(1)
                continue
            for message in messages:  # the ones in hand are finished even when told to stop
                self._handle(message)
            self._report()
        for message_id, failing in list(self.failing.items()):
            self._dead_letter(message_id, None, failing, "the run stopped before a try succeeded")
        self.counters.state = "stopped"
        self._report(force=True)

    def _handle(self, message: dict[str, Any]) -> None:
        message_id = message["MessageId"]
        body = message["Body"]
        event = json.loads(body)
        if event.get("Event") == "s3:TestEvent":
            self.counters.test_events += 1
            self._delete(message)
            return
        keys = [r.get("s3", {}).get("object", {}).get("key", "?") for r in event.get("Records", [])]
        tries = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        context = LambdaContext(message_id, self.region, time.time() + TIMEOUT_S)
        self.counters.events += 1
        try:
            result = self.handler(event, context)
        except Exception as exc:  # the Lambda runtime's boundary: any error fails the event
            self._failed(message, keys, tries, exc)
            return
        self.failing.pop(message_id, None)
        for summary in (result or {}).get("objects", []):  # the handler's answer, as Lambda returns it
            self.counters.objects += 1
            self.counters.trades += int(summary.get("accepted", 0))
            self.counters.rejected += int(summary.get("rejected", 0))
            self.counters.duplicates += int(summary.get("duplicates", 0))
        self._delete(message)
        if keys:
            self.counters.last_object = keys[-1]
        self._report()

    def _failed(self, message: dict[str, Any], keys: list[str], tries: int, exc: Exception) -> None:
        message_id = message["MessageId"]
        self.counters.failures += 1
        error = f"{type(exc).__name__}: {exc}"
        failing = self.failing.setdefault(message_id, Failing(message["Body"], keys, tries, error))
        failing.tries, failing.error = tries, error
        delay = next_step(tries, self.policy, random.random())
        if delay is None:
            self._dead_letter(message_id, message, failing, f"failed {tries} times")
            return
        logger.warning(
            "event for %s failed (try %d of %d): %s; next try in %d s",
            keys,
            tries,
            self.policy.max_tries,
            error,
            delay,
        )
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=delay
            )
        except (BotoCoreError, ClientError) as exc2:
            logger.warning(
                "could not delay the retry of %s: %s (it comes back after the queue's default)", keys, exc2
            )
        self._report(force=True)

    def _dead_letter(
        self, message_id: str, message: dict[str, Any] | None, failing: Failing, why: str
    ) -> None:
        """Keep the event where it outlives the run, then take it out of the queue."""
        record = {
            "message_id": message_id,
            "keys": failing.keys,
            "tries": failing.tries,
            "why": why,
            "error": failing.error,
            "first_failed": failing.first_failed,
            "dead_lettered": datetime.now(UTC).isoformat(timespec="seconds"),
            "event": json.loads(failing.body),
        }
        self.dead_letters.parent.mkdir(parents=True, exist_ok=True)
        with self.dead_letters.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")
        if self.dead_letter_queue_url:
            try:
                self.sqs.send_message(QueueUrl=self.dead_letter_queue_url, MessageBody=failing.body)
            except (BotoCoreError, ClientError) as exc:
                logger.warning(
                    "could not copy %s to the dead-letter queue: %s (it is in %s)",
                    failing.keys,
                    exc,
                    self.dead_letters,
                )
        if message is not None:
            self._delete(message)
        self.failing.pop(message_id, None)
        self.counters.dead_letters += 1
        logger.error("dead letter: the event for %s %s; last error: %s", failing.keys, why, failing.error)
        self._report(force=True)

    def _delete(self, message: dict[str, Any]) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        except (BotoCoreError, ClientError) as exc:
            # It comes back and is handled again: the handler's ledger makes that a no-op.
            logger.warning("could not delete message %s: %s", message["MessageId"], exc)

    def _report(self, *, force: bool = False) -> None:
        self.counters.waiting_retry = len(self.failing)
        self.stats.write(self.counters, force=force)


def sqs_client(region: str) -> Any:
    """Honours AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL like every boto3 client."""
    return boto3.client(
        "sqs",
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=30),
    )


def load_handler(name: str) -> Callable[[dict[str, Any], Any], Any]:
    """``module.function`` -> the function, imported as the Lambda runtime imports its handler."""
    module, _, function = name.rpartition(".")
    return getattr(importlib.import_module(module), function)


def main(argv: list[str] | None = None) -> int:
    stage = child.begin(RUNNER, argv, __doc__)
    settings = stage.settings
    runner = Runner(
        sqs_client(settings.region),
        load_handler(settings.handler),
        queue_url=settings.queue_url,
        dead_letter_queue_url=settings.dead_letter_queue_url,
        dead_letters=stage.run.state_dir / DEAD_LETTERS_FILE,
        policy=settings.policy,
        region=settings.region,
        stats=stage.stats,
        stop=stage.stop,
    )
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
