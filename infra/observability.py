"""Dashboard and alarms of a region, and the alarm topic they notify.

Later capabilities add theirs with `watch_function(...)`, `add_alarm(...)` and `dashboard`.

Domain metrics are the functions' Powertools EMF metrics (namespace Switchyard, dimension
`service`, plus `source` for ingest and `destination` for delivery). Graphs find every source and
destination with SEARCH; alarms, which cannot use SEARCH, use a Metrics Insights query or the
destination-less totals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.options import StackOptions
from switchyard import constants
from switchyard.metrics import DELIVERY_OUTCOMES, ROUTER_METRICS, Metric

if TYPE_CHECKING:
    from infra.tracking_api import TrackingApi

PERIOD = Duration.minutes(5)
# Ingest answers 5xx only when it could not write to Kinesis (the SDK then retries): more than
# this share of requests in 2 of 3 periods means clients are backing off and data is delayed.
API_5XX_RATE_PERCENT = 1
LAMBDA_ERRORS_THRESHOLD = 1
# The router is behind by this much for 15 minutes: deliveries are late, and with the stream's
# retention the clock towards data loss is running.
ITERATOR_AGE_THRESHOLD = Duration.minutes(5)

# Powertools EMF metrics of the ingest function (namespace Switchyard, default dimension service).
# A SEARCH schema matches an exact set of dimension names.
RECEIVED_BY_SOURCE = f'{{Switchyard,service,source}} MetricName="{Metric.MESSAGES_RECEIVED}"'
BYTES_BY_SOURCE = f'{{Switchyard,service,source}} MetricName="{Metric.BYTES_RECEIVED}"'
DISCARDED_BY_REASON = f'{{Switchyard,reason,service,source}} MetricName="{Metric.MESSAGES_DISCARDED}"'


def firewall_requests(metric_name: str, web_acl_name: str) -> str:
    """AWS WAF's requests of one web ACL by rule (BlockedRequests, CountedRequests, ...)."""
    return f'{{AWS/WAFV2,Region,Rule,WebACL}} MetricName="{metric_name}" WebACL="{web_acl_name}"'


def by_destination(metric_name: str) -> str:
    return f'{{Switchyard,destination,service}} MetricName="{metric_name}"'


# Alarms cannot use SEARCH. A Metrics Insights query can (one per alarm) and, like SEARCH, covers
# destinations created after the deploy.
DEAD_LETTERED_ALL_DESTINATIONS = (
    f'SELECT SUM({Metric.DEAD_LETTERED}) FROM SCHEMA("{constants.METRICS_NAMESPACE}", destination, service)'  # noqa: S608
)
# The success rate needs two metrics, which one Metrics Insights query cannot give: it is computed
# from the delivery function's destination-less totals (dimension service only) of each outcome.
# Only final outcomes count: retries are not failures yet, dead letters are.
SUCCESS_RATE_PERIOD = Duration.minutes(15)
SUCCESS_RATE = (
    "IF(FILL(delivered, 0) + FILL(failed, 0) + FILL(dead, 0) > 0, "
    "FILL(delivered, 0) / (FILL(delivered, 0) + FILL(failed, 0) + FILL(dead, 0)), 1)"
)


def search(query: str, label: str, statistic: str = "Sum") -> cloudwatch.MathExpression:
    """One line per dimension value, however many sources or reasons there are."""
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{query}', '{statistic}', {int(PERIOD.to_seconds())})",
        label=label,
        period=PERIOD,
        using_metrics={},
    )


def queue_widgets(title: str, queue: sqs.IQueue) -> list[cloudwatch.GraphWidget]:
    """Depth (waiting, in flight or waiting to retry) and the age of the oldest message of a queue."""
    return [
        cloudwatch.GraphWidget(
            title=f"{title}: messages",
            width=8,
            left=[
                queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum", label="waiting"
                ),
                queue.metric_approximate_number_of_messages_not_visible(
                    period=PERIOD, statistic="Maximum", label="in flight or waiting to retry"
                ),
            ],
        ),
        cloudwatch.GraphWidget(
            title=f"{title}: age of oldest message (s)",
            width=8,
            left=[queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum", label="oldest")],
        ),
    ]


class Observability(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, options: StackOptions) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.alarms: list[cloudwatch.Alarm] = []
        self.alarm_topic = self._alarm_topic(options)
        self.alarm_action = cw_actions.SnsAction(self.alarm_topic)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"switchyard-{stack.region}",
            default_interval=Duration.hours(6),
        )

    def _alarm_topic(self, options: StackOptions) -> sns.ITopic:
        if options.alarm_topic_arn:
            topic = sns.Topic.from_topic_arn(self, "AlarmTopic", options.alarm_topic_arn)
        else:
            topic = self._new_alarm_topic()
        if options.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(options.alarm_email))
        return topic

    def _new_alarm_topic(self) -> sns.Topic:
        region = Stack.of(self).region
        return alarm_topic(
            self,
            "AlarmTopic",
            description=f"Switchyard alarm topic ({region})",
            display_name=f"Switchyard alarms ({region})",
            publish_sid="CloudWatchAlarmsOfThisAccount",
        )

    def _errors_alarm(self, errors: cloudwatch.IMetric, construct_id: str, description: str) -> None:
        """A function's errors, 2 of the last 3 periods: the rule every function alarm uses."""
        self.add_alarm(
            errors.create_alarm(
                self,
                construct_id,
                alarm_description=description,
                threshold=LAMBDA_ERRORS_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )

    def add_alarm(self, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        alarm.add_alarm_action(self.alarm_action)
        alarm.add_ok_action(self.alarm_action)
        self.alarms.append(alarm)
        return alarm

    def _failed_executions_alarm(
        self, state_machine: sfn.IStateMachine, construct_id: str, label: str, description: str
    ) -> cloudwatch.IMetric:
        """An alarm on any failed execution of a workflow; returns the metric, for its graph."""
        failed = state_machine.metric_failed(period=PERIOD, statistic="Sum", label=label)
        self.add_alarm(
            failed.create_alarm(
                self,
                construct_id,
                alarm_description=description,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        return failed

    # What the regional stack watches.

    def watch_tracking_api(self, api: TrackingApi) -> None:
        """Either kind of tracking API (REST or HTTP): requests, errors, latency, the 5xx-rate alarm."""
        requests = api.metric_requests(period=PERIOD, statistic="Sum", label="requests")
        client_errors = api.metric_client_errors(period=PERIOD, statistic="Sum", label="4xx")
        server_errors = api.metric_server_errors(period=PERIOD, statistic="Sum", label="5xx")
        rate = cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * errors / requests, 0)",
            using_metrics={"requests": requests, "errors": server_errors},
            label="5xx % of requests",
            period=PERIOD,
        )
        self.add_alarm(
            rate.create_alarm(
                self,
                "Api5xxRate",
                alarm_description=(
                    f"Tracking API answers 5xx to more than {API_5XX_RATE_PERCENT}% of requests; "
                    "SDKs are retrying and events are delayed. Check the ingest function, and the "
                    "dashboard's 'Events stream: write throttles': an on-demand stream takes 4 MB/s "
                    "(4,000 records/s) until it has carried more, then up to twice its peak of the "
                    "last 30 days; for a backfill, deploy with -c kinesis_shards=<MB/s needed> first "
                    "(README: Deploy > Backfills)."
                ),
                threshold=API_5XX_RATE_PERCENT,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Tracking API requests", left=[requests], width=8),
            cloudwatch.GraphWidget(
                title="Tracking API errors", left=[client_errors, server_errors], right=[rate], width=8
            ),
            cloudwatch.GraphWidget(
                title="Tracking API latency (ms)",
                width=8,
                left=[
                    api.metric_latency(period=PERIOD, statistic="p50", label="p50"),
                    api.metric_latency(period=PERIOD, statistic="p99", label="p99"),
                ],
            ),
        )

    def watch_firewall(self, web_acl_name: str) -> None:
        """The tracking API's web ACL: what each rule blocks (rate limits' 429s, core rules' 403s),
        and what the core rules in Count mode would have blocked (before switching one to Block)."""
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Tracking API firewall: blocked requests by rule",
                width=12,
                left=[search(firewall_requests("BlockedRequests", web_acl_name), "${PROP('Dim.Rule')}")],
            ),
            cloudwatch.GraphWidget(
                title="Tracking API firewall: counted requests by rule (core rules in Count mode)",
                width=12,
                left=[search(firewall_requests("CountedRequests", web_acl_name), "${PROP('Dim.Rule')}")],
            ),
        )

    def watch_messages(self) -> None:
        received = search(RECEIVED_BY_SOURCE, "${PROP('Dim.source')}")
        total = cloudwatch.MathExpression(
            expression="SUM(received)",
            using_metrics={"received": received},
            label="all sources",
            period=PERIOD,
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Messages received by source", left=[received], right=[total], width=8),
            cloudwatch.GraphWidget(
                title="Messages discarded by reason, requests refused",
                width=8,
                left=[search(DISCARDED_BY_REASON, "${PROP('Dim.reason')} (${PROP('Dim.source')})")],
                right=[
                    cloudwatch.Metric(
                        namespace=constants.METRICS_NAMESPACE,
                        metric_name=Metric.REQUESTS_REFUSED,
                        dimensions_map={"service": constants.SERVICE_NAME},
                        statistic="Sum",
                        period=PERIOD,
                        label="requests refused",
                    )
                ],
            ),
            cloudwatch.GraphWidget(
                title="Bytes received by source",
                width=8,
                left=[search(BYTES_BY_SOURCE, "${PROP('Dim.source')}")],
            ),
        )

    def watch_function(self, function: lambda_.IFunction, title: str) -> None:
        errors = function.metric_errors(period=PERIOD, statistic="Sum", label="errors")
        self._errors_alarm(
            errors,
            f"{title.replace(' ', '')}Errors",
            f"The {title} function fails (unhandled errors or time-outs) in 2 of the last 3 periods. "
            "See its logs and traces.",
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{title}: invocations, errors, throttles",
                width=8,
                left=[
                    function.metric_invocations(period=PERIOD, statistic="Sum", label="invocations"),
                    errors,
                    function.metric_throttles(period=PERIOD, statistic="Sum", label="throttles"),
                ],
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: duration (ms)",
                width=8,
                left=[
                    function.metric_duration(period=PERIOD, statistic="p50", label="p50"),
                    function.metric_duration(period=PERIOD, statistic="p99", label="p99"),
                    function.metric_duration(period=PERIOD, statistic="Maximum", label="max"),
                ],
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: concurrency",
                width=8,
                left=[
                    function.metric(
                        "ConcurrentExecutions",
                        period=PERIOD,
                        statistic="Maximum",
                        label="concurrent executions",
                    )
                ],
            ),
        )

    def watch_user_functions(self, functions: Mapping[str, lambda_.IFunction]) -> None:
        """Workspace functions: an errors alarm each, and one row of graphs for all of them.

        The handler turns what the code raises, and its time-out, into outcomes; a Lambda error
        means the function could not run at all (e.g. its module fails to import) or hit Lambda's
        backstop time-out, and every event sent to it is retried or dead-lettered meanwhile.
        """
        if not functions:
            return
        for function_id, function in functions.items():
            self._errors_alarm(
                function.metric_errors(period=PERIOD, statistic="Sum", label="errors"),
                f"UserFunction-{function_id}-Errors",
                f"Workspace function {function_id} fails in Lambda (it cannot load, or overran even "
                "Lambda's backstop time-out) in 2 of the last 3 periods; the events it handles are retried, "
                "then dead-lettered. See its logs, fix the file, redeploy.",
            )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Workspace functions: invocations",
                width=8,
                left=[f.metric_invocations(period=PERIOD, statistic="Sum", label=i) for i, f in functions.items()],
            ),
            cloudwatch.GraphWidget(
                title="Workspace functions: Lambda errors",
                width=8,
                left=[f.metric_errors(period=PERIOD, statistic="Sum", label=i) for i, f in functions.items()],
            ),
            cloudwatch.GraphWidget(
                title="Workspace functions: duration p99 (ms)",
                width=8,
                left=[f.metric_duration(period=PERIOD, statistic="p99", label=i) for i, f in functions.items()],
            ),
        )

    def watch_stream(self, stream: kinesis.IStream) -> None:
        iterator_age = stream.metric_get_records_iterator_age_milliseconds(
            period=PERIOD, statistic="Maximum", label="iterator age (max)"
        )
        self.add_alarm(
            iterator_age.create_alarm(
                self,
                "StreamIteratorAge",
                alarm_description="The events stream's consumer is more than "
                f"{ITERATOR_AGE_THRESHOLD.to_minutes()} minutes behind for 15 minutes; "
                "records expire at the end of the stream's retention.",
                threshold=ITERATOR_AGE_THRESHOLD.to_milliseconds(),
                evaluation_periods=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Events stream: incoming",
                width=8,
                left=[stream.metric_incoming_records(period=PERIOD, statistic="Sum", label="records")],
                right=[stream.metric_incoming_bytes(period=PERIOD, statistic="Sum", label="bytes")],
            ),
            cloudwatch.GraphWidget(title="Events stream: consumer iterator age (ms)", width=8, left=[iterator_age]),
            cloudwatch.GraphWidget(
                title="Events stream: write throttles",
                width=8,
                left=[
                    stream.metric_write_provisioned_throughput_exceeded(
                        period=PERIOD, statistic="Sum", label="write throughput exceeded"
                    ),
                    stream.metric_put_records_throttled_records(
                        period=PERIOD, statistic="Sum", label="throttled records"
                    ),
                ],
            ),
        )

    def watch_router(self) -> None:
        """The router's own figures: records in, archived, fanned out, dropped as duplicates."""
        metrics = {name: self._service_metric(name, PERIOD) for name in ROUTER_METRICS}
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Router: records, archived, deliveries enqueued",
                width=12,
                left=[metrics[Metric.ROUTER_RECORDS], metrics[Metric.ARCHIVED], metrics[Metric.FANNED_OUT]],
            ),
            cloudwatch.GraphWidget(
                title="Router: duplicates dropped, undecodable records skipped",
                width=12,
                left=[metrics[Metric.DUPLICATES], metrics[Metric.ROUTER_UNDECODABLE]],
            ),
        )

    def watch_delivery(self, queue: sqs.IQueue, dead_letter_queue: sqs.IQueue, *, success_threshold: float) -> None:
        """Outcomes per destination, the queues, and the dead-letter and success-rate alarms."""
        self._alarm_on_dead_letters(dead_letter_queue)
        success_rate = self._alarm_on_success_rate(success_threshold)
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Delivered by destination",
                width=8,
                left=[search(by_destination(Metric.DELIVERED), "${PROP('Dim.destination')}")],
                right=[success_rate],
                right_y_axis=cloudwatch.YAxisProps(min=0, max=1, show_units=False),
            ),
            cloudwatch.GraphWidget(
                title="Not delivered, retried, dead-lettered by destination",
                width=8,
                left=[
                    search(by_destination(name), f"{name} ${{PROP('Dim.destination')}}")
                    for name in DELIVERY_OUTCOMES[1:]
                ],
            ),
            cloudwatch.GraphWidget(
                title="Delivery latency p95 by destination (ms, receivedAt to answer)",
                width=8,
                left=[search(by_destination(Metric.DELIVERY_LATENCY), "${PROP('Dim.destination')}", "p95")],
            ),
            *queue_widgets("Delivery queue", queue),
            cloudwatch.GraphWidget(
                title="Dead letters",
                width=8,
                left=[
                    dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum", label="in the dead-letter queue"
                    )
                ],
                right=[search(by_destination(Metric.DEAD_LETTERED), "given up: ${PROP('Dim.destination')}")],
            ),
        )

    def watch_replay(self, state_machine: sfn.IStateMachine, queue: sqs.IQueue) -> None:
        """The replay workflow's executions and the replay lane, and an alarm on failed replays."""
        failed = self._failed_executions_alarm(
            state_machine,
            "ReplayExecutionsFailed",
            "failed",
            "A replay execution failed (an error no retry, catch or tolerated-failure threshold absorbed). "
            "`switchyard replay status <id>` shows how far it got; the workflow's execution history and logs "
            "show the failing state.",
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Replay executions",
                width=8,
                left=[
                    state_machine.metric_started(period=PERIOD, statistic="Sum", label="started"),
                    state_machine.metric_succeeded(period=PERIOD, statistic="Sum", label="succeeded"),
                    failed,
                    state_machine.metric_aborted(period=PERIOD, statistic="Sum", label="aborted (cancelled)"),
                    state_machine.metric_timed_out(period=PERIOD, statistic="Sum", label="timed out"),
                ],
            ),
            *queue_widgets("Replay queue", queue),
        )

    def watch_deletion(self, state_machine: sfn.IStateMachine) -> None:
        """An alarm on user deletions that did not complete (the workflow fails them on purpose)."""
        self._failed_executions_alarm(
            state_machine,
            "DeletionExecutionsFailed",
            "not complete",
            "A user deletion did not complete: a step failed, or a destination did not take its delete call. "
            "`switchyard users deletion <id>` shows what was done and what failed; starting the deletion again "
            "is safe (every step is idempotent).",
        )

    def _service_metric(self, name: str, period: Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=constants.METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": constants.SERVICE_NAME},
            statistic="Sum",
            period=period,
            label=name,
        )

    def _alarm_on_dead_letters(self, dead_letter_queue: sqs.IQueue) -> None:
        given_up = cloudwatch.MathExpression(
            expression=DEAD_LETTERED_ALL_DESTINATIONS,
            using_metrics={},
            label="dead-lettered, all destinations",
            period=PERIOD,
        )
        self.add_alarm(
            given_up.create_alarm(
                self,
                "DeadLetters",
                alarm_description="Deliveries were given up after their retries and stored as dead "
                "letters. See `switchyard dlq list <destination>` for the last errors; "
                "`switchyard dlq redrive <destination>` sends them again.",
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        in_queue = dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum", label="messages in the dead-letter queue"
        )
        self.add_alarm(
            in_queue.create_alarm(
                self,
                "DeliveryDeadLetterQueue",
                alarm_description="Messages reached the delivery dead-letter queue: the delivery "
                "function failed on them again and again (a bug or a malformed message, not a "
                "destination outage). See the delivery function's logs, then move them back with "
                "an SQS redrive once fixed.",
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )

    def _alarm_on_success_rate(self, threshold: float) -> cloudwatch.MathExpression:
        rate = cloudwatch.MathExpression(
            expression=SUCCESS_RATE,
            using_metrics={
                "delivered": self._service_metric(Metric.DELIVERED, SUCCESS_RATE_PERIOD),
                "failed": self._service_metric(Metric.NOT_DELIVERED, SUCCESS_RATE_PERIOD),
                "dead": self._service_metric(Metric.DEAD_LETTERED, SUCCESS_RATE_PERIOD),
            },
            label="success rate, all destinations",
            period=SUCCESS_RATE_PERIOD,
        )
        self.add_alarm(
            rate.create_alarm(
                self,
                "DeliverySuccessRate",
                alarm_description=f"Less than {threshold:.0%} of the deliveries that ended in the last "
                f"{SUCCESS_RATE_PERIOD.to_minutes()} minutes succeeded (the others were refused by "
                "their destination or given up after retries). See the dashboard's outcomes by "
                "destination and `switchyard delivery <destination>`.",
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        return rate

    def add_alarm_summary(self) -> None:
        """An alarm status row at the end, once every capability has added its alarms."""
        self.dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24))


def alarm_topic(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    display_name: str,
    publish_sid: str,
    alarm_names: str = "*",
    topic_name: str | None = None,
) -> sns.Topic:
    """An SNS topic that only this account's CloudWatch alarms named `alarm_names` may publish to,
    TLS only, encrypted with a key of its own (`<construct_id>Key`): CloudWatch cannot publish to a
    topic encrypted with the AWS-managed aws/sns key."""
    stack = Stack.of(scope)
    key = kms.Key(
        scope,
        f"{construct_id}Key",
        description=description,
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.DESTROY,
        pending_window=Duration.days(7),
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsPublishEncrypted",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],  # in a key policy: this key
        )
    )
    topic = sns.Topic(
        scope, construct_id, topic_name=topic_name, display_name=display_name, master_key=key, enforce_ssl=True
    )
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid=publish_sid,
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=alarm_names,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                },
                "StringEquals": {"aws:SourceAccount": stack.account},
            },
        )
    )
    return topic
