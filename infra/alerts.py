"""Workspace alerts: what the stack owns of them (README "Alerts").

The alarms themselves depend on the workspace file, which is applied at run time: `switchyard
apply` creates, updates and deletes them through the CloudWatch API (switchyard.alerts.manager),
named with the region's alarm prefix. The stack provides what they need and what does not change
with the file:

- **Topic**: the SNS topic every workspace alarm notifies (encrypted with its own key, which
  CloudWatch may use; published to only by this account's alarms). `apply` subscribes the
  `notify.email` addresses; they are not the operators of `alarm_email`, whose topic carries the
  stack's own alarms.
- **Forwarder**: a Lambda subscribed to the topic, posting each notification to the Slack webhook
  `apply` keeps in SSM (`ssm:GetParameter` on that one parameter).
- **Volume check**: a Lambda run every CHECK_INTERVAL_MINUTES by EventBridge Scheduler that feeds
  the source-volume alarms (switchyard.alerts.volume): CloudWatch reads and a write of its own
  metric, in a policy of their own.

Both functions' errors alarm to the operators' topic like every other function's.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra import nag
from infra.lambda_defaults import LambdaDefaults
from infra.observability import Observability, alarm_topic
from infra.paths import FUNCTIONS_DIR
from infra.schedules import invoking_schedule
from switchyard import constants
from switchyard.alerts.names import ALERTS_TOPIC, CHECK_INTERVAL_MINUTES, alarm_prefix, slack_webhook_parameter

FORWARDER_TIMEOUT = Duration.seconds(30)
CHECK_TIMEOUT = Duration.seconds(60)
SCHEDULE_RETRY_ATTEMPTS = 0  # a missed check is replaced by the next, minutes later
# The volume check's metric reads (alarms of the prefix, MessagesReceived) and its own metric.
METRIC_READ_ACTIONS = ("cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData")


class Alerts(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, defaults: LambdaDefaults, observability: Observability
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        self.topic = self._topic(region)
        self.forwarder = self._forwarder(defaults, region)
        self.checker = self._checker(defaults)
        observability.watch_function(self.forwarder, "Alert forwarder")
        observability.watch_function(self.checker, "Alert volume check")

    def _topic(self, region: str) -> sns.Topic:
        return alarm_topic(
            self,
            "Topic",
            description=f"Switchyard workspace alerts topic ({region})",
            display_name=f"Switchyard alerts ({region})",
            publish_sid="WorkspaceAlarmsOfThisAccount",
            alarm_names=f"{alarm_prefix(region)}*",
            topic_name=constants.resource_name(ALERTS_TOPIC, region),
        )

    def _forwarder(self, defaults: LambdaDefaults, region: str) -> lambda_.Function:
        function = defaults.make_function(
            self,
            "Forwarder",
            code=FUNCTIONS_DIR / "alert_forwarder",
            description="Switchyard alerts: post each alert notification to the workspace's Slack webhook",
            timeout=FORWARDER_TIMEOUT,
            memory_size=256,
        )
        # The webhook URL: a SecureString under the `aws/ssm` key, whose key policy lets principals of
        # the account decrypt through SSM, so GetParameter on the one parameter is the control.
        webhook_arn = Stack.of(self).format_arn(
            service="ssm", resource="parameter", resource_name=slack_webhook_parameter(region).lstrip("/")
        )
        function.add_to_role_policy(iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[webhook_arn]))
        self.topic.add_subscription(subscriptions.LambdaSubscription(function))
        return function

    def _checker(self, defaults: LambdaDefaults) -> lambda_.Function:
        function = defaults.make_function(
            self,
            "VolumeCheck",
            code=FUNCTIONS_DIR / "alert_checker",
            description="Switchyard alerts: each source-volume alert's window against the same window a week earlier",
            timeout=CHECK_TIMEOUT,
            memory_size=256,
        )
        policy = iam.ManagedPolicy(
            self,
            "VolumeCheckMetrics",
            description="Lets the Switchyard alerts' volume check read the workspace alarms and metrics, and "
            "publish its own metric",
            statements=[
                iam.PolicyStatement(actions=list(METRIC_READ_ACTIONS), resources=["*"]),
                iam.PolicyStatement(
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": constants.METRICS_NAMESPACE}},
                ),
            ],
        )
        if function.role is None:
            raise ValueError("the volume check has no role")
        function.role.add_managed_policy(policy)
        Validations.of(policy).acknowledge(nag.ALERTS_VOLUME_CHECK_METRICS)
        self.schedule = self._schedule(function)
        return function

    def _schedule(self, function: lambda_.Function) -> scheduler.Schedule:
        """Every CHECK_INTERVAL_MINUTES, through a role that may invoke the check and nothing else."""
        schedule, _ = invoking_schedule(
            self,
            function=function,
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(CHECK_INTERVAL_MINUTES)),
            retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
            role_description="Lets the schedule invoke the Switchyard alerts' volume check, and nothing else",
            description="Switchyard alerts: compare source volumes with a week earlier",
        )
        return schedule
