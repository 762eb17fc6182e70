"""The ingest function: validates and enriches tracking calls, writes them to the events stream.

It also serves the browser library (switchyard.ingest.browser_library), so its asset is the handler
plus the npm package's build (`npm ci` put it in node_modules; package.json pins it) under
`analytics-next/`, copied at synth without Docker. The asset's hash covers both: a new pin is a new
deployment of the function.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import AssetHashType, BundlingOptions, Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import bundling
from infra.config_table import grant_workspace_read
from infra.lambda_defaults import RUNTIME, LambdaDefaults
from infra.options import StackOptions
from infra.paths import FUNCTIONS_DIR
from switchyard import constants
from switchyard.ingest import browser_library
from switchyard.ingest.discard_stats import KEY_PREFIX as DISCARD_KEY_PREFIX

INGEST_MEMORY_MB = 512  # also buys CPU: gunzip and JSON of 512 KB batches stay fast
INGEST_DIR = FUNCTIONS_DIR / "ingest"
_SKIPPED = ("__pycache__", "tests", browser_library.LIBRARY_DIR_NAME)


def ingest_files(handler_dir: Path = INGEST_DIR) -> dict[str, Path]:
    """What the function's asset holds: the handler's files, and the browser library's build from
    the link beside them (functions/ingest/analytics-next -> node_modules/...)."""
    handler_dir = Path(handler_dir)
    files = {
        path.relative_to(handler_dir).as_posix(): path
        for path in handler_dir.rglob("*")
        if path.is_file()
        and not path.name.endswith((".pyc", ".pyo"))
        and not set(path.relative_to(handler_dir).parts) & set(_SKIPPED)
    }
    library = handler_dir / browser_library.LIBRARY_DIR_NAME
    if not library.is_dir():
        raise FileNotFoundError(f"{library} does not lead to @segment/analytics-next's build: run `npm ci`")
    for name in browser_library.shipped_names(library):
        files[f"{browser_library.LIBRARY_DIR_NAME}/{name}"] = library / name
    return files


def ingest_code(handler_dir: Path = INGEST_DIR) -> lambda_.Code:
    files = ingest_files(handler_dir)
    return lambda_.Code.from_asset(
        str(handler_dir),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=bundling.files_hash(files),
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,  # required by the API, never pulled
            local=bundling.FilesBundler(files),
        ),
    )


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
            code=ingest_code(),
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

    def count_discards_in(self, delivery_table: dynamodb.ITable) -> None:
        """The Delivery Overview's "failed on ingest": discard counts per source and minute (UpdateItem
        ADD on `ingest#<source>` items only, written by requests with discarded messages)."""
        self.function.add_environment(constants.ENV_DELIVERY_TABLE, delivery_table.table_name)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem"],
                resources=[delivery_table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{DISCARD_KEY_PREFIX}*"]}},
            )
        )
