"""Kinesis → Lambda, as an event source mapping does it: poll each shard, hand over batches.

moto's own Kinesis trigger needs Docker, so this builds Lambda's Kinesis event itself, honours
`batchItemFailures` (resume from the first failed sequence number) and, when the function raises,
bisects the batch and retries, like `BisectBatchOnFunctionError`. An idle shard is polled every
`idle_seconds`, backing off to `max_idle_seconds` (Lambda polls a shard about once a second).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("switchyard.devstack")

Consumer = Callable[[dict[str, Any]], Any]


def kinesis_event(records: list[dict[str, Any]], shard_id: str, stream_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record["PartitionKey"],
                    "sequenceNumber": record["SequenceNumber"],
                    "data": base64.b64encode(record["Data"]).decode(),
                    "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{record['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::000000000000:role/local",
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for record in records
        ]
    }


def first_failed_sequence(response: Any) -> str | None:
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures") or []
    sequences = [failure.get("itemIdentifier") for failure in failures if failure.get("itemIdentifier")]
    return min(sequences, key=int) if sequences else None


class ShardPoller:
    """One consumer reading one shard, in order, from the start of the stream."""

    def __init__(
        self,
        kinesis: Any,
        stream_name: str,
        shard_id: str,
        consumer: Consumer,
        *,
        region: str,
        batch_size: int = 100,
        idle_seconds: float = 0.1,
        max_idle_seconds: float = 0.4,
        max_retry_delay: float = 2.0,
    ) -> None:
        self._kinesis = kinesis
        self._stream_name = stream_name
        self._shard_id = shard_id
        self._consumer = consumer
        self._region = region
        self._batch_size = batch_size
        self._idle = idle_seconds
        self._max_idle = max(idle_seconds, max_idle_seconds)  # polls of an idle shard back off to this
        self._max_retry_delay = max_retry_delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"kinesis-{shard_id}", daemon=True)
        self.processed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _iterator(self, **position: str) -> str:
        return self._kinesis.get_shard_iterator(StreamName=self._stream_name, ShardId=self._shard_id, **position)[
            "ShardIterator"
        ]

    def _run(self) -> None:
        description = self._kinesis.describe_stream_summary(StreamName=self._stream_name)
        stream_arn = description["StreamDescriptionSummary"]["StreamARN"]
        iterator = self._iterator(ShardIteratorType="TRIM_HORIZON")
        limit = self._batch_size
        failures_in_a_row = 0
        idle = self._idle
        while not self._stop.is_set():
            try:
                page = self._kinesis.get_records(ShardIterator=iterator, Limit=limit)
            except Exception:  # the emulator is going away, or a passing error: try again
                log.exception("get_records failed on %s", self._shard_id)
                self._stop.wait(self._idle)
                continue
            records = page["Records"]
            if not records:
                iterator = page.get("NextShardIterator") or iterator
                self._stop.wait(idle)
                idle = min(self._max_idle, idle * 2)
                continue
            idle = self._idle
            try:
                resume_at = first_failed_sequence(
                    self._consumer(kinesis_event(records, self._shard_id, stream_arn, self._region))
                )
            except Exception:
                log.exception("consumer failed on a batch of %d from %s; bisecting", len(records), self._shard_id)
                resume_at = records[0]["SequenceNumber"]
                limit = max(1, len(records) // 2)
            if resume_at is None:
                self.processed += len(records)
                iterator = page["NextShardIterator"]
                limit = self._batch_size
                failures_in_a_row = 0
                continue
            self.processed += sum(1 for record in records if int(record["SequenceNumber"]) < int(resume_at))
            failures_in_a_row += 1
            self._stop.wait(min(self._max_retry_delay, 0.05 * 2**failures_in_a_row))
            iterator = self._iterator(ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=resume_at)


class KinesisPoller:
    """Every consumer of a stream gets its own pollers over every shard (one mapping each)."""

    def __init__(self, kinesis: Any, stream_name: str, region: str, consumers: list[Consumer], **options: Any):
        shards = kinesis.list_shards(StreamName=stream_name)["Shards"]
        self.pollers = [
            ShardPoller(kinesis, stream_name, shard["ShardId"], consumer, region=region, **options)
            for consumer in consumers
            for shard in shards
        ]

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
