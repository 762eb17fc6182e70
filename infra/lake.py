"""The lake (issue 11): the archive as Segment-schema Parquet tables, loaded every hour, for Athena.

- **Tables**: Parquet under `lake/<table>/source_id=<id>/date=<day>/hour=<hour>/` in the archive
  bucket (same KMS key, same lifecycle), catalogued in the `switchyard_lake` Glue database. The database
  is created here; its tables by the loader as data arrives (switchyard.lake.catalog), with partition
  projection, so nothing is registered per hour.
- **Loader** (functions/lake_loader): the shared layers plus the pyarrow layer (layers/lake), 2 GB
  (pyarrow and an hour of a source's events in memory; the memory also buys CPU), 15 minutes.
  Invoked hourly by EventBridge Scheduler at minute 10 (UTC) with `{}` (the hours due), by
  `switchyard lake load` with the hours to load, and by the user deletion's finish step for the hours a
  deletion rewrote. Its grants, each for one thing it does:
  - archive event objects `source_id=*`: read them; delete the small objects compaction merged
    (plain DeleteObject: a delete marker, the versions expire with the bucket's rule); put only
    `source_id=*/compacted-*` (its own names);
  - lake files `lake/*`: put, get, delete, and delete older versions of the files it replaces (a user
    deletion must leave no copy in the lake once the hour is reloaded);
  - load records `_lake_loads/*`: get and put, and delete an hour's failure record once it loads;
  - `s3:ListBucket` on the bucket without a prefix condition: S3 answers a GetObject of a missing key
    (an hour's first load record) with 404 only to a caller allowed `s3:ListBucket` on the bucket,
    else 403, and that check has no prefix for an `s3:prefix` condition to match (listing reveals
    key names, never contents); `s3:ListBucketVersions` only under `lake/`;
  - the archive key, only through S3 for this bucket (GenerateDataKey, Decrypt);
  - the Glue catalog, the database and its tables: GetTable, GetTables, CreateTable, UpdateTable;
  - the workspace item of the config table (which sources the lake holds);
  - `cloudwatch:GetMetricStatistics` (the router's iterator age: when an hour is complete), which
    takes no resource type, alone in its own managed policy like the X-Ray one.
- **Alarm** `LakeLoadsFailed`: any failed run in an hour (the loader fails a run when any hour failed,
  after loading the others). Later runs retry the last hours on their own; the description says how
  to reload older ones.
- **Athena workgroup** `switchyard-<region>`: results at `s3://<archive bucket>/_athena/`, encrypted
  with the archive key, enforced (clients cannot write elsewhere or unencrypted), with CloudWatch
  metrics. The analysts' policy (infra/analysts.py) grants its use.

Nothing leaves the region: tables, files, results and the schedule are this stack's.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_athena as athena
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from infra import nag
from infra.archive import Archive
from infra.config_table import grant_workspace_read
from infra.dependencies_layer import DependenciesLayer
from infra.lambda_defaults import ARCHITECTURE, RUNTIME, LambdaDefaults
from infra.observability import Observability
from infra.options import StackOptions
from infra.paths import FUNCTIONS_DIR, LAKE_LAYER_DIR
from infra.schedules import invoking_schedule
from switchyard import constants

LOADER_MEMORY_MB = 2048  # pyarrow and an hour of a source's events in memory
LOADER_TIMEOUT = Duration.seconds(constants.LAKE_LOADER_TIMEOUT_SECONDS)
LAYER_DESCRIPTION = "Switchyard lake: pyarrow (Parquet), for the lake loader only"

# Every hour at minute 10 (UTC): the router has archived the hour that just ended by then.
SCHEDULE_MINUTE = "10"
SCHEDULE_RETRY_ATTEMPTS = 2
# The one alarm of the lake: any failed run in an hour.
ALARM_PERIOD = Duration.hours(1)

# Archive keys the loader touches.
ARCHIVE_OBJECTS = "source_id=*"
COMPACTED_OBJECTS = "source_id=*/compacted-*"  # switchyard.lake.loader.compacted_key
LAKE_FILES = f"{constants.LAKE_PREFIX}*"
LOAD_RECORDS = "_lake_loads/*"  # switchyard.lake.loader.LOADS_PREFIX
ATHENA_RESULTS = f"{constants.ATHENA_RESULTS_PREFIX}*"

ARCHIVE_OBJECT_ACTIONS = ("s3:GetObject", "s3:DeleteObject")
LAKE_FILE_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion")
LOAD_RECORD_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")  # delete: a failure record, once it loads
CATALOG_ACTIONS = ("glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable")
KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
ROUTER_LAG_ACTIONS = ("cloudwatch:GetMetricStatistics",)


def workgroup_name(region: str) -> str:
    return f"{constants.SERVICE_NAME}-{region}"


def workgroup_arn(stack: Stack) -> str:
    return stack.format_arn(service="athena", resource="workgroup", resource_name=workgroup_name(stack.region))


def lake_catalog_arns(stack: Stack) -> tuple[str, str, str]:
    """The Data Catalog, the lake's database and its tables (any name: the loader creates them)."""
    return (
        stack.format_arn(service="glue", resource="catalog"),
        stack.format_arn(service="glue", resource="database", resource_name=constants.LAKE_DATABASE),
        stack.format_arn(service="glue", resource="table", resource_name=f"{constants.LAKE_DATABASE}/*"),
    )


def key_through_s3(archive: Archive, actions: tuple[str, ...], sid: str | None = None) -> iam.PolicyStatement:
    """The archive key, only as S3 uses it for this bucket's objects (with the S3 Bucket Key, the
    encryption context is the bucket's ARN)."""
    stack = Stack.of(archive)
    return iam.PolicyStatement(
        sid=sid,
        actions=list(actions),
        resources=[archive.key.key_arn],
        conditions={
            "StringEquals": {
                "kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}",
                "kms:EncryptionContext:aws:s3:arn": archive.bucket.bucket_arn,
            }
        },
    )


class Lake(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        options: StackOptions,
        archive: Archive,
        config_table: dynamodb.ITable,
        router_function: lambda_.IFunction,
        observability: Observability,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        region = stack.region
        bucket = archive.bucket

        self.layer = DependenciesLayer(
            self,
            "Pyarrow",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            source=LAKE_LAYER_DIR,
            description=LAYER_DESCRIPTION,
        ).layer
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=constants.LAKE_DATABASE,
                description="Switchyard lake: this region's events as Segment-schema Parquet tables, for Athena",
            ),
        )

        self.function: lambda_.Function = defaults.make_function(
            self,
            "Loader",
            code=FUNCTIONS_DIR / "lake_loader",
            description="Switchyard lake loader: archive hours to Parquet tables, compaction of closed hours",
            environment={
                constants.ENV_ARCHIVE_BUCKET: bucket.bucket_name,
                constants.ENV_ARCHIVE_RETENTION_DAYS: str(options.archive_retention_days),
                constants.ENV_CONFIG_TABLE: config_table.table_name,
                constants.ENV_ROUTER_FUNCTION: router_function.function_name,
            },
            timeout=LOADER_TIMEOUT,
            memory_size=LOADER_MEMORY_MB,
            extra_layers=[self.layer],
        )
        self._grant_loader(archive, config_table)

        self.schedule = self._schedule()
        self.schedule.node.add_dependency(self.database)  # its first run may create tables there
        self.alarm = self._alarm(observability, region)
        self.workgroup = self._workgroup(archive, region)
        self.workgroup_name = workgroup_name(region)

    def _grant_loader(self, archive: Archive, config_table: dynamodb.ITable) -> None:
        stack = Stack.of(self)
        bucket = archive.bucket
        function = self.function
        grant_workspace_read(config_table, function)
        # Listing: see the module docstring for why ListBucket has no prefix condition.
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucketVersions"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": LAKE_FILES}},
            )
        )
        for pattern, actions in (
            (ARCHIVE_OBJECTS, ARCHIVE_OBJECT_ACTIONS),
            (COMPACTED_OBJECTS, ("s3:PutObject",)),
            (LAKE_FILES, LAKE_FILE_ACTIONS),
            (LOAD_RECORDS, LOAD_RECORD_ACTIONS),
        ):
            function.add_to_role_policy(
                iam.PolicyStatement(actions=list(actions), resources=[bucket.arn_for_objects(pattern)])
            )
        function.add_to_role_policy(key_through_s3(archive, KEY_ACTIONS))
        catalog_arns = lake_catalog_arns(stack)
        function.add_to_role_policy(iam.PolicyStatement(actions=list(CATALOG_ACTIONS), resources=list(catalog_arns)))
        nag.acknowledge_lake_loader(function.role, bucket, catalog_arns[2])

        # The router's iterator age: a read without resource types, kept out of the role's own policy.
        self.router_lag_policy = iam.ManagedPolicy(
            self,
            "RouterLagRead",
            description="Lets the Switchyard lake loader read the router's iterator age (CloudWatch metrics)",
            statements=[iam.PolicyStatement(actions=list(ROUTER_LAG_ACTIONS), resources=["*"])],
        )
        if function.role is None:
            raise ValueError("the lake loader has no role")
        function.role.add_managed_policy(self.router_lag_policy)
        nag.acknowledge_lake_router_lag(self.router_lag_policy)

    def _schedule(self) -> scheduler.Schedule:
        """Hourly at minute 10 (UTC), `{}`, through a role that may invoke the loader and nothing else."""
        schedule, self.schedule_role = invoking_schedule(
            self,
            function=self.function,
            schedule=scheduler.ScheduleExpression.cron(minute=SCHEDULE_MINUTE, time_zone=TimeZone.ETC_UTC),
            retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
            role_description="Lets the hourly schedule invoke the Switchyard lake loader, and nothing else",
            description="Switchyard lake: load the archive hours due into the lake, hourly",
        )
        return schedule

    def _alarm(self, observability: Observability, region: str) -> cloudwatch.Alarm:
        failed = self.function.metric_errors(period=ALARM_PERIOD, statistic="Sum", label="failed runs")
        alarm = observability.add_alarm(
            failed.create_alarm(
                observability,
                "LakeLoadsFailed",
                alarm_description="A lake load failed in the last hour: some archive hours were not loaded "
                "into the lake's Parquet tables (the others were). The loader's logs name each failed hour "
                "and its error. The hourly runs retry the last "
                "hours on their own; once the cause is fixed, load older ones with "
                f"`switchyard lake load --region {region} --from <start> --to <end>` "
                "(ISO-8601 received times, e.g. --from 2026-11-01T00:00:00Z), which runs the same loader.",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        observability.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Lake loader: runs, failed runs, longest run (ms)",
                width=24,
                left=[
                    self.function.metric_invocations(period=ALARM_PERIOD, statistic="Sum", label="runs"),
                    failed,
                ],
                right=[self.function.metric_duration(period=ALARM_PERIOD, statistic="Maximum", label="longest")],
            )
        )
        return alarm

    def _workgroup(self, archive: Archive, region: str) -> athena.CfnWorkGroup:
        return athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=workgroup_name(region),
            description="Switchyard: query the archive and the lake; results encrypted in the archive bucket",
            recursive_delete_option=True,  # its saved queries and history go with the stack
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{archive.bucket.bucket_name}/{constants.ATHENA_RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=archive.key.key_arn
                    ),
                ),
            ),
        )
