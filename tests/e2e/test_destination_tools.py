"""Tool destinations end to end: through the local stack, each type's requests as the tool documents
them (real HTTP to a receiver standing in for Amplitude, Mixpanel, GA4 and PostHog; the emulated
EventBridge and Firehose APIs), and each tool's answers read per event: partial success,
throttling, server errors. Event Delivery counts and samples are checked along the way."""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest

from switchyard.cli.main import main
from switchyard.delivery.stats import DeliveryReport
from switchyard.devstack.receiver import Received, Responder, WebhookReceiver
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import (
    AMPLITUDE_API_KEY,
    DELIVERY_STREAM,
    EVENT_BUS,
    EVENT_BUS_SOURCE,
    GA4_API_SECRET,
    GA4_MEASUREMENT_ID,
    MIXPANEL_API_SECRET,
    MIXPANEL_PROJECT_TOKEN,
    POSTHOG_API_KEY,
    Receivers,
    wait_until,
)
from tests.e2e.tool_runs import (
    MASK,
    RETRY_AFTER_SECONDS,
    FailsFirst,
    Moment,
    accepted_of_run,
    anonymous,
    arrival_gaps,
    assert_cli_report_shows_no_credential,
    assert_no_credential_in,
    counted_since,
    holds,
    new_run,
    of_run,
    org,
    report_of,
    send,
    settled_report,
    six_calls,
    track,
    user,
)

pytestmark = pytest.mark.e2e


# -- events ----------------------------------------------------------------------------------------


def as_stored(message: dict[str, Any], source_id: str, stored: dict[str, Any], region: str) -> dict[str, Any]:
    """The message as the tracking API stores it (what EventBridge and Firehose get), taking the
    one value the test cannot know, `receivedAt`, from `stored`."""
    return {
        **message,
        "originalTimestamp": message["timestamp"],
        "integrations": {},
        "receivedAt": stored["receivedAt"],
        "projectId": source_id,
        "receivedRegion": region,
    }


# -- what the receivers saw ------------------------------------------------------------------------


def carrying(receiver_requests: list[Received], text: str) -> list[Received]:
    return [received for received in receiver_requests if text.encode() in received.body]


def method(received: Received) -> str:
    return received.method


def form(received: Received) -> dict[str, Any]:
    """A form body, its JSON fields parsed."""
    fields = {name: values[0] for name, values in parse_qs(received.body.decode(), strict_parsing=True).items()}
    return {name: value if name == "api_key" else orjson.loads(value) for name, value in fields.items()}


# -- answers as the tools give them ----------------------------------------------------------------

Answer = tuple[int, dict[str, str], bytes]


def amplitude_success(received: Received) -> Answer:
    if received.path == "/2/httpapi":
        events = orjson.loads(received.body)["events"]
        body = {
            "code": 200,
            "events_ingested": len(events),
            "payload_size_bytes": len(received.body),
            "server_upload_time": int(time.time() * 1000),
        }
        return 200, {}, orjson.dumps(body)
    return 200, {}, b"success"  # /identify, /groupidentify, /usermap


def mixpanel_success(received: Received) -> Answer:
    if received.path == "/import":
        imported = len(orjson.loads(received.body))
        return 200, {}, orjson.dumps({"code": 200, "num_records_imported": imported, "status": "OK"})
    return 200, {}, b'{"error":null,"status":1}'  # /engage, /groups with verbose=1


def ga4_success(_: Received) -> Answer:
    return 204, {}, b""  # the Measurement Protocol answers 2xx without a body, whatever it keeps


def posthog_success(_: Received) -> Answer:
    return 200, {}, b'{"status":1}'


# Throttled: each tool's 429, with `Retry-After` (Amplitude also names the throttled events).
THROTTLED_HEADERS = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def amplitude_throttled(received: Received, run: str) -> Answer:
    events = orjson.loads(received.body)["events"]
    body = {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": 30,
        "throttled_devices": {},
        "throttled_users": {user(run): 31},
        "throttled_events": [index for index, event in enumerate(events) if event.get("user_id") == user(run)],
    }
    return 429, THROTTLED_HEADERS, orjson.dumps(body)


MIXPANEL_RATE_LIMITED = b'{"code":429,"error":"Project exceeded rate limits. Please retry the request with exponential backoff.","status":"Rate Limit Exceeded"}'  # noqa: E501


def mixpanel_throttled(_: Received, __: str) -> Answer:
    return 429, THROTTLED_HEADERS, MIXPANEL_RATE_LIMITED


def ga4_throttled(_: Received, __: str) -> Answer:
    return 429, THROTTLED_HEADERS, b""


def posthog_throttled(_: Received, __: str) -> Answer:
    return 429, THROTTLED_HEADERS, b'{"type":"rate_limited","code":"rate_limited","detail":"Rate limit exceeded"}'


def unavailable(_: Received, __: str) -> Answer:
    return 503, {}, b'{"error":"Service Unavailable"}'


@dataclass(frozen=True)
class HttpTool:
    destination: str
    write_key: str
    receiver: str  # the attribute of `Receivers`
    success: Responder
    throttled: Callable[[Received, str], Answer]
    masked_in: str  # where a request shows the credential (masked): "url", "headers" or "body"

    def receiver_of(self, receivers: Receivers) -> WebhookReceiver:
        return getattr(receivers, self.receiver)


AMPLITUDE = HttpTool("amplitude", "wk_e2e_amp_000", "amplitude", amplitude_success, amplitude_throttled, "body")
MIXPANEL = HttpTool("mixpanel", "wk_e2e_mix_000", "mixpanel", mixpanel_success, mixpanel_throttled, "headers")
GA4 = HttpTool("google-analytics", "wk_e2e_ga4_000", "ga4", ga4_success, ga4_throttled, "url")
POSTHOG = HttpTool("posthog", "wk_e2e_ph_000", "posthog", posthog_success, posthog_throttled, "body")
HTTP_TOOLS = [AMPLITUDE, MIXPANEL, GA4, POSTHOG]


@pytest.fixture(autouse=True)
def tools_answer_as_themselves(receivers: Receivers) -> Iterator[None]:
    """Each tool's receiver answers with the tool's success, before and after every test."""
    for tool in HTTP_TOOLS:
        tool.receiver_of(receivers).responder = tool.success
    try:
        yield
    finally:
        for tool in HTTP_TOOLS:
            tool.receiver_of(receivers).responder = tool.success


# -- Event Delivery --------------------------------------------------------------------------------


def assert_samples_show_no_credential(report: DeliveryReport) -> None:
    assert report.samples, "there are samples to look at"
    for label, sample in report.samples.items():
        assert_no_credential_in(orjson.dumps(sample).decode(), f"the sample of {label}")


# -- Amplitude ---------------------------------------------------------------------------------------


def test_amplitude_gets_each_call_on_the_api_that_takes_it(local_stack: LocalStack, receivers: Receivers):
    run, when = new_run(), Moment.minutes_ago(5)
    calls = six_calls(run, when)
    send(local_stack, AMPLITUDE.write_key, *calls.values())

    def items_by_path() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for received in of_run(receivers.amplitude, run):
            if received.path == "/2/httpapi":
                found.setdefault(received.path, []).extend(orjson.loads(received.body)["events"])
            else:
                fields = form(received)
                found.setdefault(received.path, []).extend(fields.get("identification") or fields.get("mapping"))
        return found

    expected_counts = {"/2/httpapi": 3, "/identify": 2, "/groupidentify": 1, "/usermap": 1}
    assert wait_until(lambda: {p: len(i) for p, i in items_by_path().items()} == expected_counts, timeout=30), (
        items_by_path()
    )

    for received in of_run(receivers.amplitude, run):
        assert method(received) == "POST"
        assert received.query == ""
        assert "Authorization" not in received.headers, "the key goes in the body only"
        if received.path == "/2/httpapi":
            assert received.headers["Content-Type"] == "application/json"
            body = orjson.loads(received.body)
            assert set(body) == {"api_key", "events"}
            assert body["api_key"] == AMPLITUDE_API_KEY, "read from {env: E2E_AMPLITUDE_API_KEY} by apply"
        else:
            assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
            fields = form(received)
            assert fields["api_key"] == AMPLITUDE_API_KEY
            assert set(fields) == {"api_key", "mapping" if received.path == "/usermap" else "identification"}

    items = items_by_path()
    person = {"user_id": user(run), "device_id": anonymous(run)}
    from_context = {"ip": "203.0.113.7", "language": "en-GB", "user_properties": {"plan": "pro"}}
    events = {event["insert_id"]: event for event in items["/2/httpapi"]}
    assert events == {
        calls["track"]["messageId"]: {
            **person,
            **from_context,
            "event_type": "Order Completed",
            "time": when.epoch_ms,
            "insert_id": calls["track"]["messageId"],
            "event_properties": calls["track"]["properties"],
            "revenue": 12.5,
        },
        calls["page"]["messageId"]: {
            **person,
            **from_context,
            "event_type": "Viewed Docs Pricing Page",
            "time": when.epoch_ms,
            "insert_id": calls["page"]["messageId"],
            "event_properties": {"name": "Pricing", "category": "Docs", **calls["page"]["properties"]},
        },
        calls["screen"]["messageId"]: {
            **person,
            **from_context,
            "event_type": "Viewed Settings Screen",
            "time": when.epoch_ms,
            "insert_id": calls["screen"]["messageId"],
            "event_properties": {"name": "Settings", "run": run},
        },
    }
    assert sorted(items["/identify"], key=lambda identification: "groups" not in identification) == [
        {**person, "groups": {"[Segment] Group": org(run)}},
        {**person, "user_properties": {"$set": calls["identify"]["traits"]}},
    ]
    assert items["/groupidentify"] == [
        {"group_type": "[Segment] Group", "group_value": org(run), "group_properties": calls["group"]["traits"]}
    ]
    assert items["/usermap"] == [{"user_id": anonymous(run), "global_user_id": user(run)}]


def test_amplitude_400_discards_the_events_it_names_and_the_others_go_once(
    local_stack: LocalStack, receivers: Receivers, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, AMPLITUDE.destination)
    first, refused, last = (track(run, name, when) for name in ("Cart Viewed", "Refused Event", "Checkout Started"))

    def refuse_named_events(received: Received) -> Answer:
        if received.path == "/2/httpapi":
            events = orjson.loads(received.body)["events"]
            invalid = [index for index, event in enumerate(events) if event["event_type"] == "Refused Event"]
            if invalid:
                body = {
                    "code": 400,
                    "error": "Invalid field values on some events",
                    "events_with_invalid_fields": {"time": invalid},
                }
                return 400, {}, orjson.dumps(body)
        return amplitude_success(received)

    receivers.amplitude.responder = refuse_named_events
    send(local_stack, AMPLITUDE.write_key, first, refused, last)
    good_ids = (first["messageId"], last["messageId"])

    def accepted_ids() -> list[str]:
        return [
            event["insert_id"]
            for received in accepted_of_run(receivers.amplitude, run)
            for event in orjson.loads(received.body)["events"]
        ]

    assert wait_until(lambda: sorted(accepted_ids()) == sorted(good_ids), timeout=30), accepted_ids()
    assert holds(lambda: sorted(accepted_ids()) == sorted(good_ids)), "the others are delivered exactly once"
    refused_requests = carrying(of_run(receivers.amplitude, run), refused["messageId"])
    assert len(refused_requests) == 1, "the named event is not sent again"
    if len(of_run(receivers.amplitude, run)) == 2:  # the three in one request (unless the queue split them)
        refused_request, resent = sorted(of_run(receivers.amplitude, run), key=lambda r: r.at)
        assert [e["insert_id"] for e in orjson.loads(refused_request.body)["events"]] == [
            first["messageId"],
            refused["messageId"],
            last["messageId"],
        ]
        assert resent.at - refused_request.at < 1.0, "resent in the same hand-over, not after a backoff"

    # Event Delivery counts each event's own outcome: nothing retried, one discarded with its reason.
    expected = {"delivered": 2, "not_delivered": 1, "retried": 0, "discarded.400.invalid_fields": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, AMPLITUDE.destination)) == expected), (
        counted_since(before, report_of(local_stack, AMPLITUDE.destination))
    )
    after = report_of(local_stack, AMPLITUDE.destination)
    sample = after.samples["discarded.400.invalid_fields"]
    assert sample["received"]["messageId"] == refused["messageId"]
    assert sample["response"]["status"] == 400
    assert sample["request"]["body"].startswith('{"api_key":"' + MASK + '","events":[')
    assert_samples_show_no_credential(after)
    printed = assert_cli_report_shows_no_credential(local_stack, AMPLITUDE.destination, capsys)
    assert "discarded.400.invalid_fields" in printed


# -- Mixpanel ----------------------------------------------------------------------------------------


def test_mixpanel_gets_each_call_on_the_api_that_takes_it(local_stack: LocalStack, receivers: Receivers):
    run, when = new_run(), Moment.minutes_ago(5)
    calls = six_calls(run, when)
    send(local_stack, MIXPANEL.write_key, *calls.values())

    def items_by_path() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for received in of_run(receivers.mixpanel, run):
            found.setdefault(received.path, []).extend(orjson.loads(received.body))
        return found

    expected_counts = {"/import": 4, "/engage": 2, "/groups": 1}
    assert wait_until(lambda: {p: len(i) for p, i in items_by_path().items()} == expected_counts, timeout=30), (
        items_by_path()
    )

    secret_auth = "Basic " + base64.b64encode(f"{MIXPANEL_API_SECRET}:".encode()).decode()
    for received in of_run(receivers.mixpanel, run):
        assert method(received) == "POST"
        assert received.headers["Content-Type"] == "application/json"
        if received.path == "/import":
            assert received.query == "strict=1"
            assert received.headers["Authorization"] == secret_auth, "the API secret, read from {env: ...}"
        else:
            assert received.query == "verbose=1"
            assert "Authorization" not in received.headers, "profile updates carry the token instead"

    items = items_by_path()
    identified = {
        "time": when.epoch_ms,
        "distinct_id": user(run),
        "$device_id": anonymous(run),
        "$user_id": user(run),
    }
    events = {event["properties"]["$insert_id"]: event for event in items["/import"]}
    assert events == {
        calls["track"]["messageId"]: {
            "event": "Order Completed",
            "properties": {
                "ip": "203.0.113.7",
                **calls["track"]["properties"],
                **identified,
                "$insert_id": calls["track"]["messageId"],
            },
        },
        calls["page"]["messageId"]: {
            "event": "Loaded a Page",
            "properties": {
                "ip": "203.0.113.7",
                "name": "Pricing",
                "category": "Docs",
                **calls["page"]["properties"],
                **identified,
                "$insert_id": calls["page"]["messageId"],
            },
        },
        calls["screen"]["messageId"]: {
            "event": "Loaded a Screen",
            "properties": {
                "ip": "203.0.113.7",
                "name": "Settings",
                "run": run,
                **identified,
                "$insert_id": calls["screen"]["messageId"],
            },
        },
        calls["alias"]["messageId"]: {
            "event": "$create_alias",
            "properties": {
                "distinct_id": anonymous(run),
                "alias": user(run),
                "token": MIXPANEL_PROJECT_TOKEN,
                "time": when.epoch_ms,
                "$insert_id": calls["alias"]["messageId"],
            },
        },
    }
    profile = {"$token": MIXPANEL_PROJECT_TOKEN, "$distinct_id": user(run), "$ip": "203.0.113.7"}
    assert sorted(items["/engage"], key=lambda update: "$union" in update) == [
        {**profile, "$set": {"$email": f"{run}@example.com", "plan": "pro"}},
        {**profile, "$union": {"company_id": [org(run)]}},
    ]
    assert items["/groups"] == [
        {
            "$token": MIXPANEL_PROJECT_TOKEN,
            "$group_key": "company_id",
            "$group_id": org(run),
            "$set": calls["group"]["traits"],
        }
    ]


def test_mixpanel_strict_400_keeps_what_it_imported_and_discards_the_failed_records(
    local_stack: LocalStack, receivers: Receivers
):
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, MIXPANEL.destination)
    first, failing, last = (track(run, name, when) for name in ("Signed Up", "Refused Event", "Signed In"))

    def fail_named_records(received: Received) -> Answer:
        if received.path == "/import":
            records = orjson.loads(received.body)
            failed = [i for i, record in enumerate(records) if record["event"] == "Refused Event"]
            if failed:
                body = {
                    "code": 400,
                    "error": "some data points in the request failed validation",
                    "failed_records": [
                        {
                            "index": index,
                            "$insert_id": records[index]["properties"]["$insert_id"],
                            "field": "properties.time",
                            "message": "'properties.time' is invalid: must not be more than 1h in the future",
                        }
                        for index in failed
                    ],
                    "num_records_imported": len(records) - len(failed),
                    "status": "Bad Request",
                }
                return 400, {}, orjson.dumps(body)
        return mixpanel_success(received)

    receivers.mixpanel.responder = fail_named_records
    send(local_stack, MIXPANEL.write_key, first, failing, last)

    def sent_ids() -> Counter[str]:
        return Counter(
            record["properties"]["$insert_id"]
            for received in of_run(receivers.mixpanel, run)
            for record in orjson.loads(received.body)
        )

    everything_once = Counter({first["messageId"]: 1, failing["messageId"]: 1, last["messageId"]: 1})
    assert wait_until(lambda: sent_ids() == everything_once, timeout=30), sent_ids()
    assert holds(lambda: sent_ids() == everything_once), "imported records are never sent again, failed ones neither"

    expected = {"delivered": 2, "not_delivered": 1, "retried": 0, "discarded.400.invalid_record": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, MIXPANEL.destination)) == expected), (
        counted_since(before, report_of(local_stack, MIXPANEL.destination))
    )
    after = report_of(local_stack, MIXPANEL.destination)
    sample = after.samples["discarded.400.invalid_record"]
    assert sample["received"]["messageId"] == failing["messageId"]
    assert sample["request"]["headers"]["Authorization"] == MASK
    assert_samples_show_no_credential(after)


# -- GA4 -------------------------------------------------------------------------------------------


def test_ga4_gets_track_and_page_as_measurement_protocol_events(local_stack: LocalStack, receivers: Receivers):
    run, when = new_run(), Moment.minutes_ago(5)
    calls = six_calls(run, when)
    custom = track(run, "Plan Upgraded", when, seats=3)
    send(local_stack, GA4.write_key, *calls.values(), custom)

    def events() -> list[dict[str, Any]]:
        return [event for received in of_run(receivers.ga4, run) for event in orjson.loads(received.body)["events"]]

    assert wait_until(lambda: len(events()) == 3, timeout=30), events()
    for received in of_run(receivers.ga4, run):
        assert method(received) == "POST"
        assert received.path == "/mp/collect"
        assert parse_qs(received.query, strict_parsing=True) == {
            "measurement_id": [GA4_MEASUREMENT_ID],
            "api_secret": [GA4_API_SECRET],
        }
        assert "Authorization" not in received.headers
        assert received.headers["Content-Type"] == "application/json"
        body = orjson.loads(received.body)
        assert {key: value for key, value in body.items() if key != "events"} == {
            "client_id": anonymous(run),
            "user_id": user(run),
            "user_properties": {"plan": {"value": "pro"}},
        }
    engaged = {"engagement_time_msec": 1}
    assert sorted(events(), key=lambda event: event["name"]) == [
        {
            "timestamp_micros": when.epoch_micros,
            "name": "page_view",
            "params": {
                "page_location": "https://example.com/docs/pricing",
                "page_title": "Pricing",
                **engaged,
                "run": run,
            },
        },
        {
            "timestamp_micros": when.epoch_micros,
            "name": "plan_upgraded",
            "params": {**engaged, "run": run, "seats": 3},
        },
        {
            "timestamp_micros": when.epoch_micros,
            "name": "purchase",
            "params": {"transaction_id": f"order-{run}", "value": 12.5, "currency": "EUR", **engaged, "run": run},
        },
    ]

    # identify, screen, group and alias have no Measurement Protocol counterpart: filtered (not
    # failures: outside the success rate), never sent.
    unsupported = {
        "filtered.unsupported.no_user_profile_api": calls["identify"]["messageId"],
        "filtered.unsupported.screen_needs_an_app_stream": calls["screen"]["messageId"],
        "filtered.unsupported.no_group_api": calls["group"]["messageId"],
        "filtered.unsupported.no_alias_api": calls["alias"]["messageId"],
    }

    def filtered() -> dict[str, str]:
        samples = report_of(local_stack, GA4.destination).samples
        return {label: samples[label]["received"]["messageId"] for label in unsupported if label in samples}

    assert wait_until(lambda: filtered() == unsupported, timeout=15), filtered()
    report = report_of(local_stack, GA4.destination)
    assert report.filtered >= 4 and report.not_delivered == 0
    assert holds(lambda: len(events()) == 3, seconds=1.0)


# -- PostHog -----------------------------------------------------------------------------------------


def test_posthog_gets_every_call_as_an_event_of_its_batch_api(local_stack: LocalStack, receivers: Receivers):
    run, when = new_run(), Moment.minutes_ago(5)
    calls = six_calls(run, when)
    send(local_stack, POSTHOG.write_key, *calls.values())

    def events() -> dict[str, dict[str, Any]]:
        return {event["uuid"]: event for received in of_run(receivers.posthog, run) for event in received.events}

    assert wait_until(lambda: len(events()) == 6, timeout=30), events()
    for received in of_run(receivers.posthog, run):
        assert method(received) == "POST"
        assert received.path == "/batch/"
        assert received.query == ""
        assert "Authorization" not in received.headers
        assert received.headers["Content-Type"] == "application/json"
        body = orjson.loads(received.body)
        assert list(body) == ["api_key", "batch"], "the key first, so a cut sample cannot show part of it"
        assert body["api_key"] == POSTHOG_API_KEY

    context = {"$ip": "203.0.113.7", "$locale": "en-GB"}

    def captured(call: str, name: str, properties: dict[str, Any]) -> dict[str, Any]:
        return {
            "event": name,
            "distinct_id": user(run),
            "timestamp": when.text,
            "uuid": calls[call]["messageId"],
            "properties": {**context, **properties, "$lib": "switchyard"},
        }

    assert events() == {
        calls["identify"]["messageId"]: captured(
            "identify", "$identify", {"$set": calls["identify"]["traits"], "$anon_distinct_id": anonymous(run)}
        ),
        calls["track"]["messageId"]: captured("track", "Order Completed", calls["track"]["properties"]),
        calls["page"]["messageId"]: captured(
            "page",
            "$pageview",
            {
                **calls["page"]["properties"],
                "$current_url": "https://example.com/docs/pricing",
                "name": "Pricing",
                "category": "Docs",
            },
        ),
        calls["screen"]["messageId"]: captured("screen", "$screen", {"run": run, "$screen_name": "Settings"}),
        calls["group"]["messageId"]: captured(
            "group",
            "$groupidentify",
            {"$group_type": "company", "$group_key": org(run), "$group_set": calls["group"]["traits"]},
        ),
        calls["alias"]["messageId"]: captured("alias", "$create_alias", {"alias": anonymous(run)}),
    }


# -- every HTTP tool: throttling and server errors ---------------------------------------------------


@pytest.mark.parametrize("tool", HTTP_TOOLS, ids=[tool.receiver for tool in HTTP_TOOLS])
def test_a_429_is_retried_no_sooner_than_retry_after_and_delivered_once(
    local_stack: LocalStack, receivers: Receivers, tool: HttpTool
):
    run, when = new_run(), Moment.minutes_ago(5)
    receiver = tool.receiver_of(receivers)
    receiver.responder = FailsFirst(run, tool.throttled, tool.success)
    send(local_stack, tool.write_key, track(run, "Report Exported", when))

    assert wait_until(lambda: accepted_of_run(receiver, run), timeout=30)
    assert holds(lambda: len(of_run(receiver, run)) == 2), "one throttled attempt, one accepted, no more"
    assert len(accepted_of_run(receiver, run)) == 1
    (gap,) = arrival_gaps(of_run(receiver, run))
    assert gap >= RETRY_AFTER_SECONDS, f"retried after {gap:.2f}s despite Retry-After: {RETRY_AFTER_SECONDS}"


def test_a_mixpanel_429_without_retry_after_waits_the_2s_mixpanel_asks_for(
    local_stack: LocalStack, receivers: Receivers
):
    """Mixpanel sends no Retry-After; it asks for a backoff from 2 s, above this destination's 1 s."""
    run, when = new_run(), Moment.minutes_ago(5)
    receivers.mixpanel.responder = FailsFirst(run, lambda _, __: (429, {}, MIXPANEL_RATE_LIMITED), mixpanel_success)
    send(local_stack, MIXPANEL.write_key, track(run, "Report Exported", when))

    assert wait_until(lambda: accepted_of_run(receivers.mixpanel, run), timeout=30)
    assert len(of_run(receivers.mixpanel, run)) == 2
    (gap,) = arrival_gaps(of_run(receivers.mixpanel, run))
    assert gap >= 2.0, f"retried after {gap:.2f}s"


@pytest.mark.parametrize("tool", HTTP_TOOLS, ids=[tool.receiver for tool in HTTP_TOOLS])
def test_a_503_then_success_is_delivered_once_and_its_sample_shows_no_credential(
    local_stack: LocalStack, receivers: Receivers, tool: HttpTool, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    receiver = tool.receiver_of(receivers)
    receiver.responder = FailsFirst(run, unavailable, tool.success)
    event = track(run, "Report Exported", when)
    send(local_stack, tool.write_key, event)

    assert wait_until(lambda: accepted_of_run(receiver, run), timeout=30)
    assert holds(lambda: len(of_run(receiver, run)) == 2), "one failed attempt, one accepted, no more"
    assert len(accepted_of_run(receiver, run)) == 1
    first, second = sorted(of_run(receiver, run), key=lambda received: received.at)
    assert first.body == second.body, "the same request again"

    def sample() -> dict[str, Any] | None:
        found = report_of(local_stack, tool.destination).samples.get("awaiting_retry.503")
        return found if found and found["received"]["messageId"] == event["messageId"] else None

    shown = wait_until(sample, timeout=15)
    assert shown, "Event Delivery keeps a sample of the retried attempt"
    assert shown["response"] == {"status": 503, "body": '{"error":"Service Unavailable"}'}
    assert MASK in orjson.dumps(shown["request"][tool.masked_in]).decode(), "the credential's place, masked"
    assert_samples_show_no_credential(report_of(local_stack, tool.destination))
    assert_cli_report_shows_no_credential(local_stack, tool.destination, capsys)


# -- EventBridge and Firehose ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def event_bus_tap(local_stack: LocalStack) -> str:
    """The bus the destination names, with a rule sending everything of its source to a queue."""
    events, sqs = local_stack.client("events"), local_stack.client("sqs")
    events.create_event_bus(Name=EVENT_BUS)
    queue_url = sqs.create_queue(QueueName="e2e-event-bus-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = orjson.dumps({"source": [EVENT_BUS_SOURCE]}).decode()
    events.put_rule(Name="e2e-everything", EventBusName=EVENT_BUS, EventPattern=pattern)
    events.put_targets(Rule="e2e-everything", EventBusName=EVENT_BUS, Targets=[{"Id": "tap", "Arn": queue_arn}])
    return queue_url


@pytest.fixture(scope="module")
def delivery_stream_bucket(local_stack: LocalStack) -> str:
    """The stream the destination names (Direct PUT), delivering to a bucket of its own."""
    bucket = "e2e-delivery-stream-landing"
    local_stack.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": local_stack.region}
    )
    local_stack.client("firehose").create_delivery_stream(
        DeliveryStreamName=DELIVERY_STREAM,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/e2e-firehose",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "segment/",
        },
    )
    return bucket


def test_eventbridge_puts_each_call_on_the_bus_as_its_detail(local_stack: LocalStack, event_bus_tap: str):
    run, when = new_run(), Moment.minutes_ago(5)
    calls = six_calls(run, when)
    send(local_stack, "wk_e2e_bus_000", *calls.values())
    sqs = local_stack.client("sqs")
    arrived: dict[str, dict[str, Any]] = {}

    def read_tap() -> int:
        for message in sqs.receive_message(QueueUrl=event_bus_tap, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=event_bus_tap, ReceiptHandle=message["ReceiptHandle"])
            entry = orjson.loads(message["Body"])
            if entry["detail"].get("userId") == user(run):
                assert entry["detail"]["messageId"] not in arrived, "each event once"
                arrived[entry["detail"]["messageId"]] = entry
        return len(arrived)

    assert wait_until(lambda: read_tap() == 6, timeout=30), arrived
    for call, message in calls.items():
        entry = arrived[message["messageId"]]
        assert entry["source"] == EVENT_BUS_SOURCE
        assert entry["detail-type"] == f"segment.{call}"
        assert entry["time"] == when.whole_seconds
        assert entry["resources"] == []
        assert entry["region"] == local_stack.region
        assert entry["detail"] == as_stored(message, "bus", entry["detail"], local_stack.region)


def test_firehose_puts_each_call_on_the_stream_as_a_json_line(local_stack: LocalStack, delivery_stream_bucket: str):
    run, when = new_run(), Moment.minutes_ago(5)
    calls = six_calls(run, when)
    send(local_stack, "wk_e2e_hose_000", *calls.values())
    s3 = local_stack.client("s3")

    def objects_of_run() -> list[bytes]:
        listed = s3.list_objects_v2(Bucket=delivery_stream_bucket, Prefix="segment/").get("Contents", [])
        bodies = [s3.get_object(Bucket=delivery_stream_bucket, Key=item["Key"])["Body"].read() for item in listed]
        return [body for body in bodies if run.encode() in body]

    def lines() -> list[dict[str, Any]]:
        return [orjson.loads(line) for body in objects_of_run() for line in body.split(b"\n") if line]

    assert wait_until(lambda: len(lines()) == 6, timeout=30), lines()
    assert all(body.endswith(b"\n") for body in objects_of_run()), "every record ends its line"
    records = {record["messageId"]: record for record in lines()}
    assert set(records) == {message["messageId"] for message in calls.values()}, "each event once"
    for message in calls.values():
        record = records[message["messageId"]]
        assert record == as_stored(message, "hose", record, local_stack.region)


def test_a_replay_into_a_tool_destination_goes_through_its_adapter(
    local_stack: LocalStack, receivers: Receivers, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(1)
    calls = six_calls(run, when)
    send(local_stack, POSTHOG.write_key, calls["track"], calls["page"])

    ours = {calls["track"]["messageId"], calls["page"]["messageId"]}

    def uuids() -> Counter[str]:
        """This run's events only: a replayed request may also carry other tests' events of `ph`."""
        return Counter(
            event["uuid"]
            for received in accepted_of_run(receivers.posthog, run)
            for event in received.events
            if event["uuid"] in ours
        )

    assert wait_until(lambda: len(uuids()) == 2, timeout=30), uuids()
    now = datetime.now(UTC).replace(tzinfo=None)
    window = ["--from", (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:00:00Z")]
    window += ["--to", (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:00:00Z")]
    command = ["replay", "start", "--source", "ph", "--destination", "posthog", *window, "--wait"]
    code = main([*command, "--endpoint-url", local_stack.aws_endpoint])
    out = capsys.readouterr().out
    assert code == 0, out
    # Replayed as PostHog events again, with the same uuid (PostHog's deduplication key).
    expected = {calls["track"]["messageId"]: 2, calls["page"]["messageId"]: 2}
    assert wait_until(lambda: uuids() == expected, timeout=30), uuids()
