"""The Slack forwarder against a real local HTTP server standing in for Slack's incoming webhook,
and its handler with the webhook URL in moto's SSM."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from switchyard import constants
from switchyard.alerts.names import slack_webhook_parameter
from switchyard.alerts.slack import SlackPoster, SlackUnavailable, WebhookRefused, message_for
from switchyard.delivery.http import BoundedHttp
from switchyard.devstack.lambda_runtime import LocalLambdaContext, load_handler_module
from switchyard.devstack.receiver import Answer, Received, WebhookReceiver
from switchyard.secure_parameters import put_json

ALARM = {
    "AlarmName": "switchyard-alert-us-west-2-delivery-success-amp",
    "AlarmDescription": "Destination amp: fewer than 95% of the deliveries that ended in 15 minutes succeeded.",
    "NewStateValue": "ALARM",
    "OldStateValue": "OK",
    "NewStateReason": "Threshold Crossed: 1 datapoint [80.0] was less than the threshold (95.0).",
    "StateChangeTime": "2025-03-10T12:30:00.000+0000",
    "Region": "US West (Oregon)",
}
NOTIFICATION = {"MessageId": "m-1", "Subject": 'ALARM: "delivery-success-amp"', "Message": json.dumps(ALARM)}


class Scripted:
    """Answers in turn, then 200 for ever."""

    def __init__(self, *answers: Answer) -> None:
        self._answers = list(answers)

    def __call__(self, _: Received) -> Answer:
        return self._answers.pop(0) if self._answers else (200, {}, b"ok")


@pytest.fixture
def slack() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(0, responder=Scripted()).start()
    yield receiver
    receiver.stop()


def poster(sleeps: list[float] | None = None) -> SlackPoster:
    return SlackPoster(BoundedHttp(), sleep=(sleeps if sleeps is not None else []).append, rng=random.Random(1))


def posted_texts(receiver: WebhookReceiver) -> list[str]:
    return [orjson.loads(received.body)["text"] for received in receiver.accepted]


def test_an_alarm_state_change_reads_as_one_slack_message():
    text = message_for(NOTIFICATION)["text"]
    assert text.splitlines() == [
        ":rotating_light: *ALARM* switchyard-alert-us-west-2-delivery-success-amp",
        ALARM["AlarmDescription"],
        f"_{ALARM['NewStateReason']}_",
        "US West (Oregon) · 2025-03-10T12:30:00.000+0000 · was OK",
    ]


def test_any_other_notification_is_posted_as_its_subject_and_text():
    assert message_for({"Subject": "Test", "Message": "hello"}) == {"text": "*Test*\nhello"}


def test_the_message_is_posted_to_the_webhook(slack: WebhookReceiver):
    attempts = poster().post(f"{slack.url}/services/T0/B0/secret", message_for(NOTIFICATION), time.monotonic() + 20)
    assert attempts == 1
    (received,) = slack.accepted
    assert received.path == "/services/T0/B0/secret"
    assert received.headers["Content-Type"] == "application/json"
    assert posted_texts(slack)[0].startswith(":rotating_light: *ALARM*")


def test_a_throttled_post_is_retried_after_slacks_retry_after():
    receiver = WebhookReceiver(0, responder=Scripted((429, {"Retry-After": "3"}, b"rate_limited"))).start()
    sleeps: list[float] = []
    try:
        attempts = poster(sleeps).post(receiver.url, {"text": "hi"}, time.monotonic() + 20)
    finally:
        receiver.stop()
    assert attempts == 2
    assert sleeps and sleeps[0] >= 3
    assert len(receiver.requests) == 2


def test_a_revoked_webhook_is_refused_for_good_without_retrying():
    receiver = WebhookReceiver(0, responder=Scripted((404, {}, b"no_service"))).start()
    try:
        with pytest.raises(WebhookRefused, match="Slack answered 404"):
            poster().post(receiver.url, {"text": "hi"}, time.monotonic() + 20)
    finally:
        receiver.stop()
    assert len(receiver.requests) == 1


def test_slack_failing_until_the_deadline_fails_the_invocation_for_lambda_to_retry():
    receiver = WebhookReceiver(0, responder=lambda _: (503, {}, b"")).start()
    try:
        with pytest.raises(SlackUnavailable, match="Slack answered 503"):
            poster().post(receiver.url, {"text": "hi"}, time.monotonic() + 8)
    finally:
        receiver.stop()


def sns_event(notification: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [{"EventSource": "aws:sns", "Sns": notification}]}


@mock_aws
def test_the_handler_posts_to_the_webhook_stored_in_ssm(slack: WebhookReceiver, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(constants.ENV_REGION, "us-west-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    put_json(boto3.client("ssm", region_name="us-west-2"), slack_webhook_parameter("us-west-2"), {"url": slack.url})
    handler = load_handler_module("alert_forwarder")
    answer = handler.lambda_handler(sns_event(NOTIFICATION), LocalLambdaContext("alert-forwarder", 30))
    assert answer == {"posted": 1}
    assert posted_texts(slack)[0].startswith(":rotating_light: *ALARM*")


@mock_aws
def test_without_a_webhook_the_handler_forwards_nothing(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(constants.ENV_REGION, "us-west-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    handler = load_handler_module("alert_forwarder")
    assert handler.lambda_handler(sns_event(NOTIFICATION), LocalLambdaContext("alert-forwarder", 30)) == {"posted": 0}
