"""Retrying the failed entries of a batch call: only those, with backoff, until the deadline."""

from __future__ import annotations

import pytest

from switchyard.delivery.queue import DeliveryQueue, QueueSendFailed
from switchyard.delivery.requests import DeliveryMessage, DeliveryRequest
from switchyard.retries import EntriesNotWritten, FailedEntryRetry


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_only_the_failed_entries_are_sent_again():
    calls: list[list[str]] = []

    def attempt(entries: list[str]) -> tuple[list[str], str]:
        calls.append(entries)
        return ([e for e in entries if e == "b"] if len(calls) == 1 else []), "Throttled"

    clock = Clock()
    FailedEntryRetry(attempt, clock, clock.sleep).run(["a", "b", "c"], deadline=10)
    assert calls == [["a", "b", "c"], ["b"]]


def test_what_still_fails_at_the_deadline_is_reported():
    clock = Clock()
    retry = FailedEntryRetry(lambda entries: (entries[:1], "InternalFailure"), clock, clock.sleep)
    with pytest.raises(EntriesNotWritten) as error:
        retry.run(["a", "b"], deadline=3)
    assert (error.value.pending, error.value.last_error) == (1, "InternalFailure")
    assert clock.now < 3


class PartlyFailingSqs:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[str] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's names
        failed = [{"Id": e["Id"], "Code": "ServiceUnavailable"} for e in Entries[: self.failures]]
        self.failures = max(0, self.failures - 1)
        self.received += [e["MessageBody"] for e in Entries[len(failed) :]]
        return {"Failed": failed}


def test_the_delivery_queue_sends_each_request_once_despite_partial_failures():
    sqs, clock = PartlyFailingSqs(failures=2), Clock()
    requests = [DeliveryRequest(f"hook{i}", {"messageId": f"m{i}"}) for i in range(5)]  # five messages
    DeliveryQueue("url", sqs, sleep=clock.sleep, clock=clock).send(requests)
    sent = [request.event for body in sqs.received for request in DeliveryMessage.from_body(body).requests]
    assert sorted(event["messageId"] for event in sent) == [f"m{i}" for i in range(5)]


def test_the_delivery_queue_reports_what_it_could_not_send():
    sqs, clock = PartlyFailingSqs(failures=10**6), Clock()
    with pytest.raises(QueueSendFailed, match="not queued: ServiceUnavailable"):
        DeliveryQueue("url", sqs, budget_seconds=1, sleep=clock.sleep, clock=clock).send(
            [DeliveryRequest("hook", {"messageId": "m1"})]
        )
