"""Braze end to end: events sent to the local stack reach a receiver standing in for the
instance's REST host as Braze documents its requests (`/users/track` with attributes, events and
purchases; `/users/identify` and `/users/alias/new` for aliases; a Bearer REST key read from the
environment), and Braze's answers are read per object: a 201 naming refused objects, a 429 until
`X-RateLimit-Reset`, a 503. Event Delivery counts and samples are checked along the way."""

from __future__ import annotations

import time
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
    org,
    report_of,
    retried_sample,
    send,
    settled_report,
    track,
    user,
)

pytestmark = pytest.mark.e2e

DESTINATION = "braze"
WRITE_KEY = "wk_e2e_brz_000"
# The key as tools/braze.yaml gives it to `apply` through the environment: one home for it.
API_KEY = yaml.safe_load((TOOL_WORKSPACES / "braze.yaml").read_text())["environment"]["E2E_BRAZE_API_KEY"]
APP_ID = "app-e2e-brz"
ALIAS_LABEL = "anonymous_id"
# Seconds Braze's window is said to reset in; above the destination's backoff (at most 2 s).
RESET_SECONDS = 3

Answer = tuple[int, dict[str, str], bytes]


# -- Braze's answers ------------------------------------------------------------------------------


def braze_success(received: Received) -> Answer:
    """201 with what was processed, as Braze answers each endpoint."""
    body = orjson.loads(received.body)
    if received.path == "/users/track":
        counts = {f"{array}_processed": len(objects) for array, objects in body.items()}
        return 201, {}, orjson.dumps({**counts, "message": "success"})
    aliases = body.get("aliases_to_identify") or body.get("user_aliases") or []
    return 201, {}, orjson.dumps({"aliases_processed": len(aliases), "message": "success"})


def throttled(_: Received, __: str) -> Answer:
    """Braze's 429: its rate-limit headers (lowercase, as Braze sends them), the reset in epoch seconds."""
    reset = int(time.time()) + RESET_SECONDS + 1
    headers = {"x-ratelimit-limit": "50000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    return 429, headers, b'{"message":"Rate Limit Exceeded"}'


def unavailable(_: Received, __: str) -> Answer:
    return 503, {}, b'{"message":"Service Unavailable"}'


@pytest.fixture
def braze(receivers: Receivers) -> Iterator[WebhookReceiver]:
    """The receiver standing in for Braze, answering as Braze does before and after the test."""
    receiver = receivers.tools[DESTINATION]
    receiver.responder = braze_success
    try:
        yield receiver
    finally:
        receiver.responder = braze_success


# -- helpers --------------------------------------------------------------------------------------


def objects_by_array(receiver: WebhookReceiver, run: str) -> dict[str, list[dict[str, Any]]]:
    """Every object of the run's requests, by path (and by array for /users/track)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for received in of_run(receiver, run):
        for array, objects in orjson.loads(received.body).items():
            key = array if received.path == "/users/track" else received.path
            found.setdefault(key, []).extend(objects)
    return found


def assert_no_key_in(text: str, where: str) -> None:
    assert API_KEY not in text, f"{where} shows the REST API key"


def assert_samples_and_cli_show_no_key(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> str:
    report = report_of(stack, DESTINATION)
    assert report.samples, "there are samples to look at"
    for label, sample in report.samples.items():
        assert_no_key_in(orjson.dumps(sample).decode(), f"the sample of {label}")
    capsys.readouterr()
    assert main(["delivery", DESTINATION, "--since", "1h", "--endpoint-url", stack.aws_endpoint]) == 0
    printed = capsys.readouterr().out
    assert_no_key_in(printed, f"`switchyard delivery {DESTINATION}`")
    return printed


# -- the calls ------------------------------------------------------------------------------------


def test_each_call_reaches_the_endpoint_braze_documents_for_it(local_stack: LocalStack, braze: WebhookReceiver):
    run, when = new_run(), Moment.minutes_ago(5)
    common = {
        "userId": user(run),
        "anonymousId": anonymous(run),
        "timestamp": when.text,
        "context": {"ip": "203.0.113.7"},
    }
    traits = {"email": f"{run}@example.com", "firstName": "Ada", "address": {"city": "London"}, "plan": "pro"}
    products = [{"product_id": "sku-1", "name": "Shoe", "price": 40, "quantity": 2}, {"id": "sku-2", "price": 9.5}]
    messages = [
        {"type": "identify", "traits": traits},
        {"type": "track", "event": "Report Exported", "properties": {"run": run, "format": "csv", "time": 1}},
        {
            "type": "track",
            "event": "Order Completed",
            "properties": {"run": run, "currency": "EUR", "products": products},
        },
        {"type": "page", "name": "Pricing", "category": "Docs", "properties": {"run": run}},
        {"type": "page", "properties": {"run": run}},  # unnamed: not tracked (track_pages: named)
        {"type": "group", "groupId": org(run), "traits": {"name": "Acme"}},
        {"type": "alias", "previousId": anonymous(run)},
        {"type": "track", "event": "Browsed", "userId": None, "properties": {"run": run}},
    ]
    send(local_stack, WRITE_KEY, *({"messageId": f"{run}-{i}", **common, **m} for i, m in enumerate(messages)))

    expected_counts = {"attributes": 2, "events": 3, "purchases": 2, "/users/identify": 2, "/users/alias/new": 1}
    assert wait_until(
        lambda: {key: len(found) for key, found in objects_by_array(braze, run).items()} == expected_counts, timeout=30
    ), objects_by_array(braze, run)

    for received in of_run(braze, run):
        assert received.method == "POST"
        assert received.path in ("/users/track", "/users/identify", "/users/alias/new")
        assert received.query == ""
        assert received.headers["Authorization"] == f"Bearer {API_KEY}", "read from {env: E2E_BRAZE_API_KEY} by apply"
        assert received.headers["Content-Type"] == "application/json"

    found = objects_by_array(braze, run)
    person = {"external_id": user(run)}
    anonymous_alias = {"alias_name": anonymous(run), "alias_label": ALIAS_LABEL}
    assert sorted(found["attributes"], key=len, reverse=True) == [
        {**person, "email": f"{run}@example.com", "plan": "pro", "first_name": "Ada", "home_city": "London"},
        {**person, f"ab_segment_group_{org(run)}": True},
    ]
    assert sorted(found["events"], key=lambda event: event["name"]) == [
        {
            "user_alias": anonymous_alias,
            "_update_existing_only": False,
            "app_id": APP_ID,
            "name": "Browsed",
            "time": when.text,
            "properties": {"run": run},
        },
        {
            **person,
            "app_id": APP_ID,
            "name": "Report Exported",
            "time": when.text,
            "properties": {"run": run, "format": "csv"},
        },
        {**person, "app_id": APP_ID, "name": "Viewed Docs Pricing Page", "time": when.text, "properties": {"run": run}},
    ]
    purchase = {**person, "app_id": APP_ID, "currency": "EUR", "time": when.text}
    assert sorted(found["purchases"], key=lambda bought: bought["product_id"]) == [
        {**purchase, "product_id": "sku-1", "price": 40, "quantity": 2, "properties": {"name": "Shoe"}},
        {**purchase, "product_id": "sku-2", "price": 9.5},
    ]
    merge = {**person, "user_alias": anonymous_alias}
    assert found["/users/identify"] == [merge, merge], "the identify's merge (send_anonymous_users) and the alias's"
    assert found["/users/alias/new"] == [{**person, **anonymous_alias}]


# -- answers --------------------------------------------------------------------------------------


def test_objects_braze_refuses_are_discarded_and_the_accepted_ones_never_sent_again(
    local_stack: LocalStack, braze: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)

    def refuse_named_events(received: Received) -> Answer:
        events = orjson.loads(received.body).get("events", [])
        refused = [index for index, event in enumerate(events) if event["name"] == "Refused Event"]
        if not refused:
            return braze_success(received)
        errors = [{"type": "'time' must be a valid datetime", "input_array": "events", "index": i} for i in refused]
        body = {"events_processed": len(events) - len(refused), "message": "success", "errors": errors}
        return 201, {}, orjson.dumps(body)

    braze.responder = refuse_named_events
    send(local_stack, WRITE_KEY, *(track(run, name, when) for name in ("Signed Up", "Refused Event", "Signed In")))

    def sent_names() -> Counter[str]:
        return Counter(event["name"] for event in objects_by_array(braze, run).get("events", []))

    everything_once = Counter({"Signed Up": 1, "Refused Event": 1, "Signed In": 1})
    assert wait_until(lambda: sent_names() == everything_once, timeout=30), sent_names()
    assert holds(lambda: sent_names() == everything_once), "accepted objects are never sent again, refused ones neither"

    expected = {"delivered": 2, "not_delivered": 1, "retried": 0, "discarded.201.invalid_object": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )
    sample = report_of(local_stack, DESTINATION).samples["discarded.201.invalid_object"]
    assert sample["response"]["status"] == 201
    assert sample["request"]["headers"]["Authorization"] == MASK
    printed = assert_samples_and_cli_show_no_key(local_stack, capsys)
    assert "discarded.201.invalid_object" in printed


def test_a_429_is_retried_no_sooner_than_brazes_reset_and_delivered_once(
    local_stack: LocalStack, braze: WebhookReceiver
):
    run, when = new_run(), Moment.minutes_ago(5)
    braze.responder = FailsFirst(run, throttled, braze_success)
    send(local_stack, WRITE_KEY, track(run, "Report Exported", when))

    assert_retried_after_the_wait_and_delivered_once(braze, run, RESET_SECONDS)


def test_a_503_then_success_is_delivered_once_and_its_sample_shows_no_key(
    local_stack: LocalStack, braze: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    braze.responder = FailsFirst(run, unavailable, braze_success)
    event = track(run, "Report Exported", when)
    send(local_stack, WRITE_KEY, event)

    shown = retried_sample(local_stack, braze, DESTINATION, run, event, "awaiting_retry.503")
    assert shown["response"] == {"status": 503, "body": '{"message":"Service Unavailable"}'}
    assert shown["request"]["headers"]["Authorization"] == MASK
    assert_samples_and_cli_show_no_key(local_stack, capsys)
