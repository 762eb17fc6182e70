"""The dedupe table: one item per (source, messageId) claimed, expiring after the dedupe window.

The router writes it conditionally (one claim per event); DynamoDB's TTL deletes expired claims
(usually within a day or two of `expires_at`, so readers also compare `expires_at` to now).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.options import StackOptions
from switchyard import constants


class DedupeTable(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, options: StackOptions) -> None:
        super().__init__(scope, construct_id)
        self.window_hours = options.dedupe_window_hours
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=constants.resource_name(constants.DEDUPE_TABLE, Stack.of(self).region),
            partition_key=dynamodb.Attribute(name=constants.DEDUPE_PK, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=constants.DEDUPE_TTL_ATTRIBUTE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Claims are only useful for the dedupe window; a fixed name must be free on redeploy.
            removal_policy=RemovalPolicy.DESTROY,
        )
