"""The Mixpanel type: Segment's six calls as Mixpanel's Import and profile APIs expect them, its
hosts and authentication, its request limits, and its answers read per event (a strict 400 is a
partial success: only the failed records are refused)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.base import Again, CallContext, HttpCall, Item, Limits, Unsupported, Verdict
from switchyard.destinations.driver import ToolAdapter
from switchyard.destinations.mixpanel import ENGAGE, GROUPS, IMPORT, MIXPANEL, MixpanelSettings
from tests.support.destinations import ScriptedHttp, StaticCredentials, stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
NOW = 1_800_000_000.0
TOKEN = "tok-0123456789abcdef"
SECRET = "sec-0123456789abcdef"
TIMESTAMP = "2026-11-30T09:25:21.123Z"
TIME_MS = 1_796_030_721_123
UUID = "2d2e8a0a-6a3b-4c1e-9f1e-0b5c6d7e8f90"
US = CallContext("us-east-1", NOW)
EU = CallContext("eu-west-1", NOW)


def settings(**overrides: Any) -> MixpanelSettings:
    return MixpanelSettings(project_token=TOKEN, **overrides)


def track(**fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": "user-12345",
        "anonymousId": "anon-67890",
        "messageId": UUID,
        "timestamp": TIMESTAMP,
        "properties": {"orderId": "o-1", "revenue": 25},
        **fields,
    }


def payloads(mapped: list[Item] | Unsupported) -> list[tuple[str, Any]]:
    if isinstance(mapped, Unsupported):
        raise AssertionError(f"unsupported: {mapped.reason}")
    return [(item.channel, item.payload) for item in mapped]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- mapping ---------------------------------------------------------------------------------------


def test_track_becomes_an_import_event_with_flat_properties_ids_and_context():
    event = track(
        context={
            "ip": "8.8.8.8",
            "page": {"url": "https://example.com/checkout", "referrer": "https://example.com/cart"},
            "os": {"name": "iOS", "version": "17.1"},
            "app": {"version": "3.5.1", "build": "351"},
            "device": {"manufacturer": "Apple", "model": "iPhone 15"},
            "network": {"carrier": "T-Mobile"},
            "screen": {"width": 390, "height": 844},
            "location": {"latitude": 37.7, "longitude": -122.4},
            "campaign": {"source": "google", "medium": "cpc", "name": "spring", "term": "shoes", "content": "ad1"},
        }
    )
    assert payloads(MIXPANEL.map(event, settings())) == [
        (
            IMPORT,
            {
                "event": "Order Completed",
                "properties": {
                    "ip": "8.8.8.8",
                    "$current_url": "https://example.com/checkout",
                    "$referrer": "https://example.com/cart",
                    "$os": "iOS",
                    "$os_version": "17.1",
                    "$app_version_string": "3.5.1",
                    "$app_build_number": "351",
                    "$manufacturer": "Apple",
                    "$model": "iPhone 15",
                    "$carrier": "T-Mobile",
                    "$screen_width": 390,
                    "$screen_height": 844,
                    "$latitude": 37.7,
                    "$longitude": -122.4,
                    "utm_source": "google",
                    "utm_medium": "cpc",
                    "utm_campaign": "spring",
                    "utm_term": "shoes",
                    "utm_content": "ad1",
                    "orderId": "o-1",
                    "revenue": 25,
                    "time": TIME_MS,
                    "distinct_id": "user-12345",
                    "$insert_id": UUID,
                    "$device_id": "anon-67890",
                    "$user_id": "user-12345",
                },
            },
        )
    ]


def test_an_anonymous_track_is_the_anonymous_ids_and_never_geolocated_at_our_servers():
    event = track(userId=None, properties={"time": 1, "distinct_id": "spoof", "ip": "1.2.3.4"})
    assert payloads(MIXPANEL.map(event, settings())) == [
        (
            IMPORT,
            {
                "event": "Order Completed",
                "properties": {
                    "ip": "1.2.3.4",
                    "time": TIME_MS,
                    "distinct_id": "anon-67890",
                    "$insert_id": UUID,
                    "$device_id": "anon-67890",
                },
            },
        )
    ], "properties may set ip but not the time, identity or dedup key"
    [(_, without_ip)] = payloads(MIXPANEL.map(track(properties={}), settings()))
    assert without_ip["properties"]["ip"] == "0"


@pytest.mark.parametrize(
    ("message_id", "expected"),
    [
        (UUID, UUID),
        ("abc-123", "abc-123"),
        ("ajs-next-1700000000000-2d2e8a0a-6a3b-4c1e-9f1e-0b5c6d7e8f90", None),  # 60 characters
        ("order:42", None),  # a character Mixpanel refuses
        ("null", None),  # a placeholder Mixpanel refuses
    ],
)
def test_the_insert_id_is_the_message_id_or_a_stable_digest_of_it(message_id: str, expected: str | None):
    [(_, payload)] = payloads(MIXPANEL.map(track(messageId=message_id), settings()))
    digest = hashlib.blake2b(message_id.encode(), digest_size=16).hexdigest()
    assert payload["properties"]["$insert_id"] == (expected or digest)
    assert len(payload["properties"]["$insert_id"]) <= 36


@pytest.mark.parametrize(
    ("kind", "name", "category", "naming", "event_name"),
    [
        ("page", "Home", None, "consolidated", "Loaded a Page"),
        ("screen", "Home", None, "consolidated", "Loaded a Screen"),
        ("page", "Settings", "Merchant", "named", "Viewed Merchant Settings Page"),
        ("page", "Home", None, "named", "Viewed Home Page"),
        ("screen", None, "Onboarding", "named", "Viewed Onboarding Screen"),
        ("page", None, None, "named", "Loaded a Page"),
    ],
)
def test_page_and_screen_event_names(kind: str, name: str | None, category: str | None, naming: str, event_name: str):
    event = {"type": kind, "name": name, "category": category, "anonymousId": "anon-67890", "messageId": UUID}
    event.update(timestamp=TIMESTAMP, properties={"path": "/"})
    [(channel, payload)] = payloads(MIXPANEL.map(event, settings(page_event_naming=naming)))
    assert channel == IMPORT
    assert payload["event"] == event_name
    named = {key: value for key, value in (("name", name), ("category", category)) if value}
    assert {key: payload["properties"][key] for key in (*named, "path")} == {**named, "path": "/"}


def test_identify_sets_the_traits_on_the_profile_with_mixpanels_reserved_names():
    event = {
        "type": "identify",
        "userId": "user-12345",
        "anonymousId": "anon-67890",
        "traits": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "plan": "pro"},
        "context": {"ip": "8.8.8.8"},
    }
    assert payloads(MIXPANEL.map(event, settings())) == [
        (
            ENGAGE,
            {
                "$token": TOKEN,
                "$distinct_id": "user-12345",
                "$ip": "8.8.8.8",
                "$set": {"$email": "ada@example.com", "$first_name": "Ada", "$last_name": "Lovelace", "plan": "pro"},
            },
        )
    ]


def test_identify_without_a_user_id_or_traits_sends_nothing():
    anonymous = {"type": "identify", "anonymousId": "anon-67890", "traits": {"plan": "pro"}}
    assert MIXPANEL.map(anonymous, settings()) == Unsupported("no_user_id")
    assert MIXPANEL.map({"type": "identify", "userId": "user-12345", "traits": {}}, settings()) == []


def test_group_sets_the_group_profile_and_adds_the_group_to_the_users_profile():
    event = {
        "type": "group",
        "userId": "user-12345",
        "groupId": "g-1",
        "traits": {"company_id": "c-42", "name": "Initech", "employees": 329},
    }
    mapped = MIXPANEL.map(event, settings(group_identifier_traits=("account_id", "company_id")))
    assert payloads(mapped) == [
        (
            GROUPS,
            {
                "$token": TOKEN,
                "$group_key": "company_id",
                "$group_id": "c-42",
                "$set": {"company_id": "c-42", "name": "Initech", "employees": 329},
            },
        ),
        (ENGAGE, {"$token": TOKEN, "$distinct_id": "user-12345", "$ip": "0", "$union": {"company_id": ["c-42"]}}),
    ]


def test_group_without_a_configured_identifier_trait_is_unsupported():
    event = {"type": "group", "userId": "user-12345", "groupId": "g-1", "traits": {"name": "Initech"}}
    assert MIXPANEL.map(event, settings()) == Unsupported("no_group_identifier_trait")
    assert MIXPANEL.map(event, settings(group_identifier_traits=("company_id",))) == Unsupported(
        "no_group_identifier_trait"
    )


def test_alias_becomes_a_create_alias_event():
    event = {"type": "alias", "previousId": "anon-67890", "userId": "user-12345", "messageId": UUID}
    event["timestamp"] = TIMESTAMP
    assert payloads(MIXPANEL.map(event, settings())) == [
        (
            IMPORT,
            {
                "event": "$create_alias",
                "properties": {
                    "distinct_id": "anon-67890",
                    "alias": "user-12345",
                    "token": TOKEN,
                    "time": TIME_MS,
                    "$insert_id": UUID,
                },
            },
        )
    ]
    assert MIXPANEL.map({**event, "previousId": ""}, settings()) == Unsupported("no_previous_or_user_id")


def test_events_mixpanel_would_refuse_are_unsupported():
    assert MIXPANEL.map(track(event=None), settings()) == Unsupported("no_event_name")
    assert MIXPANEL.map(track(userId=None, anonymousId=None), settings()) == Unsupported("no_user_or_anonymous_id")
    assert MIXPANEL.map(track(timestamp="yesterday"), settings()) == Unsupported("no_timestamp")
    too_many = {f"p{i}": i for i in range(250)}
    assert MIXPANEL.map(track(properties=too_many), settings()) == Unsupported("too_many_properties")


# -- requests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "overrides", "base"),
    [
        (US, {}, "https://api.mixpanel.com"),
        (EU, {}, "https://api-eu.mixpanel.com"),
        (EU, {"region": "us"}, "https://api.mixpanel.com"),
        (US, {"region": "eu"}, "https://api-eu.mixpanel.com"),
        (EU, {"endpoint": "https://api-in.mixpanel.com/"}, "https://api-in.mixpanel.com"),
    ],
)
def test_the_host_follows_the_region_unless_the_settings_name_one(
    context: CallContext, overrides: dict[str, Any], base: str
):
    configured = settings(**overrides)
    assert MIXPANEL.call(IMPORT, [b"{}"], configured, context).url == f"{base}/import?strict=1"
    assert MIXPANEL.call(ENGAGE, [b"{}"], configured, context).url == f"{base}/engage?verbose=1"
    assert MIXPANEL.call(GROUPS, [b"{}"], configured, context).url == f"{base}/groups?verbose=1"


def test_import_authenticates_with_the_service_account_else_the_api_secret_else_the_token():
    account = settings(service_account_username="sa.user", service_account_secret=SECRET, project_id="123")
    call = MIXPANEL.call(IMPORT, [b'{"a":1}', b'{"b":2}'], account, US)
    assert call.url == "https://api.mixpanel.com/import?strict=1&project_id=123"
    assert call.headers == {"Content-Type": "application/json", "Authorization": basic("sa.user", SECRET)}
    assert call.body == b'[{"a":1},{"b":2}]'
    assert MIXPANEL.call(IMPORT, [b"{}"], settings(api_secret=SECRET), US).headers["Authorization"] == basic(SECRET, "")
    assert MIXPANEL.call(IMPORT, [b"{}"], settings(), US).headers["Authorization"] == basic(TOKEN, "")


def test_profile_updates_carry_the_token_in_the_body_not_in_a_header():
    call = MIXPANEL.call(ENGAGE, [b'{"$token":"t"}'], settings(api_secret=SECRET), US)
    assert call.headers == {"Content-Type": "application/json"}
    assert call.body == b'[{"$token":"t"}]'


def test_a_service_account_needs_its_secret_and_project_id():
    with pytest.raises(ValidationError, match="neither"):
        settings(service_account_username="sa.user", project_id="123")
    with pytest.raises(ValidationError, match="project_id"):
        settings(service_account_username="sa.user", service_account_secret=SECRET)
    configured = settings(service_account_username="sa.user", service_account_secret=SECRET, project_id="123")
    assert configured.credentials() == {
        "project_token": TOKEN,
        "service_account_username": "sa.user",
        "service_account_secret": SECRET,
    }
    assert configured.public_settings()["project_id"] == "123"


def test_limits_per_channel():
    assert MIXPANEL.limits(IMPORT, settings()) == Limits(2000, 2_000_000, overhead_bytes=2)
    assert MIXPANEL.limits(ENGAGE, settings()) == Limits(2000, 2_000_000, overhead_bytes=2)
    assert MIXPANEL.limits(GROUPS, settings()) == Limits(200, 2_000_000, overhead_bytes=2)


# -- answers ---------------------------------------------------------------------------------------


def import_call() -> HttpCall:
    return MIXPANEL.call(IMPORT, [b"{}"], settings(), US)


def answer(status: int, body: Any = b"", headers: Mapping[str, str] | None = None) -> Answer:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Answer(status, headers or {}, raw, True)


def test_success_delivers_every_event():
    body = {"code": 200, "num_records_imported": 2, "status": "OK"}
    assert MIXPANEL.interpret(import_call(), answer(200, body), 2, NOW) == [Verdict(DELIVERED, "200")] * 2


def test_a_strict_400_refuses_the_failed_records_and_delivers_the_rest():
    body = {
        "code": 400,
        "error": "some data points in the request failed validation",
        "failed_records": [{"index": 1, "$insert_id": "x", "field": "properties.time", "message": "invalid"}],
        "num_records_imported": 2,
        "status": "Bad Request",
    }
    assert MIXPANEL.interpret(import_call(), answer(400, body), 3, NOW) == [
        Verdict(DELIVERED, "400.imported"),
        Verdict(FINAL, "400.invalid_record"),
        Verdict(DELIVERED, "400.imported"),
    ]


def test_records_a_strict_400_neither_failed_nor_counted_are_sent_again():
    body = {"code": 400, "failed_records": [{"index": 0}], "num_records_imported": 1}
    assert MIXPANEL.interpret(import_call(), answer(400, body), 3, NOW) == [
        Verdict(FINAL, "400.invalid_record"),
        Verdict(RETRY, "400.unconfirmed"),
        Verdict(RETRY, "400.unconfirmed"),
    ]


def test_a_400_without_failed_records_is_final_for_all():
    assert (
        MIXPANEL.interpret(import_call(), answer(400, {"error": "invalid json"}), 2, NOW) == [Verdict(FINAL, "400")] * 2
    )


def test_a_429_waits_retry_after_else_at_least_two_seconds():
    limited = answer(429, {"code": 429}, {"Retry-After": "9"})
    assert MIXPANEL.interpret(import_call(), limited, 2, NOW) == [Verdict(RETRY, "429", 9.0)] * 2
    assert MIXPANEL.interpret(import_call(), answer(429, {"code": 429}), 1, NOW) == [Verdict(RETRY, "429", 2.0)]


def test_server_errors_retry_and_bad_credentials_are_final():
    assert MIXPANEL.interpret(import_call(), answer(502), 2, NOW) == [Verdict(RETRY, "502")] * 2
    assert MIXPANEL.interpret(import_call(), answer(503, b"", {"Retry-After": "4"}), 1, NOW) == [
        Verdict(RETRY, "503", 4.0)
    ]
    assert (
        MIXPANEL.interpret(import_call(), answer(401, {"error": "Invalid credentials"}), 2, NOW)
        == [Verdict(FINAL, "401")] * 2
    )
    assert MIXPANEL.interpret(import_call(), answer(403), 1, NOW) == [Verdict(FINAL, "403")]


def test_a_413_regroups_the_events_and_is_final_for_a_lone_one():
    assert (
        MIXPANEL.interpret(import_call(), answer(413), 3, NOW) == [Verdict(RETRY, "413.split", again=Again.SPLIT)] * 3
    )
    assert MIXPANEL.interpret(import_call(), answer(413), 1, NOW) == [Verdict(FINAL, "413")]


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        ({"status": 1, "error": None}, Verdict(DELIVERED, "200")),
        (b"1", Verdict(DELIVERED, "200")),
        ({"status": 0, "error": "$distinct_id is required"}, Verdict(FINAL, "200.invalid")),
        (b"0", Verdict(FINAL, "200.invalid")),
    ],
)
def test_profile_updates_are_read_from_the_verbose_status(body: Any, verdict: Verdict):
    for channel in (ENGAGE, GROUPS):
        call = MIXPANEL.call(channel, [b"{}"], settings(), US)
        assert MIXPANEL.interpret(call, answer(200, body), 2, NOW) == [verdict] * 2


# -- through the driver ---------------------------------------------------------------------------


def mixpanel_success(url: str) -> Answer:
    """A plain success: the profile APIs (verbose) answer with a status, /import with a code."""
    return Answer(200, {}, b'{"status":1,"error":null}' if "verbose" in url else b'{"code":200}', True)


def mixpanel_http(*answers: Answer) -> ScriptedHttp:
    return ScriptedHttp(*answers, default=mixpanel_success)


SERVICE_ACCOUNT = {
    "project_token": TOKEN,
    "service_account_username": "sa-user.mp-service-account",
    "service_account_secret": SECRET,
}


def send(http: ScriptedHttp, events: list[dict[str, Any]], aws_region: str = "us-east-1", **public: Any) -> list[Any]:
    configured = MixpanelSettings(**SERVICE_ACCOUNT, project_id="123", **public)
    destination = stored_destination("mp", "mixpanel", configured, name="Mixpanel")
    credentials = StaticCredentials(SERVICE_ACCOUNT)
    adapter = ToolAdapter(MIXPANEL, aws_region, http=http, credentials=credentials, clock=lambda: NOW)  # type: ignore[arg-type]
    return adapter.send(destination, events, deadline=1e12)


def test_a_partial_import_settles_each_event_and_no_sample_shows_a_credential():
    failure = {"index": 1, "$insert_id": "m1", "field": "properties.time", "message": "too old"}
    body = {"code": 400, "failed_records": [failure], "num_records_imported": 2, "error": f"project {TOKEN}"}
    http = mixpanel_http(answer(400, body))
    events = [track(messageId=f"m{i}") for i in range(3)]
    attempts = send(http, events)
    assert [(a.status, a.code) for a in attempts] == [
        (DELIVERED, "400.imported"),
        (FINAL, "400.invalid_record"),
        (DELIVERED, "400.imported"),
    ]
    [(url, body_sent, headers)] = http.sent
    assert url == "https://api.mixpanel.com/import?strict=1&project_id=123"
    assert headers["Authorization"] == basic("sa-user.mp-service-account", SECRET)
    assert [event["properties"]["$insert_id"] for event in orjson.loads(body_sent)] == ["m0", "m1", "m2"]
    for attempt in attempts:
        shown = orjson.dumps([attempt.request, attempt.response]).decode()
        for credential in SERVICE_ACCOUNT.values():
            assert credential not in shown
        assert attempt.request["headers"]["Authorization"] == "<redacted>"
        assert "<redacted>" in attempt.response["body"]


def test_each_channel_gets_its_own_request_the_eu_host_and_profile_tokens_stay_hidden():
    http = mixpanel_http()
    events = [
        track(messageId="t1"),
        {"type": "identify", "userId": "user-12345", "traits": {"email": "ada@example.com"}, "messageId": "i1"},
        {"type": "group", "userId": "user-12345", "groupId": "g", "traits": {"company_id": "c-42"}, "messageId": "g1"},
    ]
    attempts = send(http, events, aws_region="eu-west-1", group_identifier_traits=("company_id",))
    assert [a.status for a in attempts] == [DELIVERED] * 3
    assert [url for url, _, _ in http.sent] == [
        "https://api-eu.mixpanel.com/import?strict=1&project_id=123",
        "https://api-eu.mixpanel.com/engage?verbose=1",
        "https://api-eu.mixpanel.com/groups?verbose=1",
    ]
    profiles = orjson.loads(http.sent[1][1])
    assert [profile["$token"] for profile in profiles] == [TOKEN, TOKEN]
    assert TOKEN not in orjson.dumps([attempts[1].request, attempts[2].request]).decode()


def test_requests_hold_at_most_2000_events_and_200_group_updates():
    http = mixpanel_http()
    events = [track(messageId=f"m{i}", properties={}) for i in range(2001)]
    groups = [{"type": "group", "groupId": "g", "traits": {"company_id": f"c{i}"}} for i in range(201)]
    attempts = send(http, events + groups, group_identifier_traits=("company_id",))
    assert [(url.split("?")[0].rsplit("/", 1)[1], len(orjson.loads(body))) for url, body, _ in http.sent] == [
        ("import", 2000),
        ("import", 1),
        ("groups", 200),
        ("groups", 1),
    ]
    assert {a.status for a in attempts} == {DELIVERED}


def test_requests_stay_under_two_megabytes():
    http = mixpanel_http()
    events = [track(messageId=f"m{i}", properties={"blob": "x" * 600_000}) for i in range(4)]
    send(http, events)
    assert [len(orjson.loads(body)) for _, body, _ in http.sent] == [3, 1]
    assert max(len(body) for _, body, _ in http.sent) <= 2_000_000
