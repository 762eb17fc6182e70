"""The archive as an Athena table: a Glue database and table over the archive bucket.

Objects are `source_id=<id>/date=YYYY-MM-DD/hour=HH/<name>.jsonl.gz` (received time, UTC): gzip
JSON Lines, one Segment message per line. Partition projection computes the partitions from the
query, so nothing has to be registered when a source, a day or an hour appears:

- `source_id` is *injected*: source ids are not known at deploy time, so a query must name them
  (`WHERE source_id = 'web'` or `source_id IN ('web', 'ios')`), which also keeps scans small;
- `date` is a `yyyy-MM-dd` date from `archive_retention_days` ago to today (UTC), like the
  objects the lifecycle keeps;
- `hour` is `00` to `23`.

Rows go through the OpenX JSON SerDe (case-insensitive: column `messageid` reads `messageId`).
Nested objects (`properties`, `traits`, `context`, `integrations`) are string columns holding their
JSON, for `json_extract_scalar(properties, '$.plan')`: Segment payloads have no fixed schema.

The same table as Athena DDL, for reading or recreating it by hand, is `ATHENA_DDL_PATH`, generated
by `athena_ddl()` from the definitions below (a test keeps the file and the table identical).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.options import StackOptions
from infra.paths import ROOT
from switchyard.lake.catalog import hour_projection

DATABASE_NAME = "switchyard"
TABLE_NAME = "archive"
ATHENA_DDL_PATH = ROOT / "infra" / "athena" / "archive_table.sql"

SERDE = "org.openx.data.jsonserde.JsonSerDe"
# A query over months must not fail on one damaged line; the router writes only valid JSON.
SERDE_PARAMETERS = {"ignore.malformed.json": "true"}
INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"  # reads .gz transparently
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str


COLUMNS = (
    Column("messageid", "string", "messageId: unique per source (deduplicated by the router)"),
    Column("type", "string", "track, identify, page, screen, group or alias"),
    Column("event", "string", "track: the event name"),
    Column("name", "string", "page and screen: the page or screen name"),
    Column("userid", "string", "userId"),
    Column("anonymousid", "string", "anonymousId"),
    Column("groupid", "string", "group: groupId"),
    Column("previousid", "string", "alias: previousId"),
    Column("timestamp", "string", "ISO 8601: when it happened (corrected for client clock skew)"),
    Column("originaltimestamp", "string", "ISO 8601: the timestamp set by the client"),
    Column("sentat", "string", "ISO 8601: when the SDK sent it"),
    Column("receivedat", "string", "ISO 8601: when Switchyard received it (sets date and hour)"),
    Column("projectid", "string", "the source id"),
    Column("receivedregion", "string", "the region that received it"),
    Column("properties", "string", "JSON object: track, page and screen properties"),
    Column("traits", "string", "JSON object: identify and group traits"),
    Column("context", "string", "JSON object: context (library, ip, userAgent, ...)"),
    Column("integrations", "string", "JSON object: per-destination switches and options"),
)

PARTITION_KEYS = (
    Column("source_id", "string", "the source the events came in through (injected: name it in WHERE)"),
    Column("date", "string", "received date, yyyy-MM-dd (UTC)"),
    Column("hour", "string", "received hour, 00-23 (UTC)"),
)


def table_parameters(location: str, retention_days: int) -> dict[str, str]:
    """Table properties: classification and partition projection over `location` (ends with '/')."""
    return {
        "classification": "json",
        "compressionType": "gzip",
        "projection.source_id.type": "injected",
        **hour_projection(location, retention_days),
    }


def athena_ddl(bucket: str = "<ArchiveBucketName>", retention_days: int = 365) -> str:
    """The table as Athena DDL (what `ATHENA_DDL_PATH` holds, with placeholders)."""

    def columns(items: tuple[Column, ...]) -> str:
        quoted = [(f"`{c.name}`", c) for c in items]
        width = max(len(name) for name, _ in quoted)
        return ",\n".join(f"  {name:<{width}} {c.type} COMMENT '{c.comment}'" for name, c in quoted)

    def properties(values: dict[str, str]) -> str:
        quoted = {f"'{k}'": v for k, v in values.items()}
        width = max(len(k) for k in quoted)
        return ",\n".join(f"  {k:<{width}} = '{v}'" for k, v in quoted.items())

    location = f"s3://{bucket}/"
    return f"""-- The Switchyard archive as an Athena table: `{DATABASE_NAME}.{TABLE_NAME}`.
--
-- Each regional stack already creates this table in its region's Glue Data Catalog; this is the
-- same definition as DDL (generated from infra/archive_catalog.py, which a test keeps in step),
-- for reading or for recreating it by hand. Replace {bucket} with that stack output,
-- and {retention_days} with the stack's archive_retention_days if you changed it.
--
-- Partitions are projected, never registered. source_id is injected: every query must name the
-- source(s). `date` and `timestamp` are reserved words (quote them in queries). Example:
--
--   SELECT type, event, count(*) AS events
--   FROM {DATABASE_NAME}.{TABLE_NAME}
--   WHERE source_id = 'web' AND "date" BETWEEN '2025-01-01' AND '2025-01-31'
--   GROUP BY 1, 2 ORDER BY 3 DESC;
--
--   SELECT json_extract_scalar(properties, '$.plan') AS plan, count(*) AS signups
--   FROM {DATABASE_NAME}.{TABLE_NAME}
--   WHERE source_id IN ('web', 'ios') AND "date" = '2025-01-15' AND hour = '09'
--     AND event = 'Signed Up'
--   GROUP BY 1;

CREATE DATABASE IF NOT EXISTS {DATABASE_NAME};

CREATE EXTERNAL TABLE IF NOT EXISTS {DATABASE_NAME}.{TABLE_NAME} (
{columns(COLUMNS)}
)
COMMENT 'Every accepted event: gzip JSON Lines, one Segment message per line'
PARTITIONED BY (
{columns(PARTITION_KEYS)}
)
ROW FORMAT SERDE '{SERDE}'
WITH SERDEPROPERTIES (
{properties(SERDE_PARAMETERS)}
)
STORED AS INPUTFORMAT '{INPUT_FORMAT}'
OUTPUTFORMAT '{OUTPUT_FORMAT}'
LOCATION '{location}'
TBLPROPERTIES (
{properties(table_parameters(location, retention_days))}
);
"""  # noqa: S608 - DDL text from this module's constants, not a query built from input


class ArchiveCatalog(Construct):
    """Glue database and table; Athena users need only their own Athena, Glue and archive grants."""

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, options: StackOptions) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=DATABASE_NAME,
                description="Switchyard: the archive of this region's events, for Athena",
            ),
        )
        location = f"s3://{bucket.bucket_name}/"
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=account,
            database_name=DATABASE_NAME,
            table_input=glue.CfnTable.TableInputProperty(
                name=TABLE_NAME,
                description="Every accepted event: gzip JSON Lines, one Segment message per line, "
                "partitioned by source and received hour (partition projection)",
                table_type="EXTERNAL_TABLE",
                parameters=table_parameters(location, options.archive_retention_days),
                partition_keys=[_column(c) for c in PARTITION_KEYS],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format=INPUT_FORMAT,
                    output_format=OUTPUT_FORMAT,
                    compressed=True,
                    columns=[_column(c) for c in COLUMNS],
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=SERDE, parameters=dict(SERDE_PARAMETERS)
                    ),
                ),
            ),
        )
        self.table.node.add_dependency(self.database)  # the table names the database


def _column(column: Column) -> glue.CfnTable.ColumnProperty:
    return glue.CfnTable.ColumnProperty(name=column.name, type=column.type, comment=column.comment)
