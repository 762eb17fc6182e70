"""The archive: every accepted event as gzip JSON Lines in S3, the source of truth for replay.

Encrypted with a customer-managed KMS key (rotated yearly, S3 Bucket Key on so that KMS is called
per object batch, not per object), versioned, TLS-only, public access blocked, server access logs
to a separate bucket. Lifecycle: objects of 128 KB or more move to Intelligent-Tiering after 30
days and to Glacier Instant Retrieval after 90 (replay still reads in milliseconds), each step only
if it pays off before the expiry after `archive_retention_days`. Smaller objects stay in S3
Standard until they expire: the rule sets `TransitionDefaultMinimumObjectSize` to S3's
`all_storage_classes_128K`, under which S3 transitions nothing below 128 KB (Intelligent-Tiering
would not tier such an object, Glacier IR would bill it as 128 KB, and each transition is a paid
request). The router writes an object per shard and batch window, so at low volume most objects are
that small. Retried batches overwrite deterministic keys, so old versions are kept only
`NONCURRENT_VERSION_DAYS`. The Source Debugger's objects (`_debugger/`) expire after a day.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.names import kept_bucket_name
from infra.options import StackOptions
from switchyard import constants
from switchyard.debugger import DEBUGGER_PREFIX

INTELLIGENT_TIERING_AFTER_DAYS = 30
GLACIER_IR_AFTER_DAYS = 90
GLACIER_IR_MINIMUM_DAYS = 90  # objects deleted earlier are charged for 90 days anyway
NONCURRENT_VERSION_DAYS = 30
DEBUGGER_RETENTION_DAYS = 1  # S3's shortest expiry; the debugger shows the latest 500 messages
ABORT_MULTIPART_AFTER_DAYS = 7


def archive_transitions(retention_days: int) -> list[s3.Transition]:
    """The storage-class steps that pay off before the objects expire."""
    transitions = []
    if retention_days > INTELLIGENT_TIERING_AFTER_DAYS:
        transitions.append(
            s3.Transition(
                storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                transition_after=Duration.days(INTELLIGENT_TIERING_AFTER_DAYS),
            )
        )
    if retention_days >= GLACIER_IR_AFTER_DAYS + GLACIER_IR_MINIMUM_DAYS:
        transitions.append(
            s3.Transition(
                storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                transition_after=Duration.days(GLACIER_IR_AFTER_DAYS),
            )
        )
    return transitions


class Archive(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, options: StackOptions) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logs can only be delivered to an SSE-S3 bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(options.log_retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(ABORT_MULTIPART_AFTER_DAYS),
                )
            ],
            removal_policy=options.data_removal_policy,
        )
        self.key = kms.Key(
            self,
            "Key",
            description=f"Switchyard archive ({stack.region})",
            enable_key_rotation=True,
            removal_policy=options.removal_policy_except_on_create,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=kept_bucket_name(self, constants.ARCHIVE_BUCKET),  # kept: see infra/names.py
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            versioned=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="archive/",
            # Stated rather than left to S3's default for new buckets, which the claims above rely on.
            transition_default_minimum_object_size=s3.TransitionDefaultMinimumObjectSize.ALL_STORAGE_CLASSES_128_K,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="tier-and-expire",
                    transitions=archive_transitions(options.archive_retention_days),
                    expiration=Duration.days(options.archive_retention_days),
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(ABORT_MULTIPART_AFTER_DAYS),
                ),
                # The Source Debugger's messages: a day's worth, then gone (and their versions with them).
                s3.LifecycleRule(
                    id="expire-debugger-messages",
                    prefix=DEBUGGER_PREFIX,
                    expiration=Duration.days(DEBUGGER_RETENTION_DAYS),
                    noncurrent_version_expiration=Duration.days(DEBUGGER_RETENTION_DAYS),
                ),
                # S3 refuses ExpiredObjectDeleteMarker beside Days in one rule.
                s3.LifecycleRule(id="remove-expired-delete-markers", expired_object_delete_marker=True),
            ],
            removal_policy=options.data_removal_policy,
        )

    # Narrow grants for the capabilities that use the archive (router, replay). The bucket's own
    # grant_* methods add kms:GenerateDataKey* / kms:ReEncrypt* wildcards; S3 needs less.

    def grant_write_objects(self, grantee: iam.IGrantable, key_pattern: str = "*") -> None:
        """PutObject on the archive objects matching `key_pattern` (router: any key, since keys are
        deterministic and a retried batch overwrites; replay planning: its manifests only)."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:PutObject"], resource_arns=[self.bucket.arn_for_objects(key_pattern)]
        )
        self.key.grant(grantee, "kms:GenerateDataKey", "kms:Decrypt")  # Decrypt: multipart uploads

    def grant_list_objects(self, grantee: iam.IGrantable, prefix_like: str | None = None) -> None:
        """ListBucket on the archive; with `prefix_like`, only listings whose prefix matches it."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:ListBucket"],
            resource_arns=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": prefix_like}} if prefix_like else None,
        )

    def grant_get_objects(self, grantee: iam.IGrantable, key_pattern: str = "*") -> None:
        """GetObject on the archive objects matching `key_pattern`, and the key to decrypt them."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:GetObject"], resource_arns=[self.bucket.arn_for_objects(key_pattern)]
        )
        self.key.grant(grantee, "kms:Decrypt")

    def grant_read_objects(self, grantee: iam.IGrantable) -> None:
        """List and read every archive object."""
        self.grant_list_objects(grantee)
        self.grant_get_objects(grantee)
