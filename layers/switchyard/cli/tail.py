"""`switchyard tail`: print the events arriving in a region's stream, one JSON line each.

Records ingest deflated (the `stream_compression` option) are printed as their JSON, like the rest.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from switchyard.stream_codec import decode


def tail_stream(
    kinesis: Any,
    stream_name: str,
    *,
    from_start: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    limit: int | None = None,
    idle_seconds: float = 0.5,
    stop_when_idle: bool = False,
) -> int:
    """Follow every shard until interrupted, `limit` records, or (with `stop_when_idle`) the first
    pass that finds nothing new; returns how many were printed. A record that is not a message
    (not JSON, or deflated with a dictionary this version does not know) is reported on `err`."""
    shards = kinesis.list_shards(StreamName=stream_name)["Shards"]
    position = "TRIM_HORIZON" if from_start else "LATEST"
    iterators = {
        shard["ShardId"]: kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType=position
        )["ShardIterator"]
        for shard in shards
    }
    printed = 0
    while iterators:
        got_any = False
        for shard_id, iterator in list(iterators.items()):
            page = kinesis.get_records(ShardIterator=iterator, Limit=500)
            for record in page["Records"]:
                got_any = True
                try:
                    data = decode(record["Data"])
                except ValueError as error:
                    err.write(f"record {record['SequenceNumber']} of {shard_id} skipped: {error}\n")
                    continue
                out.write(data.decode("utf-8", "replace") + "\n")
                printed += 1
                if limit is not None and printed >= limit:
                    out.flush()
                    return printed
            if page.get("NextShardIterator"):
                iterators[shard_id] = page["NextShardIterator"]
            else:
                del iterators[shard_id]
        out.flush()
        if not got_any:
            if stop_when_idle:
                break
            time.sleep(idle_seconds)
    return printed
