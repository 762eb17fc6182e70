"""Names and limits shared by the CDK stacks, the Lambda functions and the local stack.

One place, so that `switchyard dev` creates exactly the resources `cdk deploy` creates and the
handlers enforce exactly the limits the API documents.
"""

from __future__ import annotations

SERVICE_NAME = "switchyard"
METRICS_NAMESPACE = "Switchyard"

# Regions: one independent stack each; nothing crosses regions.
DEFAULT_REGION = "us-west-2"
REGIONS = {"us-west-2": "Switchyard-Oregon", "eu-west-1": "Switchyard-Dublin"}


def resource_name(kind: str, region: str) -> str:
    """Physical name of a regional resource, identical in AWS and in the local stack; in AWS the
    resources `cdk destroy` keeps (config and delivery tables, archive) add the stack id's first 8
    hex digits (infra/names.py), so a new stack never collides with them."""
    return f"switchyard-{kind}-{region}"


# Resource kinds (see resource_name).
EVENTS_STREAM = "events"
CONFIG_TABLE = "config"
DEDUPE_TABLE = "dedupe"
ARCHIVE_BUCKET = "archive"
DELIVERY_QUEUE = "delivery"
DELIVERY_DLQ = "delivery-dlq"  # SQS safety net; given-up events go to the delivery table's dead letters
DELIVERY_TABLE = "delivery"  # dead letters, Event Delivery statistics, rate-limit windows, replays
REPLAY_QUEUE = "replay"  # the replay lane of the delivery path: replays never queue behind live events
REPLAY_STATE_MACHINE = "replay"
DELETION_STATE_MACHINE = "user-deletion"


def archive_bucket_name(region: str, account: str) -> str:
    """Physical name of the regional archive bucket (S3 names are global, so the account is in it)."""
    return f"{resource_name(ARCHIVE_BUCKET, region)}-{account}"


# Stack outputs: stable keys the CLI reads to find a deployed region's resources.
OUTPUT_API_ENDPOINT = "ApiEndpoint"
OUTPUT_EVENTS_STREAM = "EventsStreamName"
OUTPUT_CONFIG_TABLE = "ConfigTableName"
OUTPUT_ARCHIVE_BUCKET = "ArchiveBucketName"
OUTPUT_DEDUPE_TABLE = "DedupeTableName"
OUTPUT_DELIVERY_QUEUE = "DeliveryQueueUrl"
OUTPUT_DELIVERY_TABLE = "DeliveryTableName"
OUTPUT_REPLAY_STATE_MACHINE = "ReplayStateMachineArn"
OUTPUT_REPLAY_QUEUE = "ReplayQueueUrl"
OUTPUT_DELETION_STATE_MACHINE = "DeletionStateMachineArn"
OUTPUT_ARCHIVE_RETENTION_DAYS = "ArchiveRetentionDays"
OUTPUT_ALARM_TOPIC = "AlarmTopicArn"
# Only with a custom domain: the regional API Gateway domain the DNS record must point at.
OUTPUT_API_DOMAIN_TARGET = "ApiDomainTarget"
# Where source-function webhooks are (POST <url>/<function id>?token=...): <ApiEndpoint>/functions on
# the HTTP API, <ApiEndpoint>/v1/functions on the REST API (the `waf` option).
OUTPUT_FUNCTION_WEBHOOKS = "FunctionWebhooksUrl"
# Only with the `waf` option: the tracking API's web ACL.
OUTPUT_WEB_ACL = "WebAclArn"
# The managed policy analysts' roles attach to query the archive with Athena (read and decrypt it).
OUTPUT_ANALYSTS_POLICY = "AnalystsPolicyArn"

# Environment variables the functions read (validated once per function, see settings.py).
ENV_EVENTS_STREAM = "EVENTS_STREAM_NAME"
ENV_CONFIG_TABLE = "CONFIG_TABLE_NAME"
ENV_REGION = "SWITCHYARD_REGION"
ENV_CONFIG_CACHE_SECONDS = "CONFIG_CACHE_SECONDS"
ENV_DEDUPE_TABLE = "DEDUPE_TABLE_NAME"
ENV_DEDUPE_WINDOW_HOURS = "DEDUPE_WINDOW_HOURS"
ENV_ARCHIVE_BUCKET = "ARCHIVE_BUCKET_NAME"
ENV_ARCHIVE_RETENTION_DAYS = "ARCHIVE_RETENTION_DAYS"
ENV_ROUTER_FUNCTION = "ROUTER_FUNCTION_NAME"
ENV_DELIVERY_QUEUE_URL = "DELIVERY_QUEUE_URL"
ENV_DELIVERY_EVENTS_PER_MESSAGE = "DELIVERY_EVENTS_PER_MESSAGE"
ENV_DELIVERY_TABLE = "DELIVERY_TABLE_NAME"
ENV_REPLAY_QUEUE_URL = "REPLAY_QUEUE_URL"
# "true": ingest deflates each stream record (the `stream_compression` option, switchyard.stream_codec).
ENV_STREAM_COMPRESSION = "STREAM_COMPRESSION"

# Config table layout: the whole applied workspace is one item, so an apply is atomic.
CONFIG_PK = "pk"
CONFIG_WORKSPACE_KEY = "workspace"
CONFIG_SUPPRESSIONS_KEY = "suppressions"  # suppressed userIds and anonymousIds (privacy/suppression.py)

# Dedupe table layout.
DEDUPE_PK = "pk"
DEDUPE_TTL_ATTRIBUTE = "expires_at"
DEFAULT_DEDUPE_WINDOW_HOURS = 24

# Tracking API limits (docs: ../shared/docs/tracking-api.md).
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 512 * 1024
MAX_BATCH_ITEMS = 2500
MAX_MESSAGE_ID_CHARS = 100
# The SDKs keep a message under 32 KB before the server adds its fields (receivedAt, context.ip,
# batch context...); the stored form gets this much room on top so no SDK-accepted message is lost.
MAX_STORED_MESSAGE_BYTES = MAX_MESSAGE_BYTES + 4 * 1024
# Discarded messages: samples kept per request (shapes, not values), the size of each, and how
# many such log lines an execution environment writes a minute (the metrics count every discard).
DISCARD_SAMPLES_PER_REQUEST = 3
DISCARD_SAMPLE_CHARS = 2048
DISCARD_LOG_LINES_PER_MINUTE = 10
# A gzip body is inflated to at most this many bytes; anything larger is a 413, not an OOM.
MAX_INFLATED_BYTES = MAX_BATCH_BYTES
# Concatenated gzip members read in one body (SDKs send one; `cat a.gz b.gz` a few).
MAX_GZIP_MEMBERS = 64

# Kinesis PutRecords limits.
KINESIS_MAX_RECORDS_PER_PUT = 500
KINESIS_MAX_BYTES_PER_PUT = 5 * 1024 * 1024
KINESIS_MAX_PARTITION_KEY_CHARS = 256

# Ingest must answer before API Gateway's 30 s integration time-out, with room for a source
# function (10 s + margin) and the stream write budget (8 s).
INGEST_LAMBDA_TIMEOUT_SECONDS = 25
INGEST_PUT_BUDGET_SECONDS = 8.0

DEFAULT_CONFIG_CACHE_SECONDS = 10.0
# Destination credentials per delivery worker: SSM's default throughput is 40 reads/s per account
# and region, so 50 workers x 10 destinations stay under 2/s. A rotation takes effect within this
# time, which is why a rotated signing secret stays valid beside the new one (`previous_secret`).
CREDENTIALS_CACHE_SECONDS = 300.0

# The tracking API as a REST API (the `waf` stack option: AWS WAF cannot protect an HTTP API). A
# REST API's execute-api URL always starts with its stage, so the stage is named `v1` and holds the
# contract's /v1 paths: SDKs keep the bare host (`/v1/track` is stage v1, resource /track). A custom
# domain maps `v1` to that stage the same way.
REST_API_STAGE = "v1"
# Its resources below the stage, with their methods: the HTTP API's routes without /v1.
REST_API_RESOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/{call}", ("POST", "OPTIONS")),
    ("/pixel/{type}", ("GET", "OPTIONS")),
    ("/projects/{writeKey}/settings", ("GET", "OPTIONS")),
    ("/functions/{function_id}", ("POST",)),
    ("/openapi.json", ("GET",)),
)
# The HTTP API's paths outside /v1: source-function webhooks and the OpenAPI document. Nothing can
# sit outside a REST API's stage, so there they are /v1/functions/{id} and /v1/openapi.json; the
# ingest handler still routes them by their HTTP API path.
FUNCTION_WEBHOOK_PATH = "/functions"
OPENAPI_PATH = "/openapi.json"
HTTP_API_ROOT_PATHS = (f"{FUNCTION_WEBHOOK_PATH}/", OPENAPI_PATH)

# Router: Kinesis event source mapping and its own limits.
ROUTER_BATCH_SIZE = 500
ROUTER_BATCHING_WINDOW_SECONDS = 1
ROUTER_LAMBDA_TIMEOUT_SECONDS = 120
ROUTER_DEDUPE_CONCURRENCY = 16  # conditional writes in flight per batch: ~3,000/s at 5 ms each, 3x a shard's 1,000/s

# Delivery: SQS event source mapping; the Lambda must outlive the slowest destination time-out.
DELIVERY_BATCH_SIZE = 50  # events per invocation: the event source takes this many // events per message
# Events of one destination per queue message (the `delivery_events_per_message` stack option):
# one SQS send slot, receive and delete for all of them. At 10, a 1.5 KB event's message is ~15 KB,
# and a batch of ten such messages stays well under SQS's 256 KB per request.
DELIVERY_EVENTS_PER_MESSAGE = 10
# CloudWatch bills each metric (name and dimension values) monthly, so per-source and per-destination
# figures name at most this many of each, the first in the workspace file; the others are counted
# together under OTHER_METRIC_NAME. Per-destination figures for all stay in the Event Delivery
# statistics (`switchyard delivery`), which are DynamoDB counters.
METRIC_NAMED_IDS = 20
OTHER_METRIC_NAME = "_other"
MAX_DELIVERY_EVENTS_PER_MESSAGE = 50


def delivery_messages_per_batch(events_per_message: int) -> int:
    """The delivery event source's batch size: about DELIVERY_BATCH_SIZE events per invocation, which
    the deliverer's time budget is planned for."""
    return max(1, DELIVERY_BATCH_SIZE // events_per_message)


DELIVERY_BATCHING_WINDOW_SECONDS = 1
DELIVERY_LAMBDA_TIMEOUT_SECONDS = 60
DELIVERY_QUEUE_VISIBILITY_SECONDS = 6 * DELIVERY_LAMBDA_TIMEOUT_SECONDS
# SQS's own redrive is only a safety net behind our retry policy (4 h of backoff by default).
DELIVERY_QUEUE_MAX_RECEIVES = 1000
DELIVERY_DLQ_BATCH_SIZE = 10  # moved into the dead-letter store, ten at a time
DELIVERY_TABLE_PK = "pk"
DELIVERY_TABLE_SK = "sk"
DELIVERY_TABLE_TTL_ATTRIBUTE = "expires_at"

# Replay: a Step Functions workflow (plan -> Distributed Map of workers -> report).
REPLAY_PLAN_TIMEOUT_SECONDS = 300
REPLAY_WORKER_TIMEOUT_SECONDS = 900
REPLAY_REPORT_TIMEOUT_SECONDS = 60
REPLAY_MANIFEST_PREFIX = "_replays/"  # in the archive bucket, outside the Hive partitions Athena reads
# User deletions' manifests, per-batch object lists and reports, likewise outside the partitions.
DELETION_PREFIX = "_deletions/"
# The lake (issue 11): Segment-schema Parquet tables in the archive bucket, catalogued in Glue.
LAKE_PREFIX = "lake/"
LAKE_DATABASE = "switchyard_lake"
LAKE_LOADER = "lake-loader"  # the loader function's name stem: switchyard-lake-loader-<region>
LAKE_LOADER_TIMEOUT_SECONDS = 900  # a busy source-hour: its archive read, its tables written
ATHENA_RESULTS_PREFIX = "_athena/"  # the workgroup's query results, in the archive bucket
OUTPUT_LAKE_DATABASE = "LakeDatabaseName"
OUTPUT_LAKE_LOADER = "LakeLoaderFunctionName"
OUTPUT_ATHENA_WORKGROUP = "AthenaWorkGroupName"
ENV_LAKE_LOADER_FUNCTION = "LAKE_LOADER_FUNCTION_NAME"
DELETION_PLAN_TIMEOUT_SECONDS = 900  # lists every version of the archive
DELETION_WORKER_TIMEOUT_SECONDS = 900
DELETION_FINISH_TIMEOUT_SECONDS = 900  # destinations' delete calls, with their retries

# User functions: each its own Lambda (no pipeline permissions), invoked by the pipeline.
USER_FUNCTION_MAX_TIMEOUT_SECONDS = 30
SOURCE_FUNCTION_MAX_TIMEOUT_SECONDS = 10  # it answers inside the tracking API's request
USER_FUNCTION_LAMBDA_MARGIN_SECONDS = 3


def user_function_name(function_id: str, region: str) -> str:
    return f"switchyard-fn-{function_id}-{region}"


def destination_parameter(region: str, destination_id: str) -> str:
    """SSM parameter holding a destination's credentials (JSON: the settings its type marks secret)."""
    return f"/switchyard/{region}/destinations/{destination_id}/credentials"


def function_parameter(region: str, function_id: str, what: str) -> str:
    """SSM parameter of a user function: `secrets` (JSON) or, for source functions, `token`."""
    return f"/switchyard/{region}/functions/{function_id}/{what}"
