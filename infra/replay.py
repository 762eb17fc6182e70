"""Replay: the Step Functions workflow that reads a slice of the archive and sends it again, and the
replay lane of the delivery path.

- **Workflow** (Standard): plan -> Distributed Map of workers over the plan's manifest -> report.
  Its definition is `switchyard.replay.definition.DEFINITION_TEMPLATE`, deployed verbatim with
  CloudFormation substitutions for the function ARNs and the bucket name, so the text the local
  stack runs is the text that deploys (a test compares them). It has a fixed name, so its role can
  name the state machine's own ARN (the Distributed Map starts its batches as child executions of
  it) without a reference from the role to the state machine, which would be circular.
- **Logs and role**: as every workflow over the archive has them (infra/workflow.py). What a
  replay read, sent and failed is in its record in the delivery table and in the report's output.
- **Replay queue**: the workers enqueue one message per (event, destination) here, not on the
  delivery queue, and the existing delivery function consumes it through a second event source
  with its own maximum concurrency (`replay_max_concurrency`): a replay never queues in front of
  live events, and never takes more than its share of delivery functions. Same settings as the
  delivery queue (the same function, time-out and retry policy consume it). Its dead-letter queue
  is the delivery dead-letter queue: messages land there only when the delivery function itself
  keeps failing on them (a bug, a malformed message), which means the same thing and asks for the
  same fix in either lane, under the alarm that already watches it; an SQS redrive returns each
  message to the queue it came from, so replayed ones go back to the replay lane.
- **Functions**: plan (lists the archive objects of the hours in range, writes the manifest under
  `_replays/`), worker (reads a batch of archive objects, filters, enqueues on the replay queue),
  report (totals). Each role gets only what its step does.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import nag
from infra.archive import Archive
from infra.delivery import Delivery, lane_queue
from infra.lambda_defaults import LambdaDefaults
from infra.options import StackOptions
from infra.paths import FUNCTIONS_DIR
from infra.workflow import archive_workflow
from switchyard import constants
from switchyard.replay import definition

PLAN_MEMORY_MB = 512
WORKER_MEMORY_MB = 1024  # also buys CPU: gunzip and JSON of whole archive objects
REPORT_MEMORY_MB = 256

# Archive keys the replay touches: the events' objects (Hive partitions, `source_id=<id>/...`) and
# the plans' manifests, outside those partitions.
ARCHIVE_OBJECTS = "source_id=*"
MANIFESTS = f"{constants.REPLAY_MANIFEST_PREFIX}*"

# What each step does with the delivery table's replay records (parameters, status, counters).
PLAN_TABLE_ACTIONS = ("dynamodb:UpdateItem",)  # marks the replay planned
WORKER_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")  # the cancel flag, the counters
REPORT_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")


class Replay(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        options: StackOptions,
        archive: Archive,
        delivery: Delivery,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        region = stack.region

        # The replay lane: transient messages like the delivery queue's, gone with the stack.
        self.queue = lane_queue(
            self, constants.resource_name(constants.REPLAY_QUEUE, region), delivery.dead_letter_queue
        )
        # The delivery function's second source. It grants receive, delete, change visibility (the
        # retry delay) and attributes on this queue; the handler finds the queue of each message
        # from its eventSourceARN, and queues there again what it retries of a message alone.
        self.queue.grant_send_messages(delivery.function)
        delivery.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=constants.delivery_messages_per_batch(options.delivery_events_per_message),
                max_batching_window=Duration.seconds(constants.DELIVERY_BATCHING_WINDOW_SECONDS),
                report_batch_item_failures=True,
                max_concurrency=options.replay_max_concurrency,
            )
        )

        environment = {
            constants.ENV_ARCHIVE_BUCKET: archive.bucket.bucket_name,
            constants.ENV_DELIVERY_TABLE: delivery.table.table_name,
            constants.ENV_REPLAY_QUEUE_URL: self.queue.queue_url,
            constants.ENV_DELIVERY_EVENTS_PER_MESSAGE: str(options.delivery_events_per_message),
        }
        self.plan_function: lambda_.Function = defaults.make_function(
            self,
            "Plan",
            code=FUNCTIONS_DIR / "replay_plan",
            description="Switchyard replay plan: list the archive objects in range, write the manifest",
            environment=environment,
            timeout=Duration.seconds(constants.REPLAY_PLAN_TIMEOUT_SECONDS),
            memory_size=PLAN_MEMORY_MB,
        )
        self.worker_function: lambda_.Function = defaults.make_function(
            self,
            "Worker",
            code=FUNCTIONS_DIR / "replay_worker",
            description="Switchyard replay worker: read archive objects, filter, enqueue on the replay lane",
            environment=environment,
            timeout=Duration.seconds(constants.REPLAY_WORKER_TIMEOUT_SECONDS),
            memory_size=WORKER_MEMORY_MB,
        )
        self.report_function: lambda_.Function = defaults.make_function(
            self,
            "Report",
            code=FUNCTIONS_DIR / "replay_report",
            description="Switchyard replay report: final status and totals of a replay",
            environment=environment,
            timeout=Duration.seconds(constants.REPLAY_REPORT_TIMEOUT_SECONDS),
            memory_size=REPORT_MEMORY_MB,
        )

        # Plan: list the hours of one source, write its manifest, record the plan.
        archive.grant_list_objects(self.plan_function, prefix_like=ARCHIVE_OBJECTS)
        archive.grant_write_objects(self.plan_function, MANIFESTS)
        delivery.table.grant(self.plan_function, *PLAN_TABLE_ACTIONS)
        # Worker: read the batch's objects (never the manifests), enqueue, count.
        archive.grant_get_objects(self.worker_function, ARCHIVE_OBJECTS)
        self.queue.grant(self.worker_function, "sqs:SendMessage")  # also authorizes SendMessageBatch
        delivery.table.grant(self.worker_function, *WORKER_TABLE_ACTIONS)
        # Report: close the record with its totals.
        delivery.table.grant(self.report_function, *REPORT_TABLE_ACTIONS)
        nag.acknowledge_replay_manifests(self.plan_function.role, archive.bucket)
        nag.acknowledge_replay_archive_objects(self.worker_function.role, archive.bucket)

        self.state_machine = self._state_machine(options, archive)

    def _state_machine(self, options: StackOptions, archive: Archive) -> sfn.StateMachine:
        workflow = archive_workflow(
            self,
            name=constants.resource_name(constants.REPLAY_STATE_MACHINE, Stack.of(self).region),
            title="replay",
            template=definition.DEFINITION_TEMPLATE,
            substitutions={
                definition.PLAN_FUNCTION: self.plan_function.function_arn,
                definition.WORKER_FUNCTION: self.worker_function.function_arn,
                definition.REPORT_FUNCTION: self.report_function.function_arn,
                definition.ARCHIVE_BUCKET: archive.bucket.bucket_name,
            },
            functions=(self.plan_function, self.worker_function, self.report_function),
            manifests=MANIFESTS,
            archive=archive,
            options=options,
        )
        self.log_group = workflow.log_group
        self.logs_and_tracing_policy = workflow.logs_and_tracing_policy
        self.state_machine_arn = workflow.state_machine_arn
        self.child_executions_arn = workflow.child_executions_arn
        nag.acknowledge_replay_state_machine(workflow.role, archive.bucket, self.child_executions_arn)
        return workflow.state_machine
