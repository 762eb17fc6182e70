"""The delivery Lambda's bookkeeping with fakes: retries get their delay and stay queued, what
SQS gave up on is parked, and nothing without an outcome is deleted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest

from switchyard.delivery.policy import Action, Decision
from switchyard.delivery.requests import DeliveryMessage, DeliveryRequest
from switchyard.delivery.service import Outcome, QueuedDelivery
from switchyard.devstack.lambda_runtime import load_handler_module

DONE, GIVE_UP, RETRY_LATER = Action.DONE, Action.GIVE_UP, Action.RETRY_LATER
REGION = "eu-west-1"
LIVE_ARN = f"arn:aws:sqs:{REGION}:123456789012:switchyard-delivery-{REGION}"
DLQ_ARN = f"arn:aws:sqs:{REGION}:123456789012:switchyard-delivery-dlq-{REGION}"


@pytest.fixture(scope="module")
def delivery() -> ModuleType:
    return load_handler_module("delivery")


def record(message_id: str, arn: str = LIVE_ARN, body: str | None = None) -> dict[str, Any]:
    request = DeliveryRequest("hook", {"type": "track", "event": "E", "messageId": message_id})
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body if body is not None else request.to_body().decode(),
        "attributes": {"ApproximateReceiveCount": "2", "ApproximateFirstReceiveTimestamp": "1800000000000"},
        "eventSourceARN": arn,
        "awsRegion": REGION,
    }


class FakeDeliverer:
    def __init__(self, decisions: dict[str, Decision]) -> None:
        self.decisions = decisions
        self.delivered: list[QueuedDelivery] = []
        self.parked: list[QueuedDelivery] = []
        self.budget = 0.0

    def deliver(self, items: Sequence[QueuedDelivery], budget_seconds: float) -> dict[str, Outcome]:
        self.delivered += items
        self.budget = budget_seconds
        return {i.message_id: Outcome(self.decisions[i.message_id]) for i in items if i.message_id in self.decisions}

    def park_exhausted(self, items: Sequence[QueuedDelivery]) -> dict[str, Outcome]:
        self.parked += items
        return {item.message_id: Outcome(Decision(GIVE_UP)) for item in items}


class FakeSqs:
    def __init__(self, *, refuse_sends: bool = False) -> None:
        self.visibility: dict[str, int] = {}
        self.sent: list[tuple[str, str, int]] = []
        self.refuse_sends = refuse_sends

    def get_queue_url(self, QueueName: str, QueueOwnerAWSAccountId: str) -> dict[str, str]:  # noqa: N803
        return {"QueueUrl": f"https://sqs/{QueueOwnerAWSAccountId}/{QueueName}"}

    def change_message_visibility(self, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> None:  # noqa: N803
        self.visibility[ReceiptHandle] = VisibilityTimeout

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        if self.refuse_sends:
            return {"Failed": [{"Id": entry["Id"], "Code": "InternalError"} for entry in Entries]}
        self.sent += [(QueueUrl, entry["MessageBody"], entry["DelaySeconds"]) for entry in Entries]
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}


def test_retries_keep_their_delay_and_done_messages_are_deleted(delivery: ModuleType):
    deliverer, sqs = FakeDeliverer({"a": Decision(DONE), "b": Decision(RETRY_LATER, 42)}), FakeSqs()
    answer = delivery.DeliveryHandler(deliverer, sqs).handle({"Records": [record("a"), record("b")]}, 60)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert sqs.visibility == {"rh-b": 42}
    assert deliverer.budget == 50, "ten seconds are kept to defer what was not attempted"
    assert deliverer.delivered[0].receive_count == 2 and deliverer.delivered[0].first_received_at == 1.8e9


def test_a_message_without_an_outcome_stays_queued(delivery: ModuleType):
    deliverer, sqs = FakeDeliverer({"a": Decision(DONE)}), FakeSqs()
    answer = delivery.DeliveryHandler(deliverer, sqs).handle({"Records": [record("a"), record("lost")]}, 60)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "lost"}]}


def test_records_from_the_dead_letter_queue_are_parked_not_delivered(delivery: ModuleType):
    deliverer = FakeDeliverer({})
    answer = delivery.DeliveryHandler(deliverer, FakeSqs()).handle({"Records": [record("x", DLQ_ARN)]}, 60)
    assert answer == {"batchItemFailures": []}
    assert [item.message_id for item in deliverer.parked] == ["x"] and deliverer.delivered == []


def test_destination_filter_and_consent_drops_are_counted_per_destination(
    delivery: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    items = [item for name in ("a", "b", "c", "d") for item in delivery.queued(record(name)).items]
    outcomes = {
        "a": Outcome(Decision(Action.SKIP), filtered_by="No internal traffic"),
        "b": Outcome(Decision(Action.SKIP), filtered_by="No internal traffic"),
        "c": Outcome(Decision(DONE)),
        "d": Outcome(Decision(Action.SKIP), consent_denied=True),
    }
    delivery.emit_metrics(items, outcomes, lambda destination: destination)
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    by_filter = [d for d in documents if "FilteredAtDestination" in d]
    assert len(by_filter) == 1
    assert (by_filter[0]["destination"], by_filter[0]["filter"], by_filter[0]["FilteredAtDestination"]) == (
        "hook",
        "No internal traffic",
        [2.0],
    )
    assert sorted(by_filter[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["destination", "filter", "service"]
    (by_consent,) = [d for d in documents if "FilteredByConsent" in d]
    assert (by_consent["destination"], by_consent["FilteredByConsent"]) == ("hook", [1.0])


# Messages of several events (switchyard.delivery.requests).


def packed(message_id: str, names: list[str], *, arn: str = LIVE_ARN, **carried: Any) -> dict[str, Any]:
    requests = [DeliveryRequest("hook", {"type": "track", "event": "E", "messageId": name}) for name in names]
    body = DeliveryMessage(requests, **carried).to_body().decode()
    return record(message_id, arn, body)


def test_each_event_of_a_message_gets_its_own_id_and_the_carried_receive_count(delivery: ModuleType):
    received = delivery.queued(packed("q1", ["a", "b"], receives=3, first_received_at=1.7e9))
    assert [item.message_id for item in received.items] == ["q1:0", "q1:1"]
    assert [item.request.event["messageId"] for item in received.items] == ["a", "b"]
    assert {(item.receive_count, item.first_received_at) for item in received.items} == {(5, 1.7e9)}
    alone = delivery.queued(record("q2")).items
    assert [item.message_id for item in alone] == ["q2"], "a one-event body keeps the message's id"


def test_a_message_whose_events_all_went_through_is_deleted(delivery: ModuleType):
    deliverer, sqs = FakeDeliverer({"q1:0": Decision(DONE), "q1:1": Decision(Action.SKIP)}), FakeSqs()
    answer = delivery.DeliveryHandler(deliverer, sqs).handle({"Records": [packed("q1", ["a", "b"])]}, 60)
    assert answer == {"batchItemFailures": []}
    assert (sqs.visibility, sqs.sent) == ({}, [])


def test_a_message_whose_events_all_wait_is_retried_whole_after_the_shortest_delay(delivery: ModuleType):
    decisions = {"q1:0": Decision(RETRY_LATER, 30), "q1:1": Decision(RETRY_LATER, 12)}
    deliverer, sqs = FakeDeliverer(decisions), FakeSqs()
    answer = delivery.DeliveryHandler(deliverer, sqs).handle({"Records": [packed("q1", ["a", "b"])]}, 60)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "q1"}]}
    assert (sqs.visibility, sqs.sent) == ({"rh-q1": 12}, [])


def test_only_the_events_to_retry_are_queued_again_and_the_message_is_deleted(delivery: ModuleType):
    decisions = {"q1:0": Decision(DONE), "q1:1": Decision(RETRY_LATER, 40), "q1:2": Decision(RETRY_LATER, 20)}
    deliverer, sqs = FakeDeliverer(decisions), FakeSqs()
    handler = delivery.DeliveryHandler(deliverer, sqs, clock=lambda: 1.8e9 + 5)
    answer = handler.handle({"Records": [packed("q1", ["a", "b", "c"])]}, 60)
    assert answer == {"batchItemFailures": []}, "what went through is never sent again"
    [(url, body, delay)] = sqs.sent
    assert url.endswith(f"switchyard-delivery-{REGION}") and delay == 20
    again = DeliveryMessage.from_body(body)
    assert [request.event["messageId"] for request in again.requests] == ["b", "c"]
    assert (again.receives, again.first_received_at, again.not_before) == (2, 1.8e9, None)


def test_the_requeued_events_are_the_ones_received_not_as_filters_changed_them(delivery: ModuleType):
    class Rewriting(FakeDeliverer):
        def deliver(self, items: Sequence[QueuedDelivery], budget_seconds: float) -> dict[str, Outcome]:
            for item in items:
                item.as_received = item.request
                item.request = DeliveryRequest("hook", {**item.request.event, "event": "Changed"})
            return super().deliver(items, budget_seconds)

    deliverer, sqs = Rewriting({"q1:0": Decision(DONE), "q1:1": Decision(RETRY_LATER, 5)}), FakeSqs()
    delivery.DeliveryHandler(deliverer, sqs).handle({"Records": [packed("q1", ["a", "b"])]}, 60)
    [(_, body, _)] = sqs.sent
    assert [request.event["event"] for request in DeliveryMessage.from_body(body).requests] == ["E"]


def test_a_wait_beyond_sqs_delays_rides_in_the_message_and_holds_it_back(delivery: ModuleType):
    decisions = {"q1:0": Decision(DONE), "q1:1": Decision(RETRY_LATER, 3600)}
    deliverer, sqs = FakeDeliverer(decisions), FakeSqs()
    handler = delivery.DeliveryHandler(deliverer, sqs, clock=lambda: 1000.0)
    handler.handle({"Records": [packed("q1", ["a", "b"])]}, 60)
    [(_, body, delay)] = sqs.sent
    assert delay == 900 and DeliveryMessage.from_body(body).not_before == 4600.0
    # Back after 15 minutes: not tried, hidden for the rest of the wait.
    early, deliverer.delivered = record("q2", body=body), []
    answer = delivery.DeliveryHandler(deliverer, sqs, clock=lambda: 1900.0).handle({"Records": [early]}, 60)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "q2"}]}
    assert (sqs.visibility["rh-q2"], deliverer.delivered) == (2700, [])


def test_if_the_events_to_retry_cannot_be_queued_the_whole_message_is_retried(delivery: ModuleType):
    deliverer, sqs = (
        FakeDeliverer({"q1:0": Decision(DONE), "q1:1": Decision(RETRY_LATER, 7)}),
        FakeSqs(refuse_sends=True),
    )
    answer = delivery.DeliveryHandler(deliverer, sqs).handle({"Records": [packed("q1", ["a", "b"])]}, 60)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "q1"}]}, "at least once: nothing is lost"
    assert sqs.visibility == {"rh-q1": 7}


def test_a_dead_lettered_message_is_parked_event_by_event(delivery: ModuleType):
    deliverer, sqs = FakeDeliverer({}), FakeSqs()
    answer = delivery.DeliveryHandler(deliverer, sqs).handle({"Records": [packed("x", ["a", "b"], arn=DLQ_ARN)]}, 60)
    assert answer == {"batchItemFailures": []}
    assert [item.message_id for item in deliverer.parked] == ["x:0", "x:1"]


def test_a_dead_lettered_message_not_wholly_parked_comes_back_whole(delivery: ModuleType):
    class ParksOne(FakeDeliverer):
        def park_exhausted(self, items: Sequence[QueuedDelivery]) -> dict[str, Outcome]:
            return {items[0].message_id: Outcome(Decision(GIVE_UP))}

    sqs = FakeSqs()
    answer = delivery.DeliveryHandler(ParksOne({}), sqs).handle({"Records": [packed("x", ["a", "b"], arn=DLQ_ARN)]}, 60)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "x"}]}
