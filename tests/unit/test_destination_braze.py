"""`type: braze`: settings (the instance picks the host), the /users/track objects of each call,
Order Completed as purchases, alias as /users/identify + /users/alias/new, packing 75 objects across
the three arrays, Braze's answers read per object, and delivery through the driver."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from switchyard.config.workspace import ConfigError, parse_workspace
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.base import Again, CallContext, HttpCall, Item, Unsupported, Verdict
from switchyard.destinations.braze import ALIAS, BRAZE, IDENTIFY, TRACK, BrazeInstance, BrazeSettings
from switchyard.destinations.driver import ToolAdapter
from tests.support.destinations import ScriptedHttp, StaticCredentials, stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
UNSUPPORTED = AttemptStatus.UNSUPPORTED
KEY = "braze-rest-key-0f1e2d3c4b5a6978"
TIMESTAMP = "2026-11-30T09:25:21.123Z"
NOW = 1_796_031_000.0
US = CallContext("us-east-1", NOW)


def settings(**overrides: Any) -> BrazeSettings:
    return BrazeSettings.model_validate({"api_key": KEY, "instance": "iad-01", **overrides})


def message(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "userId": "u1", "anonymousId": "a1", "messageId": "m1", "timestamp": TIMESTAMP, **fields}


def objects(event: dict[str, Any], **overrides: Any) -> list[tuple[str, str, Any]]:
    """(channel, array or "", object) of each item the event maps to."""
    mapped = BRAZE.map(event, settings(**overrides))
    assert isinstance(mapped, list), mapped
    return [
        (item.channel, *item.payload) if item.channel == TRACK else (item.channel, "", item.payload) for item in mapped
    ]


def one_object(event: dict[str, Any], **overrides: Any) -> tuple[str, dict[str, Any]]:
    [(channel, array, payload)] = objects(event, **overrides)
    assert channel == TRACK
    return array, payload


# -- settings -------------------------------------------------------------------------------------


def test_the_rest_api_key_is_a_credential_and_the_instance_is_required():
    configured = settings()
    assert BrazeSettings.SECRET_FIELDS == ("api_key",)
    assert configured.credentials() == {"api_key": KEY}
    assert KEY not in orjson.dumps(configured.public_settings()).decode()
    with pytest.raises(ValidationError, match="instance"):
        BrazeSettings.model_validate({"api_key": KEY})


@pytest.mark.parametrize(
    ("instance", "host"),
    [
        ("iad-01", "https://rest.iad-01.braze.com"),
        ("IAD-08", "https://rest.iad-08.braze.com"),
        ("US-03", "https://rest.iad-03.braze.com"),
        ("us-10", "https://rest.us-10.braze.com"),
        ("fra-01", "https://rest.fra-01.braze.eu"),
        ("EU-02", "https://rest.fra-02.braze.eu"),
        ("au-01", "https://rest.au-01.braze.com"),
        ("kr-01", "https://rest.kr-01.braze.com"),
    ],
)
def test_the_instance_picks_the_rest_host(instance: str, host: str):
    assert BRAZE.base_url(settings(instance=instance), "us-east-1") == host


@pytest.mark.parametrize("instance", ["iad-09", "us-09", "fra-03", "rest.iad-01.braze.com", ""])
def test_an_unknown_instance_is_refused(instance: str):
    with pytest.raises(ValidationError, match="instance"):
        settings(instance=instance)


def test_apply_names_the_line_of_an_unknown_instance():
    workspace = """\
workspace: w
sources:
  - {id: web, name: Web, write_key: wk_web_0000000}
destinations:
  - id: braze
    type: braze
    sources: [web]
    settings:
      api_key: braze-rest-key-0000
      instance: iad-99
"""
    with pytest.raises(ConfigError, match=r"line 10, .*instance"):
        parse_workspace(workspace, "ws.yaml")


def test_the_endpoint_replaces_the_host():
    configured = settings(endpoint="https://braze-proxy.example.com/")
    call = BRAZE.call(TRACK, [b'["events",{"name":"e"}]'], configured, US)
    assert call.url == "https://braze-proxy.example.com/users/track"


def test_an_eu_stack_is_warned_about_an_instance_outside_the_eu():
    assert BRAZE.residency_warning(settings(), "eu-west-1") == (
        "sends to rest.iad-01.braze.com, outside the EU (`instance: iad-01`)"
    )
    assert BRAZE.residency_warning(settings(instance="fra-02"), "eu-west-1") is None
    assert BRAZE.residency_warning(settings(), "us-east-1") is None
    assert BRAZE.residency_warning(settings(endpoint="https://proxy.example.com"), "eu-west-1") is None


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"api_key": "short"}, "api_key"),
        ({"max_objects_per_request": 76}, "max_objects_per_request"),
        ({"max_objects_per_request": 0}, "max_objects_per_request"),
        ({"track_pages": "some"}, "track_pages"),
        ({"alias_label": ""}, "alias_label"),
        ({"region": "eu"}, "region"),
    ],
)
def test_settings_braze_cannot_use_are_refused(overrides: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        settings(**overrides)


# -- identify -------------------------------------------------------------------------------------


def test_identify_maps_segments_special_traits_to_brazes_standard_fields():
    traits = {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "phone": "+441234567890",
        "birthday": "1815-12-10T00:00:00.000Z",
        "avatar": "https://example.com/ada.png",
        "gender": "Female",
        "address": {"city": "London", "country": "GB", "street": "St James's Square"},
        "plan": "pro",
        "tags": ["math", "poetry"],
        "id": "u1",
        "name": "Ada Lovelace",
    }
    assert one_object(message("identify", traits=traits)) == (
        "attributes",
        {
            "external_id": "u1",
            "email": "ada@example.com",
            "phone": "+441234567890",
            "plan": "pro",
            "tags": ["math", "poetry"],
            "first_name": "Ada",
            "last_name": "Lovelace",
            "image_url": "https://example.com/ada.png",
            "home_city": "London",
            "country": "GB",
            "dob": "1815-12-10",
            "gender": "F",
        },
    )


def test_a_name_gives_first_and_last_names_when_they_are_missing():
    _, attributes = one_object(message("identify", traits={"name": "Grace Brewster Hopper"}))
    assert attributes == {"external_id": "u1", "first_name": "Grace", "last_name": "Brewster Hopper"}
    _, attributes = one_object(message("identify", traits={"name": "Grace", "firstName": "G."}))
    assert attributes == {"external_id": "u1", "first_name": "G."}


@pytest.mark.parametrize(
    ("gender", "braze"),
    [("male", "M"), ("M", "M"), ("woman", "F"), ("other", "O"), ("not applicable", "N"), ("P", "P"), ("x", None)],
)
def test_gender_becomes_one_of_brazes_values_or_is_left_out(gender: str, braze: str | None):
    _, attributes = one_object(message("identify", traits={"gender": gender}))
    assert attributes.get("gender") == braze


def test_a_trait_never_replaces_the_identifier():
    _, attributes = one_object(message("identify", traits={"external_id": "someone-else", "plan": "pro"}))
    assert attributes == {"external_id": "u1", "plan": "pro"}


def test_identify_without_traits_still_creates_the_user():
    assert one_object(message("identify")) == ("attributes", {"external_id": "u1"})


def test_update_existing_only_is_said_on_every_object_of_an_identified_user():
    _, attributes = one_object(message("identify", traits={"plan": "pro"}), update_existing_only=True)
    assert attributes == {"external_id": "u1", "_update_existing_only": True, "plan": "pro"}


# -- track ----------------------------------------------------------------------------------------


def test_track_is_a_custom_event_without_brazes_reserved_properties():
    event = message("track", event="Report Exported", properties={"format": "csv", "time": 3, "event_name": "x"})
    assert one_object(event, app_id="app-1") == (
        "events",
        {
            "external_id": "u1",
            "app_id": "app-1",
            "name": "Report Exported",
            "time": TIMESTAMP,
            "properties": {"format": "csv"},
        },
    )
    assert "properties" not in one_object(message("track", event="E"))[1]


def test_the_time_is_the_events_else_when_it_was_received():
    received = message("track", event="E", timestamp=None, receivedAt="2026-11-30T09:25:22.000Z")
    assert one_object(received)[1]["time"] == "2026-11-30T09:25:22.000Z"
    assert BRAZE.map(message("track", event="E", timestamp=None), settings()) == Unsupported("no_timestamp")


def test_order_completed_is_one_purchase_per_product():
    order = {
        "order_id": "o-1",
        "currency": "EUR",
        "products": [
            {"product_id": "p-1", "name": "Shoe", "price": 40, "quantity": 2, "sku": "S-1"},
            {"id": "p-2", "price": "9.5", "currency": "GBP"},
        ],
    }
    assert objects(message("track", event="Order Completed", properties=order)) == [
        (
            TRACK,
            "purchases",
            {
                "external_id": "u1",
                "product_id": "p-1",
                "currency": "EUR",
                "price": 40,
                "quantity": 2,
                "time": TIMESTAMP,
                "properties": {"name": "Shoe"},
            },
        ),
        (
            TRACK,
            "purchases",
            {"external_id": "u1", "product_id": "p-2", "currency": "GBP", "price": 9.5, "time": TIMESTAMP},
        ),
    ]


def test_products_braze_cannot_take_are_left_out_and_counted():
    order = {"products": [{"name": "no id", "price": 1}, {"product_id": "p", "price": None}, {"id": "ok", "price": 2}]}
    mapped = BRAZE.map(message("track", event="Order Completed", properties=order), settings())
    assert isinstance(mapped, list) and len(mapped) == 1
    assert mapped[0].payload[1]["currency"] == "USD"
    assert mapped[0].omitted == ("product_without_id", "product_without_price")


def test_an_order_without_purchasable_products_goes_as_the_custom_event():
    [item] = BRAZE.map(message("track", event="Order Completed", properties={"products": [{"sku": "x"}]}), settings())  # type: ignore[misc]
    assert item.payload[0] == "events" and item.payload[1]["name"] == "Order Completed"
    assert item.omitted == ("product_without_id",)
    assert one_object(message("track", event="Order Completed", properties={"total": 3}))[0] == "events"


def test_a_quantity_braze_would_refuse_is_not_sent():
    order = {"products": [{"id": "a", "price": 1, "quantity": 101}, {"id": "b", "price": 1, "quantity": "2"}]}
    assert [
        "quantity" in payload for _, _, payload in objects(message("track", event="Order Completed", properties=order))
    ] == [
        False,
        False,
    ]


# -- page, screen, group --------------------------------------------------------------------------


def test_pages_go_only_when_the_settings_say_so():
    page = message("page", name="Pricing", category="Docs", properties={"url": "https://example.com/p"})
    assert BRAZE.map(page, settings()) == Unsupported("pages_not_tracked")
    assert one_object(page, track_pages="all")[1] == {
        "external_id": "u1",
        "name": "Viewed Docs Pricing Page",
        "time": TIMESTAMP,
        "properties": {"url": "https://example.com/p"},
    }
    assert one_object(message("screen", name="Home"), track_pages="named")[1]["name"] == "Viewed Home Screen"
    assert BRAZE.map(message("page"), settings(track_pages="named")) == Unsupported("unnamed_page")
    assert one_object(message("page"), track_pages="all")[1]["name"] == "Loaded a Page"


def test_group_sets_segments_group_attribute_on_the_user():
    assert one_object(message("group", groupId="g-42", traits={"name": "Acme"})) == (
        "attributes",
        {"external_id": "u1", "ab_segment_group_g-42": True},
    )
    assert BRAZE.map(message("group"), settings()) == Unsupported("no_group_id")


# -- who ------------------------------------------------------------------------------------------


def test_without_a_user_id_segments_braze_id_names_the_user():
    event = message("track", event="E", userId=None, integrations={"Braze": {"braze_id": "b-1"}})
    assert one_object(event)[1]["braze_id"] == "b-1"


def test_anonymous_events_are_unsupported_unless_the_settings_send_them_as_alias_only_profiles():
    event = message("track", event="E", userId=None)
    assert BRAZE.map(event, settings()) == Unsupported("no_user_id")
    _, sent = one_object(event, send_anonymous_users=True, alias_label="segment_anonymous_id")
    assert sent == {
        "user_alias": {"alias_name": "a1", "alias_label": "segment_anonymous_id"},
        "_update_existing_only": False,
        "name": "E",
        "time": TIMESTAMP,
    }


def test_with_anonymous_users_an_identify_also_merges_the_anonymous_profile():
    event = message("identify", traits={"plan": "pro"})
    assert objects(event, send_anonymous_users=True) == [
        (TRACK, "attributes", {"external_id": "u1", "plan": "pro"}),
        (IDENTIFY, "", {"external_id": "u1", "user_alias": {"alias_name": "a1", "alias_label": "anonymous_id"}}),
    ]
    assert len(objects(event)) == 1, "not without the setting"


def test_alias_merges_the_previous_id_then_gives_the_user_its_alias():
    event = message("alias", previousId="a-old")
    assert objects(event) == [
        (IDENTIFY, "", {"external_id": "u1", "user_alias": {"alias_name": "a-old", "alias_label": "anonymous_id"}}),
        (ALIAS, "", {"external_id": "u1", "alias_name": "a-old", "alias_label": "anonymous_id"}),
    ]
    assert BRAZE.map(message("alias", previousId="u1"), settings()) == []


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (message("track"), "no_event_name"),
        (message("track", event="E", userId=None, anonymousId=None), "no_user_id"),
        (message("identify", userId=""), "no_user_id"),
        (message("group", groupId="g", userId=None), "no_user_id"),
        (message("alias"), "no_user_or_previous_id"),
        (message("alias", userId=None, previousId="a0"), "no_user_or_previous_id"),
        (message("batch"), "unknown_type"),
    ],
)
def test_events_braze_cannot_take_are_unsupported(event: dict[str, Any], reason: str):
    assert BRAZE.map(event, settings()) == Unsupported(reason)


def test_mapping_is_pure():
    event = message("track", event="Order Completed", properties={"time": 1, "products": [{"id": "a", "price": 1}]})
    before = orjson.dumps(event)
    assert BRAZE.map(event, settings()) == BRAZE.map(event, settings())
    assert orjson.dumps(event) == before


# -- requests -------------------------------------------------------------------------------------


def tagged(*items: tuple[str, dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(item) for item in items]


def test_a_track_request_puts_each_object_in_its_array_with_the_key_as_bearer():
    payloads = tagged(("purchases", {"product_id": "p"}), ("attributes", {"a": 1}), ("events", {"name": "e"}))
    call = BRAZE.call(TRACK, payloads, settings(), US)
    assert (call.method, call.url) == ("POST", "https://rest.iad-01.braze.com/users/track")
    assert call.headers == {"Authorization": "Bearer " + KEY}
    assert call.body == b'{"attributes":[{"a":1}],"events":[{"name":"e"}],"purchases":[{"product_id":"p"}]}'
    assert call.state == {"purchases": [0], "attributes": [1], "events": [2]}


def test_alias_requests_carry_their_arrays():
    merge = BRAZE.call(IDENTIFY, [b'{"external_id":"u"}'], settings(instance="fra-01"), US)
    assert merge.url == "https://rest.fra-01.braze.eu/users/identify"
    assert merge.body == b'{"aliases_to_identify":[{"external_id":"u"}]}'
    new = BRAZE.call(ALIAS, [b'{"alias_name":"a"}', b'{"alias_name":"b"}'], settings(), US)
    assert (new.url, new.body) == (
        "https://rest.iad-01.braze.com/users/alias/new",
        b'{"user_aliases":[{"alias_name":"a"},{"alias_name":"b"}]}',
    )


def test_the_limits_count_the_bodies_generously():
    for channel, payloads in ((TRACK, tagged(("events", {"name": "e"}), ("attributes", {}))), (ALIAS, [b"{}", b"{}"])):
        limits = BRAZE.limits(channel, settings())
        body = BRAZE.call(channel, payloads, settings(), US).body
        assert limits.overhead_bytes + sum(len(p) + 1 for p in payloads) >= len(body)
    assert BRAZE.limits(TRACK, settings()).max_items == 75
    assert BRAZE.limits(TRACK, settings(max_objects_per_request=50)).max_items == 50
    assert BRAZE.limits(IDENTIFY, settings()).max_items == 50


# -- answers --------------------------------------------------------------------------------------


def track_call(*arrays: str) -> HttpCall:
    return BRAZE.call(TRACK, tagged(*((array, {"n": i}) for i, array in enumerate(arrays))), settings(), US)


def test_objects_braze_names_in_its_errors_are_final_and_the_others_delivered():
    call = track_call("events", "purchases", "events", "attributes")
    body = {
        "message": "success",
        "events_processed": 1,
        "errors": [
            {"type": "'name' is required", "input_array": "events", "index": 1},
            {"type": "'price' is required", "input_array": "purchases", "index": 0},
            {"type": "unknown", "input_array": "events", "index": 7},
        ],
    }
    verdicts = BRAZE.interpret(call, Answer(201, {}, orjson.dumps(body), True), 4, NOW)
    refused = Verdict(FINAL, "201.invalid_object")
    assert verdicts == [Verdict(DELIVERED, "201"), refused, refused, Verdict(DELIVERED, "201")]


def test_a_plain_success_delivers_everything():
    answer = Answer(201, {}, b'{"message":"success","events_processed":2}', True)
    assert BRAZE.interpret(track_call("events", "events"), answer, 2, NOW) == [Verdict(DELIVERED, "201")] * 2


def test_a_429_waits_until_brazes_window_resets():
    answer = Answer(429, {"X-RateLimit-Reset": str(int(NOW) + 7), "X-RateLimit-Remaining": "0"}, b"", True)
    assert BRAZE.interpret(track_call("events"), answer, 1, NOW) == [Verdict(RETRY, "429", 7.0)]
    past = Answer(429, {"X-RateLimit-Reset": str(int(NOW) - 5)}, b"", True)
    assert BRAZE.interpret(track_call("events"), past, 1, NOW) == [Verdict(RETRY, "429", 0.0)]
    bare = Answer(429, {}, b"", True)
    assert BRAZE.interpret(track_call("events"), bare, 1, NOW) == [Verdict(RETRY, "429", None)]


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (400, (FINAL, "400")),
        (401, (FINAL, "401")),
        (403, (FINAL, "403")),
        (404, (FINAL, "404")),
        (500, (RETRY, "500")),
        (503, (RETRY, "503")),
    ],
)
def test_whole_request_answers_are_read_by_status(status: int, verdict: tuple[Any, ...]):
    body = b'{"message":"Invalid API Key"}'
    verdicts = BRAZE.interpret(track_call("events", "attributes"), Answer(status, {}, body, True), 2, NOW)
    assert [(v.status, v.code) for v in verdicts] == [verdict] * 2


def test_a_413_splits_the_request():
    verdicts = BRAZE.interpret(track_call("events", "events"), Answer(413, {}, b"", True), 2, NOW)
    assert {v.again for v in verdicts} == {Again.SPLIT}
    assert BRAZE.interpret(track_call("events"), Answer(413, {}, b"", True), 1, NOW) == [Verdict(FINAL, "413")]


# -- through the driver ---------------------------------------------------------------------------


def send(http: ScriptedHttp, events: list[dict[str, Any]], aws_region: str = "us-east-1", **public: Any) -> list[Any]:
    adapter = ToolAdapter(
        BRAZE,
        aws_region,
        http=http,
        credentials=StaticCredentials({"api_key": KEY}),
        clock=lambda: NOW,  # type: ignore[arg-type]
    )
    destination = stored_destination("braze", "braze", settings(**public), name="Braze")
    return adapter.send(destination, events, deadline=1e12)


def created(url: str) -> Answer:
    return Answer(201, {}, b'{"message":"success"}', True)


def test_requests_hold_75_objects_across_the_three_arrays():
    http = ScriptedHttp(default=created)
    products = [{"id": f"p{i}", "price": 1} for i in range(30)]
    events = [message("identify", messageId=f"i{i}") for i in range(40)] + [
        message("track", event="Order Completed", properties={"products": products}),
        *(message("track", event=f"e{i}") for i in range(10)),
    ]
    attempts = send(http, events)
    assert {a.status for a in attempts} == {DELIVERED}
    sizes = [{array: len(objects) for array, objects in orjson.loads(body).items()} for _, body, _ in http.sent]
    assert sizes == [{"attributes": 40, "purchases": 30, "events": 5}, {"events": 5}]


def test_a_partial_success_settles_each_event_and_never_shows_the_key():
    body = {"message": "success", "errors": [{"type": "bad", "input_array": "events", "index": 1}], "echo": KEY}
    http = ScriptedHttp(Answer(201, {}, orjson.dumps(body), True))
    events = [message("track", event="a"), message("track", event="b"), message("identify", traits={"x": 1})]
    attempts = send(http, events)
    assert [(a.status, a.code) for a in attempts] == [
        (DELIVERED, "201"),
        (FINAL, "201.invalid_object"),
        (DELIVERED, "201"),
    ]
    [(url, _, headers)] = http.sent
    assert headers["Authorization"] == "Bearer " + KEY and headers["Content-Type"] == "application/json"
    for attempt in attempts:
        shown = orjson.dumps([attempt.request, attempt.response]).decode()
        assert KEY not in shown
    assert attempts[0].request["headers"]["Authorization"] == "<redacted>"


def test_alias_goes_to_identify_then_alias_new_each_once_for_the_hand_over():
    http = ScriptedHttp(default=created)
    events = [
        message("alias", previousId="a-old"),
        message("track", event="E"),
        message("alias", userId="u2", previousId="a2"),
    ]
    attempts = send(http, events, aws_region="eu-west-1", instance="EU-01")
    assert [a.status for a in attempts] == [DELIVERED] * 3
    assert [url for url, _, _ in http.sent] == [
        "https://rest.fra-01.braze.eu/users/identify",
        "https://rest.fra-01.braze.eu/users/alias/new",
        "https://rest.fra-01.braze.eu/users/track",
    ]
    assert [len(orjson.loads(body)["aliases_to_identify"]) for _, body, _ in http.sent[:1]] == [2]


def test_a_throttled_merge_keeps_the_alias_new_of_that_event_for_the_retry():
    http = ScriptedHttp(Answer(429, {"X-RateLimit-Reset": str(int(NOW) + 30)}, b"", True), default=created)
    [attempt] = send(http, [message("alias", previousId="a-old")])
    assert (attempt.status, attempt.code, attempt.retry_after) == (RETRY, "429", 30.0)
    assert [url.rsplit("/", 2)[-2:] for url, _, _ in http.sent] == [["users", "identify"]]


def test_unsupported_events_are_settled_without_a_request():
    http = ScriptedHttp(default=created)
    attempts = send(http, [message("page", name="P"), message("track", event="E", userId=None)])
    assert [(a.status, a.code) for a in attempts] == [
        (UNSUPPORTED, "unsupported.pages_not_tracked"),
        (UNSUPPORTED, "unsupported.no_user_id"),
    ]
    assert http.sent == []


def test_what_was_left_out_of_an_order_is_counted():
    http = ScriptedHttp(default=created)
    order = {"products": [{"id": "a", "price": 1}, {"name": "no id", "price": 2}]}
    [attempt] = send(http, [message("track", event="Order Completed", properties=order)])
    assert (attempt.status, attempt.omitted) == (DELIVERED, ("product_without_id",))


def test_every_instance_has_a_host():
    hosts = {BRAZE.base_url(settings(instance=instance.value), "us-east-1") for instance in BrazeInstance}
    assert len(hosts) == len(BrazeInstance)


def test_items_are_tagged_with_their_array():
    [item] = BRAZE.map(message("track", event="E"), settings())  # type: ignore[misc]
    assert isinstance(item, Item) and orjson.dumps(item.payload).startswith(b'["events",{')
