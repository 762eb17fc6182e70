"""The archive's Glue table for Athena, and the shipped DDL that mirrors it."""

from __future__ import annotations

import re

import pytest

from infra.archive_catalog import (
    ATHENA_DDL_PATH,
    COLUMNS,
    DATABASE_NAME,
    PARTITION_KEYS,
    TABLE_NAME,
    athena_ddl,
    table_parameters,
)
from switchyard.router.archive import archive_key

from .conftest import DUBLIN, Synthesized, named, only

pytestmark = pytest.mark.infra


def table_input(template_json: dict) -> dict:
    return only(template_json, "AWS::Glue::Table")["Properties"]["TableInput"]


def bucket_ref(template_json: dict) -> str:
    return template_json["Outputs"]["ArchiveBucketName"]["Value"]["Ref"]


def test_one_database_and_table_in_the_account_catalog(template_json: dict) -> None:
    database = named(template_json, "AWS::Glue::Database", "ArchiveCatalog")  # beside it, the lake's (test_lake)
    table = only(template_json, "AWS::Glue::Table")
    assert database["Properties"]["DatabaseInput"]["Name"] == DATABASE_NAME
    assert table["Properties"]["DatabaseName"] == DATABASE_NAME
    assert table["Properties"]["TableInput"]["Name"] == TABLE_NAME
    assert table["Properties"]["CatalogId"] == database["Properties"]["CatalogId"]
    (database_id,) = [k for k, r in template_json["Resources"].items() if r is database]
    assert database_id in table["DependsOn"]


def test_table_reads_gzip_json_lines_of_the_archive_bucket(template_json: dict) -> None:
    table = table_input(template_json)
    storage = table["StorageDescriptor"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert storage["Location"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket_ref(template_json)}, "/"]]}
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert storage["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert table["Parameters"]["classification"] == "json"
    assert table["Parameters"]["compressionType"] == "gzip"


def test_columns_cover_the_common_message_fields(template_json: dict) -> None:
    columns = {c["Name"]: c["Type"] for c in table_input(template_json)["StorageDescriptor"]["Columns"]}
    for field in (
        "messageId",
        "type",
        "event",
        "userId",
        "anonymousId",
        "timestamp",
        "receivedAt",
        "originalTimestamp",
        "sentAt",
        "projectId",
        "receivedRegion",
        "properties",
        "traits",
        "context",
        "integrations",
    ):
        # Glue column names are lower case; the SerDe matches JSON keys case-insensitively.
        assert columns[field.lower()] == "string", field


def test_partitions_are_projected_from_the_hive_style_keys(template_json: dict) -> None:
    table = table_input(template_json)
    assert [k["Name"] for k in table["PartitionKeys"]] == ["source_id", "date", "hour"]
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.source_id.type"] == "injected"
    assert parameters["projection.date.type"] == "date"
    assert parameters["projection.date.format"] == "yyyy-MM-dd"
    assert parameters["projection.date.range"] == "NOW-365DAYS,NOW"
    assert (parameters["projection.hour.type"], parameters["projection.hour.range"]) == ("integer", "0,23")
    assert parameters["projection.hour.digits"] == "2"
    template = parameters["storage.location.template"]["Fn::Join"][1]
    assert template == [
        "s3://",
        {"Ref": bucket_ref(template_json)},
        "/source_id=${source_id}/date=${date}/hour=${hour}/",
    ]


def test_the_location_template_matches_the_keys_the_router_writes() -> None:
    values = {"source_id": "web", "date": "2025-01-15", "hour": "09"}
    key = archive_key(*values.values(), "shardId-000000000000", "49590338271490256608559692538361571095")
    location = table_parameters("s3://bucket/", 365)["storage.location.template"]
    for name, value in values.items():
        location = location.replace("${" + name + "}", value)
    assert f"s3://bucket/{key}".startswith(location)
    assert key.endswith(".jsonl.gz")


def test_date_range_follows_archive_retention(custom_app: Synthesized) -> None:
    assert table_input(custom_app.json[DUBLIN])["Parameters"]["projection.date.range"] == "NOW-60DAYS,NOW"


def test_shipped_ddl_is_the_table_definition() -> None:
    assert ATHENA_DDL_PATH.read_text() == athena_ddl(), (
        "infra/athena/archive_table.sql is out of date: regenerate it with "
        "`python -c 'from infra.archive_catalog import *; ATHENA_DDL_PATH.write_text(athena_ddl())'`"
    )


def test_ddl_declares_every_column_partition_and_property() -> None:
    ddl = athena_ddl("example-bucket", 365)
    for column in (*COLUMNS, *PARTITION_KEYS):
        assert re.search(rf"`{column.name}`\s+{column.type} COMMENT '", ddl), column.name
        assert "'" not in column.comment  # would end the COMMENT literal
    assert "LOCATION 's3://example-bucket/'" in ddl
    assert "'projection.source_id.type'     = 'injected'" in ddl
    assert "s3://example-bucket/source_id=${source_id}/date=${date}/hour=${hour}/" in ddl
    assert f"CREATE EXTERNAL TABLE IF NOT EXISTS {DATABASE_NAME}.{TABLE_NAME} (" in ddl
