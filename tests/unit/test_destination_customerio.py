"""`type: customerio`: settings and hosts, the Track API v2 entity of each call, dates as Unix
seconds, the batch limits (500 KB, 32 KB per entity), a 207 read per entity, and delivery through
the driver with the credentials never shown."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.base import Again, CallContext, HttpCall, Unsupported, Verdict
from switchyard.destinations.customerio import CUSTOMERIO, CustomerioSettings, person_identifiers
from switchyard.destinations.driver import ITEM_TOO_LARGE, ToolAdapter
from tests.support.destinations import ScriptedHttp, StaticCredentials, stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
UNSUPPORTED = AttemptStatus.UNSUPPORTED
SITE_ID = "3f1c9a7e2b8d4c6f0a15"
API_KEY = "cio-track-key-7d2e9b41a0c3"
TIMESTAMP = "2026-11-30T09:25:21.123Z"
UNIX = 1_796_030_721
NOW = 1_796_031_000.0
US = CallContext("us-east-1", NOW)


def settings(**overrides: Any) -> CustomerioSettings:
    return CustomerioSettings.model_validate({"site_id": SITE_ID, "api_key": API_KEY, **overrides})


def message(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "userId": "u1", "anonymousId": "a1", "messageId": "m1", "timestamp": TIMESTAMP, **fields}


def entity(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    mapped = CUSTOMERIO.map(event, settings(**overrides))
    assert isinstance(mapped, list) and len(mapped) == 1, mapped
    assert mapped[0].channel == "batch"
    return mapped[0].payload


def basic(site_id: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{site_id}:{key}".encode()).decode()


# -- settings and hosts ---------------------------------------------------------------------------


def test_the_api_key_is_the_credential_and_the_site_id_is_public():
    configured = settings()
    assert CustomerioSettings.SECRET_FIELDS == ("api_key",)
    assert configured.credentials() == {"api_key": API_KEY}
    assert configured.public_settings()["site_id"] == SITE_ID
    assert API_KEY not in orjson.dumps(configured.public_settings()).decode()


def test_the_api_key_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CIO_KEY", API_KEY)
    assert settings(api_key={"env": "CIO_KEY"}).api_key == API_KEY


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"site_id": ""}, "site_id"),
        ({"site_id": f"{SITE_ID}:{API_KEY}"}, "site_id"),
        ({"api_key": "short"}, "api_key"),
        ({"region": "ap"}, "region"),
        ({"object_type_id": "companies"}, "object_type_id"),
        ({"object_type_id": "0"}, "object_type_id"),
        ({"endpoint": "track.customer.io"}, "endpoint"),
    ],
)
def test_settings_customerio_cannot_use_are_refused(overrides: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        settings(**overrides)


def test_a_missing_site_id_is_refused():
    with pytest.raises(ValidationError, match="site_id"):
        CustomerioSettings.model_validate({"api_key": API_KEY})


@pytest.mark.parametrize(
    ("aws_region", "overrides", "url"),
    [
        ("us-east-1", {}, "https://track.customer.io/api/v2/batch"),
        ("eu-west-1", {}, "https://track-eu.customer.io/api/v2/batch"),
        ("eu-west-1", {"region": "us"}, "https://track.customer.io/api/v2/batch"),
        ("us-east-1", {"endpoint": "https://cio-proxy.example.com/"}, "https://cio-proxy.example.com/api/v2/batch"),
    ],
)
def test_the_region_picks_the_host(aws_region: str, overrides: dict[str, Any], url: str):
    call = CUSTOMERIO.call("batch", [b"{}"], settings(**overrides), CallContext(aws_region, NOW))
    assert (call.method, call.url) == ("POST", url)


def test_an_eu_stack_sending_to_the_us_host_is_warned():
    assert CUSTOMERIO.residency_warning(settings(region="us"), "eu-west-1") == (
        "sends to track.customer.io, outside the EU (`region: us`)"
    )
    assert CUSTOMERIO.residency_warning(settings(), "eu-west-1") is None


def test_the_request_is_a_batch_with_basic_auth():
    call = CUSTOMERIO.call("batch", [b'{"a":1}', b'{"b":2}'], settings(), US)
    assert call.body == b'{"batch":[{"a":1},{"b":2}]}'
    assert call.headers == {"Authorization": basic(SITE_ID, API_KEY)}


# -- the calls ------------------------------------------------------------------------------------


def test_identify_is_a_person_identify_with_the_traits_and_the_anonymous_id():
    traits = {"email": "ada@example.com", "plan": "pro", "createdAt": "2026-01-01T00:00:00Z", "logins": 3}
    assert entity(message("identify", traits=traits)) == {
        "type": "person",
        "action": "identify",
        "identifiers": {"id": "u1"},
        "timestamp": UNIX,
        "attributes": {
            "email": "ada@example.com",
            "plan": "pro",
            "logins": 3,
            "created_at": 1_767_225_600,
            "anonymous_id": "a1",
        },
    }


def test_an_identify_without_a_user_id_is_made_by_its_email():
    person = entity(message("identify", userId=None, anonymousId=None, traits={"email": "ada@example.com"}))
    assert person["identifiers"] == {"email": "ada@example.com"}
    assert CUSTOMERIO.map(message("identify", userId=None), settings()) == Unsupported("no_user_id_or_email")


def test_an_identify_with_an_object_id_relates_the_person_to_it():
    traits = {"objectId": "acme", "objectTypeId": "2", "relationshipAttributes": {"role": "admin"}, "plan": "pro"}
    person = entity(message("identify", anonymousId=None, traits=traits))
    assert person["attributes"] == {"plan": "pro"}
    assert person["cio_relationships"] == [
        {"identifiers": {"object_type_id": "2", "object_id": "acme"}, "relationship_attributes": {"role": "admin"}}
    ]
    default_type = entity(message("identify", traits={"objectId": "acme"}), object_type_id="3")
    assert default_type["cio_relationships"] == [{"identifiers": {"object_type_id": "3", "object_id": "acme"}}]


def test_track_is_a_person_event_deduplicated_by_the_message_id():
    event = message("track", event="Order Completed", properties={"total": 30, "order_id": "o-1"})
    assert entity(event) == {
        "type": "person",
        "action": "event",
        "identifiers": {"id": "u1"},
        "name": "Order Completed",
        "id": "m1",
        "timestamp": UNIX,
        "attributes": {"total": 30, "order_id": "o-1", "anonymous_id": "a1"},
    }


def test_an_anonymous_track_is_an_event_of_the_anonymous_id():
    assert entity(message("track", userId=None, event="Viewed", properties={"x": 1})) == {
        "type": "person",
        "action": "event",
        "identifiers": {"anonymous_id": "a1"},
        "name": "Viewed",
        "id": "m1",
        "timestamp": UNIX,
        "attributes": {"x": 1},
    }


def test_page_is_a_page_view_named_by_its_url():
    page = message("page", name="Pricing", properties={"url": "https://example.com/pricing", "title": "P"})
    sent = entity(page)
    assert (sent["action"], sent["name"]) == ("page", "https://example.com/pricing")
    assert sent["attributes"] == {"url": "https://example.com/pricing", "title": "P", "anonymous_id": "a1"}
    from_context = message("page", context={"page": {"url": "https://example.com/c"}})
    assert entity(from_context)["name"] == "https://example.com/c"
    assert entity(message("page", name="Pricing"))["name"] == "Pricing"
    assert CUSTOMERIO.map(message("page"), settings()) == Unsupported("no_page_url")


def test_screen_is_a_screen_view_named_by_the_screen():
    sent = entity(message("screen", name="Home", anonymousId=None))
    assert sent == {
        "type": "person",
        "action": "screen",
        "identifiers": {"id": "u1"},
        "name": "Home",
        "id": "m1",
        "timestamp": UNIX,
    }
    assert CUSTOMERIO.map(message("screen"), settings()) == Unsupported("no_screen_name")


def test_group_is_an_object_related_to_the_person():
    event = message("group", groupId="acme", traits={"name": "Acme", "plan": "enterprise", "objectTypeId": "2"})
    assert entity(event) == {
        "type": "object",
        "action": "identify",
        "identifiers": {"object_type_id": "2", "object_id": "acme"},
        "attributes": {"name": "Acme", "plan": "enterprise"},
        "cio_relationships": [{"identifiers": {"id": "u1"}}],
    }
    assert entity(message("group", groupId="acme"))["identifiers"]["object_type_id"] == "1"


def test_an_anonymous_group_relates_the_object_to_the_anonymous_person():
    sent = entity(message("group", userId=None, groupId=42))
    assert (sent["action"], sent["identifiers"]["object_id"]) == ("identify_anonymous", "42")
    assert sent["cio_relationships"] == [{"identifiers": {"anonymous_id": "a1"}}]


def test_alias_merges_the_previous_id_into_the_user():
    assert entity(message("alias", previousId="a-old")) == {
        "type": "person",
        "action": "merge",
        "primary": {"id": "u1"},
        "secondary": {"id": "a-old"},
    }
    assert CUSTOMERIO.map(message("alias", previousId="u1"), settings()) == []


@pytest.mark.parametrize(
    ("person", "identifiers"),
    [
        ("user-1", {"id": "user-1"}),
        ("ada@example.com", {"email": "ada@example.com"}),
        ("cio_a3000001", {"cio_id": "a3000001"}),
        ("not@an-email", {"id": "not@an-email"}),
    ],
)
def test_persons_are_identified_as_segment_resolves_them(person: str, identifiers: dict[str, str]):
    assert person_identifiers(person) == identifiers
    assert entity(message("track", event="E", userId=person))["identifiers"] == identifiers


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (message("track"), "no_event_name"),
        (message("track", event="E", userId=None, anonymousId=None), "no_user_or_anonymous_id"),
        (message("group"), "no_group_id"),
        (message("group", groupId="g", userId="", anonymousId=None), "no_user_or_anonymous_id"),
        (message("alias"), "no_user_or_previous_id"),
        (message("alias", userId=None, previousId="a"), "no_user_or_previous_id"),
        (message("batch"), "unknown_type"),
    ],
)
def test_events_customerio_cannot_take_are_unsupported(event: dict[str, Any], reason: str):
    assert CUSTOMERIO.map(event, settings()) == Unsupported(reason)


# -- dates ----------------------------------------------------------------------------------------


def test_iso_dates_among_attributes_become_unix_seconds_unless_told_not_to():
    properties = {
        "renewal": "2026-12-01T00:00:00Z",
        "birthday": "1990-05-01",
        "sku": "2026-AB",
        "note": "not a date",
        "plan": {"started": "2026-01-01T00:00:00.000Z"},
        "count": 3,
    }
    sent = entity(message("track", event="E", anonymousId=None, properties=properties))
    assert sent["attributes"] == {
        "renewal": 1_796_083_200,
        "birthday": 641_520_000,
        "sku": "2026-AB",
        "note": "not a date",
        "plan": {"started": 1_767_225_600},
        "count": 3,
    }
    kept = entity(message("track", event="E", anonymousId=None, properties=properties), convert_timestamps=False)
    assert kept["attributes"] == properties


def test_the_timestamp_is_the_events_else_when_it_was_received():
    received = message("track", event="E", timestamp=None, receivedAt="2026-11-30T09:25:22.000Z")
    assert entity(received)["timestamp"] == UNIX + 1
    assert "timestamp" not in entity(message("track", event="E", timestamp=None))
    offset = message("track", event="E", timestamp="2026-11-30T10:25:21+01:00")
    assert entity(offset)["timestamp"] == UNIX


def test_mapping_is_pure():
    event = message("identify", traits={"createdAt": "2026-01-01", "nested": {"at": "2026-01-02"}})
    before = orjson.dumps(event)
    assert CUSTOMERIO.map(event, settings()) == CUSTOMERIO.map(event, settings())
    assert orjson.dumps(event) == before


# -- limits and answers ---------------------------------------------------------------------------


def test_the_limits_are_customerios_and_count_the_body_exactly():
    limits = CUSTOMERIO.limits("batch", settings())
    assert (limits.max_bytes, limits.max_item_bytes) == (499_999, 32_000)
    payloads = [b'{"a":1}', b'{"bb":2}']
    body = CUSTOMERIO.call("batch", payloads, settings(), US).body
    assert limits.overhead_bytes + sum(len(p) + 1 for p in payloads) == len(body)


def batch_call(count: int) -> HttpCall:
    return CUSTOMERIO.call("batch", [b"{}"] * count, settings(), US)


def test_a_207_refuses_the_entities_it_names_and_accepts_the_others():
    body = {
        "errors": [
            {"batch_index": 1, "reason": "invalid", "field": "identifiers", "message": "identifiers are required"},
            {"batch_index": 9, "reason": "invalid"},
            {"batch_index": True, "reason": "invalid"},
        ]
    }
    verdicts = CUSTOMERIO.interpret(batch_call(3), Answer(207, {}, orjson.dumps(body), True), 3, NOW)
    assert verdicts == [Verdict(DELIVERED, "207"), Verdict(FINAL, "207.invalid_entity"), Verdict(DELIVERED, "207")]


@pytest.mark.parametrize(
    ("status", "headers", "verdict"),
    [
        (200, {}, (DELIVERED, "200", None)),
        (400, {}, (FINAL, "400", None)),
        (401, {}, (FINAL, "401", None)),
        (429, {"Retry-After": "5"}, (RETRY, "429", 5.0)),
        (429, {}, (RETRY, "429", None)),
        (500, {}, (RETRY, "500", None)),
        (503, {}, (RETRY, "503", None)),
    ],
)
def test_whole_batch_answers_are_read_by_status(status: int, headers: dict[str, str], verdict: tuple[Any, ...]):
    verdicts = CUSTOMERIO.interpret(batch_call(2), Answer(status, headers, b'{"errors":[]}', True), 2, NOW)
    assert [(v.status, v.code, v.retry_after) for v in verdicts] == [verdict] * 2


def test_a_413_halves_the_batch():
    verdicts = CUSTOMERIO.interpret(batch_call(2), Answer(413, {}, b"", True), 2, NOW)
    assert {v.again for v in verdicts} == {Again.SPLIT}
    assert CUSTOMERIO.interpret(batch_call(1), Answer(413, {}, b"", True), 1, NOW) == [Verdict(FINAL, "413")]


# -- through the driver ---------------------------------------------------------------------------


def send(http: ScriptedHttp, events: list[dict[str, Any]], aws_region: str = "us-east-1", **public: Any) -> list[Any]:
    adapter = ToolAdapter(
        CUSTOMERIO,
        aws_region,
        http=http,  # type: ignore[arg-type]
        credentials=StaticCredentials({"api_key": API_KEY}),
        clock=lambda: NOW,
    )
    destination = stored_destination("cio", "customerio", settings(**public), name="Customer.io")
    return adapter.send(destination, events, deadline=1e12)


def ok(url: str) -> Answer:
    return Answer(200, {}, b"{}", True)


def test_a_partial_success_settles_each_event_and_never_shows_the_key():
    echo = {"errors": [{"batch_index": 1, "reason": "invalid", "message": f"bad key {API_KEY}?"}]}
    http = ScriptedHttp(Answer(207, {}, orjson.dumps(echo), True), default=ok)
    events = [message("track", event="a"), message("identify", userId=None), message("track", event="b")]
    events.insert(1, message("screen", name="Home"))
    attempts = send(http, events, aws_region="eu-west-1")
    assert [(a.status, a.code) for a in attempts] == [
        (DELIVERED, "207"),
        (FINAL, "207.invalid_entity"),
        (UNSUPPORTED, "unsupported.no_user_id_or_email"),
        (DELIVERED, "207"),
    ]
    [(url, body, headers)] = http.sent
    assert url == "https://track-eu.customer.io/api/v2/batch"
    assert headers["Authorization"] == basic(SITE_ID, API_KEY)
    assert [e["action"] for e in orjson.loads(body)["batch"]] == ["event", "screen", "event"]
    for attempt in attempts:
        shown = orjson.dumps([attempt.request, attempt.response]).decode()
        assert API_KEY not in shown
        assert basic(SITE_ID, API_KEY).removeprefix("Basic ") not in shown
    assert attempts[0].request["headers"]["Authorization"] == "<redacted>"
    assert "bad key <redacted>?" in attempts[1].response["body"]


def test_batches_stay_under_500_kb_and_an_entity_over_32_kb_is_final():
    http = ScriptedHttp(default=ok)
    events = [message("track", event=f"e{i}", properties={"blob": "x" * 30_000}) for i in range(20)]
    events.append(message("track", event="huge", properties={"blob": "x" * 40_000}))
    attempts = send(http, events)
    assert [(a.status, a.code) for a in attempts] == [(DELIVERED, "200")] * 20 + [(FINAL, ITEM_TOO_LARGE)]
    assert [len(orjson.loads(body)["batch"]) for _, body, _ in http.sent] == [16, 4]
    assert all(len(body) < 500_000 for _, body, _ in http.sent)


def test_a_throttled_batch_waits_as_customerio_asks():
    http = ScriptedHttp(Answer(429, {"Retry-After": "7"}, b"", True))
    [attempt] = send(http, [message("track", event="E")])
    assert (attempt.status, attempt.code, attempt.retry_after) == (RETRY, "429", 7.0)
