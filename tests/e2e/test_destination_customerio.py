"""Customer.io end to end: events sent to the local stack reach a receiver standing in for
track.customer.io as Track API v2 batches (`POST /api/v2/batch`, Basic `site_id:api_key` with the
key read from the environment), one entity per call as Customer.io documents them, and its answers
are read per entity: a 207 naming refused entities, a 429 with `Retry-After`, a 503. Event Delivery
counts and samples are checked along the way."""

from __future__ import annotations

import base64
import calendar
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
import yaml

from switchyard.cli.main import main
from switchyard.devstack.receiver import Received, WebhookReceiver
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import TOOL_WORKSPACES, Receivers, wait_until
from tests.e2e.tool_runs import (
    MASK,
    FailsFirst,
    Moment,
    anonymous,
    assert_retried_after_the_wait_and_delivered_once,
    counted_since,
    holds,
    new_run,
    of_run,
    org,
    report_of,
    retried_sample,
    send,
    settled_report,
    six_calls,
    track,
    user,
)

pytestmark = pytest.mark.e2e

DESTINATION = "customerio"
WRITE_KEY = "wk_e2e_cio_000"
_PART = yaml.safe_load((TOOL_WORKSPACES / "customerio.yaml").read_text())
# The credentials as tools/customerio.yaml gives them to `apply`: one home for them.
API_KEY = _PART["environment"]["E2E_CUSTOMERIO_API_KEY"]
SITE_ID = _PART["destinations"][0]["settings"]["site_id"]
AUTHORIZATION = "Basic " + base64.b64encode(f"{SITE_ID}:{API_KEY}".encode()).decode()
# Seconds Customer.io asks to wait; above the destination's backoff (at most 2 s).
RETRY_AFTER_SECONDS = 3

Answer = tuple[int, dict[str, str], bytes]


def customerio_success(_: Received) -> Answer:
    return 200, {}, b"{}"  # "A successful request returns an empty object response."


def throttled(_: Received, __: str) -> Answer:
    return 429, {"Retry-After": str(RETRY_AFTER_SECONDS)}, b'{"errors":[{"reason":"rate limited"}]}'


def unavailable(_: Received, __: str) -> Answer:
    return 503, {}, b'{"errors":[{"reason":"service unavailable"}]}'


@pytest.fixture
def customerio(receivers: Receivers) -> Iterator[WebhookReceiver]:
    """The receiver standing in for Customer.io, answering as it does before and after the test."""
    receiver = receivers.tools[DESTINATION]
    receiver.responder = customerio_success
    try:
        yield receiver
    finally:
        receiver.responder = customerio_success


def entities(receiver: WebhookReceiver, run: str) -> list[dict[str, Any]]:
    return [entity for received in of_run(receiver, run) for entity in received.events]


def unix(text: str) -> int:
    return calendar.timegm(datetime.fromisoformat(text).utctimetuple())


def assert_samples_and_cli_show_no_key(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> str:
    report = report_of(stack, DESTINATION)
    assert report.samples, "there are samples to look at"
    for label, sample in report.samples.items():
        shown = orjson.dumps(sample).decode()
        assert API_KEY not in shown, f"the sample of {label} shows the API key"
        assert AUTHORIZATION.removeprefix("Basic ") not in shown, f"the sample of {label} shows the credentials"
    capsys.readouterr()
    assert main(["delivery", DESTINATION, "--since", "1h", "--endpoint-url", stack.aws_endpoint]) == 0
    printed = capsys.readouterr().out
    assert API_KEY not in printed
    return printed


def test_each_call_is_the_entity_customerio_documents(local_stack: LocalStack, customerio: WebhookReceiver):
    run, when = new_run(), Moment.minutes_ago(5)
    calls = six_calls(run, when)
    calls["identify"]["traits"]["createdAt"] = "2026-01-01T00:00:00.000Z"
    anonymous_track = {**track(run, "Browsed", when), "userId": None}
    send(local_stack, WRITE_KEY, *calls.values(), anonymous_track)

    assert wait_until(lambda: len(entities(customerio, run)) == 7, timeout=30), entities(customerio, run)
    for received in of_run(customerio, run):
        assert received.method == "POST"
        assert (received.path, received.query) == ("/api/v2/batch", "")
        assert received.headers["Authorization"] == AUTHORIZATION, "the key read from {env: E2E_CUSTOMERIO_API_KEY}"
        assert received.headers["Content-Type"] == "application/json"
        assert list(orjson.loads(received.body)) == ["batch"]

    seconds = when.epoch_ms // 1000
    person = {"id": user(run)}
    by_action = {(e["type"], e["action"]): e for e in entities(customerio, run) if e.get("name") != "Browsed"}
    assert by_action == {
        ("person", "identify"): {
            "type": "person",
            "action": "identify",
            "identifiers": person,
            "timestamp": seconds,
            "attributes": {
                "email": f"{run}@example.com",
                "plan": "pro",
                "created_at": unix("2026-01-01T00:00:00+00:00"),
                "anonymous_id": anonymous(run),
            },
        },
        ("person", "event"): {
            "type": "person",
            "action": "event",
            "identifiers": person,
            "name": "Order Completed",
            "id": calls["track"]["messageId"],
            "timestamp": seconds,
            "attributes": {**calls["track"]["properties"], "anonymous_id": anonymous(run)},
        },
        ("person", "page"): {
            "type": "person",
            "action": "page",
            "identifiers": person,
            "name": "https://example.com/docs/pricing",
            "id": calls["page"]["messageId"],
            "timestamp": seconds,
            "attributes": {**calls["page"]["properties"], "anonymous_id": anonymous(run)},
        },
        ("person", "screen"): {
            "type": "person",
            "action": "screen",
            "identifiers": person,
            "name": "Settings",
            "id": calls["screen"]["messageId"],
            "timestamp": seconds,
            "attributes": {"run": run, "anonymous_id": anonymous(run)},
        },
        ("object", "identify"): {
            "type": "object",
            "action": "identify",
            "identifiers": {"object_type_id": "2", "object_id": org(run)},
            "attributes": calls["group"]["traits"],
            "cio_relationships": [{"identifiers": person}],
        },
        ("person", "merge"): {
            "type": "person",
            "action": "merge",
            "primary": person,
            "secondary": {"id": anonymous(run)},
        },
    }
    [browsed] = [e for e in entities(customerio, run) if e.get("name") == "Browsed"]
    assert browsed["identifiers"] == {"anonymous_id": anonymous(run)}
    assert browsed["attributes"] == anonymous_track["properties"]


def test_entities_customerio_refuses_are_discarded_and_the_accepted_ones_never_sent_again(
    local_stack: LocalStack, customerio: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)

    def refuse_named_events(received: Received) -> Answer:
        refused = [i for i, entity in enumerate(received.events) if entity.get("name") == "Refused Event"]
        if not refused:
            return customerio_success(received)
        errors = [
            {"batch_index": i, "reason": "invalid", "field": "name", "message": "event name is reserved"}
            for i in refused
        ]
        return 207, {}, orjson.dumps({"errors": errors})

    customerio.responder = refuse_named_events
    send(local_stack, WRITE_KEY, *(track(run, name, when) for name in ("Signed Up", "Refused Event", "Signed In")))

    def sent_names() -> Counter[str]:
        return Counter(entity["name"] for entity in entities(customerio, run))

    everything_once = Counter({"Signed Up": 1, "Refused Event": 1, "Signed In": 1})
    assert wait_until(lambda: sent_names() == everything_once, timeout=30), sent_names()
    assert holds(lambda: sent_names() == everything_once), (
        "accepted entities are never sent again, refused ones neither"
    )

    expected = {"delivered": 2, "not_delivered": 1, "retried": 0, "discarded.207.invalid_entity": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )
    sample = report_of(local_stack, DESTINATION).samples["discarded.207.invalid_entity"]
    assert sample["response"]["status"] == 207
    assert sample["request"]["headers"]["Authorization"] == MASK
    printed = assert_samples_and_cli_show_no_key(local_stack, capsys)
    assert "discarded.207.invalid_entity" in printed


def test_a_429_is_retried_no_sooner_than_retry_after_and_delivered_once(
    local_stack: LocalStack, customerio: WebhookReceiver
):
    run, when = new_run(), Moment.minutes_ago(5)
    customerio.responder = FailsFirst(run, throttled, customerio_success)
    send(local_stack, WRITE_KEY, track(run, "Report Exported", when))

    assert_retried_after_the_wait_and_delivered_once(customerio, run, RETRY_AFTER_SECONDS)


def test_a_503_then_success_is_delivered_once_and_its_sample_shows_no_key(
    local_stack: LocalStack, customerio: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    customerio.responder = FailsFirst(run, unavailable, customerio_success)
    event = track(run, "Report Exported", when)
    send(local_stack, WRITE_KEY, event)

    shown = retried_sample(local_stack, customerio, DESTINATION, run, event, "awaiting_retry.503")
    assert shown["response"] == {"status": 503, "body": '{"errors":[{"reason":"service unavailable"}]}'}
    assert shown["request"]["headers"]["Authorization"] == MASK
    assert_samples_and_cli_show_no_key(local_stack, capsys)
