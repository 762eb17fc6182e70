"""Meta Conversions API end to end: events sent to the local stack reach a receiver standing in for
graph.facebook.com as Meta documents its events edge (`POST /<api_version>/<pixel_id>/events`, the
access token read from the environment and sent in the body, server events with hashed user data
and never a clear value), and Meta's answers are read as Meta gives them: a 400 for a whole
request that one event spoils, a throttling code under a 400, a 503. Event Delivery counts and
samples are checked along the way."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
    accepted_of_run,
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
    user,
)

pytestmark = pytest.mark.e2e

DESTINATION = "meta-capi"
WRITE_KEY = "wk_e2e_meta_000"
# The workspace part as tools/facebook_conversions.yaml gives it to `apply`: one home for its values.
PART = yaml.safe_load((TOOL_WORKSPACES / "facebook_conversions.yaml").read_text())
ACCESS_TOKEN = PART["environment"]["E2E_META_ACCESS_TOKEN"]
PIXEL_ID = PART["destinations"][0]["settings"]["pixel_id"]
TEST_EVENT_CODE = PART["destinations"][0]["settings"]["test_event_code"]
EVENTS_PATH = f"/v26.0/{PIXEL_ID}/events"
# Seconds a throttled request is told to wait; above the destination's backoff (at most 2 s).
RETRY_AFTER_SECONDS = 3
USER_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) e2e"

Answer = tuple[int, dict[str, str], bytes]


# -- Meta's answers -------------------------------------------------------------------------------


def meta_success(received: Received) -> Answer:
    received_events = len(orjson.loads(received.body)["data"])
    return 200, {}, orjson.dumps({"events_received": received_events, "messages": [], "fbtrace_id": "AbCdE2e"})


def graph_error(code: int, subcode: int | None, title: str, message: str) -> bytes:
    error: dict[str, Any] = {"message": "Invalid parameter", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(is_transient=False, error_user_title=title, error_user_msg=message, fbtrace_id="AbCdE2e")
    return orjson.dumps({"error": error})


def throttled(_: Received, __: str) -> Answer:
    """Code 17 (user request limit) under a 400, as the Graph API throttles, with a Retry-After."""
    body = graph_error(17, None, "User request limit reached", "User request limit reached")
    return 400, {"Retry-After": str(RETRY_AFTER_SECONDS)}, body


def unavailable(_: Received, __: str) -> Answer:
    return 503, {}, b'{"error":{"message":"Service temporarily unavailable","code":2,"is_transient":true}}'


@pytest.fixture
def meta(receivers: Receivers) -> Iterator[WebhookReceiver]:
    """The receiver standing in for the Graph API, answering as Meta does before and after the test."""
    receiver = receivers.tools["facebook_conversions"]
    receiver.responder = meta_success
    try:
        yield receiver
    finally:
        receiver.responder = meta_success


# -- helpers --------------------------------------------------------------------------------------


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def server_events(receiver: WebhookReceiver, run: str, *, accepted: bool = False) -> list[dict[str, Any]]:
    """The run's server events (their `event_id`s carry the run: everything else about the person is
    hashed)."""
    requests = accepted_of_run(receiver, run) if accepted else of_run(receiver, run)
    return [event for received in requests for event in orjson.loads(received.body)["data"]]


def context(run: str) -> dict[str, Any]:
    return {
        "ip": "203.0.113.7",
        "userAgent": USER_AGENT,
        "page": {"url": f"https://shop.example/{run}"},
        "traits": {
            "email": f" {run}@Example.com",
            "phone": "+44 20 7946 0958",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "address": {"city": "London", "postal_code": "W1J 7NT", "country": "GB"},
        },
    }


def clear_values(run: str) -> list[str]:
    """What the person's data looks like before it is hashed, as given and as normalized."""
    return [
        f"{run}@Example.com",
        f"{run}@example.com",
        "+44 20 7946 0958",
        "442079460958",
        "Lovelace",
        "lovelace",
        "London",
        "london",
        "W1J 7NT",
        "w1j7nt",
        user(run),
        anonymous(run),
    ]


def assert_samples_and_cli_show_no_token(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> str:
    report = report_of(stack, DESTINATION)
    assert report.samples, "there are samples to look at"
    for label, sample in report.samples.items():
        assert ACCESS_TOKEN not in orjson.dumps(sample).decode(), f"the sample of {label} shows the access token"
    capsys.readouterr()
    assert main(["delivery", DESTINATION, "--since", "1h", "--endpoint-url", stack.aws_endpoint]) == 0
    printed = capsys.readouterr().out
    assert ACCESS_TOKEN not in printed, f"`switchyard delivery {DESTINATION}` shows the access token"
    return printed


def call(run: str, kind: str, when: Moment, number: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "messageId": f"{run}-{number}",
        "userId": user(run),
        "anonymousId": anonymous(run),
        "timestamp": when.text,
        "context": context(run),
        **fields,
    }


def track(run: str, event_name: str, when: Moment, number: int, **properties: Any) -> dict[str, Any]:
    return call(run, "track", when, number, event=event_name, properties=properties)


# -- the calls ------------------------------------------------------------------------------------


def test_tracks_and_pages_reach_the_events_edge_as_meta_documents_it(local_stack: LocalStack, meta: WebhookReceiver):
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    products = [{"product_id": "sku-1", "price": 40, "quantity": 1}, {"product_id": "sku-2", "price": 5.5}]
    messages = [
        track(run, "Order Completed", when, 0, order_id=f"o-{run}", revenue=45.5, currency="eur", products=products),
        track(run, "Product Viewed", when, 1, product_id="sku-1", name="Shoe", price=40, currency="EUR"),
        track(run, "Plan Upgraded", when, 2, plan="pro", email=f"{run}@example.com"),
        track(run, "Newsletter Subscribed", when, 3, list="weekly"),
        call(run, "page", when, 4, name="Pricing", properties={"url": f"https://shop.example/{run}/pricing"}),
        call(run, "identify", when, 5, traits={"email": f"{run}@example.com"}),
    ]
    send(local_stack, WRITE_KEY, *messages)

    assert wait_until(lambda: len(server_events(meta, run)) == 5, timeout=30), server_events(meta, run)
    for received in of_run(meta, run):
        assert received.method == "POST"
        assert received.path == EVENTS_PATH
        assert received.query == "", "the token goes in the body, not the URL"
        assert "Authorization" not in received.headers
        assert received.headers["Content-Type"] == "application/json"
        body = orjson.loads(received.body)
        assert list(body) == ["access_token", "test_event_code", "data"]
        assert body["access_token"] == ACCESS_TOKEN, "read from {env: E2E_META_ACCESS_TOKEN} by apply"
        assert body["test_event_code"] == TEST_EVENT_CODE
        shown = [value for value in clear_values(run) if value in received.body.decode()]
        assert shown == [], f"user data in clear: {shown}"

    person = {
        "em": sha256(f"{run}@example.com"),
        "ph": sha256("442079460958"),
        "fn": sha256("ada"),
        "ln": sha256("lovelace"),
        "ct": sha256("london"),
        "zp": sha256("w1j7nt"),
        "country": sha256("gb"),
        "external_id": sha256(user(run)),
        "client_ip_address": "203.0.113.7",
        "client_user_agent": USER_AGENT,
    }
    common = {"event_time": when.epoch_ms // 1000, "action_source": "website", "user_data": person}
    page_url = f"https://shop.example/{run}"
    assert {event["event_id"]: event for event in server_events(meta, run)} == {
        f"{run}-0": {
            **common,
            "event_name": "Purchase",
            "event_id": f"{run}-0",
            "event_source_url": page_url,
            "custom_data": {
                "content_ids": ["sku-1", "sku-2"],
                "contents": [
                    {"id": "sku-1", "quantity": 1, "item_price": 40},
                    {"id": "sku-2", "quantity": 1, "item_price": 5.5},
                ],
                "content_type": "product",
                "num_items": 2,
                "order_id": f"o-{run}",
                "value": 45.5,
                "currency": "EUR",
            },
        },
        f"{run}-1": {
            **common,
            "event_name": "ViewContent",
            "event_id": f"{run}-1",
            "event_source_url": page_url,
            "custom_data": {
                "content_ids": ["sku-1"],
                "contents": [{"id": "sku-1", "quantity": 1, "item_price": 40}],
                "content_type": "product",
                "content_name": "Shoe",
                "value": 40,
                "currency": "EUR",
            },
        },
        f"{run}-2": {
            **common,
            "event_name": "Plan Upgraded",
            "event_id": f"{run}-2",
            "event_source_url": page_url,
            "custom_data": {"plan": "pro"},
        },
        f"{run}-3": {
            **common,
            "event_name": "Lead",
            "event_id": f"{run}-3",
            "event_source_url": page_url,
            "custom_data": {"list": "weekly"},
        },
        f"{run}-4": {
            **common,
            "event_name": "PageView",
            "event_id": f"{run}-4",
            "event_source_url": f"https://shop.example/{run}/pricing",
        },
    }

    # identify has no Conversions API counterpart: filtered, never sent.
    expected = {"delivered": 5, "not_delivered": 0, "retried": 0, "filtered.unsupported.no_profile_api": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )
    assert holds(lambda: len(server_events(meta, run)) == 5, seconds=1.0), "nothing is sent twice"


def test_an_event_older_than_7_days_is_discarded_without_a_request(local_stack: LocalStack, meta: WebhookReceiver):
    run = new_run()
    before = settled_report(local_stack, DESTINATION)
    moment = datetime.now(UTC) - timedelta(days=8)
    old = Moment(moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"), int(moment.timestamp()) * 1000)
    fresh = Moment.minutes_ago(5)
    send(local_stack, WRITE_KEY, track(run, "Old Event", old, 0), track(run, "Fresh Event", fresh, 1))

    expected = {"delivered": 1, "not_delivered": 1, "retried": 0, "discarded.older_than_7_days": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )
    assert [event["event_name"] for event in server_events(meta, run)] == ["Fresh Event"]
    sample = report_of(local_stack, DESTINATION).samples["discarded.older_than_7_days"]
    assert sample["received"]["messageId"] == f"{run}-0"


# -- answers --------------------------------------------------------------------------------------


def test_an_event_meta_refuses_is_isolated_and_the_others_are_accepted_once(
    local_stack: LocalStack, meta: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    refusal = graph_error(100, 2804019, "Invalid Parameter", "The custom data you sent is invalid.")

    def refuse_named_event(received: Received) -> Answer:
        if b'"event_name":"Refused Event"' in received.body:
            return 400, {}, refusal  # Meta refuses the whole request, naming no event
        return meta_success(received)

    meta.responder = refuse_named_event
    names = ("Signed Up", "Refused Event", "Report Exported")
    send(local_stack, WRITE_KEY, *(track(run, name, when, n) for n, name in enumerate(names)))

    def accepted_names() -> Counter[str]:
        return Counter(event["event_name"] for event in server_events(meta, run, accepted=True))

    accepted_once = Counter({"CompleteRegistration": 1, "Report Exported": 1})
    assert wait_until(lambda: accepted_names() == accepted_once, timeout=30), accepted_names()
    # The halves went within the hand-over: nothing waited for a retry.
    expected = {"delivered": 2, "not_delivered": 1, "retried": 0, "discarded.400.100.2804019": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )
    assert holds(lambda: accepted_names() == accepted_once), "accepted events are never sent again"
    sample = report_of(local_stack, DESTINATION).samples["discarded.400.100.2804019"]
    assert sample["received"]["messageId"] == f"{run}-1"
    assert sample["response"]["status"] == 400
    assert sample["request"]["body"].startswith('{"access_token":"' + MASK + '"')
    printed = assert_samples_and_cli_show_no_token(local_stack, capsys)
    assert "discarded.400.100.2804019" in printed


def test_a_throttling_code_is_retried_no_sooner_than_retry_after_and_delivered_once(
    local_stack: LocalStack, meta: WebhookReceiver
):
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    meta.responder = FailsFirst(run, throttled, meta_success)
    send(local_stack, WRITE_KEY, track(run, "Report Exported", when, 0))

    assert_retried_after_the_wait_and_delivered_once(meta, run, RETRY_AFTER_SECONDS)
    expected = {"delivered": 1, "not_delivered": 0, "retried": 1, "awaiting_retry.400.17": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )


def test_a_503_then_success_is_delivered_once_and_its_sample_shows_no_token(
    local_stack: LocalStack, meta: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    meta.responder = FailsFirst(run, unavailable, meta_success)
    event = track(run, "Report Exported", when, 0)
    send(local_stack, WRITE_KEY, event)

    shown = retried_sample(local_stack, meta, DESTINATION, run, event, "awaiting_retry.503")
    assert shown["response"]["status"] == 503
    assert shown["request"]["body"].startswith('{"access_token":"' + MASK + '"')
    assert ACCESS_TOKEN not in shown["request"]["url"]
    assert_samples_and_cli_show_no_token(local_stack, capsys)
