"""User deletion: the Step Functions workflow that suppresses users, rewrites the archive without
them, clears what the delivery table keeps of them and asks each destination to delete them.

- **Workflow** (Standard): plan -> Distributed Map scan -> Distributed Map rewrite -> finish. Its
  definition is `switchyard.privacy.deletion.definition.DEFINITION_TEMPLATE`, deployed verbatim
  (infra/workflow.py has the role, logs and tracing every workflow over the archive shares).
- **Functions**, each with only what its step does:
  - plan: adds the ids to the suppressed users' item of the config table, lists every version of
    the event objects, writes the manifest under `_deletions/`;
  - worker: reads, rewrites and deletes versions of event objects, adds the tied anonymousIds to
    the suppressed users, removes dedupe claims, writes its batch's list of changed objects;
  - finish: reads the workspace, queries and deletes the delivery table's samples and dead
    letters, deletes the debugger's samples (every version under `_debugger/`), reads destination
    credentials, calls the tools (and invokes destination functions, granted in stack.py once they
    exist), asks the lake loader to reload the hours the deletion rewrote (invokes that one
    function), writes the report and the audit record.
- Nothing leaves the region: the report and the audit record stay in this stack's bucket and table.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import nag
from infra.archive import Archive
from infra.config_table import grant_workspace_read
from infra.delivery import Delivery
from infra.lambda_defaults import LambdaDefaults
from infra.options import StackOptions
from infra.paths import FUNCTIONS_DIR
from infra.workflow import archive_workflow
from switchyard import constants
from switchyard.debugger import DEBUGGER_PREFIX
from switchyard.privacy.deletion import definition

PLAN_MEMORY_MB = 512
WORKER_MEMORY_MB = 1024  # also buys CPU: gunzip and JSON of whole archive objects
FINISH_MEMORY_MB = 512

ARCHIVE_OBJECTS = "source_id=*"
RECORDS = f"{constants.DELETION_PREFIX}*"
DEBUGGER_OBJECTS = f"{DEBUGGER_PREFIX}*"

# The delivery table's items each step touches (the audit record, the samples, the dead letters).
PLAN_TABLE_ACTIONS = ("dynamodb:UpdateItem",)  # running, with the plan's size
WORKER_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")  # the ties, the counters
FINISH_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:DeleteItem")
FINISH_TABLE_KEYS = ("deletion#*", "errors#*", "dlq#*", "violation-samples#*")


class Deletion(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        options: StackOptions,
        archive: Archive,
        delivery: Delivery,
        config_table: dynamodb.ITable,
        dedupe_table: dynamodb.ITable,
        lake_loader: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self._defaults = defaults
        region = Stack.of(self).region
        environment = {
            constants.ENV_ARCHIVE_BUCKET: archive.bucket.bucket_name,
            constants.ENV_DELIVERY_TABLE: delivery.table.table_name,
            constants.ENV_CONFIG_TABLE: config_table.table_name,
            constants.ENV_DEDUPE_TABLE: dedupe_table.table_name,
            constants.ENV_REGION: region,
        }
        self.plan_function = self._function(
            "Plan",
            "deletion_plan",
            "suppress, list every archived version",
            environment,
            PLAN_MEMORY_MB,
            constants.DELETION_PLAN_TIMEOUT_SECONDS,
        )
        self.worker_function = self._function(
            "Worker",
            "deletion_worker",
            "rewrite archive objects without the users",
            environment,
            WORKER_MEMORY_MB,
            constants.DELETION_WORKER_TIMEOUT_SECONDS,
        )
        self.finish_function = self._function(
            "Finish",
            "deletion_finish",
            "samples, dead letters, destinations' deletes, lake reloads, report",
            {**environment, constants.ENV_LAKE_LOADER_FUNCTION: lake_loader.function_name},
            FINISH_MEMORY_MB,
            constants.DELETION_FINISH_TIMEOUT_SECONDS,
        )
        bucket = archive.bucket

        # Plan: suppress, list the versions of the event objects, write the manifest.
        _grant_suppressions(config_table, self.plan_function)
        _grant_list_versions(self.plan_function, bucket)
        _grant_objects(self.plan_function, bucket, RECORDS, "s3:PutObject")
        delivery.table.grant(self.plan_function, *PLAN_TABLE_ACTIONS)
        # Worker: the event objects' versions, the dedupe claims, the ties, its part of the report.
        _grant_suppressions(config_table, self.worker_function)
        _grant_list_versions(self.worker_function, bucket)
        _grant_objects(
            self.worker_function,
            bucket,
            ARCHIVE_OBJECTS,
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:PutObject",
            "s3:DeleteObjectVersion",
        )
        _grant_objects(self.worker_function, bucket, RECORDS, "s3:PutObject")
        dedupe_table.grant(self.worker_function, "dynamodb:BatchWriteItem")  # DeleteRequests only
        delivery.table.grant(self.worker_function, *WORKER_TABLE_ACTIONS)
        # Finish: the workspace, the stored samples and dead letters, destination credentials, the report.
        grant_workspace_read(config_table, self.finish_function)
        self.finish_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(FINISH_TABLE_ACTIONS),
                resources=[delivery.table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(FINISH_TABLE_KEYS)}},
            )
        )
        iam.Grant.add_to_principal(
            grantee=self.finish_function,
            actions=["s3:ListBucket"],
            resource_arns=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": RECORDS}},
        )
        _grant_objects(self.finish_function, bucket, RECORDS, "s3:GetObject", "s3:PutObject")
        # The debugger's samples may hold the users' events: every version under `_debugger/` is deleted.
        iam.Grant.add_to_principal(
            grantee=self.finish_function,
            actions=["s3:ListBucketVersions"],
            resource_arns=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": DEBUGGER_OBJECTS}},
        )
        _grant_objects(self.finish_function, bucket, DEBUGGER_OBJECTS, "s3:DeleteObjectVersion")
        credentials_arn = Stack.of(self).format_arn(
            service="ssm",
            resource="parameter",
            resource_name=constants.destination_parameter(region, "*").lstrip("/"),
        )
        self.finish_function.add_to_role_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[credentials_arn])
        )
        nag.acknowledge_destination_credentials(self.finish_function, credentials_arn)
        # The lake's hours the deletion rewrote: the loader's exact ARN (not `grant_invoke`, which adds `:*`).
        self.finish_function.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[lake_loader.function_arn])
        )
        for function in (self.plan_function, self.worker_function, self.finish_function):
            archive.key.grant(function, "kms:GenerateDataKey", "kms:Decrypt")
        nag.acknowledge_deletion_grants(self.plan_function.role, bucket, archive_objects=False)
        nag.acknowledge_deletion_grants(self.worker_function.role, bucket, archive_objects=True)
        nag.acknowledge_deletion_grants(self.finish_function.role, bucket, archive_objects=False, debugger_objects=True)

        workflow = archive_workflow(
            self,
            name=constants.resource_name(constants.DELETION_STATE_MACHINE, region),
            title="user deletion",
            template=definition.DEFINITION_TEMPLATE,
            substitutions={
                definition.PLAN_FUNCTION: self.plan_function.function_arn,
                definition.WORKER_FUNCTION: self.worker_function.function_arn,
                definition.FINISH_FUNCTION: self.finish_function.function_arn,
                definition.ARCHIVE_BUCKET: bucket.bucket_name,
            },
            functions=(self.plan_function, self.worker_function, self.finish_function),
            manifests=RECORDS,
            archive=archive,
            options=options,
        )
        self.state_machine = workflow.state_machine
        self.child_executions_arn = workflow.child_executions_arn
        nag.acknowledge_deletion_state_machine(workflow.role, bucket, workflow.child_executions_arn)

    def _function(
        self, construct_id: str, handler: str, what: str, environment: dict[str, str], memory: int, timeout: int
    ) -> lambda_.Function:
        return self._defaults.make_function(
            self,
            construct_id,
            code=FUNCTIONS_DIR / handler,
            description=f"Switchyard user deletion {construct_id.lower()}: {what}",
            environment=environment,
            timeout=Duration.seconds(timeout),
            memory_size=memory,
        )


def _grant_suppressions(config_table: dynamodb.ITable, function: lambda_.Function) -> None:
    """UpdateItem (ADD) on the suppressed users' item only, never the workspace."""
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["dynamodb:UpdateItem"],
            resources=[config_table.table_arn],
            conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [constants.CONFIG_SUPPRESSIONS_KEY]}},
        )
    )


def _grant_list_versions(function: lambda_.Function, bucket: s3.IBucket) -> None:
    iam.Grant.add_to_principal(
        grantee=function,
        actions=["s3:ListBucketVersions"],
        resource_arns=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": ARCHIVE_OBJECTS}},
    )


def _grant_objects(function: lambda_.Function, bucket: s3.IBucket, pattern: str, *actions: str) -> None:
    iam.Grant.add_to_principal(grantee=function, actions=list(actions), resource_arns=[bucket.arn_for_objects(pattern)])
