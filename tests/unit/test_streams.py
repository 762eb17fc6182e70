"""Kinesis writes: chunking within limits, retrying only failed records, giving up in time,
deflating each record with `stream_compression`."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest
from botocore.exceptions import ClientError

from switchyard.stream_codec import decode
from switchyard.streams import KinesisEventStream, StreamWriteFailed, chunks


@dataclass
class Record:
    partition_key: str
    data: bytes


class FakeKinesis:
    """Fails the records whose data is listed in `fail_first` on their first `times` attempts."""

    def __init__(self, fail_first: set[bytes] | None = None, times: int = 1, raise_calls: int = 0):
        self.fail_first = fail_first or set()
        self.times = times
        self.raise_calls = raise_calls
        self.attempts: dict[bytes, int] = {}
        self.stored: list[bytes] = []
        self.calls: list[int] = []

    def put_records(self, StreamName: str, Records: list[dict]) -> dict:  # noqa: N803 - boto3's names
        self.calls.append(len(Records))
        if self.raise_calls:
            self.raise_calls -= 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "PutRecords"
            )
        results = []
        for record in Records:
            count = self.attempts[record["Data"]] = self.attempts.get(record["Data"], 0) + 1
            if record["Data"] in self.fail_first and count <= self.times:
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow"})
            else:
                self.stored.append(record["Data"])
                results.append({"SequenceNumber": "1", "ShardId": "shardId-0"})
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def records(count: int, size: int = 10) -> list[Record]:
    return [Record(f"web/u{i}", str(i).encode().ljust(size, b" ")) for i in range(count)]


def writer(kinesis: FakeKinesis, budget: float = 5.0) -> KinesisEventStream:
    return KinesisEventStream("events", kinesis, budget_seconds=budget, sleep=lambda _: None)


def test_chunks_hold_at_most_500_records():
    assert [len(chunk) for chunk in chunks(records(1201))] == [500, 500, 201]


def test_chunks_stay_under_five_mebibytes():
    sizes = [sum(len(r.data) + len(r.partition_key) for r in chunk) for chunk in chunks(records(400, size=30_000))]
    assert len(sizes) == 3
    assert all(size <= 5 * 1024 * 1024 for size in sizes)


def test_only_failed_records_are_retried():
    batch = records(10)
    kinesis = FakeKinesis(fail_first={batch[3].data, batch[7].data})
    writer(kinesis).put(batch)
    assert kinesis.calls == [10, 2]
    assert sorted(kinesis.stored) == sorted(r.data for r in batch)


def test_whole_call_errors_are_retried():
    kinesis = FakeKinesis(raise_calls=2)
    writer(kinesis).put(records(3))
    assert kinesis.calls == [3, 3, 3]
    assert len(kinesis.stored) == 3


def test_persistent_failure_gives_up_within_the_budget():
    batch = records(5)
    kinesis = FakeKinesis(fail_first={batch[0].data}, times=10**9)
    clock = iter(range(0, 10**6)).__next__
    stream = KinesisEventStream(
        "events", kinesis, budget_seconds=20, sleep=lambda _: None, clock=lambda: float(clock())
    )
    with pytest.raises(StreamWriteFailed) as caught:
        stream.put(batch)
    assert caught.value.pending == 1
    assert "ProvisionedThroughputExceeded" in caught.value.last_error


def json_records(count: int, padding: int) -> list[Record]:
    return [Record(f"web/u{i}", orjson.dumps({"messageId": f"m{i}", "padding": " " * padding})) for i in range(count)]


def test_compressed_records_are_written_deflated_and_read_back_as_json():
    batch = json_records(3, padding=100)
    kinesis = FakeKinesis()
    KinesisEventStream("events", kinesis, compress=True).put(batch)
    assert all(data[:1] != b"{" for data in kinesis.stored)
    assert [decode(data) for data in kinesis.stored] == [record.data for record in batch]
    assert batch[0].data.startswith(b"{")  # the caller's records keep their JSON (its byte metrics count it)


def test_compressed_records_are_chunked_by_their_deflated_size():
    batch = json_records(400, padding=30_000)  # 12 MB of JSON: three calls uncompressed
    assert len(list(chunks(batch))) == 3
    kinesis = FakeKinesis()
    KinesisEventStream("events", kinesis, compress=True).put(batch)
    assert kinesis.calls == [400]


def test_compressed_records_that_failed_are_retried_deflated():
    batch = json_records(4, padding=10)
    kinesis = FakeKinesis(raise_calls=1)
    KinesisEventStream("events", kinesis, compress=True, sleep=lambda _: None).put(batch)
    assert kinesis.calls == [4, 4]
    assert [decode(data) for data in kinesis.stored] == [record.data for record in batch]
