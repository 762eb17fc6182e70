"""The analysts' managed policy: what querying the archive and the lake with Athena takes.

Athena reads a table's objects, and writes a query's results, with the caller's own credentials, so
an analyst needs all of these (enough to query through the API or the AWS CLI; `switchyard lake
query` also reads the stack's outputs, `cloudformation:DescribeStacks`, and the Athena console lists
workgroups and data catalogs, which take access of their own):

- the archive's table and its database in the Glue Data Catalog (`switchyard.archive`, read only);
- the event objects of the archive bucket (`source_id=*`: the table's partitions; not the replay,
  deletion and lake-load records beside them), listed under those prefixes only;
- the lake: its database `switchyard_lake` and its tables (any name: the loader creates them as data
  arrives), read only, and their Parquet files (`lake/*`), listed under that prefix only;
- the stack's Athena workgroup `switchyard-<region>` (start, follow, stop queries, read their
  results; not create or change workgroups), whose enforced results location is `_athena/` in the
  archive bucket: read and write there, listings under that prefix only;
- the archive key, only through S3 in this region and only for this bucket's objects (the S3 Bucket
  Key's encryption context is the bucket's ARN): `kms:Decrypt` to read, `kms:GenerateDataKey` to
  write query results.

Attach it to the analysts' roles, groups or users (`AnalystsPolicyArn`), or name it in an IAM
Identity Center permission set: its name, `switchyard-archive-analysts-<region>`, is fixed, which
is safe because the stack deletes it with itself and on rollback. It grants nothing else: no
write but query results, no other prefix, database or workgroup, no key use outside S3.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra import nag
from infra.archive import Archive
from infra.archive_catalog import DATABASE_NAME, TABLE_NAME
from infra.lake import ATHENA_RESULTS, LAKE_FILES, key_through_s3, lake_catalog_arns, workgroup_arn, workgroup_name
from switchyard import constants

# The Glue Data Catalog reads Athena makes to plan a query over a table.
GLUE_READ_ACTIONS = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
)
# The lake's tables are created at run time: listing them is a read too.
LAKE_GLUE_READ_ACTIONS = (*GLUE_READ_ACTIONS, "glue:GetTables")
# The table's partitions (Hive-style, `source_id=<id>/date=.../hour=.../`).
EVENT_OBJECTS = "source_id=*"
# Running queries in the stack's workgroup and reading their results (no workgroup changes).
ATHENA_QUERY_ACTIONS = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "athena:GetWorkGroup",
)
QUERY_RESULTS_ACTIONS = ("s3:GetObject", "s3:PutObject")


def analysts_policy_name(region: str) -> str:
    return f"switchyard-archive-analysts-{region}"


class AnalystsAccess(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, archive: Archive) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        bucket = archive.bucket
        lake_catalog = lake_catalog_arns(stack)
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            managed_policy_name=analysts_policy_name(stack.region),
            description=f"Query the Switchyard archive and lake of {stack.region} with Athena: read the "
            f"{DATABASE_NAME}.{TABLE_NAME} table, the {constants.LAKE_DATABASE} tables, their objects and "
            f"their key, in the {workgroup_name(stack.region)} workgroup (results in its own location)",
            statements=[
                iam.PolicyStatement(
                    sid="ArchiveTable",
                    actions=list(GLUE_READ_ACTIONS),
                    resources=[
                        stack.format_arn(service="glue", resource="catalog"),
                        stack.format_arn(service="glue", resource="database", resource_name=DATABASE_NAME),
                        stack.format_arn(
                            service="glue", resource="table", resource_name=f"{DATABASE_NAME}/{TABLE_NAME}"
                        ),
                    ],
                ),
                iam.PolicyStatement(
                    sid="ArchiveBucket", actions=["s3:GetBucketLocation"], resources=[bucket.bucket_arn]
                ),
                iam.PolicyStatement(
                    sid="ListEventObjects",
                    actions=["s3:ListBucket"],
                    resources=[bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": EVENT_OBJECTS}},
                ),
                iam.PolicyStatement(
                    sid="ReadEventObjects",
                    actions=["s3:GetObject"],
                    resources=[bucket.arn_for_objects(EVENT_OBJECTS)],
                ),
                iam.PolicyStatement(
                    sid="DecryptEventObjects",
                    actions=["kms:Decrypt"],
                    resources=[archive.key.key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}",
                            "kms:EncryptionContext:aws:s3:arn": bucket.bucket_arn,
                        }
                    },
                ),
                # The lake: its tables (created at run time) and their Parquet files.
                iam.PolicyStatement(
                    sid="LakeTables", actions=list(LAKE_GLUE_READ_ACTIONS), resources=list(lake_catalog)
                ),
                iam.PolicyStatement(
                    sid="ListLakeFiles",
                    actions=["s3:ListBucket"],
                    resources=[bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": LAKE_FILES}},
                ),
                iam.PolicyStatement(
                    sid="ReadLakeFiles", actions=["s3:GetObject"], resources=[bucket.arn_for_objects(LAKE_FILES)]
                ),
                # The workgroup, and its enforced results location in the archive bucket.
                iam.PolicyStatement(
                    sid="AthenaWorkGroup", actions=list(ATHENA_QUERY_ACTIONS), resources=[workgroup_arn(stack)]
                ),
                iam.PolicyStatement(
                    sid="ListQueryResults",
                    actions=["s3:ListBucket"],
                    resources=[bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": ATHENA_RESULTS}},
                ),
                iam.PolicyStatement(
                    sid="QueryResults",
                    actions=list(QUERY_RESULTS_ACTIONS),
                    resources=[bucket.arn_for_objects(ATHENA_RESULTS)],
                ),
                key_through_s3(archive, ("kms:GenerateDataKey",), sid="EncryptQueryResults"),
            ],
        )
        nag.acknowledge_analysts_policy(self.policy, bucket, lake_catalog[2])
