"""`switchyard tail` prints each record's JSON, whether ingest deflated it or not."""

from __future__ import annotations

import io

import orjson

from switchyard.cli.tail import tail_stream
from switchyard.stream_codec import encode


class FakeKinesis:
    """One shard holding `records`, all returned by the first read."""

    def __init__(self, records: list[bytes]) -> None:
        self.records = records

    def list_shards(self, StreamName: str) -> dict:  # noqa: N803 - boto3's names
        return {"Shards": [{"ShardId": "shardId-000000000000"}]}

    def get_shard_iterator(self, StreamName: str, ShardId: str, ShardIteratorType: str) -> dict:  # noqa: N803
        return {"ShardIterator": "start"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict:  # noqa: N803
        if ShardIterator != "start":
            return {"Records": [], "NextShardIterator": "end"}
        found = [{"SequenceNumber": str(i), "Data": data} for i, data in enumerate(self.records)]
        return {"Records": found, "NextShardIterator": "end"}


def tail(records: list[bytes]) -> tuple[list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    tail_stream(FakeKinesis(records), "events", from_start=True, out=out, err=err, stop_when_idle=True)
    return [orjson.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_deflated_and_plain_records_print_as_json_lines():
    messages = [{"messageId": "a", "event": "Signed Up"}, {"messageId": "b", "properties": {"city": "Zürich"}}]
    printed, errors = tail([orjson.dumps(messages[0]), encode(orjson.dumps(messages[1]))])
    assert printed == messages
    assert errors == ""


def test_a_record_that_is_not_a_message_is_reported_not_printed():
    printed, errors = tail([b"\x78\x9cgarbage", orjson.dumps({"messageId": "a"})])
    assert printed == [{"messageId": "a"}]
    assert errors.startswith("record 0 of shardId-000000000000 skipped:")
