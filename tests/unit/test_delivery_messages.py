"""Delivery queue messages: several events of one destination per message, and the one-event form."""

from __future__ import annotations

import orjson
import pytest

from switchyard.delivery.queue import SQS_MAX_BATCH_BYTES, DeliveryQueue
from switchyard.delivery.requests import DeliveryMessage, DeliveryRequest, pack


def request(destination: str, index: int, *, lane: str = "live", size: int = 0) -> DeliveryRequest:
    event = {"type": "track", "messageId": f"{destination}-{index}", "properties": {"pad": "x" * size}}
    return DeliveryRequest(destination, event, {"mode": "batch"} if destination == "amp" else {}, lane)


def ids(message: DeliveryMessage) -> list[str]:
    return [each.event["messageId"] for each in message.requests]


def test_events_are_packed_per_destination_and_lane_in_their_order():
    requests = [request("hook", 0), request("amp", 0), request("hook", 1), request("hook", 2, lane="replay")]
    messages = pack(requests, 10, SQS_MAX_BATCH_BYTES)
    assert [ids(message) for message in messages] == [["hook-0", "hook-1"], ["amp-0"], ["hook-2"]]
    assert messages[1].requests[0].options == {"mode": "batch"}


def test_a_message_holds_at_most_the_events_per_message_and_stays_under_the_byte_limit():
    assert [len(m.requests) for m in pack([request("hook", i) for i in range(25)], 10, SQS_MAX_BATCH_BYTES)] == [
        10,
        10,
        5,
    ]
    big = [request("hook", i, size=30_000) for i in range(20)]
    messages = pack(big, 50, SQS_MAX_BATCH_BYTES)
    assert all(len(message.to_body()) <= SQS_MAX_BATCH_BYTES for message in messages)
    assert sum(len(message.requests) for message in messages) == 20 and len(messages) > 1


def test_a_message_reads_back_with_what_its_retries_carry():
    message = DeliveryMessage(
        [request("hook", 0), request("hook", 1)], receives=4, first_received_at=1.7e9, not_before=1.8e9
    )
    again = DeliveryMessage.from_body(message.to_body())
    assert ids(again) == ["hook-0", "hook-1"]
    assert (again.receives, again.first_received_at, again.not_before) == (4, 1.7e9, 1.8e9)
    assert again.requests[0].lane == "live" and again.requests[0].destination_id == "hook"
    plain = orjson.loads(DeliveryMessage([request("hook", 0)]).to_body())
    assert set(plain) == {"destination", "lane", "options", "events"}, "nothing carried on a first send"


def test_the_one_event_form_reads_as_a_message_of_one():
    one = request("amp", 3, lane="replay")
    message = DeliveryMessage.from_body(one.to_body())
    assert (ids(message), message.receives, message.not_before) == (["amp-3"], 0, None)
    assert (message.requests[0].lane, message.requests[0].options) == ("replay", {"mode": "batch"})


def test_the_router_spliced_event_bytes_are_sent_as_they_are():
    stored = b'{"type":"track","messageId":"m1","properties":{"n":1.50}}'
    spliced = DeliveryRequest("hook", orjson.loads(stored), event_json=stored)
    body = DeliveryMessage([spliced]).to_body()
    assert stored in body


def test_characters_sqs_refuses_are_escaped_in_a_packed_message():
    event = {"messageId": "m1", "name": "a\ufffeb\uffff"}
    body = DeliveryMessage([DeliveryRequest("hook", event)]).to_body()
    assert "\ufffe".encode() not in body and "\uffff".encode() not in body
    assert DeliveryMessage.from_body(body).requests[0].event == event


@pytest.mark.parametrize("body", [b'{"destination":"hook","events":[]}', b'{"destination":"hook","events":{}}'])
def test_a_message_without_events_is_refused(body: bytes):
    with pytest.raises(ValueError, match="without events"):
        DeliveryMessage.from_body(body)


class RecordingSqs:
    def __init__(self) -> None:
        self.batches: list[list[dict]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's names
        self.batches.append(Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}


@pytest.mark.parametrize(("per_message", "messages"), [(1, 100), (10, 10), (50, 2)])
def test_the_queue_sends_as_many_messages_as_the_option_packs(per_message: int, messages: int):
    sqs = RecordingSqs()
    DeliveryQueue("url", sqs, events_per_message=per_message).send([request("hook", i) for i in range(100)])
    sent = [entry for batch in sqs.batches for entry in batch]
    assert len(sent) == messages
    assert len(sqs.batches) == -(-messages // 10), "ten messages a request"
    received = [r.event["messageId"] for e in sent for r in DeliveryMessage.from_body(e["MessageBody"]).requests]
    assert received == [f"hook-{i}" for i in range(100)]
