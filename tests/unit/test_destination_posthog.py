"""`type: posthog`: settings, the `/batch/` event of each call, uuids from messageIds, hosts,
packing within the request limits, answers, and delivery through the driver."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from switchyard.config.compiled import Destination
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.base import Again, CallContext, HttpCall, Unsupported
from switchyard.destinations.driver import ITEM_TOO_LARGE, ToolAdapter
from switchyard.destinations.posthog import POSTHOG, PosthogSettings, event_uuid
from tests.support.destinations import stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
UNSUPPORTED = AttemptStatus.UNSUPPORTED
API_KEY = "phc_T3stProjectKey0123456789"
TIMESTAMP = "2026-11-30T09:25:21.123Z"
NOW = 1_796_031_000.0
MESSAGE_UUID = "8F14E45F-CEEA-467F-A0E6-1A2B3C4D5E6F"
# The namespace this adapter derives uuids in; fixed forever (see event_uuid).
NAMESPACE = uuid.UUID("6f0b3f9c-5b2e-4d1a-9a51-c2f1d3e4b5a6")
NO_GEO = {"$geoip_disable": True, "$lib": "switchyard"}
US, EU = "https://us.i.posthog.com/batch/", "https://eu.i.posthog.com/batch/"


def settings(**overrides: Any) -> PosthogSettings:
    return PosthogSettings(api_key=API_KEY, **overrides)


def message(kind: str, number: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "userId": "u1",
        "anonymousId": "a1",
        "messageId": f"m{number}",
        "timestamp": TIMESTAMP,
        **fields,
    }


def captured(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    result = POSTHOG.map(event, settings(**overrides))
    assert isinstance(result, list) and len(result) == 1, result
    assert result[0].channel == "batch"
    return result[0].payload


def uuid5(message_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, message_id))


# Settings.


def test_the_api_key_is_a_credential():
    configured = settings()
    assert PosthogSettings.SECRET_FIELDS == ("api_key", "personal_api_key")  # the second only deletes users
    assert configured.credentials() == {"api_key": API_KEY}
    assert API_KEY not in orjson.dumps(configured.public_settings()).decode()
    assert (configured.historical_migration, configured.group_type) == (False, "company")


def test_the_api_key_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POSTHOG_KEY", API_KEY)
    assert PosthogSettings.model_validate({"api_key": {"env": "POSTHOG_KEY"}}).api_key == API_KEY


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"api_key": "short"}, "api_key"),
        ({"group_type": ""}, "group_type"),
        ({"endpoint": "posthog.example.com"}, "endpoint"),
        ({"region": "ap"}, "region"),
        ({"batch_size": 10}, "batch_size"),
    ],
)
def test_settings_posthog_cannot_use_are_refused(overrides: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        PosthogSettings.model_validate({"api_key": API_KEY, **overrides})


# The six calls.


def test_track_is_the_event_with_its_properties_over_the_context_defaults():
    context = {
        "ip": "203.0.113.9",
        "userAgent": "Mozilla/5.0",
        "locale": "en-GB",
        "page": {"url": "https://example.com/a", "referrer": "https://google.com/", "path": "/a", "title": "A"},
        "os": {"name": "iOS", "version": "17.1"},
        "app": {"name": "Shop", "version": "2.3", "build": "230"},
        "screen": {"width": 390, "height": 844},
        "campaign": {"source": "newsletter", "medium": "email", "name": "winter"},
        "library": {"name": "analytics.js", "version": "2.0"},
    }
    event = message("track", event="Order Completed", properties={"total": 30, "$current_url": "mine"}, context=context)
    assert captured(event) == {
        "event": "Order Completed",
        "distinct_id": "u1",
        "timestamp": TIMESTAMP,
        "uuid": uuid5("m1"),
        "properties": {
            "$ip": "203.0.113.9",
            "$raw_user_agent": "Mozilla/5.0",
            "$locale": "en-GB",
            "$current_url": "mine",
            "$referrer": "https://google.com/",
            "$pathname": "/a",
            "$os": "iOS",
            "$os_version": "17.1",
            "$app_name": "Shop",
            "$app_version": "2.3",
            "$app_build": "230",
            "$screen_width": 390,
            "$screen_height": 844,
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_campaign": "winter",
            "total": 30,
            "$lib": "switchyard",
        },
    }


def test_a_group_in_the_context_puts_the_event_in_that_group():
    event = message("track", event="Report Run", context={"groupId": "acme"})
    assert captured(event, group_type="account")["properties"] == {"$groups": {"account": "acme"}, **NO_GEO}


def test_page_is_a_pageview_with_the_current_url():
    event = message("page", name="Pricing", properties={"url": "https://example.com/pricing", "plan": "pro"})
    assert captured(event) == {
        "event": "$pageview",
        "distinct_id": "u1",
        "timestamp": TIMESTAMP,
        "uuid": uuid5("m1"),
        "properties": {
            "$geoip_disable": True,
            "url": "https://example.com/pricing",
            "plan": "pro",
            "$current_url": "https://example.com/pricing",
            "name": "Pricing",
            "$lib": "switchyard",
        },
    }


def test_a_page_without_a_url_property_takes_the_context_page_url():
    event = message("page", context={"ip": "198.51.100.1", "page": {"url": "https://example.com/docs"}})
    assert captured(event)["properties"] == {
        "$ip": "198.51.100.1",
        "$current_url": "https://example.com/docs",
        "$lib": "switchyard",
    }


def test_screen_is_a_screen_event_with_its_name():
    assert captured(message("screen", name="Home", properties={"tab": 2}))["properties"] == {
        "tab": 2,
        "$screen_name": "Home",
        **NO_GEO,
    }
    assert captured(message("screen"))["event"] == "$screen"


def test_identify_sets_the_traits_and_merges_the_anonymous_person():
    event = message("identify", traits={"email": "ada@example.com", "plan": "pro"})
    assert captured(event) == {
        "event": "$identify",
        "distinct_id": "u1",
        "timestamp": TIMESTAMP,
        "uuid": uuid5("m1"),
        "properties": {
            "$geoip_disable": True,
            "$set": {"email": "ada@example.com", "plan": "pro"},
            "$anon_distinct_id": "a1",
            "$lib": "switchyard",
        },
    }


def test_identify_without_an_anonymous_id_only_sets():
    event = message("identify", anonymousId=None, traits={"plan": "pro"})
    assert captured(event)["properties"] == {"$set": {"plan": "pro"}, **NO_GEO}


def test_an_anonymous_identify_updates_the_anonymous_person():
    event = message("identify", userId=None, traits={"plan": "free"})
    payload = captured(event)
    assert (payload["event"], payload["distinct_id"]) == ("$set", "a1")
    assert payload["properties"] == {"$set": {"plan": "free"}, **NO_GEO}
    assert POSTHOG.map(message("identify", userId=None), settings()) == []


def test_group_identifies_the_group():
    event = message("group", groupId="g-42", traits={"name": "Acme", "employees": 40})
    assert captured(event, group_type="organization") == {
        "event": "$groupidentify",
        "distinct_id": "u1",
        "timestamp": TIMESTAMP,
        "uuid": uuid5("m1"),
        "properties": {
            "$geoip_disable": True,
            "$group_type": "organization",
            "$group_key": "g-42",
            "$group_set": {"name": "Acme", "employees": 40},
            "$lib": "switchyard",
        },
    }
    assert captured(message("group", groupId=42))["properties"]["$group_key"] == "42"


def test_alias_merges_the_previous_id_into_the_user():
    event = message("alias", anonymousId=None, previousId="a-old")
    assert captured(event) == {
        "event": "$create_alias",
        "distinct_id": "u1",
        "timestamp": TIMESTAMP,
        "uuid": uuid5("m1"),
        "properties": {"$geoip_disable": True, "alias": "a-old", "$lib": "switchyard"},
    }
    assert POSTHOG.map(message("alias", previousId="u1"), settings()) == []


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (message("track"), "no_event_name"),
        (message("track", event=""), "no_event_name"),
        (message("track", event="E", userId=None, anonymousId=None), "no_user_or_anonymous_id"),
        (message("page", userId="", anonymousId=None), "no_user_or_anonymous_id"),
        (message("group"), "no_group_id"),
        (message("group", groupId="g" * 401), "group_id_too_long"),
        (message("alias"), "no_user_or_previous_id"),
        (message("alias", userId=None, previousId="a0"), "no_user_or_previous_id"),
        (message("batch"), "unknown_type"),
    ],
)
def test_events_posthog_could_not_attribute_are_unsupported(event: dict[str, Any], reason: str):
    assert POSTHOG.map(event, settings()) == Unsupported(reason)


def test_the_user_id_is_the_distinct_id_else_the_anonymous_id():
    assert captured(message("track", event="E"))["distinct_id"] == "u1"
    assert captured(message("track", event="E", userId=None))["distinct_id"] == "a1"
    assert captured(message("track", event="E", userId=7))["distinct_id"] == "7"


def test_the_timestamp_is_the_events_or_when_it_was_received():
    assert captured(message("track", event="E"))["timestamp"] == TIMESTAMP
    received = message("track", event="E", timestamp=None, receivedAt="2026-11-30T09:25:22.000Z")
    assert captured(received)["timestamp"] == "2026-11-30T09:25:22.000Z"
    assert "timestamp" not in captured(message("track", event="E", timestamp=None))


def test_mapping_is_pure():
    event = message("identify", traits={"plan": "pro"}, context={"page": {"url": "u"}})
    before = orjson.dumps(event)
    assert POSTHOG.map(event, settings()) == POSTHOG.map(event, settings())
    assert orjson.dumps(event) == before


# uuids.


def test_a_message_id_that_is_a_uuid_is_the_uuid():
    assert captured(message("track", event="E", messageId=MESSAGE_UUID))["uuid"] == MESSAGE_UUID.lower()


@pytest.mark.parametrize(
    "message_id",
    [
        "ajs-next-1764494721123-6f0c1d2e",
        "m1",
        "é" * 50,
        MESSAGE_UUID.replace("-", ""),
        MESSAGE_UUID[:-1] + "G",  # shaped like a UUID, but not hex
        MESSAGE_UUID.replace("-", "_"),
        "ajs-next-" + MESSAGE_UUID,
    ],
)
def test_any_other_message_id_becomes_its_uuid5(message_id: str):
    derived = event_uuid(message_id)
    assert derived == uuid5(message_id)
    assert uuid.UUID(derived).version == 5 and uuid.UUID(derived).variant == uuid.RFC_4122
    assert event_uuid(message_id) == derived  # the same message, the same uuid, on every retry


def test_the_uuid_namespace_never_changes():
    """Pinned: a new namespace would give resent events new uuids, escaping deduplication."""
    assert event_uuid("ajs-next-1764494721123-6f0c1d2e") == "5cbf916f-5d54-5baa-99cb-d5436ee618ff"


def test_no_message_id_no_uuid():
    assert "uuid" not in captured(message("track", event="E", messageId=None))


# Hosts and requests.


@pytest.mark.parametrize(
    ("aws_region", "overrides", "url"),
    [
        ("eu-west-1", {}, EU),
        ("us-east-1", {}, US),
        ("eu-west-1", {"region": "us"}, US),
        ("us-west-2", {"region": "eu"}, EU),
        ("eu-west-1", {"endpoint": "https://posthog.internal.example/"}, "https://posthog.internal.example/batch/"),
    ],
)
def test_the_stack_region_picks_the_eu_host_unless_the_settings_say_otherwise(
    aws_region: str, overrides: dict[str, Any], url: str
):
    call = POSTHOG.call("batch", [b'{"event":"e"}'], settings(**overrides), CallContext(aws_region, NOW))
    assert (call.method, call.url) == ("POST", url)


def test_the_body_starts_with_the_key_and_says_when_it_is_a_historical_migration():
    call = POSTHOG.call("batch", [b'{"event":"a"}', b'{"event":"b"}'], settings(), CallContext("us-east-1", NOW))
    assert isinstance(call, HttpCall)
    assert call.body == b'{"api_key":"' + API_KEY.encode() + b'","batch":[{"event":"a"},{"event":"b"}]}'
    backfill = POSTHOG.call("batch", [b'{"event":"a"}'], settings(historical_migration=True), CallContext("x", NOW))
    assert orjson.loads(backfill.body) == {"api_key": API_KEY, "historical_migration": True, "batch": [{"event": "a"}]}
    assert backfill.body.startswith(b'{"api_key":')


def test_the_limits_count_the_body_exactly():
    for configured in (settings(), settings(historical_migration=True)):
        payloads = [b'{"event":"a"}', b'{"event":"bb"}']
        body = POSTHOG.call("batch", payloads, configured, CallContext("us-east-1", NOW)).body
        limits = POSTHOG.limits("batch", configured)
        assert (limits.max_items, limits.max_bytes) == (1000, 5_000_000)
        assert limits.overhead_bytes + sum(len(p) + 1 for p in payloads) == len(body)


# Answers.


def batch_call(count: int) -> HttpCall:
    return POSTHOG.call("batch", [b'{"event":"e"}'] * count, settings(), CallContext("us-east-1", NOW))


@pytest.mark.parametrize(
    ("status", "headers", "verdict"),
    [
        (200, {}, (DELIVERED, "200", None)),
        (400, {}, (FINAL, "400", None)),
        (401, {}, (FINAL, "401", None)),
        (403, {}, (FINAL, "403", None)),
        (413, {}, (RETRY, "413.split", None)),
        (429, {"Retry-After": "12"}, (RETRY, "429", 12.0)),
        (429, {}, (RETRY, "429", None)),
        (500, {}, (RETRY, "500", None)),
        (503, {"Retry-After": "3"}, (RETRY, "503", 3.0)),
    ],
)
def test_answers_are_read_by_status(status: int, headers: dict[str, str], verdict: tuple[Any, ...]):
    verdicts = POSTHOG.interpret(batch_call(2), Answer(status, headers, b"{}", True), 2, NOW)
    assert [(v.status, v.code, v.retry_after) for v in verdicts] == [verdict] * 2


def test_a_request_too_large_goes_again_in_halves_and_a_lone_event_is_final():
    verdicts = POSTHOG.interpret(batch_call(2), Answer(413, {}, b"", True), 2, NOW)
    assert {v.again for v in verdicts} == {Again.SPLIT}
    verdicts = POSTHOG.interpret(batch_call(1), Answer(413, {}, b"", True), 1, NOW)
    assert [(v.status, v.code, v.again) for v in verdicts] == [(FINAL, "413", None)]


# Through the driver.


class FakeHttp:
    """Records requests; answers each with the next scripted (status, headers), else 200. The answer
    body echoes the request body, to prove the key is masked in samples of answers too."""

    def __init__(self, answers: list[tuple[int, dict[str, str]]] | None = None) -> None:
        self.answers = list(answers or [])
        self.sent: list[tuple[str, dict[str, Any], int]] = []

    def request(self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], deadline: float) -> Answer:
        assert method == "POST" and headers["Content-Type"] == "application/json"
        self.sent.append((url, orjson.loads(body), len(body)))
        status, answer_headers = self.answers.pop(0) if self.answers else (200, {})
        return Answer(status, answer_headers, b'{"status": 1, "echo": ' + body[:200] + b"}", True)


class FakeCredentials:
    def get(self, destination_id: str) -> dict[str, Any]:
        assert destination_id == "posthog-prod"
        return {"api_key": API_KEY}


def destination(**overrides: Any) -> Destination:
    return stored_destination("posthog-prod", "posthog", settings(**overrides), name="PostHog")


def adapter(http: FakeHttp, aws_region: str = "eu-west-1") -> ToolAdapter:
    return ToolAdapter(
        POSTHOG,
        aws_region,
        http=http,  # type: ignore[arg-type]
        credentials=FakeCredentials(),
        clock=lambda: NOW,
        monotonic=lambda: 0.0,
    )


def test_requests_hold_at_most_1000_events():
    http = FakeHttp()
    events = [message("track", n, event=f"e{n}") for n in range(2_300)]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert [len(body["batch"]) for _, body, _ in http.sent] == [1000, 1000, 300]
    assert [e["event"] for _, body, _ in http.sent for e in body["batch"]] == [f"e{n}" for n in range(2_300)]
    assert {a.status for a in attempts} == {DELIVERED}


def test_requests_stay_within_5_mb():
    http = FakeHttp()
    events = [message("track", n, event="Upload", properties={"blob": "x" * 400_000}) for n in range(30)]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert {a.status for a in attempts} == {DELIVERED}
    sizes = [size for _, _, size in http.sent]
    assert all(size <= 5_000_000 for size in sizes), sizes
    assert [len(body["batch"]) for _, body, _ in http.sent] == [12, 12, 6]


def test_an_event_larger_than_a_request_is_final_alone():
    http = FakeHttp()
    events = [message("track", 1, event="a"), message("track", 2, event="b", properties={"blob": "x" * 5_000_000})]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert [(a.status, a.code) for a in attempts] == [(DELIVERED, "200"), (FINAL, ITEM_TOO_LARGE)]


def test_delivery_gives_each_event_its_outcome_and_never_shows_the_key():
    http = FakeHttp(answers=[(200, {})])
    events = [
        message("track", 1, event="Signed Up"),
        message("identify", 2, traits={"plan": "pro"}),
        message("group", 3),  # no groupId
        message("alias", 4, previousId="a1"),
        message("identify", 5, userId=None),  # nothing to say
    ]
    attempts = adapter(http).send(destination(historical_migration=True), events, deadline=100)
    assert [(a.status, a.code) for a in attempts] == [
        (DELIVERED, "200"),
        (DELIVERED, "200"),
        (UNSUPPORTED, "unsupported.no_group_id"),
        (DELIVERED, "200"),
        (DELIVERED, "no_items"),
    ]
    [(url, body, _)] = http.sent
    assert url == EU
    assert body["api_key"] == API_KEY and body["historical_migration"] is True
    assert [e["event"] for e in body["batch"]] == ["Signed Up", "$identify", "$create_alias"]
    shown = orjson.dumps([[a.request, a.response] for a in attempts]).decode()
    assert API_KEY not in shown
    assert attempts[0].request["body"].startswith('{"api_key":"<redacted>","historical_migration":true,"batch":[')
    assert '"echo": {"api_key":"<redacted>"' in attempts[0].response["body"]


def test_after_a_413_the_events_go_again_at_once_in_halves():
    http = FakeHttp(answers=[(413, {}), (200, {}), (413, {})])
    events = [message("track", n, event=f"e{n}") for n in range(3)]
    attempts = adapter(http).send(destination(), events, deadline=100)
    # The second half draws a 413 again: halved once more, its events go alone.
    assert [[e["event"] for e in body["batch"]] for _, body, _ in http.sent] == [
        ["e0", "e1", "e2"],
        ["e0"],
        ["e1", "e2"],
        ["e1"],
        ["e2"],
    ]
    assert [(a.status, a.code) for a in attempts] == [(DELIVERED, "200")] * 3


def test_a_throttled_request_waits_as_posthog_asks():
    http = FakeHttp(answers=[(429, {"Retry-After": "20"})])
    attempts = adapter(http, aws_region="us-east-1").send(destination(), [message("track", event="E")], deadline=100)
    assert [(a.status, a.code, a.retry_after) for a in attempts] == [(RETRY, "429", 20.0)]
    assert http.sent[0][0] == US
