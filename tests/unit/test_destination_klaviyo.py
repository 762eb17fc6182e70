"""`type: klaviyo`: settings, the profile upsert of identify and the event of track, one request
per item with Klaviyo's headers, answers, and delivery through the driver."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from switchyard.config.compiled import Destination
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.base import CallContext, HttpCall, Unsupported
from switchyard.destinations.driver import ITEM_TOO_LARGE, ToolAdapter
from switchyard.destinations.klaviyo import CURRENT_REVISION, KLAVIYO, KlaviyoSettings
from tests.support.destinations import ScriptedHttp, StaticCredentials, stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
UNSUPPORTED = AttemptStatus.UNSUPPORTED
API_KEY = "pk_5c0f1e2d3a4b5c6d7e8f9a0b1c2d3e4f5a"
TIMESTAMP = "2026-11-30T09:25:21.123Z"
NOW = 1_796_031_000.0
EVENTS_URL = "https://a.klaviyo.com/api/events"
PROFILES_URL = "https://a.klaviyo.com/api/profile-import"


def settings(**overrides: Any) -> KlaviyoSettings:
    return KlaviyoSettings(private_api_key=API_KEY, **overrides)


def message(kind: str, number: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "userId": "u1",
        "anonymousId": "a1",
        "messageId": f"m{number}",
        "timestamp": TIMESTAMP,
        **fields,
    }


def mapped(event: dict[str, Any], **overrides: Any) -> list[tuple[str, dict[str, Any], tuple[str, ...]]]:
    result = KLAVIYO.map(event, settings(**overrides))
    assert isinstance(result, list), result
    return [(item.channel, item.payload, item.omitted) for item in result]


def attributes_of(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    [(_, payload, _)] = mapped(event, **overrides)
    return payload["data"]["attributes"]


def profile(**attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": attributes}}


def metric(name: str) -> dict[str, Any]:
    return {"data": {"type": "metric", "attributes": {"name": name}}}


# Settings.


def test_the_private_key_is_a_credential_and_the_revision_has_a_current_default():
    configured = settings()
    assert KlaviyoSettings.SECRET_FIELDS == ("private_api_key",)
    assert configured.credentials() == {"private_api_key": API_KEY}
    assert API_KEY not in orjson.dumps(configured.public_settings()).decode()
    assert (configured.revision, configured.ordered_product_metric) == (CURRENT_REVISION, "Ordered Product")
    assert CURRENT_REVISION == "2026-10-15"


def test_the_key_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KLAVIYO_KEY", API_KEY)
    assert KlaviyoSettings.model_validate({"private_api_key": {"env": "KLAVIYO_KEY"}}).private_api_key == API_KEY


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"private_api_key": "AbC123"}, "private_api_key"),  # a public key (site id) cannot write
        ({"private_api_key": "pk_short"}, "private_api_key"),
        ({"revision": "2026-10"}, "revision"),
        ({"revision": "latest"}, "revision"),
        ({"ordered_product_metric": ""}, "ordered_product_metric"),
        ({"endpoint": "a.klaviyo.com"}, "endpoint"),
        ({"region": "eu"}, "region"),
    ],
)
def test_settings_klaviyo_cannot_use_are_refused(overrides: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        KlaviyoSettings.model_validate({"private_api_key": API_KEY, **overrides})


def test_a_missing_key_is_refused():
    with pytest.raises(ValidationError, match="private_api_key"):
        KlaviyoSettings.model_validate({})


def test_a_pre_release_revision_is_accepted():
    assert settings(revision="2026-10-15.pre").revision == "2026-10-15.pre"


# identify: a profile upsert.


def test_identify_upserts_the_profile_with_its_standard_attributes_and_the_rest_as_properties():
    traits = {
        "email": "ada@example.com",
        "phone": "+44 20 7946 0958",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "title": "Analyst",
        "company": {"name": "Engines Ltd", "id": "c-9"},
        "avatar": "https://example.com/ada.png",
        "address": {"street": "12 St James's Sq", "city": "London", "state": "LND", "postal_code": "SW1Y 4LB"},
        "plan": "pro",
        "logins": 3,
        "nickname": None,
    }
    assert mapped(message("identify", traits=traits)) == [
        (
            "profiles",
            profile(
                external_id="u1",
                phone_number="+442079460958",
                email="ada@example.com",
                first_name="Ada",
                last_name="Lovelace",
                title="Analyst",
                image="https://example.com/ada.png",
                organization="Engines Ltd",
                location={"address1": "12 St James's Sq", "city": "London", "region": "LND", "zip": "SW1Y 4LB"},
                properties={"plan": "pro", "logins": 3, "company": {"name": "Engines Ltd", "id": "c-9"}},
            ),
            (),
        )
    ]


def test_a_company_name_is_the_organization_unless_one_is_given():
    assert attributes_of(message("identify", traits={"company": "Acme"})) == {
        "external_id": "u1",
        "organization": "Acme",
    }
    both = attributes_of(message("identify", traits={"company": "Acme", "organization": "Acme EMEA"}))
    assert both == {"external_id": "u1", "organization": "Acme EMEA"}


def test_an_anonymous_identify_needs_an_email_or_a_phone_number():
    assert attributes_of(message("identify", userId=None, traits={"email": "x@example.com"})) == {
        "email": "x@example.com"
    }
    assert KLAVIYO.map(message("identify", userId=None, traits={"plan": "pro"}), settings()) == Unsupported(
        "no_profile_identifier"
    )


def test_a_phone_number_klaviyo_would_refuse_is_left_out_and_counted():
    [(channel, payload, omitted)] = mapped(message("identify", traits={"phone": "020 7946 0958"}))
    assert payload["data"]["attributes"] == {"external_id": "u1"}
    assert omitted == ("phone_number_not_e164",)
    [(_, payload, omitted)] = mapped(message("identify", traits={"phone": "+1 (415) 555-0100"}))
    assert payload["data"]["attributes"]["phone_number"] == "+14155550100"
    assert omitted == ()


# track: an event.


def test_track_is_an_event_of_the_metric_named_after_it_deduplicated_by_the_message_id():
    context = {"traits": {"email": "ada@example.com", "phone": "+14155550100"}, "ip": "203.0.113.9"}
    event = message("track", event="Report Exported", properties={"format": "csv"}, context=context)
    assert mapped(event) == [
        (
            "events",
            {
                "data": {
                    "type": "event",
                    "attributes": {
                        "properties": {"format": "csv"},
                        "time": TIMESTAMP,
                        "unique_id": "m1",
                        "metric": metric("Report Exported"),
                        "profile": profile(
                            external_id="u1",
                            anonymous_id="a1",
                            email="ada@example.com",
                            phone_number="+14155550100",
                        ),
                    },
                }
            },
            (),
        )
    ]


def test_an_anonymous_event_is_attributed_by_its_anonymous_id_and_a_property_email():
    event = message("track", userId=None, event="Viewed Pricing", properties={"email": "b@example.com"})
    assert attributes_of(event)["profile"] == profile(anonymous_id="a1", email="b@example.com")


def test_order_completed_carries_its_value_and_an_event_per_product():
    products = [
        {"product_id": "p1", "name": "Shoe", "price": 40, "quantity": 1},
        {"product_id": "p2", "name": "Sock", "price": 5.5, "quantity": 2},
        "not a product",
    ]
    properties = {"order_id": "o-1", "revenue": 51, "total": 56.5, "currency": "eur", "products": products}
    items = mapped(message("track", event="Order Completed", properties=properties))
    assert [channel for channel, _, _ in items] == ["events"] * 3
    order, first, second = (payload["data"]["attributes"] for _, payload, _ in items)
    assert (order["value"], order["value_currency"], order["metric"]) == (51, "EUR", metric("Order Completed"))
    assert order["properties"] == properties
    assert first == {
        "properties": {"order_id": "o-1", "revenue": 51, "total": 56.5, "currency": "eur", **products[0]},
        "time": TIMESTAMP,
        "unique_id": "m1:0",
        "metric": metric("Ordered Product"),
        "profile": profile(external_id="u1", anonymous_id="a1"),
        "value": 40,
        "value_currency": "EUR",
    }
    assert (second["unique_id"], second["value"], second["properties"]["name"]) == ("m1:1", 5.5, "Sock")


def test_an_order_without_revenue_takes_its_total_and_product_events_can_be_turned_off():
    event = message("track", event="Order Completed", properties={"total": 20, "products": [{"price": 20}]})
    [(_, payload, _)] = mapped(event, ordered_product_metric=None)
    assert payload["data"]["attributes"]["value"] == 20
    assert "value_currency" not in payload["data"]["attributes"]
    renamed = mapped(event, ordered_product_metric="Placed Order Line")
    assert renamed[1][1]["data"]["attributes"]["metric"] == metric("Placed Order Line")


def test_another_event_carries_a_value_only_for_a_numeric_revenue():
    assert attributes_of(message("track", event="Upgraded", properties={"revenue": 9.0}))["value"] == 9.0
    assert "value" not in attributes_of(message("track", event="Upgraded", properties={"revenue": "9"}))
    assert "value" not in attributes_of(message("track", event="Rated", properties={"value": 5}))


def test_the_time_is_the_timestamp_else_when_it_was_received_else_klaviyos():
    received = message("track", event="E", timestamp=None, receivedAt="2026-11-30T09:25:22.000Z")
    assert attributes_of(received)["time"] == "2026-11-30T09:25:22.000Z"
    assert "time" not in attributes_of(message("track", event="E", timestamp=None))


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (message("track"), "no_event_name"),
        (message("track", event=""), "no_event_name"),
        (message("track", event="E" * 128), "event_name_too_long"),
        (message("track", event="E", properties={f"p{n}": n for n in range(401)}), "too_many_properties"),
        (message("track", event="E", userId=None, anonymousId=None), "no_profile_identifier"),
        (message("identify", userId=None), "no_profile_identifier"),
        (message("page", name="Home"), "no_page_api"),
        (message("screen", name="Home"), "no_screen_api"),
        (message("group", groupId="g1"), "no_group_api"),
        (message("alias", previousId="a0"), "no_alias_api"),
        (message("batch"), "unknown_type"),
    ],
)
def test_what_klaviyo_cannot_take_is_unsupported(event: dict[str, Any], reason: str):
    assert KLAVIYO.map(event, settings()) == Unsupported(reason)


def test_a_metric_name_of_127_characters_goes():
    assert attributes_of(message("track", event="E" * 127))["metric"] == metric("E" * 127)


def test_mapping_is_pure():
    event = message("track", event="Order Completed", properties={"revenue": 3, "products": [{"price": 3}]})
    before = orjson.dumps(event)
    assert KLAVIYO.map(event, settings()) == KLAVIYO.map(event, settings())
    assert orjson.dumps(event) == before


# Requests.


def test_each_item_is_its_own_request_with_klaviyos_headers():
    call = KLAVIYO.call("events", [b'{"data":{}}'], settings(), CallContext("us-east-1", NOW))
    assert isinstance(call, HttpCall)
    assert (call.method, call.url, call.body) == ("POST", EVENTS_URL, b'{"data":{}}')
    assert call.headers == {
        "Authorization": "Klaviyo-API-Key " + API_KEY,
        "revision": CURRENT_REVISION,
        "Accept": "application/vnd.api+json",
        "Content-Type": "application/vnd.api+json",
    }
    profiles = KLAVIYO.call("profiles", [b"{}"], settings(revision="2025-07-15"), CallContext("us-east-1", NOW))
    assert (profiles.url, profiles.headers["revision"]) == (PROFILES_URL, "2025-07-15")


def test_an_endpoint_replaces_the_host():
    call = KLAVIYO.call("events", [b"{}"], settings(endpoint="http://127.0.0.1:9/"), CallContext("eu-west-1", NOW))
    assert call.url == "http://127.0.0.1:9/api/events"


def test_klaviyo_has_no_eu_host_and_apply_says_so_in_an_eu_region():
    assert KLAVIYO.base_url(settings(), "eu-west-1") == "https://a.klaviyo.com"
    assert KLAVIYO.residency_warning(settings(), "eu-west-1") == "sends to a.klaviyo.com: Klaviyo has no EU host"
    assert KLAVIYO.residency_warning(settings(), "us-east-1") is None
    assert KLAVIYO.residency_warning(settings(endpoint="https://proxy.example.com"), "eu-west-1") is None


def test_limits_are_one_item_within_the_body_limits():
    for channel, largest in (("events", 5_000_000), ("profiles", 100_000)):
        limits = KLAVIYO.limits(channel, settings())
        assert limits.max_items == 1
        assert limits.overhead_bytes + largest + 1 == limits.max_bytes  # the driver counts a separator


# Answers.


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, headers or {}, body, True)


def error_body(code: str) -> bytes:
    return orjson.dumps({"errors": [{"id": "e1", "status": 400, "code": code, "title": "T", "detail": "D"}]})


@pytest.mark.parametrize(
    ("given", "verdict"),
    [
        (answer(202), (DELIVERED, "202", None)),
        (answer(200), (DELIVERED, "200", None)),
        (answer(201), (DELIVERED, "201", None)),
        (answer(400, error_body("invalid")), (FINAL, "400.invalid", None)),
        (answer(401, error_body("not_authenticated")), (FINAL, "401.not_authenticated", None)),
        (answer(403, error_body("permission_denied")), (FINAL, "403.permission_denied", None)),
        (answer(400, b"<html>bad request</html>"), (FINAL, "400", None)),
        (answer(400, error_body("Not A Code!")), (FINAL, "400", None)),
        (answer(413, b'{"errors": []}'), (FINAL, "413", None)),
        (answer(429, error_body("throttled"), {"Retry-After": "7"}), (RETRY, "429", 7.0)),
        (answer(408), (RETRY, "408", None)),
        (answer(500), (RETRY, "500", None)),
        (answer(503, b"", {"Retry-After": "2"}), (RETRY, "503", 2.0)),
    ],
)
def test_answers_are_read_by_status_and_klaviyos_error_code(given: Answer, verdict: tuple[Any, ...]):
    call = KLAVIYO.call("events", [b"{}"], settings(), CallContext("us-east-1", NOW))
    [read] = KLAVIYO.interpret(call, given, 1, NOW)
    assert (read.status, read.code, read.retry_after) == verdict


# Through the driver.


def destination(**overrides: Any) -> Destination:
    return stored_destination("klaviyo-prod", "klaviyo", settings(**overrides), name="Klaviyo")


def adapter(http: ScriptedHttp, aws_region: str = "us-east-1") -> ToolAdapter:
    return ToolAdapter(
        KLAVIYO,
        aws_region,
        http=http,  # type: ignore[arg-type]
        credentials=StaticCredentials({"private_api_key": API_KEY}),
        clock=lambda: NOW,
        monotonic=lambda: 0.0,
    )


def echo(status: int) -> Answer:
    """An answer that quotes the key, to prove samples of answers mask it too."""
    return Answer(status, {}, b'{"errors":[{"code":"invalid","detail":"key ' + API_KEY.encode() + b'"}]}', True)


def test_delivery_gives_each_event_its_outcome_and_never_shows_the_key():
    # Requests go channel by channel, in the order channels first appear: events 1 and 3, then
    # profiles 2 and 5.
    http = ScriptedHttp(
        Answer(202, {}, b"", True),
        echo(400),
        Answer(201, {}, b'{"data":{"type":"profile","id":"01H"}}', True),
        Answer(429, {"Retry-After": "30"}, b'{"errors":[{"code":"throttled"}]}', True),
    )
    events = [
        message("track", 1, event="Signed Up"),
        message("identify", 2, traits={"email": "ada@example.com"}),
        message("track", 3, event="Refused"),
        message("page", 4),
        message("identify", 5, traits={"plan": "pro"}),
    ]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert [(a.status, a.code, a.retry_after) for a in attempts] == [
        (DELIVERED, "202", None),
        (DELIVERED, "201", None),
        (FINAL, "400.invalid", None),
        (UNSUPPORTED, "unsupported.no_page_api", None),
        (RETRY, "429", 30.0),
    ]
    assert [url for url, _, _ in http.sent] == [EVENTS_URL, EVENTS_URL, PROFILES_URL, PROFILES_URL]
    assert [orjson.loads(body)["data"]["type"] for _, body, _ in http.sent] == ["event", "event", "profile", "profile"]
    assert all(sent_headers["Authorization"] == "Klaviyo-API-Key " + API_KEY for _, _, sent_headers in http.sent)
    assert all(sent_headers["Content-Type"] == "application/vnd.api+json" for _, _, sent_headers in http.sent)
    shown = orjson.dumps([[a.request, a.response] for a in attempts]).decode()
    assert API_KEY not in shown
    assert attempts[2].request["headers"]["Authorization"] == "<redacted>"
    assert "<redacted>" in attempts[2].response["body"]


def test_an_order_is_delivered_only_when_each_of_its_events_is():
    http = ScriptedHttp(Answer(202, {}, b"", True), Answer(503, {}, b"", True), Answer(202, {}, b"", True))
    order = message("track", event="Order Completed", properties={"revenue": 9, "products": [{"price": 4}, {}]})
    [attempt] = adapter(http).send(destination(), [order], deadline=100)
    assert (attempt.status, attempt.code) == (RETRY, "503")
    # The order's last product waits for the retry, which sends all three again: Klaviyo keeps the
    # first event of each unique_id, so the accepted ones are not counted twice.
    assert [orjson.loads(body)["data"]["attributes"]["unique_id"] for _, body, _ in http.sent] == ["m1", "m1:0"]


def test_a_body_over_klaviyos_limit_is_final_without_a_request():
    http = ScriptedHttp()
    events = [message("identify", 1, traits={"email": "a@example.com", "bio": "x" * 100_000})]
    [attempt] = adapter(http).send(destination(), events, deadline=100)
    assert (attempt.status, attempt.code) == (FINAL, ITEM_TOO_LARGE)
    assert http.sent == []


def test_a_left_out_phone_number_is_counted_on_the_delivered_event():
    http = ScriptedHttp(Answer(200, {}, b"{}", True))
    [attempt] = adapter(http).send(destination(), [message("identify", traits={"phone": "555-0100"})], deadline=100)
    assert (attempt.status, attempt.omitted) == (DELIVERED, ("phone_number_not_e164",))
