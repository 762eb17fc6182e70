"""`type: ga4`: settings, the Measurement Protocol event of each call, GA4's limits enforced before
sending and what was left out to meet them, one client per request, the 72-hour window, answers,
and delivery through the driver."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from switchyard.config.compiled import Destination
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.base import CallContext, Item, NoCall, Unsupported
from switchyard.destinations.driver import ITEM_TOO_LARGE, ToolAdapter
from switchyard.destinations.ga4 import GA4, OMITTED_REASONS, Ga4Call, Ga4Settings
from tests.support.destinations import stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
UNSUPPORTED = AttemptStatus.UNSUPPORTED
MEASUREMENT_ID = "G-TEST123ABC"
API_SECRET = "s3cr3t-Api-Value_42"
TIMESTAMP = "2026-11-30T09:25:21.123Z"
TIME_MICROS = int(datetime(2026, 11, 30, 9, 25, 21, tzinfo=UTC).timestamp()) * 1_000_000 + 123_000
NOW = TIME_MICROS / 1_000_000 + 300  # five minutes after the events
US_URL = f"https://www.google-analytics.com/mp/collect?measurement_id={MEASUREMENT_ID}&api_secret={API_SECRET}"
EU_URL = f"https://region1.google-analytics.com/mp/collect?measurement_id={MEASUREMENT_ID}&api_secret={API_SECRET}"
# The Measurement Protocol's limits as Google documents them, not as the module under test says.
MAX_EVENTS = 25
MAX_BODY = 130_000
# A request's channel: its body up to the events array (client "a1", no user).
CLIENT_A1 = '{"client_id":"a1","events":'


def settings(**overrides: Any) -> Ga4Settings:
    return Ga4Settings(measurement_id=MEASUREMENT_ID, api_secret=API_SECRET, **overrides)


def track(name: str, number: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": name,
        "userId": "u1",
        "anonymousId": "a1",
        "messageId": f"m{number}",
        "timestamp": TIMESTAMP,
        **fields,
    }


def mapped(event: dict[str, Any], **overrides: Any) -> tuple[list[Any], dict[str, Any]]:
    """([client_id, user_id, user_properties] its request shares, the event) of one mapped event."""
    item = only_item(event, settings(**overrides))
    return shared_identity(item.channel), item.payload


def shared_identity(channel: str) -> list[Any]:
    """The channel is the request body up to its events array: completed, it reads as JSON."""
    envelope = orjson.loads(channel + "[]}")
    assert list(envelope)[0] == "client_id" and list(envelope)[-1] == "events"
    return [envelope["client_id"], envelope.get("user_id"), envelope.get("user_properties")]


def omitted(event: dict[str, Any], **overrides: Any) -> tuple[str, ...]:
    """What was left out of one mapped event, by reason."""
    reasons = only_item(event, settings(**overrides)).omitted
    assert set(reasons) <= OMITTED_REASONS, reasons
    return reasons


def only_item(event: dict[str, Any], configured: Ga4Settings) -> Item:
    result = GA4.map(event, configured)
    assert isinstance(result, list) and len(result) == 1, result
    return result[0]


def params_of(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return mapped(event, **overrides)[1]["params"]


def custom(properties: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return track("Video Played", properties=properties, **fields)


# Settings.


def test_the_api_secret_is_a_credential_and_the_measurement_id_is_not():
    configured = settings()
    assert Ga4Settings.SECRET_FIELDS == ("api_secret",)
    assert configured.credentials() == {"api_secret": API_SECRET}
    public = configured.public_settings()
    assert public["measurement_id"] == MEASUREMENT_ID
    assert "api_secret" not in public and API_SECRET not in orjson.dumps(public).decode()


def test_the_api_secret_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GA4_SECRET", API_SECRET)
    configured = Ga4Settings.model_validate({"measurement_id": MEASUREMENT_ID, "api_secret": {"env": "GA4_SECRET"}})
    assert configured.api_secret == API_SECRET


def test_defaults():
    configured = settings()
    assert (configured.client_id_from, configured.send_user_id, configured.engagement_time_msec) == (
        "anonymous_id",
        True,
        1,
    )
    assert configured.user_properties == () and configured.region is None and configured.endpoint is None


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"measurement_id": "UA-12345-1"}, "measurement_id"),
        ({"measurement_id": "g-abc"}, "measurement_id"),
        ({"api_secret": "short"}, "api_secret"),
        ({"user_properties": ("user_id",)}, "reserved"),
        ({"user_properties": ("ga_plan",)}, "reserved"),
        ({"user_properties": ("plan tier",)}, "invalid"),
        ({"user_properties": ("1plan",)}, "invalid"),
        ({"user_properties": ("p" * 25,)}, "too long"),
        ({"user_properties": tuple(f"p{n}" for n in range(26))}, "user_properties"),
        ({"client_id_from": "email"}, "client_id_from"),
        ({"engagement_time_msec": -1}, "engagement_time_msec"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_settings_ga4_would_refuse_are_refused(overrides: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        Ga4Settings.model_validate({"measurement_id": MEASUREMENT_ID, "api_secret": API_SECRET, **overrides})


# Recommended events.


def test_order_completed_is_a_purchase_with_its_items():
    properties = {
        "order_id": "o-1",
        "total": 30.5,
        "revenue": 25,
        "shipping": 3,
        "tax": 2.5,
        "currency": "eur",
        "coupon": "WINTER",
        "affiliation": "Shop",
        "products": [
            {
                "product_id": "p1",
                "sku": "s1",
                "name": "Shirt",
                "price": 10,
                "quantity": 2,
                "category": "Shirts",
                "brand": "Acme",
                "variant": "Blue",
                "coupon": "P10",
                "position": 1,
                "url": "https://shop.example/p1",
            },
            {"sku": "s2", "name": "Hat", "price": "9.50"},
        ],
        "Gift Wrap": True,
        "note": "leave at the door",
    }
    channel, payload = mapped(track("Order Completed", properties=properties))
    assert channel == ["a1", "u1", None]
    assert payload == {
        "timestamp_micros": TIME_MICROS,
        "name": "purchase",
        "params": {
            "transaction_id": "o-1",
            "value": 30.5,
            "currency": "EUR",
            "affiliation": "Shop",
            "coupon": "WINTER",
            "shipping": 3,
            "tax": 2.5,
            "items": [
                {
                    "item_id": "p1",
                    "item_name": "Shirt",
                    "price": 10,
                    "quantity": 2,
                    "item_category": "Shirts",
                    "item_brand": "Acme",
                    "item_variant": "Blue",
                    "coupon": "P10",
                    "index": 1,
                },
                {"item_id": "s2", "item_name": "Hat", "price": 9.5},
            ],
            "engagement_time_msec": 1,
            "gift_wrap": "true",
            "note": "leave at the door",
        },
    }
    assert list(payload) == ["timestamp_micros", "name", "params"]


def test_an_order_without_total_takes_revenue_as_its_value_and_numbers_as_ids():
    params = params_of(track("Order Refunded", properties={"order_id": 1042, "revenue": 25, "currency": "USD"}))
    assert params == {"transaction_id": "1042", "value": 25, "currency": "USD", "engagement_time_msec": 1}


@pytest.mark.parametrize(
    ("segment", "ga4"),
    [
        ("Products Searched", "search"),
        ("Product List Viewed", "view_item_list"),
        ("Product Clicked", "select_item"),
        ("Product Viewed", "view_item"),
        ("Product Added", "add_to_cart"),
        ("Product Removed", "remove_from_cart"),
        ("Product Added to Wishlist", "add_to_wishlist"),
        ("Cart Viewed", "view_cart"),
        ("Checkout Started", "begin_checkout"),
        ("Payment Info Entered", "add_payment_info"),
        ("Order Completed", "purchase"),
        ("Order Refunded", "refund"),
        ("Promotion Viewed", "view_promotion"),
        ("Promotion Clicked", "select_promotion"),
        ("Signed Up", "sign_up"),
        ("Signed In", "login"),
    ],
)
def test_segment_spec_events_are_ga4_recommended_events(segment: str, ga4: str):
    assert mapped(track(segment))[1]["name"] == ga4


@pytest.mark.parametrize(
    ("name", "properties", "params"),
    [
        ("Products Searched", {"query": "blue hat"}, {"search_term": "blue hat"}),
        (
            "Product List Viewed",
            {"list_id": "l1", "category": "Hats", "products": [{"product_id": "p1"}]},
            {"item_list_id": "l1", "item_list_name": "Hats", "items": [{"item_id": "p1"}]},
        ),
        (
            "Product Viewed",
            {"product_id": "p1", "name": "Hat", "price": 9.5, "currency": "usd", "url": "https://x/p1"},
            {"currency": "USD", "value": 9.5, "items": [{"item_id": "p1", "item_name": "Hat", "price": 9.5}]},
        ),
        (
            "Product Added",
            {"product_id": "p1", "price": 9.5, "quantity": 2, "value": 19, "currency": "USD"},
            {"currency": "USD", "value": 19, "items": [{"item_id": "p1", "price": 9.5, "quantity": 2}]},
        ),
        (
            "Payment Info Entered",
            {"payment_method": "card", "checkout_id": "c1"},
            {"payment_type": "card", "checkout_id": "c1"},
        ),
        (
            "Promotion Clicked",
            {"promotion_id": "promo_1", "name": "Winter", "creative": "banner_2", "position": "top"},
            {
                "promotion_id": "promo_1",
                "promotion_name": "Winter",
                "creative_name": "banner_2",
                "creative_slot": "top",
            },
        ),
        ("Signed Up", {"type": "google"}, {"method": "google"}),
    ],
)
def test_recommended_parameters_come_from_the_segment_properties(
    name: str, properties: dict[str, Any], params: dict[str, Any]
):
    assert params_of(track(name, properties=properties)) == {**params, "engagement_time_msec": 1}


# Custom events and page views.


@pytest.mark.parametrize(
    ("name", "ga4"),
    [
        ("Video Played", "video_played"),
        ("videoPlayed", "video_played"),
        ("Article  Shared!", "article_shared"),
        ("newsletter_signup", "newsletter_signup"),
        ("purchase", "purchase"),
    ],
)
def test_other_events_keep_their_name_snake_cased(name: str, ga4: str):
    assert mapped(track(name))[1] == {
        "timestamp_micros": TIME_MICROS,
        "name": ga4,
        "params": {"engagement_time_msec": 1},
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Session Start", "reserved_event_name"),
        ("error", "reserved_event_name"),
        ("Google Sync", "reserved_event_name"),
        ("firebase_thing", "reserved_event_name"),
        ("3D Viewed", "invalid_event_name"),
        ("!!!", "invalid_event_name"),
        ("", "no_event_name"),
    ],
)
def test_events_ga4_would_drop_for_their_name_are_unsupported(name: str, reason: str):
    assert GA4.map(track(name), settings()) == Unsupported(reason)


def test_a_name_over_40_characters_is_cut_and_the_cut_is_reported():
    name = "Customer Completed The Very Long Onboarding Checklist"
    assert mapped(track(name))[1]["name"] == "customer_completed_the_very_long_onboard"
    assert omitted(track(name)) == ("event_name_truncated",)


def test_a_page_call_is_a_page_view_from_its_properties():
    event = {
        "type": "page",
        "anonymousId": "a1",
        "name": "Pricing",
        "timestamp": TIMESTAMP,
        "properties": {
            "url": "https://example.com/pricing",
            "title": "Pricing | Example",
            "referrer": "https://google.com/",
            "path": "/pricing",
            "search": "",
            "plan": "pro",
        },
        "context": {"page": {"url": "https://example.com/elsewhere", "title": "Elsewhere"}},
    }
    channel, payload = mapped(event)
    assert channel == ["a1", None, None]
    assert payload == {
        "timestamp_micros": TIME_MICROS,
        "name": "page_view",
        "params": {
            "page_location": "https://example.com/pricing",
            "page_title": "Pricing | Example",
            "page_referrer": "https://google.com/",
            "engagement_time_msec": 1,
            "plan": "pro",
        },
    }


def test_a_page_call_falls_back_on_the_context_page_and_its_name():
    event = {
        "type": "page",
        "userId": "u1",
        "name": "Docs",
        "context": {"page": {"url": "https://example.com/docs", "referrer": "https://example.com/"}},
    }
    assert mapped(event)[1] == {
        "name": "page_view",
        "params": {
            "page_location": "https://example.com/docs",
            "page_title": "Docs",
            "page_referrer": "https://example.com/",
            "engagement_time_msec": 1,
        },
    }


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}, "no_user_profile_api"),
        ({"type": "group", "userId": "u1", "groupId": "g1"}, "no_group_api"),
        ({"type": "alias", "userId": "u1", "previousId": "a1"}, "no_alias_api"),
        ({"type": "screen", "userId": "u1", "name": "Home"}, "screen_needs_an_app_stream"),
        ({"type": "batch", "userId": "u1"}, "unknown_type"),
        ({"type": "track", "event": "Video Played"}, "no_user_or_anonymous_id"),
    ],
)
def test_calls_without_a_measurement_protocol_counterpart_are_unsupported(event: dict[str, Any], reason: str):
    assert GA4.map(event, settings()) == Unsupported(reason)
    assert GA4.calls == ("track", "page")


def test_mapping_is_pure():
    event = track("Order Completed", properties={"products": [{"product_id": "p1"}], "currency": "eur"})
    before = orjson.dumps(event)
    assert GA4.map(event, settings()) == GA4.map(event, settings())
    assert orjson.dumps(event) == before


# Identity.


@pytest.mark.parametrize(
    ("ids", "overrides", "channel"),
    [
        ({"userId": "u1", "anonymousId": "a1"}, {}, ["a1", "u1", None]),
        ({"userId": "u1"}, {}, ["u1", "u1", None]),
        ({"anonymousId": "a1"}, {}, ["a1", None, None]),
        ({"userId": "u1", "anonymousId": "a1"}, {"client_id_from": "user_id"}, ["u1", "u1", None]),
        ({"anonymousId": "a1"}, {"client_id_from": "user_id"}, ["a1", None, None]),
        ({"userId": "u1", "anonymousId": "a1"}, {"send_user_id": False}, ["a1", None, None]),
        ({"userId": 42, "anonymousId": ""}, {}, ["42", "42", None]),
    ],
)
def test_client_id_is_the_anonymous_id_unless_only_the_user_id_is_there(
    ids: dict[str, Any], overrides: dict[str, Any], channel: list[Any]
):
    event = {"type": "track", "event": "Video Played", **ids}
    assert mapped(event, **overrides)[0] == channel


def test_user_properties_come_from_the_configured_traits():
    context = {"traits": {"plan": "pro", "seats": 12, "beta": True, "email": "x@example.com", "company": {"id": 1}}}
    event = track("Video Played", context=context)
    configured = {"user_properties": ("plan", "seats", "beta", "company", "missing")}
    assert mapped(event, **configured)[0] == [
        "a1",
        "u1",
        {"plan": {"value": "pro"}, "seats": {"value": 12}, "beta": {"value": "true"}},
    ]
    assert omitted(event, **configured) == ("user_property_value_not_scalar",)


def test_a_user_property_value_over_36_characters_is_left_out():
    event = track("Video Played", context={"traits": {"plan": "p" * 36, "tier": "t" * 37}})
    configured = {"user_properties": ("plan", "tier")}
    assert mapped(event, **configured)[0][2] == {"plan": {"value": "p" * 36}}
    assert omitted(event, **configured) == ("user_property_value_too_long",)


def test_a_user_id_over_256_characters_is_left_out():
    event = track("Video Played", userId="u" * 257)
    assert mapped(event)[0] == ["a1", None, None]
    assert omitted(event) == ("user_id_too_long",)


# GA4's limits, enforced before sending.


def test_a_parameter_value_over_100_characters_is_left_out_and_the_event_goes():
    event = custom({"fits": "f" * 100, "description": "d" * 101})
    assert params_of(event) == {"engagement_time_msec": 1, "fits": "f" * 100}
    assert omitted(event) == ("param_value_too_long",)


def test_page_parameters_may_be_longer_as_ga4_allows():
    page = {"url": "https://e.com/" + "u" * 986, "title": "t" * 300, "referrer": "https://r.com/" + "r" * 406}
    event = {"type": "page", "anonymousId": "a1", "properties": page}
    assert params_of(event) == {
        "page_location": page["url"],
        "page_title": page["title"],
        "page_referrer": page["referrer"],
        "engagement_time_msec": 1,
    }
    longer = {"url": page["url"] + "u", "title": page["title"] + "t", "referrer": page["referrer"] + "r"}
    assert params_of({**event, "properties": longer}) == {"engagement_time_msec": 1}
    assert omitted({**event, "properties": longer}) == ("param_value_too_long",) * 3


def test_at_most_25_parameters_the_first_ones_kept():
    event = custom({f"p{n}": n for n in range(30)})
    params = params_of(event)
    assert len(params) == MAX_EVENTS
    assert params == {"engagement_time_msec": 1, **{f"p{n}": n for n in range(24)}}
    assert omitted(event) == ("too_many_params",) * 6  # one per parameter left out


def test_recommended_parameters_are_never_the_ones_cut():
    properties = {f"extra_{n}": n for n in range(30)} | {"order_id": "o-1", "total": 5, "currency": "USD"}
    params = params_of(track("Order Completed", properties=properties))
    assert list(params)[:4] == ["transaction_id", "value", "currency", "engagement_time_msec"]
    assert len(params) == 25


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("p" * 41, "param_name_too_long"),
        ("ga_session", "param_name_reserved"),
        ("google_thing", "param_name_reserved"),
        ("firebase_conversion", "param_name_reserved"),
        ("1st place", "param_name_invalid"),
        ("???", "param_name_invalid"),
    ],
)
def test_property_names_ga4_refuses_are_left_out(key: str, reason: str):
    event = custom({key: "v", "kept": "k"})
    assert params_of(event) == {"engagement_time_msec": 1, "kept": "k"}
    assert omitted(event) == (reason,)


def test_property_names_are_snake_cased_and_a_clash_keeps_the_first():
    event = custom({"videoTitle": "Intro", "Video Title": "Other", "p" * 40: "forty"})
    assert params_of(event) == {"engagement_time_msec": 1, "video_title": "Intro", "p" * 40: "forty"}
    assert omitted(event) == ("param_name_duplicate",)


def test_values_are_strings_or_numbers():
    event = custom({"count": 3, "ratio": 0.5, "on": False, "tags": ["a"], "meta": {"a": 1}, "none": None})
    assert params_of(event) == {"engagement_time_msec": 1, "count": 3, "ratio": 0.5, "on": "false"}
    assert omitted(event) == ("param_value_not_scalar", "param_value_not_scalar")


def test_typed_recommended_parameters_are_checked():
    event = track("Order Completed", properties={"total": "12.50", "tax": "n/a", "currency": "euro"})
    assert params_of(event) == {"value": 12.5, "engagement_time_msec": 1}
    assert omitted(event) == ("param_value_not_a_currency", "param_value_not_a_number")


def test_items_need_an_id_or_a_name_and_stop_at_200():
    products = [{"price": 1}, {"product_id": "p1", "name": "n" * 101}] + [{"sku": f"s{n}"} for n in range(200)]
    event = track("Order Completed", properties={"products": products})
    items = params_of(event)["items"]
    assert items[0] == {"item_id": "p1"}
    assert len(items) == 200 and items[-1] == {"item_id": "s198"}
    assert omitted(event) == ("item_without_id_or_name", "item_value_too_long", "too_many_items")


def test_no_engagement_time_when_set_to_zero_or_given_by_the_event():
    assert params_of(custom({}), engagement_time_msec=0) == {}
    assert params_of(custom({"engagement_time_msec": 2500})) == {"engagement_time_msec": 2500}


def test_item_fields_ga4_refuses_are_left_out_and_the_item_kept():
    product = {"product_id": "p1", "price": "n/a", "quantity": True, "brand": {"id": 1}, "variant": ["blue"]}
    event = track("Product Added", properties=product)
    assert params_of(event)["items"] == [{"item_id": "p1"}]
    assert omitted(event) == (
        "param_value_not_a_number",  # `value` from the price
        "item_value_not_a_number",
        "item_value_not_a_number",
        "item_value_not_scalar",
        "item_value_not_scalar",
    )


def test_a_page_value_that_is_not_text_is_left_out():
    event = {"type": "page", "anonymousId": "a1", "properties": {"title": ["Pricing"], "url": "https://e.com/"}}
    assert params_of(event) == {"page_location": "https://e.com/", "engagement_time_msec": 1}
    assert omitted(event) == ("param_value_not_scalar",)


def test_an_event_within_the_limits_has_nothing_left_out():
    assert omitted(track("Order Completed", properties={"products": [{"product_id": "p1"}]})) == ()
    assert omitted({"type": "page", "anonymousId": "a1", "properties": {"url": "https://e.com/"}}) == ()


def test_reason_codes_are_short_stable_snake_case():
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", reason) and len(reason) <= 32 for reason in OMITTED_REASONS)


# Hosts and requests.


@pytest.mark.parametrize(
    ("aws_region", "overrides", "url"),
    [
        ("eu-west-1", {}, EU_URL),
        ("us-west-2", {}, US_URL),
        ("eu-central-1", {"region": "us"}, US_URL),
        ("us-east-1", {"region": "eu"}, EU_URL),
        (
            "eu-west-1",
            {"endpoint": "http://localhost:9000/ga/"},
            EU_URL.replace("https://region1.google-analytics.com", "http://localhost:9000/ga"),
        ),
    ],
)
def test_the_stack_region_picks_the_eu_host_unless_the_settings_say_otherwise(
    aws_region: str, overrides: dict[str, Any], url: str
):
    call = GA4.call(CLIENT_A1, [b'{"name":"x","params":{}}'], settings(**overrides), CallContext(aws_region, NOW))
    assert call.url == url and call.method == "POST"
    assert call.body == b'{"client_id":"a1","events":[{"name":"x","params":{}}]}'


def test_a_secret_that_needs_quoting_is_quoted_and_hidden_in_that_form_too():
    secret = "a/b+c=d&e"
    configured = Ga4Settings(measurement_id=MEASUREMENT_ID, api_secret=secret)
    call = GA4.call(CLIENT_A1, [b"{}"], configured, CallContext("us-west-2", NOW))
    assert call.url.endswith("&api_secret=a%2Fb%2Bc%3Dd%26e")
    assert GA4.hidden_values(configured) == ["a%2Fb%2Bc%3Dd%26e"]
    assert GA4.hidden_values(settings()) == []


def test_the_body_carries_the_shared_identity_and_user_properties():
    configured = settings(user_properties=("plan",))
    item = only_item(track("Video Played", context={"traits": {"plan": "pro"}}), configured)
    call = GA4.call(item.channel, [orjson.dumps(item.payload)], configured, CallContext("us-west-2", NOW))
    assert orjson.loads(call.body) == {
        "client_id": "a1",
        "user_id": "u1",
        "user_properties": {"plan": {"value": "pro"}},
        "events": [item.payload],
    }
    limits = GA4.limits(item.channel, configured)
    assert (limits.max_items, limits.max_bytes) == (MAX_EVENTS, MAX_BODY - 1)
    # The driver counts overhead plus each item and its separator: exactly the body's length.
    assert limits.overhead_bytes + len(orjson.dumps(item.payload)) + 1 == len(call.body)


# The 72-hour window.


def test_an_event_older_than_72_hours_is_not_sent_and_is_final():
    old = "2026-11-27T09:25:00.000Z"  # 72 h and 5 min before NOW
    recent = "2026-11-27T09:35:00.000Z"  # 71 h 55 min before NOW
    payloads = [orjson.dumps(only_item(track("A", timestamp=ts), settings()).payload) for ts in (old, recent)]
    call = GA4.call(CLIENT_A1, payloads, settings(), CallContext("us-west-2", NOW))
    assert isinstance(call, Ga4Call) and call.too_old == (0,)
    assert [event["name"] for event in orjson.loads(call.body)["events"]] == ["a"]
    verdicts = GA4.interpret(call, Answer(204, {}, b"", True), 2, NOW)
    assert [(v.status, v.code) for v in verdicts] == [(FINAL, "older_than_72_hours"), (DELIVERED, "204")]


def test_no_request_when_every_event_is_older_than_72_hours():
    old = orjson.dumps({"timestamp_micros": TIME_MICROS - 73 * 3600 * 1_000_000, "name": "a", "params": {}})
    call = GA4.call(CLIENT_A1, [old, old], settings(), CallContext("us-west-2", NOW))
    assert isinstance(call, NoCall)
    assert [(v.status, v.code) for v in call.verdicts] == [(FINAL, "older_than_72_hours")] * 2


def test_an_event_dated_after_the_request_goes_without_its_timestamp():
    future = orjson.dumps({"timestamp_micros": int(NOW * 1_000_000) + 60_000_000, "name": "a", "params": {"p": 1}})
    untimed = b'{"name":"b","params":{}}'
    call = GA4.call(CLIENT_A1, [future, untimed], settings(), CallContext("us-west-2", NOW))
    assert orjson.loads(call.body)["events"] == [{"name": "a", "params": {"p": 1}}, {"name": "b", "params": {}}]
    assert isinstance(call, Ga4Call) and call.too_old == ()


def test_event_times_in_other_forms_are_read_too():
    assert mapped(track("A", timestamp="2026-11-30T10:25:21.123+01:00"))[1]["timestamp_micros"] == TIME_MICROS
    assert "timestamp_micros" not in mapped(track("A", timestamp="yesterday"))[1]


# Answers.


def ga4_call(count: int) -> Ga4Call:
    payloads = [orjson.dumps({"timestamp_micros": TIME_MICROS, "name": "a", "params": {}})] * count
    call = GA4.call(CLIENT_A1, payloads, settings(), CallContext("us-west-2", NOW))
    assert isinstance(call, Ga4Call)
    return call


@pytest.mark.parametrize(
    ("status", "headers", "verdict"),
    [
        (204, {}, (DELIVERED, "204", None)),
        (200, {}, (DELIVERED, "200", None)),
        (429, {"Retry-After": "30"}, (RETRY, "429", 30.0)),
        (429, {}, (RETRY, "429", None)),
        (500, {}, (RETRY, "500", None)),
        (503, {"Retry-After": "5"}, (RETRY, "503", 5.0)),
        (400, {}, (FINAL, "400", None)),
        (401, {}, (FINAL, "401", None)),
        (403, {}, (FINAL, "403", None)),
        (404, {}, (FINAL, "404", None)),
    ],
)
def test_answers_are_read_by_status(status: int, headers: dict[str, str], verdict: tuple[Any, ...]):
    verdicts = GA4.interpret(ga4_call(3), Answer(status, headers, b"", True), 3, NOW)
    assert [(v.status, v.code, v.retry_after) for v in verdicts] == [verdict] * 3


def test_an_old_event_stays_final_whatever_the_answer():
    old = orjson.dumps({"timestamp_micros": TIME_MICROS - 73 * 3600 * 1_000_000, "name": "a", "params": {}})
    call = GA4.call(CLIENT_A1, [old, orjson.dumps({"name": "b", "params": {}})], settings(), CallContext("us", NOW))
    verdicts = GA4.interpret(call, Answer(503, {}, b"", True), 2, NOW)
    assert [(v.status, v.code) for v in verdicts] == [(FINAL, "older_than_72_hours"), (RETRY, "503")]


# Through the driver.


class FakeHttp:
    """Records requests; answers each with the next scripted (status, headers), else 204. The answer
    body echoes the URL, as error pages sometimes do, to prove the secret is masked there too."""

    def __init__(self, answers: list[tuple[int, dict[str, str]]] | None = None) -> None:
        self.answers = list(answers or [])
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def request(self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], deadline: float) -> Answer:
        assert method == "POST"
        self.sent.append((url, orjson.loads(body)))
        status, answer_headers = self.answers.pop(0) if self.answers else (204, {})
        return Answer(status, answer_headers, f"no thanks: {url}".encode(), True)


class FakeCredentials:
    def get(self, destination_id: str) -> dict[str, Any]:
        assert destination_id == "ga4-web"
        return {"api_secret": API_SECRET}


def destination(**overrides: Any) -> Destination:
    return stored_destination("ga4-web", "ga4", settings(**overrides), name="GA4 web")


def adapter(http: FakeHttp, aws_region: str = "us-west-2") -> ToolAdapter:
    return ToolAdapter(
        GA4,
        aws_region,
        http=http,  # type: ignore[arg-type]
        credentials=FakeCredentials(),
        clock=lambda: NOW,
        monotonic=lambda: 0.0,
    )


def test_each_request_carries_one_clients_events_only():
    http = FakeHttp()
    events = [
        track("A", 1, anonymousId="a1"),
        track("B", 2, anonymousId="a2", userId="u2"),
        track("C", 3, anonymousId="a1"),
    ]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert [(a.status, a.code) for a in attempts] == [(DELIVERED, "204")] * 3
    assert [(body["client_id"], body.get("user_id"), [e["name"] for e in body["events"]]) for _, body in http.sent] == [
        ("a1", "u1", ["a", "c"]),
        ("a2", "u2", ["b"]),
    ]


def test_different_user_properties_of_one_client_go_in_different_requests():
    http = FakeHttp()
    events = [track("A", 1, context={"traits": {"plan": "free"}}), track("B", 2, context={"traits": {"plan": "pro"}})]
    adapter(http).send(destination(user_properties=("plan",)), events, deadline=100)
    assert [body["user_properties"] for _, body in http.sent] == [
        {"plan": {"value": "free"}},
        {"plan": {"value": "pro"}},
    ]


def test_requests_hold_at_most_25_events():
    http = FakeHttp()
    events = [track(f"Step {n}", n) for n in range(30)]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert [len(body["events"]) for _, body in http.sent] == [MAX_EVENTS, 5]
    assert [e["name"] for _, body in http.sent for e in body["events"]] == [f"step_{n}" for n in range(30)]
    assert {a.status for a in attempts} == {DELIVERED}
    assert GA4.events_per_send(settings()) == MAX_EVENTS


def long_products(count: int) -> list[dict[str, Any]]:
    return [
        {
            "product_id": f"{n:03d}" + "i" * 97,
            "name": "n" * 100,
            "category": "c" * 100,
            "brand": "b" * 100,
            "variant": "v" * 100,
            "coupon": "o" * 100,
            "affiliation": "a" * 100,
        }
        for n in range(count)
    ]


def test_requests_stay_under_130_kb():
    http = FakeHttp()
    events = [track("Order Completed", n, properties={"products": long_products(20)}) for n in range(20)]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert {a.status for a in attempts} == {DELIVERED}
    sizes = [len(orjson.dumps(body)) for _, body in http.sent]
    assert all(size < MAX_BODY for size in sizes), sizes
    assert len(http.sent) > 1 and sum(len(body["events"]) for _, body in http.sent) == 20
    # Greedy: each request but the last was too full to take the next event.
    event_size = len(orjson.dumps(http.sent[0][1]["events"][0]))
    assert all(size + event_size + 1 >= MAX_BODY - 1 for size in sizes[:-1]), sizes


def test_an_event_too_large_for_any_request_is_final_alone():
    http = FakeHttp()
    events = [track("A", 1), track("Order Completed", 2, properties={"products": long_products(200)}), track("B", 3)]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert [(a.status, a.code) for a in attempts] == [(DELIVERED, "204"), (FINAL, ITEM_TOO_LARGE), (DELIVERED, "204")]
    assert [[e["name"] for e in body["events"]] for _, body in http.sent] == [["a", "b"]]


def test_delivery_gives_each_event_its_outcome_and_never_shows_the_secret():
    http = FakeHttp(answers=[(204, {}), (429, {"Retry-After": "30"}), (400, {})])
    events = [
        track("Order Completed", 1, properties={"order_id": "o-1", "total": 5, "currency": "USD"}),
        {"type": "identify", "userId": "u1", "messageId": "m2", "traits": {"plan": "pro"}},
        track("Old", 3, timestamp="2026-11-20T00:00:00.000Z"),
        track("Video Played", 4, anonymousId="a2", userId="u2"),
        {"type": "page", "anonymousId": "a3", "messageId": "m5", "properties": {"url": "https://e.com/"}},
    ]
    attempts = adapter(http, aws_region="eu-west-1").send(destination(), events, deadline=100)
    assert [(a.status, a.code, a.retry_after) for a in attempts] == [
        (DELIVERED, "204", None),
        (UNSUPPORTED, "unsupported.no_user_profile_api", None),
        (FINAL, "older_than_72_hours", None),
        (RETRY, "429", 30.0),
        (FINAL, "400", None),
    ]
    assert [url for url, _ in http.sent] == [EU_URL] * 3
    assert [[e["name"] for e in body["events"]] for _, body in http.sent] == [
        ["purchase"],
        ["video_played"],
        ["page_view"],
    ]
    shown = orjson.dumps([[a.request, a.response] for a in attempts]).decode()
    assert API_SECRET not in shown
    assert attempts[0].request["url"] == EU_URL.replace(API_SECRET, "<redacted>")
    assert attempts[0].response["body"] == "no thanks: " + EU_URL.replace(API_SECRET, "<redacted>")


def test_events_all_older_than_72_hours_are_final_and_nothing_is_sent():
    http = FakeHttp()
    events = [track("A", 1, timestamp="2026-11-20T00:00:00.000Z"), track("B", 2, timestamp="2026-11-21T00:00:00.000Z")]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert http.sent == []
    assert [(a.status, a.code, a.request) for a in attempts] == [(FINAL, "older_than_72_hours", {})] * 2


def test_what_was_left_out_is_on_each_delivered_events_attempt():
    http = FakeHttp()
    events = [
        custom({"description": "d" * 101, "tags": ["a"], "kept": "k"}),
        track("Video Played", 2, anonymousId="a2"),
        track("Order Completed", 3, anonymousId="a3", properties={"products": [{"price": 1}]}),
    ]
    attempts = adapter(http).send(destination(), events, deadline=100)
    assert [(a.status, a.omitted) for a in attempts] == [
        (DELIVERED, ("param_value_too_long", "param_value_not_scalar")),
        (DELIVERED, ()),
        (DELIVERED, ("item_without_id_or_name",)),
    ]
    assert http.sent[0][1]["events"][0]["params"] == {"engagement_time_msec": 1, "kept": "k"}
