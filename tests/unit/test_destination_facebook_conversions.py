"""`type: facebook_conversions`: settings, Segment's names as Meta's standard events, user data
normalized and hashed as Meta documents it (never sent in clear), event times and Meta's 7-day
limit, the request, Meta's answers (a refused batch halved until the event at fault is alone,
throttling codes under a 400), and delivery through the driver."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from switchyard.config.compiled import Destination
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.base import CallContext, NoCall, Unsupported
from switchyard.destinations.driver import ToolAdapter
from switchyard.destinations.facebook_conversions import (
    CURRENT_API_VERSION,
    FACEBOOK_CONVERSIONS,
    ConversionsCall,
    FacebookConversionsSettings,
)
from tests.support.destinations import ScriptedHttp, StaticCredentials, stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
UNSUPPORTED = AttemptStatus.UNSUPPORTED
TOKEN = "EAAGm0PX4ZCpsBAFakeConversionsToken0123456789"
PIXEL_ID = "1234567890123456"
WHEN = datetime(2026, 11, 30, 9, 25, 21, 123000, tzinfo=UTC)
TIMESTAMP = "2026-11-30T09:25:21.123Z"
EVENT_TIME = int(datetime(2026, 11, 30, 9, 25, 21, tzinfo=UTC).timestamp())
NOW = EVENT_TIME + 60.0
URL = f"https://graph.facebook.com/{CURRENT_API_VERSION}/{PIXEL_ID}/events"
USER_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def settings(**overrides: Any) -> FacebookConversionsSettings:
    return FacebookConversionsSettings(pixel_id=PIXEL_ID, access_token=TOKEN, **overrides)


def message(kind: str, number: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "userId": "u1",
        "anonymousId": "a1",
        "messageId": f"m{number}",
        "timestamp": TIMESTAMP,
        "context": {"ip": "203.0.113.9", "userAgent": USER_AGENT, "page": {"url": "https://shop.example/p/1"}},
        **fields,
    }


def track(event_name: str, number: int = 1, **properties: Any) -> dict[str, Any]:
    return message("track", number, event=event_name, properties=properties)


def track_at(event_name: str, moment: datetime) -> dict[str, Any]:
    return message("track", event=event_name, timestamp=moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"))


def server_event(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    result = FACEBOOK_CONVERSIONS.map(event, settings(**overrides))
    assert isinstance(result, list) and len(result) == 1, result
    assert result[0].channel == "events"
    return result[0].payload


def custom_data(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return server_event(event, **overrides)["custom_data"]


def user_data(traits: dict[str, Any], **fields: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    event = message("track", event="E", **fields)
    event["context"] = {"traits": traits}
    [item] = FACEBOOK_CONVERSIONS.map(event, settings())  # type: ignore[misc]
    return item.payload["user_data"], item.omitted


SENT_USER_DATA = {"external_id": sha256("u1"), "client_ip_address": "203.0.113.9", "client_user_agent": USER_AGENT}


# Settings.


def test_the_access_token_is_a_credential_and_the_defaults_are_current():
    configured = settings()
    assert FacebookConversionsSettings.SECRET_FIELDS == ("access_token",)
    assert configured.credentials() == {"access_token": TOKEN}
    assert TOKEN not in orjson.dumps(configured.public_settings()).decode()
    assert (configured.api_version, configured.action_source, configured.currency) == ("v26.0", "website", "USD")
    assert (configured.test_event_code, configured.event_mapping, configured.custom_events) == (None, {}, True)


def test_the_token_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("META_CAPI_TOKEN", TOKEN)
    loaded = FacebookConversionsSettings.model_validate(
        {"pixel_id": PIXEL_ID, "access_token": {"env": "META_CAPI_TOKEN"}}
    )
    assert loaded.access_token == TOKEN


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"pixel_id": "px-123"}, "pixel_id"),
        ({"access_token": "short"}, "access_token"),
        ({"api_version": "26.0"}, "api_version"),
        ({"api_version": "v26"}, "api_version"),
        ({"action_source": "web"}, "action_source"),
        ({"test_event_code": "TEST 123"}, "test_event_code"),
        ({"event_mapping": {"Lead Captured": ""}}, "event_mapping"),
        ({"event_mapping": {"Lead Captured": "L" * 51}}, "event_mapping"),
        ({"currency": "usd"}, "currency"),
        ({"region": "eu"}, "region"),
    ],
)
def test_settings_meta_cannot_use_are_refused(overrides: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        FacebookConversionsSettings.model_validate({"pixel_id": PIXEL_ID, "access_token": TOKEN, **overrides})


@pytest.mark.parametrize("missing", ["pixel_id", "access_token"])
def test_the_pixel_and_the_token_are_required(missing: str):
    given = {"pixel_id": PIXEL_ID, "access_token": TOKEN}
    del given[missing]
    with pytest.raises(ValidationError, match=missing):
        FacebookConversionsSettings.model_validate(given)


# The calls.


def test_a_page_is_a_page_view_of_its_url():
    event = message("page", name="Pricing", properties={"url": "https://shop.example/pricing", "title": "Pricing"})
    assert server_event(event) == {
        "event_time": EVENT_TIME,
        "event_name": "PageView",
        "event_id": "m1",
        "action_source": "website",
        "event_source_url": "https://shop.example/pricing",
        "user_data": SENT_USER_DATA,
    }
    without_url = message("page")
    assert server_event(without_url)["event_source_url"] == "https://shop.example/p/1"


def test_order_completed_is_a_purchase_with_its_value_and_contents():
    products = [
        {"product_id": "sku-1", "name": "Shoe", "price": 40, "quantity": 2},
        {"sku": "sku-2", "price": "9.5"},
        {"name": "no id"},
    ]
    event = track("Order Completed", order_id="o-1", revenue=89.5, total=95, currency="eur", products=products)
    assert server_event(event) == {
        "event_time": EVENT_TIME,
        "event_name": "Purchase",
        "event_id": "m1",
        "action_source": "website",
        "event_source_url": "https://shop.example/p/1",
        "user_data": SENT_USER_DATA,
        "custom_data": {
            "content_ids": ["sku-1", "sku-2"],
            "contents": [
                {"id": "sku-1", "quantity": 2, "item_price": 40},
                {"id": "sku-2", "quantity": 1, "item_price": 9.5},
            ],
            "content_type": "product",
            "num_items": 4,
            "order_id": "o-1",
            "value": 89.5,
            "currency": "EUR",
        },
    }


def test_a_purchase_takes_its_total_else_its_value_and_the_default_currency():
    assert custom_data(track("Order Completed", total=12)) == {"value": 12, "currency": "USD"}
    assert custom_data(track("Order Completed", value="7.25"), currency="GBP") == {"value": 7.25, "currency": "GBP"}


def test_a_purchase_without_a_value_is_not_sent():
    assert FACEBOOK_CONVERSIONS.map(track("Order Completed", order_id="o-1"), settings()) == Unsupported(
        "purchase_without_value"
    )


@pytest.mark.parametrize(
    ("segment_name", "meta_name"),
    [("Product Viewed", "ViewContent"), ("Product Added", "AddToCart"), ("Product Added to Wishlist", "AddToWishlist")],
)
def test_a_product_event_describes_its_product(segment_name: str, meta_name: str):
    event = track(segment_name, product_id="sku-1", name="Shoe", category="Footwear", price=40, quantity=2, brand="N")
    payload = server_event(event)
    assert payload["event_name"] == meta_name
    assert payload["custom_data"] == {
        "content_ids": ["sku-1"],
        "contents": [{"id": "sku-1", "quantity": 2, "item_price": 40}],
        "content_type": "product",
        "content_name": "Shoe",
        "content_category": "Footwear",
        "value": 40,
        "currency": "USD",
    }


def test_a_product_value_wins_over_its_price_and_a_product_without_id_has_no_contents():
    assert custom_data(track("Product Added", sku=7, price=10, value=20, currency="EUR"))["value"] == 20
    assert custom_data(track("Product Viewed", name="Gift card")) == {"content_name": "Gift card"}


@pytest.mark.parametrize(
    ("segment_name", "meta_name"),
    [("Checkout Started", "InitiateCheckout"), ("Payment Info Entered", "AddPaymentInfo")],
)
def test_checkout_events_carry_the_cart(segment_name: str, meta_name: str):
    payload = server_event(track(segment_name, revenue=50, currency="usd", products=[{"product_id": "p", "price": 50}]))
    assert payload["event_name"] == meta_name
    assert payload["custom_data"] == {
        "content_ids": ["p"],
        "contents": [{"id": "p", "quantity": 1, "item_price": 50}],
        "content_type": "product",
        "num_items": 1,
        "value": 50,
        "currency": "USD",
    }


def test_a_search_carries_its_query_and_a_sign_up_is_a_complete_registration():
    assert custom_data(track("Products Searched", query="trail shoes", filters=["blue"])) == {
        "search_string": "trail shoes"
    }
    assert server_event(track("Signed Up", method="google"))["event_name"] == "CompleteRegistration"
    assert custom_data(track("Signed Up", method="google")) == {"method": "google"}


def test_another_event_is_a_custom_event_with_its_properties_but_no_user_data_in_clear():
    event = track(
        "Plan Upgraded", plan="pro", seats=3, email="ada@example.com", phone="+1 650 555 1212", fbp="fb.1.1.2"
    )
    payload = server_event(event)
    assert payload["event_name"] == "Plan Upgraded"
    assert payload["custom_data"] == {"plan": "pro", "seats": 3}
    assert payload["user_data"]["em"] == sha256("ada@example.com")
    assert payload["user_data"]["ph"] == sha256("16505551212")
    assert payload["user_data"]["fbp"] == "fb.1.1.2"


def test_a_track_named_like_a_standard_event_is_that_event():
    assert server_event(track("Lead", source="form"))["event_name"] == "Lead"


def test_the_settings_map_more_names_and_override_the_standard_ones():
    mapping = {"Newsletter Subscribed": "Lead", "Order Completed": "Subscribe"}
    assert server_event(track("Newsletter Subscribed", list="weekly"), event_mapping=mapping)["event_name"] == "Lead"
    order = server_event(track("Order Completed", revenue=10), event_mapping=mapping)
    assert (order["event_name"], order["custom_data"]) == ("Subscribe", {"revenue": 10})
    mapped_to_purchase = server_event(track("Renewed", revenue=10), event_mapping={"Renewed": "Purchase"})
    assert mapped_to_purchase["custom_data"] == {"value": 10, "currency": "USD"}


def test_custom_events_can_be_turned_off():
    assert FACEBOOK_CONVERSIONS.map(track("Plan Upgraded"), settings(custom_events=False)) == Unsupported(
        "not_a_mapped_event"
    )
    assert server_event(track("Product Viewed"), custom_events=False)["event_name"] == "ViewContent"


def test_action_source_and_limited_data_use_come_from_the_settings():
    payload = server_event(track("E"), action_source="physical_store", limited_data_use=True)
    assert payload["action_source"] == "physical_store"
    assert (
        payload["data_processing_options"],
        payload["data_processing_options_country"],
        payload["data_processing_options_state"],
    ) == (["LDU"], 0, 0)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (message("track"), "no_event_name"),
        (message("track", event=""), "no_event_name"),
        (track("E" * 51), "event_name_too_long"),
        (message("track", event="E", timestamp=None), "no_timestamp"),
        ({"type": "track", "event": "E", "timestamp": TIMESTAMP}, "no_user_data"),
        (message("identify", traits={"email": "a@example.com"}), "no_profile_api"),
        (message("screen", name="Home"), "screen_needs_app_events"),
        (message("group", groupId="g1"), "no_group_api"),
        (message("alias", previousId="a0"), "no_alias_api"),
        (message("batch"), "unknown_type"),
    ],
)
def test_what_meta_cannot_take_is_unsupported(event: dict[str, Any], reason: str):
    assert FACEBOOK_CONVERSIONS.map(event, settings()) == Unsupported(reason)


def test_a_custom_event_name_of_50_characters_goes():
    assert server_event(track("E" * 50))["event_name"] == "E" * 50


def test_mapping_is_pure():
    event = track("Order Completed", revenue=3, email="a@example.com", products=[{"product_id": "p"}])
    event["context"]["traits"] = {"firstName": "Ada", "address": {"city": "London"}}
    before = orjson.dumps(event)
    assert FACEBOOK_CONVERSIONS.map(event, settings()) == FACEBOOK_CONVERSIONS.map(event, settings())
    assert orjson.dumps(event) == before


# user_data: Meta's normalization, then SHA-256.


def test_meta_documented_examples_hash_to_meta_documented_digests():
    """The inputs and SHA-256 outputs of Meta's "Customer Information Parameters" page."""
    sent, _ = user_data({"email": "  John_Smith@gmail.com ", "phone": "+1 (650) 555-1212", "firstName": "Mary"})
    assert sent["em"] == "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    assert sent["ph"] == "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    assert sent["fn"] == "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"
    assert user_data({"firstName": "정"})[0]["fn"] == "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"
    assert user_data({"lastName": "Valéry"})[0]["ln"] == (
        "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"
    )


@pytest.mark.parametrize(
    ("traits", "key", "normalized"),
    [
        ({"phone": "0044 20 7946 0958"}, "ph", "442079460958"),  # "00" international prefix dropped
        ({"phone": 14155550100}, "ph", "14155550100"),
        ({"first_name": "  Mary-Ann  "}, "fn", "maryann"),
        ({"lastName": "O'Brien"}, "ln", "obrien"),
        ({"gender": "Female"}, "ge", "f"),
        ({"gender": "m"}, "ge", "m"),
        ({"gender": " Male"}, "ge", "m"),
        ({"birthday": "1997-02-16T00:00:00.000Z"}, "db", "19970216"),
        ({"birthday": "19970216"}, "db", "19970216"),
        ({"address": {"city": "Menlo Park"}}, "ct", "menlopark"),
        ({"address": {"city": "Zürich"}}, "ct", "zürich"),
        ({"address": {"state": "California"}}, "st", "ca"),
        ({"address": {"state": "TX"}}, "st", "tx"),
        ({"address": {"state": "Île-de-France"}}, "st", "îledefrance"),
        ({"address": {"postal_code": "94025-1234"}}, "zp", "94025"),
        ({"address": {"postalCode": "SW1Y 4LB", "country": "GB"}}, "zp", "sw1y4lb"),
        ({"address": {"zip": "94025", "country": "us"}}, "zp", "94025"),
        ({"address": {"postal_code": "123456789", "country": "de"}}, "zp", "123456789"),
        ({"address": {"country": " US "}}, "country", "us"),
    ],
)
def test_each_value_is_normalized_as_meta_specifies_then_hashed(traits: dict[str, Any], key: str, normalized: str):
    sent, omitted = user_data(traits)
    assert sent[key] == sha256(normalized)
    assert omitted == ()


def test_the_external_id_is_the_user_id_else_the_anonymous_id_trimmed_and_lowercased():
    def external_id(**ids: Any) -> str:
        return server_event(message("track", event="E", **ids))["user_data"]["external_id"]

    assert external_id(userId=" User-42 ") == sha256("user-42")
    assert external_id(userId=None) == sha256("a1")
    assert external_id(userId=42) == sha256("42")


def test_a_value_already_hashed_is_sent_as_it_is():
    digest = sha256("ada@example.com")
    sent, _ = user_data({"email": digest.upper(), "phone": digest})
    assert (sent["em"], sent["ph"]) == (digest, digest)
    assert server_event(message("track", event="E", userId=digest))["user_data"]["external_id"] == digest


@pytest.mark.parametrize(
    ("traits", "reason"),
    [
        ({"email": "not-an-email"}, "email_invalid"),
        ({"phone": "n/a"}, "phone_invalid"),
        ({"gender": "x"}, "gender_not_m_or_f"),
        ({"gender": "mujer"}, "gender_not_m_or_f"),
        ({"birthday": "someday"}, "birthday_not_a_date"),
        ({"birthday": "1997-13-01"}, "birthday_not_a_date"),
        ({"address": {"country": "United States"}}, "country_not_iso_3166_alpha_2"),
    ],
)
def test_a_value_meta_could_not_match_is_left_out_and_counted(traits: dict[str, Any], reason: str):
    sent, omitted = user_data(traits)
    assert set(sent) == {"external_id"}
    assert omitted == (reason,)


def test_cookies_and_client_details_go_as_they_are():
    event = track("E", fbc="fb.1.1554763741205.AbCd", fbp="fb.1.1558571054389.1098115397")
    sent = server_event(event)["user_data"]
    assert (sent["fbc"], sent["fbp"]) == ("fb.1.1554763741205.AbCd", "fb.1.1558571054389.1098115397")
    assert (sent["client_ip_address"], sent["client_user_agent"]) == ("203.0.113.9", USER_AGENT)
    assert "custom_data" not in server_event(event)


PERSON = {
    "email": "Ada.Lovelace@Example.com",
    "phone": "+44 20 7946 0958",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "gender": "female",
    "birthday": "1815-12-10",
    "address": {"city": "London", "state": "Greater London", "postal_code": "W1J 7NT", "country": "GB"},
}
CLEAR_VALUES = [
    "Ada.Lovelace@Example.com",
    "ada.lovelace@example.com",
    "+44 20 7946 0958",
    "442079460958",
    "Lovelace",
    "lovelace",
    "18151210",
    "1815-12-10",
    "London",
    "london",
    "greaterlondon",
    "W1J 7NT",
    "w1j7nt",
    "user-ada",
]


def test_no_user_data_value_appears_in_clear_in_the_request():
    event = track("Order Completed", revenue=10, currency="GBP", email="Ada.Lovelace@Example.com")
    event["userId"] = "user-ada"
    event["context"]["traits"] = PERSON
    http = ScriptedHttp()
    [attempt] = adapter(http).send(destination(), [event], deadline=100)
    assert attempt.status is DELIVERED
    [(_, body, _)] = http.sent
    text = body.decode()
    assert [value for value in CLEAR_VALUES if value in text] == []
    sent = orjson.loads(body)["data"][0]["user_data"]
    assert set(sent) == {
        "em",
        "ph",
        "fn",
        "ln",
        "ge",
        "db",
        "ct",
        "st",
        "zp",
        "country",
        "external_id",
        "client_ip_address",
        "client_user_agent",
    }
    assert all(len(sent[key]) == 64 for key in sent if not key.startswith("client_"))


# Time.


def test_the_event_time_is_the_timestamp_in_unix_seconds_else_when_it_was_received():
    assert server_event(track("E"))["event_time"] == EVENT_TIME
    received = message("track", event="E", timestamp=None, receivedAt="2026-11-30T09:25:22.000Z")
    assert server_event(received)["event_time"] == EVENT_TIME + 1
    offset = message("track", event="E", timestamp="2026-11-30T10:25:21+01:00")
    assert server_event(offset)["event_time"] == EVENT_TIME


def test_event_times_agree_with_the_calendar_across_minutes_and_days():
    """Times are read minute by minute (see `_unix_seconds`): the same answer as a datetime's."""
    rng = random.Random(7)
    start = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    for _ in range(500):
        moment = start + timedelta(seconds=rng.randrange(0, 7200), milliseconds=rng.randrange(0, 1000))
        text = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"
        assert server_event(message("track", event="E", timestamp=text))["event_time"] == int(moment.timestamp())
    whole = message("track", event="E", timestamp="2027-01-01T00:00:59Z")
    assert server_event(whole)["event_time"] == int(datetime(2027, 1, 1, 0, 0, 59, tzinfo=UTC).timestamp())


def serialized(*events: dict[str, Any]) -> list[bytes]:
    return [orjson.dumps(server_event(event)) for event in events]


def test_events_older_than_7_days_are_left_out_of_the_request_and_final():
    old = track_at("Old", WHEN - timedelta(days=8))
    call = FACEBOOK_CONVERSIONS.call("events", serialized(track("New"), old), settings(), CallContext("x", NOW))
    assert isinstance(call, ConversionsCall)
    assert [event["event_name"] for event in orjson.loads(call.body)["data"]] == ["New"]
    verdicts = FACEBOOK_CONVERSIONS.interpret(call, Answer(200, {}, b'{"events_received":1}', True), 2, NOW)
    assert [(v.status, v.code) for v in verdicts] == [(DELIVERED, "200"), (FINAL, "older_than_7_days")]


def test_when_every_event_is_too_old_no_request_is_made():
    old = track_at("Old", WHEN - timedelta(days=7, minutes=1))
    call = FACEBOOK_CONVERSIONS.call("events", serialized(old, old), settings(), CallContext("x", NOW))
    assert isinstance(call, NoCall)
    assert [(v.status, v.code) for v in call.verdicts] == [(FINAL, "older_than_7_days")] * 2


def test_physical_store_events_may_be_62_days_old():
    month_old = track_at("Visit", WHEN - timedelta(days=30))
    store = settings(action_source="physical_store")
    call = FACEBOOK_CONVERSIONS.call("events", serialized(month_old), store, CallContext("x", NOW))
    assert isinstance(call, ConversionsCall) and len(orjson.loads(call.body)["data"]) == 1
    older = track_at("Visit", WHEN - timedelta(days=63))
    none = FACEBOOK_CONVERSIONS.call("events", serialized(older), store, CallContext("x", NOW))
    assert isinstance(none, NoCall) and none.verdicts[0].code == "older_than_62_days"


def test_an_event_dated_after_the_request_is_sent_as_happening_now():
    ahead = track_at("Ahead", WHEN + timedelta(hours=1))
    call = FACEBOOK_CONVERSIONS.call("events", serialized(ahead, track("Now")), settings(), CallContext("x", NOW))
    assert isinstance(call, ConversionsCall)
    assert [event["event_time"] for event in orjson.loads(call.body)["data"]] == [int(NOW), EVENT_TIME]


# The request.


def test_the_request_posts_the_events_with_the_token_first_in_the_body():
    call = FACEBOOK_CONVERSIONS.call("events", serialized(track("A"), track("B")), settings(), CallContext("x", NOW))
    assert isinstance(call, ConversionsCall)
    assert (call.method, call.url, dict(call.headers)) == ("POST", URL, {})
    assert call.body.startswith(b'{"access_token":"' + TOKEN.encode() + b'","data":[')
    body = orjson.loads(call.body)
    assert [event["event_name"] for event in body["data"]] == ["A", "B"]
    tested = FACEBOOK_CONVERSIONS.call(
        "events", serialized(track("A")), settings(test_event_code="TEST4039"), CallContext("x", NOW)
    )
    assert orjson.loads(tested.body)["test_event_code"] == "TEST4039"  # type: ignore[union-attr]


def test_the_url_follows_the_api_version_and_an_endpoint_replaces_the_host():
    configured = settings(api_version="v27.0", endpoint="http://127.0.0.1:9/")
    call = FACEBOOK_CONVERSIONS.call("events", serialized(track("A")), configured, CallContext("eu-west-1", NOW))
    assert call.url == f"http://127.0.0.1:9/v27.0/{PIXEL_ID}/events"  # type: ignore[union-attr]


def test_meta_has_no_eu_host_and_apply_says_so_in_an_eu_region():
    assert FACEBOOK_CONVERSIONS.residency_warning(settings(), "eu-west-1") == (
        "sends to graph.facebook.com: Meta Conversions API has no EU host"
    )
    assert FACEBOOK_CONVERSIONS.residency_warning(settings(), "us-east-1") is None


def test_the_limits_count_the_body_exactly():
    for configured in (settings(), settings(test_event_code="TEST1")):
        payloads = serialized(track("A"), track("B"))
        body = FACEBOOK_CONVERSIONS.call("events", payloads, configured, CallContext("x", NOW)).body  # type: ignore
        limits = FACEBOOK_CONVERSIONS.limits("events", configured)
        assert (limits.max_items, limits.max_bytes) == (1000, 5_000_000)
        assert limits.overhead_bytes + sum(len(p) + 1 for p in payloads) == len(body)


# Answers.


def graph_error(code: int, subcode: int | None = None, *, transient: bool = False) -> bytes:
    error: dict[str, Any] = {"message": "Invalid parameter", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(is_transient=transient, error_user_title="T", error_user_msg="M", fbtrace_id="AbC")
    return orjson.dumps({"error": error})


def verdicts_of(answer: Answer, count: int = 2) -> list[tuple[Any, ...]]:
    payloads = serialized(*(track(f"E{n}", n) for n in range(count)))
    call = FACEBOOK_CONVERSIONS.call("events", payloads, settings(), CallContext("x", NOW))
    return [(v.status, v.code, v.retry_after) for v in FACEBOOK_CONVERSIONS.interpret(call, answer, count, NOW)]


def usage(minutes: int) -> dict[str, str]:
    entry = {"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": minutes}
    return {"X-Business-Use-Case-Usage": orjson.dumps({"1234": [entry]}).decode()}


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        (Answer(200, {}, b'{"events_received":2,"messages":[],"fbtrace_id":"A"}', True), (DELIVERED, "200", None)),
        (Answer(400, {}, graph_error(100, 33), True), (FINAL, "400.100.33", None)),
        (Answer(401, {}, graph_error(190), True), (FINAL, "401.190", None)),
        (Answer(403, {}, graph_error(10), True), (FINAL, "403.10", None)),
        (Answer(400, {}, b"<html>Bad Request</html>", True), (FINAL, "400", None)),
        (Answer(400, usage(5), graph_error(17, 2446079), True), (RETRY, "400.17.2446079", 300.0)),
        (Answer(400, {"Retry-After": "7"}, graph_error(4), True), (RETRY, "400.4", 7.0)),
        (Answer(400, {}, graph_error(613), True), (RETRY, "400.613", None)),
        (Answer(400, usage(0), graph_error(80004), True), (RETRY, "400.80004", None)),
        (Answer(500, {}, graph_error(2, transient=True), True), (RETRY, "500", None)),
        (Answer(400, {}, graph_error(2, transient=True), True), (RETRY, "400.2", None)),
        (Answer(400, {}, graph_error(999, transient=True), True), (RETRY, "400.999", None)),
        (Answer(503, {"Retry-After": "3"}, b"", True), (RETRY, "503", 3.0)),
        (Answer(429, {"Retry-After": "4"}, b"", True), (RETRY, "429", 4.0)),
    ],
)
def test_answers_are_read_by_status_and_graph_error_code(answer: Answer, verdict: tuple[Any, ...]):
    assert verdicts_of(answer) == [verdict] * 2


def test_a_refused_event_s_request_is_halved_and_a_lone_event_is_final():
    refused = Answer(400, {}, graph_error(100, 2804019), True)
    assert [code for _, code, _ in verdicts_of(refused, 2)] == ["400.split"] * 2
    assert verdicts_of(refused, 1) == [(FINAL, "400.100.2804019", None)]


def test_a_request_too_large_is_halved_and_a_lone_event_is_final():
    assert [code for _, code, _ in verdicts_of(Answer(413, {}, b"", True), 2)] == ["413.split"] * 2
    assert verdicts_of(Answer(413, {}, b"", True), 1) == [(FINAL, "413", None)]


# Through the driver.


def destination(**overrides: Any) -> Destination:
    return stored_destination("meta-capi", "facebook_conversions", settings(**overrides), name="Meta")


def adapter(http: ScriptedHttp) -> ToolAdapter:
    return ToolAdapter(
        FACEBOOK_CONVERSIONS,
        "eu-west-1",
        http=http,  # type: ignore[arg-type]
        credentials=StaticCredentials({"access_token": TOKEN}),
        clock=lambda: NOW,
        monotonic=lambda: 0.0,
    )


def refusing(name: str) -> Any:
    """Meta's answer to a request: a 400 for the whole request when it holds the named event."""

    def answer(url: str, body: bytes) -> Answer:
        if b'"event_name":"' + name.encode() + b'"' in body:
            return Answer(400, {}, graph_error(100, 2804019), True)
        return Answer(200, {}, b'{"events_received":1,"messages":[]}', True)

    return answer


class RefusingHttp(ScriptedHttp):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.answer = refusing(name)

    def request(self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], deadline: float) -> Answer:
        self.sent.append((url, body, dict(headers)))
        return self.answer(url, body)


def test_the_event_meta_refuses_is_isolated_and_the_others_are_delivered_once():
    http = RefusingHttp("Bad")
    events = [track(name, n) for n, name in enumerate(("A", "B", "Bad", "C", "D"))]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert [(a.status, a.code) for a in attempts] == [
        (DELIVERED, "200"),
        (DELIVERED, "200"),
        (FINAL, "400.100.2804019"),
        (DELIVERED, "200"),
        (DELIVERED, "200"),
    ]
    accepted = [
        event["event_name"] for _, body, _ in http.sent if b'"Bad"' not in body for event in orjson.loads(body)["data"]
    ]
    assert sorted(accepted) == ["A", "B", "C", "D"], "each accepted event was sent in one accepted request"


def test_delivery_gives_each_event_its_outcome_and_never_shows_the_token():
    http = ScriptedHttp(Answer(200, {}, b'{"events_received":2,"messages":[],"echo":"' + TOKEN.encode() + b'"}', True))
    events = [track("Product Viewed", 1, product_id="p"), message("identify", 2), message("page", 3)]
    attempts = adapter(http).send(destination(test_event_code="TEST99"), events, deadline=100)
    assert [(a.status, a.code) for a in attempts] == [
        (DELIVERED, "200"),
        (UNSUPPORTED, "unsupported.no_profile_api"),
        (DELIVERED, "200"),
    ]
    [(url, body, headers)] = http.sent
    assert url == URL and TOKEN not in url
    assert orjson.loads(body)["access_token"] == TOKEN
    shown = orjson.dumps([[a.request, a.response] for a in attempts]).decode()
    assert TOKEN not in shown
    assert attempts[0].request["body"].startswith('{"access_token":"<redacted>","test_event_code":"TEST99","data":[')
    assert "<redacted>" in attempts[0].response["body"]


def test_requests_hold_at_most_1000_events():
    http = ScriptedHttp()
    events = [track(f"E{n}", n) for n in range(2_300)]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert [len(orjson.loads(body)["data"]) for _, body, _ in http.sent] == [1000, 1000, 300]
    assert {a.status for a in attempts} == {DELIVERED}


def test_a_throttled_request_waits_as_meta_says():
    http = ScriptedHttp(Answer(400, usage(2), graph_error(17), True))
    [attempt] = adapter(http).send(destination(), [track("E")], deadline=100)
    assert (attempt.status, attempt.code, attempt.retry_after) == (RETRY, "400.17", 120.0)


def test_an_event_left_out_of_user_data_is_counted_on_the_delivered_event():
    event = track("E")
    event["context"]["traits"] = {"gender": "other"}
    [attempt] = adapter(ScriptedHttp()).send(destination(), [event], deadline=100)
    assert (attempt.status, attempt.omitted) == (DELIVERED, ("gender_not_m_or_f",))
