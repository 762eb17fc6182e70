"""The lake's tables in the Glue Data Catalog, created and widened by the loader as data arrives.

Every table is Parquet under `s3://<archive bucket>/lake/<table>/`, partitioned like the archive
(`source_id`, `date`, `hour`) with partition projection, so Athena finds a new hour without any
partition being registered. The table lists the sources it holds (`enum` projection, kept by the
loader), so a query need not name them: the same SQL runs in Athena and in DuckDB locally.

Columns only ever grow: a new property adds a column (schema evolution), and a column whose values
stopped fitting its type becomes `string`, the one type every value can be read as. The loader asks
for the columns it knows first (`columns`), then hands back what the hour needed (`ensure`): one
GetTable per table and hour, and an UpdateTable only when the columns or the sources changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from botocore.exceptions import ClientError

from switchyard.constants import LAKE_DATABASE, LAKE_PREFIX

PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARTITION_KEYS = ("source_id", "date", "hour")


class LakeCatalog(Protocol):
    def columns(self, table: str) -> dict[str, str]: ...

    def ensure(self, table: str, columns: Mapping[str, str], source_id: str) -> None: ...

    def tables(self) -> dict[str, dict[str, str]]: ...


def table_location(bucket: str, table: str) -> str:
    return f"s3://{bucket}/{LAKE_PREFIX}{table}/"


def projection(location: str, retention_days: int, source_ids: Iterable[str]) -> dict[str, str]:
    """Partition projection over `location`: the sources the table holds, and every date and hour
    of the archive's retention."""
    return {
        "classification": "parquet",
        "projection.source_id.type": "enum",
        "projection.source_id.values": ",".join(sorted(source_ids)),
        **hour_projection(location, retention_days),
    }


def hour_projection(location: str, retention_days: int) -> dict[str, str]:
    """The projection of the `date` and `hour` partitions the archive and the lake share, over
    `location` (ending with '/'): every date of the retention, hours 00 to 23."""
    return {
        "projection.enabled": "true",
        "projection.date.type": "date",
        "projection.date.format": "yyyy-MM-dd",
        "projection.date.range": f"NOW-{retention_days}DAYS,NOW",
        "projection.date.interval": "1",
        "projection.date.interval.unit": "DAYS",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": location + "source_id=${source_id}/date=${date}/hour=${hour}/",
    }


def merged(known: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str]:
    """Known columns in their order, then new ones; a column both have with different types is string."""
    columns = dict(known)
    for name, kind in wanted.items():
        if name not in columns:
            columns[name] = kind
        elif columns[name] != kind:
            columns[name] = "string"
    return columns


class GlueCatalog:
    def __init__(self, glue: Any, bucket: str, retention_days: int, database: str = LAKE_DATABASE) -> None:
        self._glue = glue
        self._bucket = bucket
        self._retention_days = retention_days
        self.database = database

    def columns(self, table: str) -> dict[str, str]:
        described = self._table(table)
        if described is None:
            return {}
        return {column["Name"]: column["Type"] for column in described["StorageDescriptor"]["Columns"]}

    def ensure(self, table: str, columns: Mapping[str, str], source_id: str) -> None:
        described = self._table(table)
        known = {} if described is None else {c["Name"]: c["Type"] for c in described["StorageDescriptor"]["Columns"]}
        sources = _sources(described)
        wanted = merged(known, columns)
        if described is not None and wanted == known and source_id in sources:
            return
        table_input = self._table_input(table, wanted, sources | {source_id})
        if described is None:
            try:
                self._glue.create_table(DatabaseName=self.database, TableInput=table_input)
                return
            except ClientError as error:  # another loader created it meanwhile: widen theirs
                if error.response["Error"]["Code"] != "AlreadyExistsException":
                    raise
                return self.ensure(table, columns, source_id)
        self._glue.update_table(DatabaseName=self.database, TableInput=table_input)

    def tables(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for page in self._glue.get_paginator("get_tables").paginate(DatabaseName=self.database):
            for table in page["TableList"]:
                found[table["Name"]] = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
        return found

    def _table(self, table: str) -> dict[str, Any] | None:
        try:
            return self._glue.get_table(DatabaseName=self.database, Name=table)["Table"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "EntityNotFoundException":
                return None
            raise

    def _table_input(self, table: str, columns: Mapping[str, str], source_ids: set[str]) -> dict[str, Any]:
        location = table_location(self._bucket, table)
        return {
            "Name": table,
            "Description": "Switchyard lake: Segment warehouse schema, Parquet, one folder per source and hour",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": projection(location, self._retention_days, source_ids),
            "PartitionKeys": [{"Name": name, "Type": "string"} for name in PARTITION_KEYS],
            "StorageDescriptor": {
                "Columns": [{"Name": name, "Type": kind} for name, kind in columns.items()],
                "Location": location,
                "InputFormat": PARQUET_INPUT,
                "OutputFormat": PARQUET_OUTPUT,
                "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE},
            },
        }


def _sources(described: dict[str, Any] | None) -> set[str]:
    if described is None:
        return set()
    values = described.get("Parameters", {}).get("projection.source_id.values", "")
    return {value for value in values.split(",") if value}
