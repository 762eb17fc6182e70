"""`switchyard lake load | tables | query`: the lake's loads, tables and SQL, locally and in AWS.

`load` invokes the region's loader function (the one the hourly schedule runs), one source-hour at
a time with a progress bar, so a backfill runs exactly what the schedule runs, with the function's
own permissions. `tables` reads the Glue catalog and the loads' records (rows per table, without
scanning data). `query` runs SQL in Athena (the stack's workgroup) against a region, and in DuckDB
over the lake's Parquet files against the local stack: the same table names, the same partition
columns (`source_id`, `date`, `hour`, as strings).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from switchyard import constants
from switchyard.cli.progress import bar
from switchyard.cli.targets import Target, TargetError, resolve_target
from switchyard.config.store import ConfigStore
from switchyard.lake.catalog import GlueCatalog
from switchyard.lake.hours import Hour
from switchyard.lake.loader import LOADS_PREFIX
from switchyard.lake.schedule import hours_between
from switchyard.timeutil import parse_timestamp

ATHENA_POLL_SECONDS = 1.0
TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
MAX_PRINTED_ROWS = 1000


def lake_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    try:
        target = resolve_target(args.region, args.endpoint_url)
        if args.lake_command == "load":
            return load(target, args, fail)
        if args.lake_command == "tables":
            return tables(target, args.source)
        return query(target, args.sql, fail)
    except TargetError as error:
        return fail(str(error))


# load


def requested_hours(target: Target, args: argparse.Namespace, now: datetime) -> list[Hour] | str:
    """The hours `--source`/`--from`/`--to` name, or why they cannot be loaded."""
    start = _utc(parse_timestamp(args.start)) if args.start else now - timedelta(hours=1)
    end = _utc(parse_timestamp(args.end)) if args.end else now
    if start is None or end is None:
        return "--from and --to are ISO-8601 times such as 2026-11-01T00:00:00Z"
    if start > end:
        return f"--from {args.start} is after --to {args.end}"
    if end > now:
        end = now
    workspace = ConfigStore(target.output(constants.OUTPUT_CONFIG_TABLE), target.client("dynamodb")).current()
    known = [source.id for source in workspace.sources if source.lake.enabled]
    if args.source:
        if workspace.source(args.source) is None:
            return f"no source {args.source!r} in the workspace ({', '.join(known) or 'none'})"
        known = [args.source]
    return hours_between(known, start, end)


def load(target: Target, args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    now = datetime.now(UTC)
    hours = requested_hours(target, args, now)
    if isinstance(hours, str):
        return fail(hours)
    function = target.output(constants.OUTPUT_LAKE_LOADER)
    client = target.client("lambda")
    rows: Counter[str] = Counter()
    failed: list[str] = []
    messages = objects_before = objects_after = 0
    widened: set[str] = set()
    for done, hour in enumerate(hours, start=1):
        sys.stderr.write("\r" + progress(done - 1, len(hours), hour))
        sys.stderr.flush()
        answer = invoke(client, function, hour)
        if "errorMessage" in answer:
            failed.append(f"{hour.label}: {answer['errorMessage']}")
            continue
        for item in answer.get("failed", []):
            failed.append(f"{item['source']} {item['date']}T{item['hour']}: {item['error']}")
        for item in answer.get("loaded", []):
            messages += item["messages"]
            objects_before += item["objects_before"]
            objects_after += item["objects_after"]
            rows.update(item["rows"])
            widened.update(f"{table}.{column}" for table, columns in item["widened"].items() for column in columns)
    sys.stderr.write("\r" + progress(len(hours), len(hours), None) + "\n")
    print(f"loaded {len(hours) - len(failed)} of {len(hours)} hour(s): {messages} message(s)")
    print(f"archive objects: {objects_before} before compaction, {objects_after} after")
    for table, count in sorted(rows.items()):
        print(f"  {table:<40} {count:>10} row(s)")
    if widened:
        print("widened to string: " + ", ".join(sorted(widened)))
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failed else 0


def invoke(client: Any, function: str, hour: Hour) -> dict[str, Any]:
    payload = {"hours": [{"source": hour.source_id, "date": hour.date, "hour": hour.hour}]}
    answer = client.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
    return json.loads(answer["Payload"].read() or b"{}")


def progress(done: int, total: int, hour: Hour | None) -> str:
    current = f"  {hour.label}" if hour else " " * 28
    return f"{bar(done / total if total else 1.0)} {done}/{total} hour(s){current}"


# tables


def row_counts(s3: Any, bucket: str, source: str | None) -> Counter[str]:
    """Rows per table, from what each hour's last load recorded."""
    counts: Counter[str] = Counter()
    prefix = LOADS_PREFIX + (f"source_id={source}/" if source else "")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            record = orjson.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            counts.update(record.get("rows", {}))
    return counts


def tables(target: Target, source: str | None) -> int:
    bucket = target.output(constants.OUTPUT_ARCHIVE_BUCKET)
    catalog = GlueCatalog(
        target.client("glue"), bucket, retention_days=1, database=target.output(constants.OUTPUT_LAKE_DATABASE)
    )
    described = catalog.tables()
    counts = row_counts(target.client("s3"), bucket, source)
    if not described:
        print("the lake has no tables yet: `switchyard lake load` loads the archive into it")
        return 0
    for name, columns in sorted(described.items()):
        if source and not counts.get(name):
            continue
        print(f"{name}  ({counts.get(name, 0)} row(s), {len(columns)} column(s))")
        for column, kind in columns.items():
            print(f"    {column:<48} {kind}")
    return 0


# query


def query(target: Target, sql: str, fail: Callable[[str], int]) -> int:
    if target.endpoint_url:
        header, rows = duckdb_query(target, sql)
    else:
        answer = athena_query(target, sql)
        if isinstance(answer, str):
            return fail(answer)
        header, rows = answer
    print(render(header, rows))
    return 0


def duckdb_query(target: Target, sql: str) -> tuple[list[str], list[Sequence[Any]]]:
    """The lake's files copied from the emulated bucket, one view per table over them."""
    import duckdb

    s3 = target.client("s3")
    bucket = target.output(constants.OUTPUT_ARCHIVE_BUCKET)
    with tempfile.TemporaryDirectory(prefix="switchyard-lake-") as folder:
        root = Path(folder)
        names = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=constants.LAKE_PREFIX):
            for item in page.get("Contents", []):
                path = root / item["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                name = item["Key"].split("/")[1]
                if TABLE_NAME.fullmatch(name):  # what the loader's naming rules produce, nothing else
                    names.add(name)
        connection = duckdb.connect()
        for name in sorted(names):
            files = (root / constants.LAKE_PREFIX / name).as_posix() + "/**/*.parquet"
            # A checked table name and a path this function made, no input of anyone's.
            view = f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{files}', "  # noqa: S608
            connection.execute(view + "hive_partitioning = true, hive_types_autocast = false, union_by_name = true)")
        result = connection.execute(sql)
        header = [column[0] for column in result.description or []]
        return header, result.fetchmany(MAX_PRINTED_ROWS)


def athena_query(target: Target, sql: str) -> tuple[list[str], list[Sequence[Any]]] | str:
    athena = target.client("athena")
    started = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": target.output(constants.OUTPUT_LAKE_DATABASE)},
        WorkGroup=target.output(constants.OUTPUT_ATHENA_WORKGROUP),
    )["QueryExecutionId"]
    while True:
        status = athena.get_query_execution(QueryExecutionId=started)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(ATHENA_POLL_SECONDS)
    if status["State"] != "SUCCEEDED":
        return f"the query {status['State'].lower()}: {status.get('StateChangeReason', '')}"
    header: list[str] = []
    rows: list[Sequence[Any]] = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=started):
        if not header:
            header = [column["Name"] for column in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
            data = page["ResultSet"]["Rows"][1:]  # the first row of the first page repeats the header
        else:
            data = page["ResultSet"]["Rows"]
        rows += [[cell.get("VarCharValue") for cell in row["Data"]] for row in data]
        if len(rows) >= MAX_PRINTED_ROWS:
            break
    return header, rows[:MAX_PRINTED_ROWS]


def render(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table, columns as wide as their widest value."""
    cells = [[_text(value) for value in row] for row in rows]
    widths = [max([len(name), *(len(row[index]) for row in cells)]) for index, name in enumerate(header)]
    lines = ["  ".join(name.ljust(width) for name, width in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)) for row in cells]
    cut = f", the first {MAX_PRINTED_ROWS}" if len(rows) >= MAX_PRINTED_ROWS else ""
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''}{cut})")
    return "\n".join(lines)


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _utc(moment: datetime | None) -> datetime | None:
    """parse_timestamp's naive UTC time as an aware one."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment
