"""The events stream: every accepted message, between ingest and the router.

Retention defaults to 7 days rather than Kinesis' 24 h: the stream is the only copy of an
accepted message until the router has archived it, and a router broken on a Friday evening must
not cost the weekend's data. Extended retention costs about $0.02 per shard-hour provisioned, or
per GB-month on-demand; at rest that is cents.

On demand (`kinesis_shards=0`), the stream takes 4 MB/s or 4,000 records/s of writes at first, and
then up to twice its peak of the last 30 days, reached within 15 minutes. Faster writes are
throttled: ingest answers 503 and the SDKs retry, so a `/v1/import` backfill over that rate is
slowed, not lost. To go faster, deploy with `kinesis_shards=<n>` for the backfill (n MB/s or
n x 1,000 records/s; Kinesis at most doubles a stream's shards per change, so a large step takes
several deploys) and with `0` afterwards: the stream keeps the shards it had and scales on from
there (README: Deploy > Backfills).

Encrypted with the AWS-managed `aws/kinesis` key: KMS encryption at rest without a customer key
whose per-request cost scales with every producer and consumer (cdk-nag AwsSolutions-KDS3), and
without kms:GenerateDataKey* / kms:ReEncrypt* wildcard grants on every function's role.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_kinesis as kinesis
from constructs import Construct

from infra.options import StackOptions
from switchyard import constants


class EventsStream(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, options: StackOptions) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_name=constants.resource_name(constants.EVENTS_STREAM, region),
            stream_mode=kinesis.StreamMode.ON_DEMAND if options.on_demand_stream else kinesis.StreamMode.PROVISIONED,
            shard_count=None if options.on_demand_stream else options.kinesis_shards,
            encryption=kinesis.StreamEncryption.MANAGED,
            retention_period=Duration.hours(options.stream_retention_hours),
            # Records in flight are transient by design; a fixed name must be free on redeploy.
            removal_policy=RemovalPolicy.DESTROY,
        )
