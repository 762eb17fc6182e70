"""The delivery Lambda's bookkeeping with fakes: retries get their delay and stay queued, what
SQS gave up on is parked, and nothing without an outcome is deleted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest

from switchyard.delivery.policy import Action, Decision
from switchyard.delivery.requests import DeliveryRequest
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
    def __init__(self) -> None:
        self.visibility: dict[str, int] = {}

    def get_queue_url(self, QueueName: str, QueueOwnerAWSAccountId: str) -> dict[str, str]:  # noqa: N803
        return {"QueueUrl": f"https://sqs/{QueueOwnerAWSAccountId}/{QueueName}"}

    def change_message_visibility(self, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> None:  # noqa: N803
        self.visibility[ReceiptHandle] = VisibilityTimeout


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
    items = [delivery.queued(record(name)) for name in ("a", "b", "c", "d")]
    outcomes = {
        "a": Outcome(Decision(Action.SKIP), filtered_by="No internal traffic"),
        "b": Outcome(Decision(Action.SKIP), filtered_by="No internal traffic"),
        "c": Outcome(Decision(DONE)),
        "d": Outcome(Decision(Action.SKIP), consent_denied=True),
    }
    delivery.emit_metrics(items, outcomes)
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
