"""The dedupe table: one item per (source, messageId) claimed, expiring after the dedupe window.

The router writes it conditionally (one claim per event); DynamoDB's TTL deletes expired claims
(usually within a day or two of `expires_at`, so readers also compare `expires_at` to now).

Capacity (`dedupe_capacity`): on-demand by default; `provisioned` auto-scales write capacity to
keep 70% of it used, between `dedupe_min_write_capacity` and `dedupe_max_write_capacity`, with a
fixed read unit (the router's claims are conditional puts: it never reads). Scaling up takes a few
minutes, during which a sudden burst above the provisioned writes is throttled: the router retries
its writes, then reports the undecided records as failed and its event source retries them (a
delay, nothing lost). No point-in-time recovery in either mode: the table holds only the dedupe
window's claims, and a restore would bring back stale claims.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra import nag
from infra.options import StackOptions
from switchyard import constants

DEDUPE_TARGET_UTILIZATION_PERCENT = 70
DEDUPE_READ_CAPACITY = 1  # the router never reads it; a table needs at least one unit


class DedupeTable(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, options: StackOptions) -> None:
        super().__init__(scope, construct_id)
        self.window_hours = options.dedupe_window_hours
        capacity: dict[str, object] = {"billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST}
        if options.provisioned_dedupe:
            capacity = {
                "billing_mode": dynamodb.BillingMode.PROVISIONED,
                "read_capacity": DEDUPE_READ_CAPACITY,
                "write_capacity": options.dedupe_min_write_capacity,
            }
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=constants.resource_name(constants.DEDUPE_TABLE, Stack.of(self).region),
            partition_key=dynamodb.Attribute(name=constants.DEDUPE_PK, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=constants.DEDUPE_TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # Stated, so a table deployed with it before turns it off.
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=False
            ),
            # Claims are only useful for the dedupe window; a fixed name must be free on redeploy.
            removal_policy=RemovalPolicy.DESTROY,
            **capacity,
        )
        if options.provisioned_dedupe:
            # Stated (CDK leaves PROVISIONED, CloudFormation's default, out), so a switch from
            # on-demand reads as one in the template.
            cfn_table = self.table.node.default_child
            if not isinstance(cfn_table, dynamodb.CfnTable):
                raise TypeError(f"unexpected table resource {cfn_table!r}")
            cfn_table.billing_mode = "PROVISIONED"
            self.table.auto_scale_write_capacity(
                min_capacity=options.dedupe_min_write_capacity, max_capacity=options.dedupe_max_write_capacity
            ).scale_on_utilization(target_utilization_percent=DEDUPE_TARGET_UTILIZATION_PERCENT)
        nag.acknowledge_dedupe_without_backups(self.table)
