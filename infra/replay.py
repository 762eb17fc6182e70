"""Replay: the Step Functions workflow that reads a slice of the archive and sends it again, and the
replay lane of the delivery path.

- **Workflow** (Standard): plan -> Distributed Map of workers over the plan's manifest -> report.
  Its definition is `switchyard.replay.definition.DEFINITION_TEMPLATE`, deployed verbatim with
  CloudFormation substitutions for the function ARNs and the bucket name, so the text the local
  stack runs is the text that deploys (a test compares them). It has a fixed name, so its role can
  name the state machine's own ARN (the Distributed Map starts its batches as child executions of
  it) without a reference from the role to the state machine, which would be circular.
- **Logs**: level ALL (every state transition, as cdk-nag asks), without execution data: states'
  inputs and outputs, and errors' causes, can hold archived events (user data), which live only
  in the archive and the delivery path, never in logs with their own retention. What a replay
  read, sent and failed is in its record in the delivery table and in the report step's output.
  X-Ray tracing on. The log-delivery and X-Ray actions, which take no resource, sit alone in a
  managed policy of their own (as the functions' X-Ray policy does), set on the role through
  escape hatches rather than CDK's `logs`/`tracing_enabled`, which would put them in the role's
  default policy among the narrow grants.
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

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import nag
from infra.archive import Archive
from infra.delivery import Delivery, lane_queue
from infra.lambda_defaults import LambdaDefaults
from infra.options import StackOptions
from infra.paths import FUNCTIONS_DIR
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

# Step Functions' logging to CloudWatch Logs goes through the vended log delivery API, and its
# tracing through X-Ray: none of these actions supports resource-level permissions.
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
]
STATE_MACHINE_XRAY_ACTIONS = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
]


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
        # from its eventSourceARN.
        delivery.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=constants.DELIVERY_BATCH_SIZE,
                max_batching_window=Duration.seconds(constants.DELIVERY_BATCHING_WINDOW_SECONDS),
                report_batch_item_failures=True,
                max_concurrency=options.replay_max_concurrency,
            )
        )

        environment = {
            constants.ENV_ARCHIVE_BUCKET: archive.bucket.bucket_name,
            constants.ENV_DELIVERY_TABLE: delivery.table.table_name,
            constants.ENV_REPLAY_QUEUE_URL: self.queue.queue_url,
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
        stack = Stack.of(self)
        name = constants.resource_name(constants.REPLAY_STATE_MACHINE, stack.region)
        self.state_machine_arn = stack.format_arn(
            service="states", resource="stateMachine", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        # Distributed Map child executions: `execution:<name>/<map run>:<id>`.
        self.child_executions_arn = stack.format_arn(
            service="states", resource="execution", resource_name=f"{name}/*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )

        self.log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            retention=options.log_retention,
            removal_policy=options.data_removal_policy,
        )
        self.logs_and_tracing_policy = iam.ManagedPolicy(
            self,
            "StateMachineLogsAndTracing",
            description="Lets the Switchyard replay workflow deliver its logs and X-Ray traces",
            statements=[
                iam.PolicyStatement(actions=[*LOG_DELIVERY_ACTIONS, *STATE_MACHINE_XRAY_ACTIONS], resources=["*"])
            ],
        )
        nag.acknowledge_state_machine_logs_and_tracing(self.logs_and_tracing_policy)
        # A managed policy of the role: CloudFormation attaches it before creating the state
        # machine, which checks at creation that its role may deliver logs.
        role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"Runs the {name} workflow: its three functions, its manifests, its own child executions",
            managed_policies=[self.logs_and_tracing_policy],
        )
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["lambda:InvokeFunction"],
            # Unqualified ARNs, as the definition invokes them: no versions or aliases.
            resource_arns=[f.function_arn for f in (self.plan_function, self.worker_function, self.report_function)],
        )
        # The Distributed Map's ItemReader reads the plan's manifest.
        iam.Grant.add_to_principal(
            grantee=role, actions=["s3:GetObject"], resource_arns=[archive.bucket.arn_for_objects(MANIFESTS)]
        )
        archive.key.grant(role, "kms:Decrypt")
        # The Distributed Map runs each batch as a child execution of this state machine.
        iam.Grant.add_to_principal(
            grantee=role, actions=["states:StartExecution"], resource_arns=[self.state_machine_arn]
        )
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["states:DescribeExecution", "states:StopExecution"],
            resource_arns=[self.child_executions_arn],
        )

        state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition.DEFINITION_TEMPLATE),
            definition_substitutions={
                definition.PLAN_FUNCTION: self.plan_function.function_arn,
                definition.WORKER_FUNCTION: self.worker_function.function_arn,
                definition.REPORT_FUNCTION: self.report_function.function_arn,
                definition.ARCHIVE_BUCKET: archive.bucket.bucket_name,
            },
            role=role,
            removal_policy=RemovalPolicy.DESTROY,  # replay records live in the delivery table
        )
        # Logs and tracing on the resource itself: `logs=` and `tracing_enabled=` would add the
        # wildcard statements of the managed policy above to the role's default policy.
        cfn = state_machine.node.default_child
        if not isinstance(cfn, sfn.CfnStateMachine):
            raise TypeError(f"unexpected state machine resource {cfn!r}")
        cfn.logging_configuration = sfn.CfnStateMachine.LoggingConfigurationProperty(
            level=sfn.LogLevel.ALL.value,
            include_execution_data=False,
            destinations=[
                sfn.CfnStateMachine.LogDestinationProperty(
                    cloud_watch_logs_log_group=sfn.CfnStateMachine.CloudWatchLogsLogGroupProperty(
                        log_group_arn=self.log_group.log_group_arn
                    )
                )
            ],
        )
        cfn.tracing_configuration = sfn.CfnStateMachine.TracingConfigurationProperty(enabled=True)
        nag.acknowledge_replay_state_machine(role, archive.bucket, self.child_executions_arn)
        return state_machine
