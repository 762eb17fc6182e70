"""The analysts' managed policy: what querying the archive's Athena table takes, beyond Athena itself.

Athena reads a table's objects with the caller's own credentials, so an analyst needs, besides
their Athena access (a workgroup and its query results location: AWS's `AmazonAthenaFullAccess`,
or the workgroup's own policy):

- the table and its database in the Glue Data Catalog (`switchyard.archive`, read only);
- the event objects of the archive bucket (`source_id=*`: the table's partitions; not the replay
  and deletion records beside them), listed under those prefixes only;
- `kms:Decrypt` on the archive key, only through S3 in this region and only for this bucket's
  objects (the S3 Bucket Key's encryption context is the bucket's ARN).

Attach it to the analysts' roles, groups or users (`AnalystsPolicyArn`), or name it in an IAM
Identity Center permission set: its name, `switchyard-archive-analysts-<region>`, is fixed, which
is safe because the stack deletes it with itself and on rollback. It grants nothing else: no
write, no other prefix, no other table, no key use outside S3.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra import nag
from infra.archive import Archive
from infra.archive_catalog import DATABASE_NAME, TABLE_NAME

# The Glue Data Catalog reads Athena makes to plan a query over a table.
GLUE_READ_ACTIONS = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
)
# The table's partitions (Hive-style, `source_id=<id>/date=.../hour=.../`).
EVENT_OBJECTS = "source_id=*"


def analysts_policy_name(region: str) -> str:
    return f"switchyard-archive-analysts-{region}"


class AnalystsAccess(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, archive: Archive) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        bucket = archive.bucket
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            managed_policy_name=analysts_policy_name(stack.region),
            description=f"Query the Switchyard archive of {stack.region} with Athena: read the "
            f"{DATABASE_NAME}.{TABLE_NAME} table, its objects and their key (with Athena access of your own)",
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
            ],
        )
        nag.acknowledge_analysts_policy(self.policy, bucket)
