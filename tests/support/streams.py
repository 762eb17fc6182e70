"""Reading what landed in a Kinesis stream (all shards, from the start)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from switchyard.stream_codec import decode


class StreamReader:
    """Remembers where it stopped on each shard, so each call returns only new records."""

    def __init__(self, kinesis: Any, stream_name: str) -> None:
        self._kinesis = kinesis
        self._stream = stream_name
        self._iterators: dict[str, str] = {}
        for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
            self._iterators[shard["ShardId"]] = kinesis.get_shard_iterator(
                StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]

    def read_new(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for shard_id, iterator in self._iterators.items():
            while True:
                page = self._kinesis.get_records(ShardIterator=iterator, Limit=10_000)
                iterator = page["NextShardIterator"]
                for record in page["Records"]:
                    message = orjson.loads(decode(record["Data"]))  # deflated or not (`stream_compression`)
                    message["__partition_key"] = record["PartitionKey"]
                    found.append(message)
                if not page["Records"]:
                    break
            self._iterators[shard_id] = iterator
        return found

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """At least `count` new records (or whatever arrived when the time is up)."""
        deadline = time.monotonic() + timeout
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            found += self.read_new()
            if len(found) >= count:
                break
            time.sleep(0.1)
        return found
