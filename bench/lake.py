"""The lake: loading an hour of the archive into Parquet tables, and compacting the hour's objects.

Loader: the loader's own work on one source-hour of stored messages (parse the JSON lines, build
Segment's tables, write one Parquet file per table) against the floor of pyarrow merely reading the
same JSON lines and writing them as one Parquet file (target <= 2.0; 1.8 on the 2-core build
machine), and the loader's events per second on one core. S3 and Glue requests are outside both:
they are the same few per table and hour.

Compaction: a source-hour of many small archive objects, as the router writes them (one per router
invocation and source: at one-second windows on one busy shard, 3,600 an hour), loaded and
compacted by the real loader against an emulated S3: objects before and after.
"""

from __future__ import annotations

import gzip
import io
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from bench.common import Figure, time_pair
from bench.ingest import browser_event, server_event, with_random_ids

TITLE = "Lake: loader (parse, Segment tables, Parquet) and compaction"
EVENTS = 20_000
COMPACTION_OBJECTS = 600  # ten minutes of one busy shard's one-second windows
LOADED_AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EVENT_NAMES = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed", "Signed Up")


def stored_message(index: int) -> dict[str, Any]:
    """An archived message: browser and server track calls over five event names, identifies and
    pages among them, with what ingest adds (receivedAt, projectId, ...)."""
    kind = index % 10
    if kind < 6:
        message = with_random_ids(browser_event(index), index)
        message["event"] = EVENT_NAMES[index % len(EVENT_NAMES)]
    elif kind < 8:
        message = server_event(index)
    elif kind == 8:
        base = with_random_ids(browser_event(index), index)
        message = {**base, "type": "identify", "userId": f"user-{index % 5000}", "traits": {"plan": "pro", "seats": 3}}
        message.pop("event"), message.pop("properties")
    else:
        base = with_random_ids(browser_event(index), index)
        message = {**base, "type": "page", "name": "Pricing", "properties": {"path": "/pricing", "title": "Pricing"}}
        message.pop("event")
    return {
        **message,
        "receivedAt": "2026-11-30T10:15:00.123Z",
        "sentAt": "2026-11-30T10:15:00.100Z",
        "originalTimestamp": "2026-11-30T10:14:59.900Z",
        "projectId": "web",
        "receivedRegion": "us-west-2",
    }


def archived_lines(count: int = EVENTS) -> bytes:
    return b"\n".join(orjson.dumps(stored_message(index)) for index in range(count)) + b"\n"


def load_hour(data: bytes) -> int:
    """What the loader does with an hour's lines, without S3 and Glue (its own code: split the lines,
    parse them, build the tables, write the Parquet files): rows written."""
    from switchyard.config.compiled import LakeSync
    from switchyard.lake import parquet
    from switchyard.lake.loader import build_chunk

    lines = [line for line in data.splitlines() if line]  # as router.archive.archive_lines gives them
    written = 0
    for build in build_chunk(lines, loaded_at=LOADED_AT, sync=LakeSync()).builds.values():
        parquet.write_parquet(build.table)
        written += build.table.num_rows
    return written


def floor_hour(data: bytes) -> int:
    """pyarrow reading the same JSON lines and writing them as one Parquet file (without the empty
    objects, `integrations: {}`, which Parquet cannot store and the lake's tables have no column for)."""
    table = pa_json.read_json(io.BytesIO(data))
    empty = [field.name for field in table.schema if pa.types.is_struct(field.type) and field.type.num_fields == 0]
    table = table.drop_columns(empty)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return table.num_rows


def loader_figures() -> list[Figure]:
    data = archived_lines()
    loader_seconds, floor_seconds = time_pair(
        lambda: load_hour(data), lambda: floor_hour(data), rounds=5, min_seconds=0.0, timer=time.process_time
    )
    return [
        Figure(
            f"loader per event ({EVENTS:,}-event source-hour)",
            loader_seconds / EVENTS * 1e6,
            "us",
            floor=floor_seconds / EVENTS * 1e6,
            target=2.0,
        ),
        Figure("loader throughput, one core", EVENTS / loader_seconds, "events/s"),
    ]


def compaction_figures() -> list[Figure]:
    import boto3
    from moto import mock_aws

    from switchyard.config.compiled import LakeSync
    from switchyard.constants import LAKE_DATABASE
    from switchyard.lake.catalog import GlueCatalog
    from switchyard.lake.hours import Hour
    from switchyard.lake.loader import LakeLoader

    hour = Hour("web", "2026-11-30", "10")
    with mock_aws():
        s3, glue = boto3.client("s3", region_name="us-west-2"), boto3.client("glue", region_name="us-west-2")
        s3.create_bucket(Bucket="archive", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        s3.put_bucket_versioning(Bucket="archive", VersioningConfiguration={"Status": "Enabled"})
        glue.create_database(DatabaseInput={"Name": LAKE_DATABASE})
        per_object = 10
        for index in range(COMPACTION_OBJECTS):
            lines = b"\n".join(
                orjson.dumps(stored_message(index * per_object + offset)) for offset in range(per_object)
            )
            s3.put_object(
                Bucket="archive", Key=f"{hour.partition}shard-{index:05d}.jsonl.gz", Body=gzip.compress(lines)
            )
        loader = LakeLoader("archive", s3, GlueCatalog(glue, "archive", 365), lambda _: LakeSync())
        result = loader.load(hour, compact=True)
    return [
        Figure("archive objects per source-hour, before compaction", result.objects_before, "objects"),
        Figure("archive objects per source-hour, after compaction", result.objects_after, "objects", target=1),
    ]


def run() -> list[Figure]:
    return loader_figures() + compaction_figures()


if __name__ == "__main__":
    from bench.common import print_figures

    print_figures(TITLE, run())
