"""The soak's faults are the real thing: AWS's failure answers as the AWS SDK parses them, and
destination answers as the webhook sender's HTTP client sees them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from switchyard.delivery.http import BoundedHttp
from switchyard.delivery.requests import DeliveryRequest
from switchyard.devstack.emulator import Emulator
from switchyard.devstack.faults import (
    DRIP,
    HUGE,
    RATE_LIMITED,
    SERVER_ERROR,
    AwsFaultPlan,
    DeliveryCrashes,
    FaultyDestination,
    InjectedCrash,
    RouterCrashes,
    Storms,
)
from switchyard.devstack.receiver import Received, WebhookReceiver

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def client(emulator: Emulator, service: str) -> object:
    host, port = emulator.get_host_and_port()
    return boto3.client(service, endpoint_url=f"http://{host}:{port}", region_name="us-west-2", config=NO_RETRIES)


@pytest.fixture
def emulated() -> Iterator[tuple[Emulator, AwsFaultPlan]]:
    plan = AwsFaultPlan(seed=1, put_records_partial=1.0, records_failed=0.5, dynamodb_throttled=1.0)
    emulator = Emulator(port=0, faults=plan).start()
    yield emulator, plan
    emulator.stop()


def records_in(kinesis, stream: str) -> list[bytes]:  # type: ignore[no-untyped-def]
    data = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        data += [record["Data"] for record in kinesis.get_records(ShardIterator=iterator)["Records"]]
    return data


def test_a_partly_failed_put_records_writes_only_what_it_reports_written(emulated):  # type: ignore[no-untyped-def]
    emulator, plan = emulated
    kinesis = client(emulator, "kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=2)
    plan.start()
    sent = [f"r{i}".encode() for i in range(40)]

    answer = kinesis.put_records(StreamName="s", Records=[{"Data": d, "PartitionKey": d.decode()} for d in sent])

    failed = [d for d, r in zip(sent, answer["Records"], strict=True) if "ErrorCode" in r]
    assert 0 < answer["FailedRecordCount"] == len(failed) < len(sent)
    assert {r.get("ErrorCode") for r in answer["Records"]} == {None, "ProvisionedThroughputExceededException"}
    assert all("SequenceNumber" in r for r in answer["Records"] if "ErrorCode" not in r)
    plan.stop()
    assert sorted(records_in(kinesis, "s")) == sorted(set(sent) - set(failed))
    assert plan.injected["kinesis.failed_records"] == len(failed)


def test_a_throttled_call_is_a_client_error_the_sdk_knows(emulated):  # type: ignore[no-untyped-def]
    emulator, plan = emulated
    dynamodb = client(emulator, "dynamodb")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    plan.start()
    with pytest.raises(ClientError) as raised:
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}})
    assert raised.value.response["Error"]["Code"] in ("ProvisionedThroughputExceededException", "ThrottlingException")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    plan.stop()
    assert dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}}).get("Item") is None, "nothing was written"


def test_whole_put_records_calls_are_refused_and_storms_throttle_everything():
    now = [0.0]
    plan = AwsFaultPlan(seed=3, put_records_throttled=1.0, dynamodb_storms=Storms(10, 2), clock=lambda: now[0])
    assert not plan.put_records(5).throttled, "off until started"
    plan.start()
    assert plan.put_records(5).throttled
    now[0] = 5.0
    assert plan.dynamodb() is None
    now[0] = 8.5
    assert plan.dynamodb() == "ThrottlingException"


def test_a_faulty_destination_misbehaves_by_seed_and_lets_every_event_through_in_the_end():
    responder = FaultyDestination(seed=7, rate=1.0, max_faults=2, kinds=(RATE_LIMITED,))
    answers = [responder(Received(0, "/", {}, b"", events=[{"messageId": "m1"}]))[0] for _ in range(3)]
    assert answers == [429, 429, 200]
    kinds = (SERVER_ERROR, RATE_LIMITED)
    again = FaultyDestination(seed=7, rate=0.5, kinds=kinds)
    first = [again(Received(0, "/", {}, b"", events=[{"messageId": f"m{i}"}]))[0] for i in range(50)]
    replay = FaultyDestination(seed=7, rate=0.5, kinds=kinds)
    assert first == [replay(Received(0, "/", {}, b"", events=[{"messageId": f"m{i}"}]))[0] for i in range(50)]


@pytest.mark.parametrize("kind", [DRIP, HUGE])
def test_a_drip_or_a_huge_answer_is_a_200_the_sender_reads_only_in_part(kind: str):
    receiver = WebhookReceiver(0, responder=FaultyDestination(seed=1, rate=1.0, kinds=(kind,))).start()
    try:
        started = time.monotonic()
        answer = BoundedHttp().request(
            "POST", f"{receiver.url}/hook", body=b'{"messageId":"m"}', headers={}, deadline=time.monotonic() + 1.5
        )
        assert answer.status == 200 and not answer.complete
        assert time.monotonic() - started < 2.5
        assert len(receiver.accepted) == 1
    finally:
        receiver.stop()


def test_the_router_crashes_on_the_chosen_batches_only():
    crashes = RouterCrashes([2])
    crashes()
    with pytest.raises(InjectedCrash):
        crashes()
    crashes()
    assert crashes.crashed == 1


def sqs_batch(*destinations: str) -> dict[str, object]:
    return {
        "Records": [
            {"messageId": f"q{i}", "body": DeliveryRequest(d, {"messageId": f"m{i}"}).to_body().decode()}
            for i, d in enumerate(destinations)
        ]
    }


def test_delivery_crashes_after_a_settled_batch_of_one_event_per_destination():
    crashes = DeliveryCrashes(1, destinations=["steady", "flaky"], after=1)
    settled = {"batchItemFailures": []}
    assert not crashes.crashes_after("delivery", sqs_batch("steady"), settled), "not before `after` invocations"
    assert not crashes.crashes_after("delivery", sqs_batch("steady", "steady"), settled), "two for one destination"
    assert not crashes.crashes_after("delivery", sqs_batch("steady", "dead"), settled), "another destination"
    assert not crashes.crashes_after("delivery", sqs_batch("steady"), {"batchItemFailures": [{"itemIdentifier": "q0"}]})
    assert not crashes.crashes_after("router", sqs_batch("steady"), settled)
    assert crashes.pending == 1
    assert crashes.crashes_after("delivery", sqs_batch("steady", "flaky"), settled)
    assert not crashes.crashes_after("delivery", sqs_batch("steady"), settled), "only `times` crashes"
    assert crashes.crashed == [("steady", "m0"), ("flaky", "m1")]
    assert crashes.pending == 0
