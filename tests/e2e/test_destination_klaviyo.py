"""Klaviyo end to end: events sent to the local stack reach a receiver standing in for
a.klaviyo.com as Klaviyo documents its requests (a profile upsert per identify on
`/api/profile-import`, an event per track on `/api/events`, JSON:API bodies, a private key read from
the environment, the `revision` header), and Klaviyo's answers are read per request: a 400 for one
event among others, a 429 with `Retry-After`, a 503. Event Delivery counts and samples are checked
along the way."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
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
    report_of,
    retried_sample,
    send,
    settled_report,
    track,
    user,
)

pytestmark = pytest.mark.e2e

DESTINATION = "klaviyo"
WRITE_KEY = "wk_e2e_kla_000"
# The key as tools/klaviyo.yaml gives it to `apply` through the environment: one home for it.
API_KEY = yaml.safe_load((TOOL_WORKSPACES / "klaviyo.yaml").read_text())["environment"]["E2E_KLAVIYO_PRIVATE_API_KEY"]
REVISION = "2026-10-15"
JSON_API = "application/vnd.api+json"
# Seconds Klaviyo's Retry-After asks for; above the destination's backoff (at most 2 s).
RETRY_AFTER_SECONDS = 3

Answer = tuple[int, dict[str, str], bytes]


# -- Klaviyo's answers ----------------------------------------------------------------------------


def klaviyo_success(received: Received) -> Answer:
    """Create Event: 202 without a body; Create or Update Profile: 201 with the profile."""
    if received.path == "/api/events":
        return 202, {}, b""
    attributes = orjson.loads(received.body)["data"]["attributes"]
    profile = {"data": {"type": "profile", "id": "01JE2E0PROFILE", "attributes": attributes}}
    return 201, {"Content-Type": JSON_API}, orjson.dumps(profile)


def klaviyo_error(status: int, code: str, detail: str) -> bytes:
    error = {"id": "7b5e4a6c", "status": status, "code": code, "title": detail, "detail": detail, "source": {}}
    return orjson.dumps({"errors": [error]})


def throttled(_: Received, __: str) -> Answer:
    """Klaviyo's 429: `Retry-After` only (no RateLimit-* headers when throttled)."""
    detail = f"Request was throttled. Expected available in {RETRY_AFTER_SECONDS} seconds."
    return 429, {"Retry-After": str(RETRY_AFTER_SECONDS)}, klaviyo_error(429, "throttled", detail)


def unavailable(_: Received, __: str) -> Answer:
    return 503, {}, klaviyo_error(503, "service_unavailable", "Service Unavailable")


@pytest.fixture
def klaviyo(receivers: Receivers) -> Iterator[WebhookReceiver]:
    """The receiver standing in for Klaviyo, answering as Klaviyo does before and after the test."""
    receiver = receivers.tools[DESTINATION]
    receiver.responder = klaviyo_success
    try:
        yield receiver
    finally:
        receiver.responder = klaviyo_success


# -- helpers --------------------------------------------------------------------------------------


def bodies(receiver: WebhookReceiver, run: str, path: str) -> list[dict[str, Any]]:
    return [orjson.loads(received.body) for received in of_run(receiver, run) if received.path == path]


def event_attributes(receiver: WebhookReceiver, run: str) -> dict[str, dict[str, Any]]:
    """The run's events by `unique_id`."""
    found = (body["data"]["attributes"] for body in bodies(receiver, run, "/api/events"))
    return {attributes["unique_id"]: attributes for attributes in found}


def profile(**attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": attributes}}


def metric(name: str) -> dict[str, Any]:
    return {"data": {"type": "metric", "attributes": {"name": name}}}


def assert_samples_and_cli_show_no_key(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> str:
    report = report_of(stack, DESTINATION)
    assert report.samples, "there are samples to look at"
    for label, sample in report.samples.items():
        assert API_KEY not in orjson.dumps(sample).decode(), f"the sample of {label} shows the private key"
    capsys.readouterr()
    assert main(["delivery", DESTINATION, "--since", "1h", "--endpoint-url", stack.aws_endpoint]) == 0
    printed = capsys.readouterr().out
    assert API_KEY not in printed, f"`switchyard delivery {DESTINATION}` shows the private key"
    return printed


# -- the calls ------------------------------------------------------------------------------------


def test_identify_and_track_reach_the_endpoints_klaviyo_documents(local_stack: LocalStack, klaviyo: WebhookReceiver):
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    common = {"userId": user(run), "anonymousId": anonymous(run), "timestamp": when.text}
    traits = {
        "email": f"{run}@example.com",
        "phone": "+44 20 7946 0958",
        "firstName": "Ada",
        "company": {"name": "Engines Ltd"},
        "address": {"city": "London", "postal_code": "SW1Y 4LB"},
        "plan": "pro",
    }
    products = [{"product_id": "sku-1", "price": 40, "quantity": 1}, {"product_id": "sku-2", "price": 5.5}]
    order = {"run": run, "order_id": f"o-{run}", "revenue": 45.5, "currency": "eur", "products": products}
    messages = {
        "identify": {"type": "identify", "traits": traits},
        "track": {
            "type": "track",
            "event": "Report Exported",
            "properties": {"run": run, "format": "csv"},
            "context": {"traits": {"email": f"{run}@example.com"}},
        },
        "order": {"type": "track", "event": "Order Completed", "properties": order},
        "page": {"type": "page", "name": "Pricing", "properties": {"run": run}},
        "badphone": {"type": "identify", "traits": {"phone": "020 7946 0958", "run": run}},
    }
    sent = {call: {"messageId": f"{run}-{call}", **common, **message} for call, message in messages.items()}
    send(local_stack, WRITE_KEY, *sent.values())

    assert wait_until(
        lambda: (len(bodies(klaviyo, run, "/api/profile-import")), len(bodies(klaviyo, run, "/api/events"))) == (2, 4),
        timeout=30,
    ), [received.path for received in of_run(klaviyo, run)]

    for received in of_run(klaviyo, run):
        assert received.method == "POST"
        assert received.query == ""
        assert received.headers["Authorization"] == f"Klaviyo-API-Key {API_KEY}", "read from the environment"
        assert received.headers["Revision"] == REVISION
        assert received.headers["Accept"] == JSON_API
        assert received.headers["Content-Type"] == JSON_API

    assert sorted(bodies(klaviyo, run, "/api/profile-import"), key=lambda body: len(orjson.dumps(body))) == [
        profile(external_id=user(run), properties={"run": run}),
        profile(
            external_id=user(run),
            email=f"{run}@example.com",
            first_name="Ada",
            phone_number="+442079460958",
            organization="Engines Ltd",
            location={"city": "London", "zip": "SW1Y 4LB"},
            properties={"plan": "pro", "company": {"name": "Engines Ltd"}},
        ),
    ]
    person = {"external_id": user(run), "anonymous_id": anonymous(run)}
    shop = {key: value for key, value in order.items() if key != "products"}
    assert event_attributes(klaviyo, run) == {
        f"{run}-track": {
            "properties": {"run": run, "format": "csv"},
            "time": when.text,
            "unique_id": f"{run}-track",
            "metric": metric("Report Exported"),
            "profile": profile(**person, email=f"{run}@example.com"),
        },
        f"{run}-order": {
            "properties": order,
            "time": when.text,
            "unique_id": f"{run}-order",
            "metric": metric("Order Completed"),
            "profile": profile(**person),
            "value": 45.5,
            "value_currency": "EUR",
        },
        f"{run}-order:0": {
            "properties": {**shop, **products[0]},
            "time": when.text,
            "unique_id": f"{run}-order:0",
            "metric": metric("Ordered Product"),
            "profile": profile(**person),
            "value": 40,
            "value_currency": "EUR",
        },
        f"{run}-order:1": {
            "properties": {**shop, **products[1]},
            "time": when.text,
            "unique_id": f"{run}-order:1",
            "metric": metric("Ordered Product"),
            "profile": profile(**person),
            "value": 5.5,
            "value_currency": "EUR",
        },
    }

    # A page has no Klaviyo counterpart: filtered, never sent. The phone number Klaviyo would refuse
    # was left out of a profile that went all the same.
    expected = {
        "delivered": 4,
        "not_delivered": 0,
        "retried": 0,
        "filtered.unsupported.no_page_api": 1,
        "omitted.phone_number_not_e164": 1,
    }
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )
    assert holds(lambda: len(of_run(klaviyo, run)) == 6, seconds=1.0), "nothing is sent twice"


# -- answers --------------------------------------------------------------------------------------


def test_an_event_klaviyo_refuses_is_discarded_and_the_others_go_once(
    local_stack: LocalStack, klaviyo: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)

    def refuse_named_event(received: Received) -> Answer:
        attributes = orjson.loads(received.body)["data"]["attributes"]
        if received.path == "/api/events" and attributes["metric"]["data"]["attributes"]["name"] == "Refused Event":
            return 400, {"Content-Type": JSON_API}, klaviyo_error(400, "invalid", "Invalid input.")
        return klaviyo_success(received)

    klaviyo.responder = refuse_named_event
    send(local_stack, WRITE_KEY, *(track(run, name, when) for name in ("Signed Up", "Refused Event", "Signed In")))

    def sent_names() -> Counter[str]:
        events = bodies(klaviyo, run, "/api/events")
        return Counter(body["data"]["attributes"]["metric"]["data"]["attributes"]["name"] for body in events)

    everything_once = Counter({"Signed Up": 1, "Refused Event": 1, "Signed In": 1})
    assert wait_until(lambda: sent_names() == everything_once, timeout=30), sent_names()
    assert holds(lambda: sent_names() == everything_once), "accepted events are never sent again, refused ones neither"

    expected = {"delivered": 2, "not_delivered": 1, "retried": 0, "discarded.400.invalid": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )
    sample = report_of(local_stack, DESTINATION).samples["discarded.400.invalid"]
    assert sample["response"]["status"] == 400
    assert sample["request"]["headers"]["Authorization"] == MASK
    assert sample["request"]["url"].endswith("/api/events")
    printed = assert_samples_and_cli_show_no_key(local_stack, capsys)
    assert "discarded.400.invalid" in printed


def test_a_429_is_retried_no_sooner_than_retry_after_and_delivered_once(
    local_stack: LocalStack, klaviyo: WebhookReceiver
):
    run, when = new_run(), Moment.minutes_ago(5)
    klaviyo.responder = FailsFirst(run, throttled, klaviyo_success)
    send(local_stack, WRITE_KEY, track(run, "Report Exported", when))

    assert_retried_after_the_wait_and_delivered_once(klaviyo, run, RETRY_AFTER_SECONDS)


def test_a_503_then_success_is_delivered_once_and_its_sample_shows_no_key(
    local_stack: LocalStack, klaviyo: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    klaviyo.responder = FailsFirst(run, unavailable, klaviyo_success)
    event = track(run, "Report Exported", when)
    send(local_stack, WRITE_KEY, event)

    shown = retried_sample(local_stack, klaviyo, DESTINATION, run, event, "awaiting_retry.503")
    assert shown["response"]["status"] == 503
    assert shown["request"]["headers"]["Authorization"] == MASK
    assert_samples_and_cli_show_no_key(local_stack, capsys)
