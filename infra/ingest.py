"""The ingest function: validates and enriches tracking calls, writes them to the events stream."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config_table import grant_workspace_read
from infra.lambda_defaults import LambdaDefaults
from infra.options import StackOptions
from infra.paths import FUNCTIONS_DIR
from switchyard import constants

INGEST_MEMORY_MB = 512  # also buys CPU: gunzip and JSON of 512 KB batches stay fast


class IngestFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        options: StackOptions,
        stream: kinesis.IStream,
        config_table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function: lambda_.Function = defaults.make_function(
            self,
            "Function",
            code=FUNCTIONS_DIR / "ingest",
            handler="handler.lambda_handler",
            description="Switchyard tracking API: validate, enrich, write to the events stream",
            environment={
                constants.ENV_EVENTS_STREAM: stream.stream_name,
                constants.ENV_CONFIG_TABLE: config_table.table_name,
                constants.ENV_STREAM_COMPRESSION: "true" if options.stream_compression else "false",
            },
            timeout=Duration.seconds(constants.INGEST_LAMBDA_TIMEOUT_SECONDS),
            memory_size=INGEST_MEMORY_MB,
            sampled_upstream=True,  # `tracing=sampled`: the REST API stage samples, ingest records those
        )
        stream.grant_write(self.function)  # kinesis:PutRecord(s), ListShards on this stream
        grant_workspace_read(config_table, self.function, suppressions=True)  # drops suppressed users' events
