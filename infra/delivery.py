"""Delivery: the queue between the router and the destinations, its dead-letter queue, the delivery
table and the delivery function.

The router enqueues one message per (event, destination). The delivery function takes batches
from the queue and reports each message it must retry as a batch item failure after setting its
visibility to the backoff delay, so a slow or failing destination holds back only its own messages:
nothing waits behind them, and SQS hands each back when its delay is over.

- **Queue**: SQS standard, SQS-managed encryption, TLS only, 14 days' retention (longer than the
  4 h retry policy by far: the margin for a delivery function broken over a weekend). Its
  visibility time-out is 6x the function's, as Lambda advises for SQS sources.
- **Dead-letter queue**: a safety net only. The retry policy gives up first (after `max_hours`, or
  on the last receive) and records what it gave up on in the delivery table (`switchyard dlq
  list/redrive`); a message reaches this queue only after `DELIVERY_QUEUE_MAX_RECEIVES` receives,
  i.e. when the function keeps failing on it (a crash loop, a bug). The delivery function consumes
  this queue too and moves each message into the same dead-letter store, so the CLI and Event
  Delivery show it and `redrive` sends it again. The dead-letter alarms watch both.
- **Delivery table**: dead letters, per-minute Event Delivery statistics and rate-limit windows,
  keyed `pk`/`sk`, with a TTL so statistics and windows expire by themselves. Dead letters are
  the operator's record of what was not delivered, so the table follows `removal_policy`.
- **Function**: outbound HTTPS to the destinations on the internet, so it runs outside any VPC.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag
from infra.config_table import grant_workspace_read
from infra.lambda_defaults import LambdaDefaults
from infra.names import kept_name
from infra.options import StackOptions
from infra.paths import FUNCTIONS_DIR
from switchyard import constants

DELIVERY_MEMORY_MB = 512
QUEUE_RETENTION = Duration.days(14)  # SQS's maximum
# What the delivery function does with its table: dead letters (put, list, delete on redrive),
# statistics (put, update counters, query a period), rate-limit windows (update, get).
DELIVERY_TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
)


def lane_queue(scope: Construct, name: str, dead_letter_queue: sqs.IQueue) -> sqs.Queue:
    """A queue of the delivery path (the live lane, the replay lane): the delivery function's
    visibility time-out and retry bookkeeping assume these settings on every lane."""
    return sqs.Queue(
        scope,
        "Queue",
        queue_name=name,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=Duration.seconds(constants.DELIVERY_QUEUE_VISIBILITY_SECONDS),
        retention_period=QUEUE_RETENTION,
        dead_letter_queue=sqs.DeadLetterQueue(
            queue=dead_letter_queue, max_receive_count=constants.DELIVERY_QUEUE_MAX_RECEIVES
        ),
        removal_policy=RemovalPolicy.DESTROY,
    )


class Delivery(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        options: StackOptions,
        config_table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region

        # Messages in flight are transient (the archive keeps every event), and fixed names must be
        # free again on redeploy: the queues go with the stack.
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=constants.resource_name(constants.DELIVERY_DLQ, region),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # The delivery function drains it into the dead-letter store: Lambda's rule for SQS sources.
            visibility_timeout=Duration.seconds(constants.DELIVERY_QUEUE_VISIBILITY_SECONDS),
            retention_period=QUEUE_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.queue = lane_queue(self, constants.resource_name(constants.DELIVERY_QUEUE, region), self.dead_letter_queue)

        retain = options.data_removal_policy == RemovalPolicy.RETAIN
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=kept_name(self, constants.DELIVERY_TABLE),  # kept: see infra/names.py
            partition_key=dynamodb.Attribute(name=constants.DELIVERY_TABLE_PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=constants.DELIVERY_TABLE_SK, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=constants.DELIVERY_TABLE_TTL_ATTRIBUTE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            # KMS (aws/dynamodb): dead letters hold whole events (user data).
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=retain,
            removal_policy=options.data_removal_policy,
        )

        self.function: lambda_.Function = defaults.make_function(
            self,
            "Function",
            code=FUNCTIONS_DIR / "delivery",
            description="Switchyard delivery: send queued events to their destination, retry, dead-letter",
            environment={
                constants.ENV_CONFIG_TABLE: config_table.table_name,
                constants.ENV_DELIVERY_TABLE: self.table.table_name,
            },
            timeout=Duration.seconds(constants.DELIVERY_LAMBDA_TIMEOUT_SECONDS),
            memory_size=DELIVERY_MEMORY_MB,
        )
        grant_workspace_read(config_table, self.function, suppressions=True)  # skips suppressed users' events
        # Destination credentials (SecureStrings written by `switchyard apply`; `aws/ssm` key, whose
        # key policy lets principals of the account decrypt through SSM).
        credentials_arn = Stack.of(self).format_arn(
            service="ssm",
            resource="parameter",
            resource_name=constants.destination_parameter(region, "*").lstrip("/"),
        )
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[credentials_arn]))
        nag.acknowledge_destination_credentials(self.function, credentials_arn)
        self.table.grant(self.function, *DELIVERY_TABLE_ACTIONS)
        # Receive, delete, change visibility (the retry delay), attributes: granted by the event
        # source. Send: the events of a message to retry while others went through are queued again
        # alone (redrives are the CLI's, with the operator's credentials).
        self.queue.grant_send_messages(self.function)
        self.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=constants.delivery_messages_per_batch(options.delivery_events_per_message),
                max_batching_window=Duration.seconds(constants.DELIVERY_BATCHING_WINDOW_SECONDS),
                report_batch_item_failures=True,
                max_concurrency=options.delivery_max_concurrency,
            )
        )
        self.function.add_event_source(
            event_sources.SqsEventSource(
                self.dead_letter_queue,
                batch_size=constants.DELIVERY_DLQ_BATCH_SIZE,
                report_batch_item_failures=True,
                max_concurrency=2,  # a trickle, never a competitor of the live lane
            )
        )
