"""The config table: the applied workspace of the region, one item (so an apply is atomic)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.names import kept_name
from infra.options import StackOptions
from switchyard import constants


class ConfigTable(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, options: StackOptions) -> None:
        super().__init__(scope, construct_id)
        retain = options.data_removal_policy == RemovalPolicy.RETAIN
        self.table = dynamodb.Table(
            self,
            "Table",
            # Kept by `cdk destroy` and by a failed first deploy: a name the next stack does not reuse.
            table_name=kept_name(self, constants.CONFIG_TABLE),
            partition_key=dynamodb.Attribute(name=constants.CONFIG_PK, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            # KMS (aws/dynamodb): the item holds write keys; key use shows in CloudTrail.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=retain,
            removal_policy=options.data_removal_policy,
        )


def grant_workspace_read(table: dynamodb.ITable, grantee: iam.IGrantable, *, suppressions: bool = False) -> None:
    """`GetItem` on the workspace item only (and, for ingest, the suppressed users' item): what
    ingest, router and delivery read. The item holds write-key hashes; no function may scan or
    query the table, nor read any other item."""
    keys = [constants.CONFIG_WORKSPACE_KEY, *([constants.CONFIG_SUPPRESSIONS_KEY] if suppressions else [])]
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["dynamodb:GetItem"],
            resources=[table.table_arn],
            conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": keys}},
        )
    )
