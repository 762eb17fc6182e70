"""`type: firehose`: settings, the record each call becomes, packing within PutRecordBatch's limits,
and per-record verdicts, with a fake client and with botocore against moto."""

from __future__ import annotations

import json
import random
from typing import Any

import botocore.session
import orjson
import pytest
from moto import mock_aws
from pydantic import ValidationError

from switchyard.config.compiled import Destination
from switchyard.delivery.attempts import AttemptStatus
from switchyard.destinations.base import AwsCall, CallContext
from switchyard.destinations.driver import ToolAdapter
from switchyard.destinations.firehose import FIREHOSE, FirehoseSettings
from tests.support.destinations import stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
REGION = "us-west-2"
ACCOUNT = "123456789012"
NOW = 1_800_000_000
STREAM = "events-to-s3"
CONTEXT = CallContext(REGION, NOW)
# PutRecordBatch's limits as AWS documents them, not as the module under test says.
MAX_RECORDS_PER_CALL = 500
MAX_CALL_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1_024_000  # 1,000 KiB, before base64

EVENTS = {
    "identify": {"type": "identify", "userId": "u1", "traits": {"plan": "pro", "name": "Zoë"}},
    "track": {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"revenue": 12.5}},
    "page": {"type": "page", "anonymousId": "a1", "name": "Pricing", "properties": {"path": "/pricing"}},
    "screen": {"type": "screen", "userId": "u1", "name": "Home"},
    "group": {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"employees": 40}},
    "alias": {"type": "alias", "userId": "u1", "previousId": "a1"},
}


def event(call: str, number: int = 1, **extra: Any) -> dict[str, Any]:
    return {**EVENTS[call], "messageId": f"m-{call}-{number}", "timestamp": "2026-11-30T09:25:21.123Z", **extra}


def padded(number: int, size: int) -> dict[str, Any]:
    """A track event whose record (JSON and newline) is exactly `size` bytes."""
    base = event("track", number, properties={"blob": ""})
    blob = "x" * (size - len(orjson.dumps(base)) - 1)
    one = event("track", number, properties={"blob": blob})
    assert len(orjson.dumps(one)) + 1 == size
    return one


def settings() -> FirehoseSettings:
    return FirehoseSettings(delivery_stream_name=STREAM)


def destination() -> Destination:
    return stored_destination("lake", "firehose", settings())


class FakeFirehose:
    """A `firehose` client that records the calls and answers each with `answer(records)`."""

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[list[bytes]] = []
        self._answer = answer or (
            lambda records: {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "r"}] * len(records)}
        )

    def put_record_batch(self, *, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:  # noqa: N803
        assert DeliveryStreamName == STREAM
        self.calls.append([record["Data"] for record in Records])
        return self._answer(Records)


def adapter(client: Any) -> ToolAdapter:
    return ToolAdapter(FIREHOSE, REGION, aws_clients=lambda service: client, clock=lambda: NOW)


def message_ids(client: FakeFirehose) -> list[list[str]]:
    return [[json.loads(data)["messageId"] for data in call] for call in client.calls]


# Settings.


@pytest.mark.parametrize(
    "name",
    [f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{STREAM}", "", "s" * 65, "with space", "a/b"],
)
def test_settings_take_a_stream_name_only(name: str):
    with pytest.raises(ValidationError, match="delivery_stream_name"):
        FirehoseSettings(delivery_stream_name=name)


def test_an_arn_is_refused_with_a_reason():
    with pytest.raises(ValidationError, match="name, not its ARN"):
        FirehoseSettings(delivery_stream_name=f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{STREAM}")


def test_stream_names_firehose_accepts_are_accepted():
    for name in ("events", "Switchyard_events.prod-1", "s" * 64):
        assert FirehoseSettings(delivery_stream_name=name).delivery_stream_name == name
    assert FIREHOSE.hosts is None  # botocore's endpoint (AWS_ENDPOINT_URL locally), no `endpoint` setting


# The record of each call.


@pytest.mark.parametrize("call", sorted(EVENTS))
def test_each_call_is_one_json_line(call: str):
    one = event(call)
    (item,) = FIREHOSE.map(one, settings())
    aws_call = FIREHOSE.call(item.channel, [orjson.dumps(item.payload)], settings(), CONTEXT)
    assert (aws_call.service, aws_call.operation) == ("firehose", "put_record_batch")
    assert aws_call.params["DeliveryStreamName"] == STREAM
    ((record),) = aws_call.params["Records"]
    assert record.keys() == {"Data"}
    assert record["Data"].endswith(b"\n") and record["Data"].count(b"\n") == 1
    assert json.loads(record["Data"]) == one


def test_a_newline_inside_the_event_stays_escaped():
    (item,) = FIREHOSE.map(event("track", properties={"note": "two\nlines"}), settings())
    (record,) = FIREHOSE.call(item.channel, [orjson.dumps(item.payload)], settings(), CONTEXT).params["Records"]
    assert record["Data"].count(b"\n") == 1


def test_mapping_is_pure():
    one = event("track")
    before = json.dumps(one, sort_keys=True)
    first, second = FIREHOSE.map(one, settings()), FIREHOSE.map(one, settings())
    assert [orjson.dumps(item.payload) for item in first] == [orjson.dumps(item.payload) for item in second]
    assert json.dumps(one, sort_keys=True) == before


# Packing.


def test_calls_hold_at_most_500_records():
    client = FakeFirehose()
    events = [event(sorted(EVENTS)[n % 6], n) for n in range(1_201)]
    attempts = adapter(client).send(destination(), events, deadline=1e12)
    assert [attempt.status for attempt in attempts] == [DELIVERED] * 1_201
    assert [len(call) for call in client.calls] == [MAX_RECORDS_PER_CALL, MAX_RECORDS_PER_CALL, 201]
    assert [json.loads(data) for call in client.calls for data in call] == events


def test_calls_hold_at_most_4_mib():
    client = FakeFirehose()
    rng = random.Random(5)
    events = [padded(n, rng.randrange(300_000, MAX_RECORD_BYTES)) for n in range(20)]
    attempts = adapter(client).send(destination(), events, deadline=1e12)
    assert [attempt.status for attempt in attempts] == [DELIVERED] * 20
    sizes = [sum(map(len, call)) for call in client.calls]
    assert all(size <= MAX_CALL_BYTES for size in sizes), sizes
    # Greedy: no call could have taken the next record as well.
    firsts = [len(call[0]) for call in client.calls[1:]]
    assert all(size + first > MAX_CALL_BYTES for size, first in zip(sizes, firsts, strict=False))


def test_four_mib_is_reached_exactly():
    client = FakeFirehose()
    events = [padded(n, MAX_CALL_BYTES // 8) for n in range(9)]
    adapter(client).send(destination(), events, deadline=1e12)
    assert [sum(map(len, call)) for call in client.calls] == [MAX_CALL_BYTES, MAX_CALL_BYTES // 8]


def test_a_record_over_1000_kib_is_refused_alone():
    client = FakeFirehose()
    events = [padded(1, MAX_RECORD_BYTES), padded(2, MAX_RECORD_BYTES + 1), event("track", 3)]
    attempts = adapter(client).send(destination(), events, deadline=1e12)
    assert [(attempt.status, attempt.code) for attempt in attempts] == [
        (DELIVERED, "200"),
        (FINAL, "item_too_large"),
        (DELIVERED, "200"),
    ]
    assert message_ids(client) == [["m-track-1", "m-track-3"]]
    assert len(client.calls[0][0]) == MAX_RECORD_BYTES


# Verdicts.


def put_record_batch_call(count: int) -> AwsCall:
    payloads = [
        orjson.dumps(item.payload) for n in range(count) for item in FIREHOSE.map(event("track", n), settings())
    ]
    return FIREHOSE.call("records", payloads, settings(), CONTEXT)


def test_a_full_success_delivers_every_record():
    answer = {"FailedPutCount": 0, "Encrypted": False, "RequestResponses": [{"RecordId": "r"}] * 3}
    verdicts = FIREHOSE.interpret(put_record_batch_call(3), answer, 3, NOW)
    assert [(verdict.status, verdict.code) for verdict in verdicts] == [(DELIVERED, "200")] * 3


def test_a_partial_failure_retries_only_the_failed_records():
    results = [
        {"RecordId": "r0"},
        {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."},
        {"RecordId": "r2"},
        {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal Service Failure"},
    ]
    verdicts = FIREHOSE.interpret(put_record_batch_call(5), {"FailedPutCount": 2, "RequestResponses": results}, 5, NOW)
    assert [(verdict.status, verdict.code) for verdict in verdicts] == [
        (DELIVERED, "200"),
        (RETRY, "ServiceUnavailableException"),
        (DELIVERED, "200"),
        (RETRY, "InternalFailure"),
        (RETRY, "no_result"),  # left out of the answer: whether it was put is unknown
    ]


def test_failed_records_are_retried_alone_and_the_others_delivered():
    def middle_fails(records: list[dict[str, bytes]]) -> dict[str, Any]:
        results: list[dict[str, str]] = [{"RecordId": "r"} for _ in records]
        failing = [n for n, record in enumerate(records) if json.loads(record["Data"])["messageId"] == "m-track-2"]
        for n in failing:
            results[n] = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
        return {"FailedPutCount": len(failing), "RequestResponses": results}

    client = FakeFirehose(middle_fails)
    events = [event("track", n) for n in (1, 2, 3)]
    attempts = adapter(client).send(destination(), events, deadline=1e12)
    assert [(attempt.status, attempt.code) for attempt in attempts] == [
        (DELIVERED, "200"),
        (RETRY, "ServiceUnavailableException"),
        (DELIVERED, "200"),
    ]
    assert attempts[1].label == "awaiting_retry.ServiceUnavailableException"
    # The deliverer hands back only the event to retry: it goes alone.
    client = FakeFirehose()
    [attempt] = adapter(client).send(destination(), [events[1]], deadline=1e12)
    assert attempt.status == DELIVERED
    assert message_ids(client) == [["m-track-2"]]


# Through botocore, against moto.


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        session = botocore.session.Session()
        yield lambda service: session.create_client(service, region_name=REGION)


def test_records_through_botocore_land_in_s3_as_json_lines(aws: Any):
    s3, firehose = aws("s3"), aws("firehose")
    s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": REGION})
    firehose.create_delivery_stream(
        DeliveryStreamName=STREAM,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/firehose-to-s3",
            "BucketARN": "arn:aws:s3:::lake",
            "Prefix": "segment/",
        },
    )
    events = [event(sorted(EVENTS)[n % 6], n) for n in range(MAX_RECORDS_PER_CALL + 7)]
    attempts = ToolAdapter(FIREHOSE, REGION, aws_clients=aws).send(destination(), events, deadline=1e12)
    assert [(attempt.status, attempt.code) for attempt in attempts] == [(DELIVERED, "200")] * len(events)

    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="lake", Prefix="segment/")["Contents"]]
    assert len(keys) == 2  # moto writes one object per call
    lines = [
        line
        for key in keys
        for line in s3.get_object(Bucket="lake", Key=key)["Body"].read().decode().splitlines(keepends=True)
    ]
    assert all(line.endswith("\n") for line in lines)
    assert sorted((json.loads(line) for line in lines), key=lambda one: one["messageId"]) == sorted(
        events, key=lambda one: one["messageId"]
    )


def test_a_missing_stream_is_retried_not_dropped(aws: Any):
    [attempt] = ToolAdapter(FIREHOSE, REGION, aws_clients=aws).send(destination(), [event("track")], deadline=1e12)
    assert (attempt.status, attempt.code) == (RETRY, "ResourceNotFoundException")
