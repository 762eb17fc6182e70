"""Writing accepted messages to the Kinesis events stream, all of them or a clear failure."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from switchyard import aws, stream_codec
from switchyard.constants import KINESIS_MAX_BYTES_PER_PUT, KINESIS_MAX_RECORDS_PER_PUT
from switchyard.retries import EntriesNotWritten, FailedEntryRetry


class StreamRecord(Protocol):
    partition_key: str
    data: bytes


@dataclass(slots=True)
class EncodedRecord:
    partition_key: str
    data: bytes


class StreamWriteFailed(Exception):
    """Some records are still not in the stream when the time budget ran out."""

    def __init__(self, pending: int, last_error: str) -> None:
        super().__init__(f"{pending} record(s) not written to the stream: {last_error}")
        self.pending = pending
        self.last_error = last_error


# Our own budget governs retries; botocore's are kept short so it cannot overrun the budget.
_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=4, retries={"max_attempts": 2, "mode": "standard"})


def kinesis_client() -> Any:
    return aws.client("kinesis", config=_CLIENT_CONFIG)


def chunks(records: Sequence[StreamRecord]) -> Iterator[list[StreamRecord]]:
    """Split into PutRecords calls within Kinesis limits (500 records, 5 MiB of data and keys)."""
    chunk: list[StreamRecord] = []
    size = 0
    for record in records:
        record_size = len(record.data) + len(record.partition_key.encode())
        if chunk and (len(chunk) >= KINESIS_MAX_RECORDS_PER_PUT or size + record_size > KINESIS_MAX_BYTES_PER_PUT):
            yield chunk
            chunk, size = [], 0
        chunk.append(record)
        size += record_size
    if chunk:
        yield chunk


class KinesisEventStream:
    """PutRecords with retries of only the records that failed, inside a time budget.

    Order: records of one partition key keep their order, except that a record retried after a
    partial failure lands after the ones that succeeded first (Kinesis offers strict order only
    with single PutRecord calls, which would cost one round trip per event).

    With `compress` (the `stream_compression` option) each record's data is deflated
    (switchyard.stream_codec) before it is chunked, so the PutRecords limits count what is sent.
    """

    def __init__(
        self,
        stream_name: str,
        kinesis: Any = None,
        *,
        budget_seconds: float = 8.0,
        base_delay: float = 0.05,
        max_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        compress: bool = False,
    ) -> None:
        self._stream_name = stream_name
        self._compress = compress
        self._kinesis = kinesis
        self._budget = budget_seconds
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._clock = clock

    @property
    def _client(self) -> Any:
        if self._kinesis is None:
            self._kinesis = kinesis_client()
        return self._kinesis

    def put(self, records: Sequence[StreamRecord]) -> None:
        deadline = self._clock() + self._budget
        retry = FailedEntryRetry(self._attempt, self._clock, self._sleep, self._base_delay, self._max_delay)
        if self._compress:
            encode = stream_codec.encode
            records = [EncodedRecord(record.partition_key, encode(record.data)) for record in records]
        for chunk in chunks(records):
            try:
                retry.run(chunk, deadline)
            except EntriesNotWritten as error:
                raise StreamWriteFailed(error.pending, error.last_error) from error

    def _attempt(self, pending: list[StreamRecord]) -> tuple[list[StreamRecord], str]:
        try:
            response = self._client.put_records(
                StreamName=self._stream_name,
                Records=[{"Data": record.data, "PartitionKey": record.partition_key} for record in pending],
            )
        except (ClientError, BotoCoreError) as error:
            return pending, str(error)
        if not response.get("FailedRecordCount"):
            return [], ""
        failed = [record for record, result in zip(pending, response["Records"], strict=True) if "ErrorCode" in result]
        errors = {result["ErrorCode"] for result in response["Records"] if "ErrorCode" in result}
        return failed, ", ".join(sorted(errors))
