"""The Amplitude type: Segment's six calls as Amplitude's API expects them, its hosts, its request
limits, and its answers read per event (a 400 names the refused events; the rest go again)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from pydantic import ValidationError

from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.amplitude import (
    AMPLITUDE,
    EVENTS,
    GROUP_IDENTIFY,
    IDENTIFY,
    USERMAP,
    AmplitudeSettings,
)
from switchyard.destinations.base import Again, CallContext, HttpCall, Item, Limits, Unsupported, Verdict
from switchyard.destinations.driver import ToolAdapter
from tests.support.destinations import ScriptedHttp, StaticCredentials, stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
NOW = 1_800_000_000.0
KEY = "0123456789abcdef0123456789abcdef"
TIMESTAMP = "2026-11-30T09:25:21.123Z"
TIME_MS = 1_796_030_721_123
US = CallContext("us-east-1", NOW)
EU = CallContext("eu-west-1", NOW)


def settings(**overrides: Any) -> AmplitudeSettings:
    return AmplitudeSettings(api_key=KEY, **overrides)


def track(**fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": "user-12345",
        "anonymousId": "anon-67890",
        "messageId": "msg-1",
        "timestamp": TIMESTAMP,
        "properties": {"orderId": "o-1", "revenue": 25, "productId": "p-1"},
        **fields,
    }


def payloads(mapped: list[Item] | Unsupported) -> list[tuple[str, Any]]:
    if isinstance(mapped, Unsupported):
        raise AssertionError(f"unsupported: {mapped.reason}")
    return [(item.channel, item.payload) for item in mapped]


# -- mapping ---------------------------------------------------------------------------------------


def test_track_becomes_an_event_with_dedup_key_time_and_context_fields():
    event = track(
        context={
            "ip": "8.8.8.8",
            "locale": "en-US",
            "traits": {"plan": "pro"},
            "app": {"version": "3.5.1"},
            "device": {
                "id": "dev-1",
                "type": "ios",
                "manufacturer": "Apple",
                "model": "iPhone 15",
                "advertisingId": "ad",
            },
            "os": {"name": "iOS", "version": "17.1"},
            "network": {"carrier": "T-Mobile"},
            "location": {
                "country": "US",
                "region": "CA",
                "city": "San Francisco",
                "latitude": 37.7,
                "longitude": -122.4,
            },
        },
        integrations={"Amplitude": {"session_id": 1_796_030_000, "groups": {"team": "growth"}}},
    )
    assert payloads(AMPLITUDE.map(event, settings())) == [
        (
            EVENTS,
            {
                "user_id": "user-12345",
                "device_id": "dev-1",
                "event_type": "Order Completed",
                "time": TIME_MS,
                "insert_id": "msg-1",
                "event_properties": {"orderId": "o-1", "revenue": 25, "productId": "p-1"},
                "user_properties": {"plan": "pro"},
                "language": "en-US",
                "ip": "8.8.8.8",
                "app_version": "3.5.1",
                "platform": "ios",
                "device_manufacturer": "Apple",
                "device_model": "iPhone 15",
                "os_name": "iOS",
                "os_version": "17.1",
                "carrier": "T-Mobile",
                "country": "US",
                "region": "CA",
                "city": "San Francisco",
                "location_lat": 37.7,
                "location_lng": -122.4,
                "idfa": "ad",
                "session_id": 1_796_030_000_000,
                "groups": {"team": "growth"},
                "revenue": 25,
                "productId": "p-1",
            },
        )
    ]


def test_a_browser_track_is_platform_web_and_device_id_falls_back_to_the_anonymous_id():
    event = track(properties={"price": 3, "quantity": 2}, context={"userAgent": "Mozilla/5.0"})
    assert payloads(AMPLITUDE.map(event, settings())) == [
        (
            EVENTS,
            {
                "user_id": "user-12345",
                "device_id": "anon-67890",
                "event_type": "Order Completed",
                "time": TIME_MS,
                "insert_id": "msg-1",
                "event_properties": {"price": 3, "quantity": 2},
                "platform": "Web",
            },
        )
    ], "price and quantity without revenue are no revenue event"


def test_the_anonymous_id_can_be_preferred_for_the_device_id():
    event = track(context={"device": {"id": "dev-1"}})
    [(_, payload)] = payloads(AMPLITUDE.map(event, settings(prefer_anonymous_id_for_device_id=True)))
    assert payload["device_id"] == "anon-67890"


def test_time_falls_back_to_received_at_and_an_event_without_any_time_is_unsupported():
    event = track(timestamp=None, receivedAt="2026-11-30T09:25:22+00:00")
    [(_, payload)] = payloads(AMPLITUDE.map(event, settings()))
    assert payload["time"] == 1_796_030_722_000
    assert AMPLITUDE.map(track(timestamp=None), settings()) == Unsupported("no_timestamp")


@pytest.mark.parametrize(
    ("kind", "name", "category", "naming", "event_type"),
    [
        ("page", "Settings", "Merchant", "named", "Viewed Merchant Settings Page"),
        ("page", "Home", None, "named", "Viewed Home Page"),
        ("page", None, "Docs", "named", "Viewed Docs Page"),
        ("page", None, None, "named", "Loaded a Page"),
        ("screen", "Home", None, "named", "Viewed Home Screen"),
        ("screen", None, None, "named", "Loaded a Screen"),
        ("page", "Home", None, "consolidated", "Loaded a Page"),
    ],
)
def test_page_and_screen_event_types(kind: str, name: str | None, category: str | None, naming: str, event_type: str):
    event = {"type": kind, "name": name, "category": category, "anonymousId": "anon-67890", "messageId": "m-p"}
    event.update(timestamp=TIMESTAMP, properties={"url": "https://example.com/"})
    [(channel, payload)] = payloads(AMPLITUDE.map(event, settings(page_event_naming=naming)))
    assert channel == EVENTS
    assert payload["event_type"] == event_type
    named = {key: value for key, value in (("name", name), ("category", category)) if value}
    assert payload["event_properties"] == {**named, "url": "https://example.com/"}


def test_identify_sets_traits_and_ties_the_device_to_the_user():
    event = {
        "type": "identify",
        "userId": "user-12345",
        "anonymousId": "anon-67890",
        "traits": {"email": "ada@example.com", "plan": "pro"},
        "context": {"app": {"version": "3.5.1"}},
        "integrations": {"Amplitude": {"groups": {"sports": ["tennis"]}}},
    }
    assert payloads(AMPLITUDE.map(event, settings())) == [
        (
            IDENTIFY,
            {
                "user_id": "user-12345",
                "device_id": "anon-67890",
                "user_properties": {"$set": {"email": "ada@example.com", "plan": "pro"}},
                "groups": {"sports": ["tennis"]},
                "app_version": "3.5.1",
            },
        )
    ]


def test_identify_without_traits_still_maps_the_device_to_the_user():
    event = {"type": "identify", "userId": "user-12345", "anonymousId": "anon-67890"}
    assert payloads(AMPLITUDE.map(event, settings())) == [
        (IDENTIFY, {"user_id": "user-12345", "device_id": "anon-67890"})
    ]


def test_group_puts_the_user_in_the_group_and_sets_the_group_properties_from_the_traits():
    event = {
        "type": "group",
        "userId": "user-12345",
        "groupId": "g-1",
        "traits": {"kind": "Organization", "name": "ExampleCorp", "employees": 20},
    }
    mapped = AMPLITUDE.map(event, settings(group_type_trait="kind", group_value_trait="name"))
    assert payloads(mapped) == [
        (IDENTIFY, {"user_id": "user-12345", "groups": {"Organization": "ExampleCorp"}}),
        (
            GROUP_IDENTIFY,
            {
                "group_type": "Organization",
                "group_value": "ExampleCorp",
                "group_properties": {"kind": "Organization", "name": "ExampleCorp", "employees": 20},
            },
        ),
    ]


def test_group_without_the_type_and_value_traits_uses_the_fixed_type_and_the_group_id():
    event = {"type": "group", "anonymousId": "anon-67890", "groupId": "g-1", "traits": {}}
    assert payloads(AMPLITUDE.map(event, settings(group_type_trait="kind"))) == [
        (IDENTIFY, {"device_id": "anon-67890", "groups": {"[Segment] Group": "g-1"}})
    ]
    assert payloads(AMPLITUDE.map(event, settings(group_type="Account"))) == [
        (IDENTIFY, {"device_id": "anon-67890", "groups": {"Account": "g-1"}})
    ]
    assert AMPLITUDE.map({**event, "groupId": ""}, settings()) == Unsupported("no_group_id")


def test_alias_maps_the_previous_id_to_the_user_id_once_enabled():
    event = {"type": "alias", "previousId": "old-user-1", "userId": "user-12345"}
    assert AMPLITUDE.map(event, settings()) == Unsupported("alias_disabled")
    assert payloads(AMPLITUDE.map(event, settings(enable_alias=True))) == [
        (USERMAP, {"user_id": "old-user-1", "global_user_id": "user-12345"})
    ]
    assert AMPLITUDE.map({**event, "previousId": None}, settings(enable_alias=True)) == Unsupported(
        "no_previous_or_user_id"
    )


def test_events_without_a_name_or_any_id_are_unsupported():
    assert AMPLITUDE.map(track(event=""), settings()) == Unsupported("no_event_name")
    assert AMPLITUDE.map(track(userId=None, anonymousId=None), settings()) == Unsupported("no_user_or_device_id")
    assert AMPLITUDE.map({"type": "unknown"}, settings()) == Unsupported("unknown_type")


# -- requests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "overrides", "url"),
    [
        (US, {}, "https://api2.amplitude.com/2/httpapi"),
        (EU, {}, "https://api.eu.amplitude.com/2/httpapi"),
        (EU, {"region": "us"}, "https://api2.amplitude.com/2/httpapi"),
        (US, {"region": "eu"}, "https://api.eu.amplitude.com/2/httpapi"),
        (EU, {"endpoint": "https://proxy.example/amp/"}, "https://proxy.example/amp/2/httpapi"),
    ],
)
def test_the_host_follows_the_region_unless_the_settings_name_one(
    context: CallContext, overrides: dict[str, Any], url: str
):
    assert AMPLITUDE.call(EVENTS, [b"{}"], settings(**overrides), context).url == url


def test_user_mapping_has_its_own_us_host():
    assert AMPLITUDE.call(USERMAP, [b"{}"], settings(), US).url == "https://api.amplitude.com/usermap"
    assert AMPLITUDE.call(USERMAP, [b"{}"], settings(), EU).url == "https://api.eu.amplitude.com/usermap"
    endpoint = settings(endpoint="https://proxy.example")
    assert AMPLITUDE.call(USERMAP, [b"{}"], endpoint, US).url == "https://proxy.example/usermap"
    assert AMPLITUDE.residency_warning(settings(region="us"), "eu-west-1") == (
        "sends to api2.amplitude.com, outside the EU (`region: us`)"
    )


def test_events_go_as_one_json_body_with_the_key_first_and_the_id_length_option():
    call = AMPLITUDE.call(EVENTS, [b'{"a":1}', b'{"b":2}'], settings(min_id_length=3), US)
    assert call.method == "POST"
    assert call.headers == {"Content-Type": "application/json"}
    assert call.body == (
        b'{"api_key":"' + KEY.encode() + b'","events":[{"a":1},{"b":2}],"options":{"min_id_length":3}}'
    )


@pytest.mark.parametrize(("channel", "field"), [(IDENTIFY, "identification"), (GROUP_IDENTIFY, "identification")])
def test_identify_and_group_identify_go_form_encoded(channel: str, field: str):
    call = AMPLITUDE.call(channel, [b'{"user_id":"u 1&x"}'], settings(), US)
    assert call.url == f"https://api2.amplitude.com/{channel}"
    assert call.headers == {"Content-Type": "application/x-www-form-urlencoded"}
    assert parse_qs(call.body.decode()) == {"api_key": [KEY], field: ['[{"user_id":"u 1&x"}]']}


def test_alias_goes_form_encoded_as_mapping():
    call = AMPLITUDE.call(USERMAP, [b'{"user_id":"a","global_user_id":"b"}'], settings(), US)
    assert parse_qs(call.body.decode()) == {"api_key": [KEY], "mapping": ['[{"user_id":"a","global_user_id":"b"}]']}


def test_limits_per_channel():
    envelope = len(b'{"api_key":"' + KEY.encode() + b'","events":}') + 2
    assert AMPLITUDE.limits(EVENTS, settings()) == Limits(2000, 1_000_000, overhead_bytes=envelope)
    form_prefix = len(f"api_key={KEY}&identification=")
    assert AMPLITUDE.limits(IDENTIFY, settings()) == Limits(1024, (1_000_000 - form_prefix) // 3, overhead_bytes=2)
    assert AMPLITUDE.limits(GROUP_IDENTIFY, settings()).max_items == 1024
    assert AMPLITUDE.limits(USERMAP, settings()).max_items == 2000


def test_a_key_that_url_encoding_changes_is_hidden_in_its_encoded_form_too():
    assert AMPLITUDE.hidden_values(settings()) == []
    assert AMPLITUDE.hidden_values(AmplitudeSettings(api_key="key/with+chars")) == ["key%2Fwith%2Bchars"]


def test_the_api_key_is_a_credential_and_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AMPLITUDE_API_KEY", KEY)
    configured = AmplitudeSettings.model_validate({"api_key": {"env": "AMPLITUDE_API_KEY"}, "min_id_length": 3})
    assert configured.credentials() == {"api_key": KEY}
    assert "api_key" not in configured.public_settings()
    with pytest.raises(ValidationError):
        AmplitudeSettings.model_validate({"api_key": KEY, "page_event_naming": "all"})


# -- answers ---------------------------------------------------------------------------------------


def events_call() -> HttpCall:
    return AMPLITUDE.call(EVENTS, [b"{}"], settings(), US)


def answer(status: int, body: Any = b"", headers: Mapping[str, str] | None = None) -> Answer:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Answer(status, headers or {}, raw, True)


def test_success_delivers_every_event():
    body = {"code": 200, "events_ingested": 3}
    assert AMPLITUDE.interpret(events_call(), answer(200, body), 3, NOW) == [Verdict(DELIVERED, "200")] * 3


def test_a_400_naming_events_refuses_those_and_resends_the_rest():
    body = {
        "code": 400,
        "error": "Invalid field values on some events",
        "events_with_invalid_fields": {"time": [0]},
        "events_with_missing_fields": {"event_type": [3, 99]},
        "silenced_events": [4],
    }
    assert AMPLITUDE.interpret(events_call(), answer(400, body), 5, NOW) == [
        Verdict(FINAL, "400.invalid_fields"),
        Verdict(RETRY, "400.resend", again=Again.RESEND),
        Verdict(RETRY, "400.resend", again=Again.RESEND),
        Verdict(FINAL, "400.missing_fields"),
        Verdict(FINAL, "400.silenced"),
    ]


def test_throttled_events_in_a_400_wait_the_pause_amplitude_asks_for():
    body = {"code": 400, "silenced_events": [0], "throttled_events": [1]}
    assert AMPLITUDE.interpret(events_call(), answer(400, body), 3, NOW) == [
        Verdict(FINAL, "400.silenced"),
        Verdict(RETRY, "400.throttled", 30.0),
        Verdict(RETRY, "400.resend", again=Again.RESEND),
    ]


def test_a_400_naming_no_event_is_the_requests_fault_and_final_for_all():
    body = {"code": 400, "error": "Invalid API key"}
    assert AMPLITUDE.interpret(events_call(), answer(400, body), 2, NOW) == [Verdict(FINAL, "400")] * 2
    cut_short = Answer(400, {}, b'{"code":400,"events_with_inv', False)
    assert AMPLITUDE.interpret(events_call(), cut_short, 2, NOW) == [Verdict(FINAL, "400")] * 2


def test_a_429_holds_the_throttled_events_for_retry_after_and_resends_the_others():
    body = {"code": 429, "throttled_events": [1]}
    assert AMPLITUDE.interpret(events_call(), answer(429, body, {"Retry-After": "12"}), 3, NOW) == [
        Verdict(RETRY, "429.resend", again=Again.RESEND),
        Verdict(RETRY, "429", 12.0),
        Verdict(RETRY, "429.resend", again=Again.RESEND),
    ]


def test_a_429_without_retry_after_or_names_pauses_everything_30_seconds():
    assert AMPLITUDE.interpret(events_call(), answer(429, {"code": 429}), 2, NOW) == [Verdict(RETRY, "429", 30.0)] * 2


def test_a_throttled_identify_waits_15_seconds():
    call = AMPLITUDE.call(IDENTIFY, [b"{}"], settings(), US)
    assert AMPLITUDE.interpret(call, answer(429, b"too many"), 1, NOW) == [Verdict(RETRY, "429", 15.0)]


def test_server_errors_retry_with_retry_after_and_bad_credentials_are_final():
    unavailable = answer(503, b"", {"Retry-After": "7"})
    assert AMPLITUDE.interpret(events_call(), unavailable, 2, NOW) == [Verdict(RETRY, "503", 7.0)] * 2
    assert AMPLITUDE.interpret(events_call(), answer(500), 1, NOW) == [Verdict(RETRY, "500")]
    assert AMPLITUDE.interpret(events_call(), answer(401), 2, NOW) == [Verdict(FINAL, "401")] * 2
    form = AMPLITUDE.call(GROUP_IDENTIFY, [b"{}"], settings(), US)
    assert AMPLITUDE.interpret(form, answer(400, b"bad request"), 2, NOW) == [Verdict(FINAL, "400")] * 2


def test_a_413_regroups_the_events_and_is_final_for_a_lone_one():
    assert (
        AMPLITUDE.interpret(events_call(), answer(413), 2, NOW) == [Verdict(RETRY, "413.split", again=Again.SPLIT)] * 2
    )
    assert AMPLITUDE.interpret(events_call(), answer(413), 1, NOW) == [Verdict(FINAL, "413")]


# -- through the driver ---------------------------------------------------------------------------


def send(http: ScriptedHttp, events: list[dict[str, Any]], aws_region: str = "us-east-1", **public: Any) -> list[Any]:
    credentials = StaticCredentials({"api_key": KEY})
    adapter = ToolAdapter(AMPLITUDE, aws_region, http=http, credentials=credentials, clock=lambda: NOW)  # type: ignore[arg-type]
    destination = stored_destination("amp", "amplitude", settings(**public), name="Amplitude")
    return adapter.send(destination, events, deadline=1e12)


def test_a_partial_refusal_settles_each_event_and_no_sample_shows_the_key():
    refusal = answer(
        400, {"code": 400, "error": f"bad events for key {KEY}", "events_with_invalid_fields": {"time": [1]}}
    )
    http = ScriptedHttp(refusal)
    events = [track(messageId=f"m{i}") for i in range(3)]
    attempts = send(http, events)
    assert [(a.status, a.code) for a in attempts] == [
        (DELIVERED, "200"),
        (FINAL, "400.invalid_fields"),
        (DELIVERED, "200"),
    ], "the refused event is final; the others went again at once, without it"
    [(url, body, headers), (_, resent, _)] = http.sent
    assert url == "https://api2.amplitude.com/2/httpapi"
    assert orjson.loads(body)["api_key"] == KEY
    assert [event["insert_id"] for event in orjson.loads(body)["events"]] == ["m0", "m1", "m2"]
    assert [event["insert_id"] for event in orjson.loads(resent)["events"]] == ["m0", "m2"]
    for attempt in attempts:
        shown = orjson.dumps([attempt.request, attempt.response]).decode()
        assert KEY not in shown
        assert "<redacted>" in attempt.request["body"]
    assert "<redacted>" in attempts[1].response["body"]


def test_each_channel_gets_its_own_request_and_the_eu_host_in_an_eu_region():
    http = ScriptedHttp()
    events = [
        track(messageId="t1"),
        {"type": "identify", "userId": "user-12345", "traits": {"plan": "pro"}, "messageId": "i1"},
        {"type": "group", "userId": "user-12345", "groupId": "g-1", "traits": {"n": 1}, "messageId": "g1"},
    ]
    attempts = send(http, events, aws_region="eu-west-1")
    assert [a.status for a in attempts] == [DELIVERED] * 3
    assert [url for url, _, _ in http.sent] == [
        "https://api.eu.amplitude.com/2/httpapi",
        "https://api.eu.amplitude.com/identify",
        "https://api.eu.amplitude.com/groupidentify",
    ]
    identifications = orjson.loads(parse_qs(http.sent[1][1].decode())["identification"][0])
    assert identifications == [
        {"user_id": "user-12345", "user_properties": {"$set": {"plan": "pro"}}},
        {"user_id": "user-12345", "groups": {"[Segment] Group": "g-1"}},
    ]


def test_requests_hold_at_most_2000_events():
    http = ScriptedHttp()
    events = [track(messageId=f"m{i}", properties={}) for i in range(2001)]
    attempts = send(http, events)
    assert [len(orjson.loads(body)["events"]) for _, body, _ in http.sent] == [2000, 1]
    assert {a.status for a in attempts} == {DELIVERED}


def test_requests_stay_under_a_megabyte():
    http = ScriptedHttp()
    events = [track(messageId=f"m{i}", properties={"blob": "x" * 300_000}) for i in range(4)]
    send(http, events)
    assert [len(orjson.loads(body)["events"]) for _, body, _ in http.sent] == [3, 1]
    assert max(len(body) for _, body, _ in http.sent) <= 1_000_000


def test_form_requests_stay_under_a_megabyte_once_url_encoded():
    http = ScriptedHttp()
    quotes = {f'"{i}"': '"' * 1000 for i in range(100)}  # JSON of the worst kind: every byte becomes three
    events = [{"type": "identify", "userId": f"user-{i}", "traits": quotes} for i in range(4)]
    send(http, events)
    assert len(http.sent) > 1
    assert max(len(body) for _, body, _ in http.sent) <= 1_000_000
