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
    """Physical name of a regional resource, identical in AWS and in the local stack."""
    return f"switchyard-{kind}-{region}"


# Resource kinds (see resource_name).
EVENTS_STREAM = "events"
CONFIG_TABLE = "config"
DEDUPE_TABLE = "dedupe"
ARCHIVE_BUCKET = "archive"


def archive_bucket_name(region: str, account: str) -> str:
    """Physical name of the regional archive bucket (S3 names are global, so the account is in it)."""
    return f"{resource_name(ARCHIVE_BUCKET, region)}-{account}"


# Stack outputs: stable keys the CLI reads to find a deployed region's resources.
OUTPUT_API_ENDPOINT = "ApiEndpoint"
OUTPUT_EVENTS_STREAM = "EventsStreamName"
OUTPUT_CONFIG_TABLE = "ConfigTableName"
OUTPUT_ARCHIVE_BUCKET = "ArchiveBucketName"
OUTPUT_DEDUPE_TABLE = "DedupeTableName"
OUTPUT_ALARM_TOPIC = "AlarmTopicArn"
# Only with a custom domain: the regional API Gateway domain the DNS record must point at.
OUTPUT_API_DOMAIN_TARGET = "ApiDomainTarget"

# Environment variables the functions read (validated once per function, see settings.py).
ENV_EVENTS_STREAM = "EVENTS_STREAM_NAME"
ENV_CONFIG_TABLE = "CONFIG_TABLE_NAME"
ENV_REGION = "SWITCHYARD_REGION"
ENV_CONFIG_CACHE_SECONDS = "CONFIG_CACHE_SECONDS"

# Config table layout: the whole applied workspace is one item, so an apply is atomic.
CONFIG_PK = "pk"
CONFIG_WORKSPACE_KEY = "workspace"

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
# A gzip body is inflated to at most this many bytes; anything larger is a 413, not an OOM.
MAX_INFLATED_BYTES = MAX_BATCH_BYTES

# Kinesis PutRecords limits.
KINESIS_MAX_RECORDS_PER_PUT = 500
KINESIS_MAX_BYTES_PER_PUT = 5 * 1024 * 1024
KINESIS_MAX_PARTITION_KEY_CHARS = 256

# Ingest must answer well before API Gateway's 30 s integration time-out.
INGEST_LAMBDA_TIMEOUT_SECONDS = 15
INGEST_PUT_BUDGET_SECONDS = 8.0

DEFAULT_CONFIG_CACHE_SECONDS = 10.0

# API Gateway stage throttling (Segment asks clients to stay under 1,000 req/s per workspace).
API_THROTTLE_RATE = 1000
API_THROTTLE_BURST = 2000
