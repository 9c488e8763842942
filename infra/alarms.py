"""Alarms on the pipeline, published to one SNS topic (optionally mailed).

The end-to-end one is ``NoNewMinuteRows``: the aggregator emits ``MinuteRowsWritten`` for
every object; five minutes with none, or with no datapoint at all (missing data breaches),
means something upstream stopped: Binance, the producer, Kafka, Vector, S3 or the Lambda.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sam as sam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from contract.pipeline import LATE_OBJECTS_METRIC, MINUTES_DISAGREEING_METRIC, MINUTES_WITHOUT_ROW_METRIC
from infra.aggregator import MINUTE_ROWS_METRIC, REJECTED_LINES_METRIC

QUIET_MINUTES = 5
LOW_STORAGE_BYTES = 2 * 1024**3
NEAR_TIMEOUT = 0.8  # an aggregator run past 80 % of its timeout is one slow object from failing


def rotation_function_names(scope: Construct) -> list[str]:
    """The function names of every secret rotation in ``scope``'s stack.

    A rotation (``add_rotation_single_user``/``multi_user``) is a serverless application whose
    ``functionName`` parameter names its function; found here so a rotation added anywhere in
    the stack gets its alarm without being passed in.
    """
    names = []
    for construct in Stack.of(scope).node.find_all():
        if isinstance(construct, sam.CfnApplication):
            parameters = Stack.of(scope).resolve(construct.parameters) or {}
            if "functionName" in parameters and "vpcSecurityGroupIds" in parameters:
                names.append(parameters["functionName"])
    return sorted(names)


class PipelineAlarms(Construct):
    """Alarms and the topic they notify.

    Parameters
    ----------
    aggregator
        The aggregator function (errors, and the namespace of its metrics).
    failed_events
        The aggregator's on-failure queue.
    metrics_namespace, service_name
        Where the handler's Powertools metrics land (``POWERTOOLS_*`` of the function).
    database
        The RDS instance (free storage).
    kafka_instance
        The Kafka host, if there is one: a failed system status check recovers it.
    timeout
        The aggregator's timeout (its duration alarm fires at 80 % of it).
    alarm_email
        An address to subscribe to the topic, or None.

    Attributes
    ----------
    topic
        The SNS topic every alarm notifies.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        aggregator: lambda_.IFunction,
        failed_events: sqs.IQueue,
        metrics_namespace: str,
        service_name: str,
        database: rds.IDatabaseInstance,
        kafka_instance: ec2.Instance | None,
        alarm_email: str | None,
        timeout: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        notify = actions.SnsAction(self.topic)

        def handler_metric(name: str, period: Duration, statistic: str = "Sum") -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=metrics_namespace,
                metric_name=name,
                dimensions_map={"service": service_name},
                statistic=statistic,
                period=period,
            )

        self.no_new_minute_rows = cloudwatch.Alarm(
            self,
            "NoNewMinuteRows",
            alarm_description=f"No minute row written for {QUIET_MINUTES} minutes: the pipeline has stopped "
            "somewhere between Binance and the database",
            metric=handler_metric(MINUTE_ROWS_METRIC, Duration.minutes(1)),
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            threshold=1,
            evaluation_periods=QUIET_MINUTES,
            datapoints_to_alarm=QUIET_MINUTES,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        self.aggregator_errors = self._any(
            "AggregatorErrors",
            "The aggregator raised (S3 or database failure); Lambda retries, then the event goes to the "
            "failed-events queue",
            aggregator.metric_errors(period=Duration.minutes(5), statistic="Sum"),
        )
        self.failed_events = self._any(
            "FailedEvents",
            "S3 events the aggregator gave up on are waiting in the failed-events queue (replay them once "
            "the cause is fixed)",
            failed_events.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
        )
        self.rejected_lines = self._any(
            "RejectedLines",
            "Lines that are not valid aggTrade events were quarantined under rejected/",
            handler_metric(REJECTED_LINES_METRIC, Duration.minutes(15)),
        )
        self.late_objects = self._any(
            "LateObjects",
            "Objects arrived with trades for final minutes (older than the raw-trade retention); their "
            "trades are counted, not stored: `cryptotrades rebuild` folds them in on purpose",
            handler_metric(LATE_OBJECTS_METRIC, Duration.minutes(15)),
        )
        # The minute check (issue 14): levels over the 24 h up to the newest kline, emitted after
        # each event; the alarm stays on while a differing minute is in that window.
        self.minutes_disagreeing = self._any(
            "MinutesDisagreeing",
            "A minute row differs from Binance's own 1-minute kline (view minute_check, "
            "`cryptotrades status` lists them): a lost or doubled trade, or a bug",
            handler_metric(MINUTES_DISAGREEING_METRIC, Duration.minutes(5), "Maximum"),
        )
        self.minutes_without_row = self._any(
            "MinutesWithoutRow",
            "Binance's kline of a minute has trades and we have no row for it: its trades never reached "
            "the database",
            handler_metric(MINUTES_WITHOUT_ROW_METRIC, Duration.minutes(5), "Maximum"),
        )
        self.low_storage = cloudwatch.Alarm(
            self,
            "DatabaseLowStorage",
            alarm_description="Under 2 GiB free on the database (autoscaling stops at its ceiling)",
            metric=database.metric_free_storage_space(period=Duration.minutes(15), statistic="Minimum"),
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            threshold=LOW_STORAGE_BYTES,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        self.aggregator_throttles = self._any(
            "AggregatorThrottles",
            "S3 events arrive faster than the aggregator's reserved concurrency serves them; Lambda "
            "retries them, but a lasting backlog ends in the failed-events queue",
            aggregator.metric_throttles(period=Duration.minutes(5), statistic="Sum"),
        )
        near = int(timeout.to_milliseconds() * NEAR_TIMEOUT)
        self.aggregator_slow = cloudwatch.Alarm(
            self,
            "AggregatorNearTimeout",
            alarm_description=f"An aggregator run took over {near} ms, 80 % of its timeout: a slow database "
            "or a large object; past the timeout the event is retried, then queued",
            metric=aggregator.metric_duration(period=Duration.minutes(5), statistic="Maximum"),
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            threshold=near,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        # A failed rotation leaves the secret's pending version unpromoted, and the next
        # rotation fails the same way: the rotation function's errors are the signal.
        self.rotation_failures = [
            self._any(
                f"RotationFailed{index}",
                f"The secret rotation function {name} failed: the database password did not rotate "
                "(its log group /aws/lambda/<name> says why)",
                cloudwatch.Metric(
                    namespace="AWS/Lambda",
                    metric_name="Errors",
                    dimensions_map={"FunctionName": name},
                    statistic="Sum",
                    period=Duration.hours(1),
                ),
            )
            for index, name in enumerate(rotation_function_names(self), start=1)
        ]
        alarms = [self.no_new_minute_rows, self.aggregator_errors, self.failed_events, self.rejected_lines]
        alarms += [self.late_objects, self.minutes_disagreeing, self.minutes_without_row]
        alarms += [self.low_storage, self.aggregator_throttles, self.aggregator_slow, *self.rotation_failures]
        if kafka_instance is not None:
            self.host_recovery = cloudwatch.Alarm(
                self,
                "KafkaHostSystemCheck",
                alarm_description="The Kafka host's hardware failed its status check: EC2 recovers it",
                metric=cloudwatch.Metric(
                    namespace="AWS/EC2",
                    metric_name="StatusCheckFailed_System",
                    dimensions_map={"InstanceId": kafka_instance.instance_id},
                    statistic="Maximum",
                    period=Duration.minutes(1),
                ),
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                threshold=1,
                evaluation_periods=2,
                treat_missing_data=cloudwatch.TreatMissingData.MISSING,
            )
            self.host_recovery.add_alarm_action(actions.Ec2Action(actions.Ec2InstanceAction.RECOVER))
            alarms.append(self.host_recovery)
        for alarm in alarms:
            alarm.add_alarm_action(notify)
            alarm.add_ok_action(notify)

    def _any(self, construct_id: str, description: str, metric: cloudwatch.IMetric) -> cloudwatch.Alarm:
        """An alarm on any occurrence in one period; no data means nothing happened."""
        return cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            threshold=1,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
