"""The router function: consumes the events stream; applies sources' schema filters and tracking
plans, dedupes, archives, fans out to the delivery queue, and counts tracking plan violations in
the delivery table (for `switchyard violations`), usage and MTUs (`switchyard usage`), and writes
the Source Debugger's sampled messages beside the archive (`switchyard debugger`).

Its Kinesis event source retries a failing batch until it succeeds (no maximum retry count or
record age: a record is dropped by nothing but the end of the stream's retention, and the
iterator-age alarm fires long before that), bisects a failing batch to isolate a bad record, and
takes the handler's partial-failure report so a retry resumes at the first failed record. Retried
records are neither archived twice (deterministic object keys) nor mistaken for duplicates (the
dedupe claim remembers the stream record that made it).
"""

from __future__ import annotations

import math

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag
from infra.archive import Archive
from infra.config_table import grant_workspace_read
from infra.lambda_defaults import LambdaDefaults
from infra.options import StackOptions
from infra.paths import FUNCTIONS_DIR
from switchyard import constants
from switchyard.debugger import ENV_DEBUGGER_MESSAGES_PER_SECOND
from switchyard.usage import USAGE_PK_PREFIX

ROUTER_MEMORY_MB = 1024  # also buys CPU: gzip of the archive objects, JSON of 500-record batches
# The router's time budget per record of its largest batch (`router_batch_size`), beyond the base
# time-out: a claim is a ~5 ms conditional write (16 in flight), the CPU well under 1 ms, so 30 ms a
# record leaves room for throttled writes' retries. 120 s covers batches up to 4,000 records; the
# largest, 10,000, gets 300 s. Lambda's invocation payload (6 MB) caps a batch of 1.5 KB events at
# about 4,000 records anyway; only small events fill 10,000.
ROUTER_SECONDS_PER_RECORD = 0.03
MAX_LAMBDA_TIMEOUT_SECONDS = 900


def router_timeout_seconds(batch_size: int) -> int:
    """The router's time-out for batches of up to `batch_size` records: at least
    constants.ROUTER_LAMBDA_TIMEOUT_SECONDS, ROUTER_SECONDS_PER_RECORD for each record."""
    budget = math.ceil(batch_size * ROUTER_SECONDS_PER_RECORD)
    return min(MAX_LAMBDA_TIMEOUT_SECONDS, max(constants.ROUTER_LAMBDA_TIMEOUT_SECONDS, budget))


# The delivery-table items the router writes (router/violations.py, privacy/inventory.py).
ROUTER_DELIVERY_TABLE_KEYS = ("violations#*", "violation-samples#*", "pii#*")
# The usage items it reads and updates (usage/store.py).
USAGE_KEYS = f"{USAGE_PK_PREFIX}*"


class Router(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        options: StackOptions,
        stream: kinesis.IStream,
        config_table: dynamodb.ITable,
        dedupe_table: dynamodb.ITable,
        archive: Archive,
        delivery_queue: sqs.IQueue,
        delivery_table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function: lambda_.Function = defaults.make_function(
            self,
            "Function",
            code=FUNCTIONS_DIR / "router",
            description="Switchyard router: dedupe, archive and fan out the events stream",
            environment={
                constants.ENV_CONFIG_TABLE: config_table.table_name,
                constants.ENV_DEDUPE_TABLE: dedupe_table.table_name,
                constants.ENV_DEDUPE_WINDOW_HOURS: str(options.dedupe_window_hours),
                constants.ENV_ARCHIVE_BUCKET: archive.bucket.bucket_name,
                constants.ENV_DELIVERY_QUEUE_URL: delivery_queue.queue_url,
                constants.ENV_DELIVERY_EVENTS_PER_MESSAGE: str(options.delivery_events_per_message),
                constants.ENV_DELIVERY_TABLE: delivery_table.table_name,
                ENV_DEBUGGER_MESSAGES_PER_SECOND: str(options.debugger_messages_per_second),
            },
            timeout=Duration.seconds(router_timeout_seconds(options.router_batch_size)),
            memory_size=ROUTER_MEMORY_MB,
        )
        grant_workspace_read(config_table, self.function, suppressions=True)  # drops suppressed users' events
        # Claims are conditional puts (the condition reads the old item server-side): no reads.
        dedupe_table.grant(self.function, "dynamodb:PutItem")
        archive.grant_write_objects(self.function)  # PutObject on archive objects, any key
        nag.acknowledge_archive_objects(self.function, archive.bucket)
        delivery_queue.grant_send_messages(self.function)
        # Tracking plans' violation counts (UpdateItem ADD) and latest samples (PutItem), and the
        # personal-data inventory: only their own items (never dead letters, stats or rate windows); no reads.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[delivery_table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(ROUTER_DELIVERY_TABLE_KEYS)}},
            )
        )
        # Usage (switchyard.usage.store): per source, hour and shard, a counters item (UpdateItem ADD)
        # and a sketch item, read when the instance has no copy of it and updated on the condition of
        # its version; nothing else.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[delivery_table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [USAGE_KEYS]}},
            )
        )
        # The debugger's objects (`_debugger/...`) are archive objects: the PutObject above covers them.
        # The event source grants the stream reads it needs (and nothing to write).
        self.function.add_event_source(
            event_sources.KinesisEventSource(
                stream,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                # `router_batch_size` records at most; `router_batching_window_seconds` waited for
                # them (a record waits up to that long before the router sees it).
                batch_size=options.router_batch_size,
                max_batching_window=Duration.seconds(options.router_batching_window_seconds),
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                parallelization_factor=options.router_parallelization,
                # retry_attempts and max_record_age left unset: Lambda's default is to retry until
                # the record expires from the stream, so nothing accepted is dropped.
            )
        )
