"""`type: hubspot`: settings, the contact, event and company of each call, the requests (inputs
merged by id), HubSpot's answers read per input, the group chain (company -> contact -> association),
throttling by policy, and delivery through the driver."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from pydantic import ValidationError

from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations import hubspot
from switchyard.destinations.base import Again, CallContext, Item, Unsupported, Verdict
from switchyard.destinations.driver import ToolAdapter
from switchyard.destinations.hubspot import (
    ASSOCIATIONS,
    COMPANIES,
    CONTACT_IDS,
    CONTACTS,
    EVENTS,
    HUBSPOT,
    HubspotSettings,
    account_zone,
    seconds_until_midnight,
    website_domain,
)
from switchyard.destinations.posthog import event_uuid
from tests.support.destinations import StaticCredentials, stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
UNSUPPORTED = AttemptStatus.UNSUPPORTED
TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
TIMESTAMP = "2026-11-30T09:25:21.123Z"
NOW = 1_796_031_000.0  # 2026-11-30T09:30:00Z
MESSAGE_UUID = "8f14e45f-ceea-467f-a0e6-1a2b3c4d5e6f"
HOST = "https://api.hubapi.com"
CONTEXT = CallContext("us-east-1", NOW)


def settings(**overrides: Any) -> HubspotSettings:
    values: dict[str, Any] = {
        "access_token": TOKEN,
        "events": {"Order Completed": "pe4412345_order_completed", "Signed Up": "pe4412345_signed_up"},
    }
    return HubspotSettings.model_validate({**values, **overrides})


def message(kind: str, number: int = 1, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "userId": "u1", "messageId": f"m{number}", "timestamp": TIMESTAMP, **fields}


def mapped(event: dict[str, Any], **overrides: Any) -> Item:
    result = HUBSPOT.map(event, settings(**overrides))
    assert isinstance(result, list) and len(result) == 1, result
    return result[0]


# Settings.


def test_the_access_token_is_a_credential():
    configured = settings()
    assert HubspotSettings.SECRET_FIELDS == ("access_token",)
    assert configured.credentials() == {"access_token": TOKEN}
    assert TOKEN not in orjson.dumps(configured.public_settings()).decode()
    assert (configured.group_id_property, configured.associate_contact, configured.time_zone) == (
        "segment_group_id",
        True,
        "UTC",
    )


def test_the_access_token_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    assert HubspotSettings.model_validate({"access_token": {"env": "HUBSPOT_TOKEN"}}).access_token == TOKEN


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"access_token": None}, "access_token"),
        ({"access_token": "short"}, "access_token"),
        ({"events": {"Signed Up": "signed_up"}}, "events"),
        ({"events": {"Signed Up": "pe12_signed up"}}, "events"),
        ({"group_id_property": "Segment Group"}, "group_id_property"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "../etc/passwd"}, "time_zone"),
        ({"endpoint": "api.hubapi.com"}, "endpoint"),
        ({"region": "eu"}, "region"),
    ],
)
def test_settings_hubspot_cannot_use_are_refused(overrides: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        settings(**overrides)


def test_a_time_zone_is_found_without_the_systems_database(monkeypatch: pytest.MonkeyPatch):
    """Some runtimes ship no /usr/share/zoneinfo: dateutil's own copy of the database answers."""

    def no_system_database(name: str) -> ZoneInfo:
        raise hubspot.ZoneInfoNotFoundError(name)

    account_zone.cache_clear()
    monkeypatch.setattr(hubspot, "ZoneInfo", no_system_database)
    try:
        zone = account_zone("Europe/Berlin")
        assert not isinstance(zone, ZoneInfo)
        assert datetime(2026, 7, 1, 12, tzinfo=zone).utcoffset().total_seconds() == 7200  # type: ignore[union-attr]
        with pytest.raises(ValueError, match="unknown time zone"):
            account_zone("Mars/Olympus_Mons")
    finally:
        account_zone.cache_clear()


# Identify: the contact.


def test_identify_upserts_the_contact_by_email_with_the_traits_as_contact_properties():
    traits = {
        "email": " Ada@Example.COM ",
        "firstName": "Ada",
        "last_name": "Lovelace",
        "phone": "+44 20 7946 0000",
        "website": "https://ada.example",
        "title": "Analyst",
        "company": {"name": "Analytical Engines", "id": "c1"},
        "address": {
            "street": "12 St James's Sq",
            "city": "London",
            "state": "LND",
            "postalCode": "SW1Y",
            "country": "UK",
        },
        "lifecycleStage": "Customer",
        "Favorite Color": "blue",
        "logins": 12,
        "beta": True,
        "tags": ["a", "b"],
        "prefs": {"dark": True},
        "nickname": None,
        "middle": "",
    }
    item = mapped(message("identify", traits=traits))
    assert item == Item(
        CONTACTS,
        {
            "id": "ada@example.com",
            "properties": {
                "firstname": "Ada",
                "lastname": "Lovelace",
                "phone": "+44 20 7946 0000",
                "website": "https://ada.example",
                "jobtitle": "Analyst",
                "company": "Analytical Engines",
                "address": "12 St James's Sq",
                "city": "London",
                "state": "LND",
                "zip": "SW1Y",
                "country": "UK",
                "lifecyclestage": "customer",
                "favorite_color": "blue",
                "logins": 12,
                "beta": True,
                "tags": "a;b",
                "prefs": '{"dark":true}',
                "email": "ada@example.com",
            },
        },
    )


def test_a_name_is_split_into_first_and_last_name_unless_they_are_given():
    split = mapped(message("identify", traits={"email": "a@x.io", "name": "Ada King Lovelace", "company": "AE"}))
    assert split.payload["properties"] == {
        "company": "AE",
        "firstname": "Ada",
        "lastname": "King Lovelace",
        "email": "a@x.io",
    }
    given = mapped(message("identify", traits={"email": "a@x.io", "name": "Ada L", "firstName": "Augusta"}))
    assert given.payload["properties"] == {"firstname": "Augusta", "email": "a@x.io"}
    single = mapped(message("identify", traits={"email": "a@x.io", "name": "Ada", "postal_code": "N1"}))
    assert single.payload["properties"] == {"firstname": "Ada", "postal_code": "N1", "email": "a@x.io"}


@pytest.mark.parametrize("traits", [{}, {"email": ""}, {"email": 42}, {"name": "Ada"}])
def test_an_identify_without_an_email_is_unsupported(traits: dict[str, Any]):
    assert HUBSPOT.map(message("identify", traits=traits), settings()) == Unsupported("no_email")


# Track: a custom behavioral event.


def test_track_is_the_mapped_custom_event_of_the_contact():
    properties = {"Order ID": "o-1", "total": 30.5, "coupon": None, "items": ["sku1", "sku2"], "email": "Buyer@x.io"}
    item = mapped(message("track", event="Order Completed", messageId=MESSAGE_UUID, properties=properties))
    assert item == Item(
        EVENTS,
        {
            "eventName": "pe4412345_order_completed",
            "email": "buyer@x.io",
            "occurredAt": TIMESTAMP,
            "uuid": MESSAGE_UUID,
            "properties": {"order_id": "o-1", "total": 30.5, "items": "sku1;sku2", "email": "Buyer@x.io"},
        },
    )


def test_the_contact_of_an_event_is_else_the_email_in_the_contexts_traits():
    event = message("track", event="Signed Up", context={"traits": {"email": "Ada@X.io"}}, timestamp=None)
    event["receivedAt"] = "2026-11-30T09:25:22.000Z"
    payload = mapped(event).payload
    assert (payload["email"], payload["occurredAt"], payload["uuid"]) == (
        "ada@x.io",
        "2026-11-30T09:25:22.000Z",
        event_uuid("m1"),
    )
    assert payload["properties"] == {}


def test_hubspot_takes_50_properties_of_an_event_and_the_rest_is_counted_as_left_out():
    properties = {f"p{n}": n for n in range(60)}
    item = mapped(message("track", event="Signed Up", properties={**properties, "email": "a@x.io"}))
    assert item.payload["properties"] == {f"p{n}": n for n in range(50)}
    assert item.omitted == ("too_many_properties",)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (message("track", properties={"email": "a@x.io"}), "no_event_name"),
        (message("track", event="", properties={"email": "a@x.io"}), "no_event_name"),
        (message("track", event="Viewed Pricing", properties={"email": "a@x.io"}), "unmapped_event"),
        (message("track", event="Signed Up"), "no_email"),
        (message("track", event="Signed Up", context={"traits": "a@x.io"}), "no_email"),
        (message("group"), "no_group_id"),
        (message("page", name="Home"), "no_page_api"),
        (message("screen", name="Home"), "no_screen_api"),
        (message("alias", previousId="a1"), "no_alias_api"),
        (message("batch"), "unknown_type"),
        ({"messageId": "m1"}, "unknown_type"),
    ],
)
def test_events_hubspot_cannot_take_are_unsupported(event: dict[str, Any], reason: str):
    assert HUBSPOT.map(event, settings()) == Unsupported(reason)


# Group: the company, and its contact.


def test_group_upserts_the_company_by_its_unique_property_and_names_the_users_contact():
    traits = {
        "name": "Acme",
        "website": "https://www.acme.example/about",
        "employees": 40,
        "industry": "Rockets",
        "plan": "Enterprise",
        "address": {"city": "Tucson", "postal_code": "85701"},
    }
    event = message("group", groupId="g-7", traits=traits, context={"traits": {"email": "Wile@Acme.example"}})
    assert mapped(event) == Item(
        COMPANIES,
        {
            "id": "g-7",
            "properties": {
                "name": "Acme",
                "website": "https://www.acme.example/about",
                "numberofemployees": 40,
                "industry": "Rockets",
                "plan": "Enterprise",
                "city": "Tucson",
                "zip": "85701",
                "domain": "acme.example",
                "segment_group_id": "g-7",
            },
            "email": "wile@acme.example",
        },
    )


def test_a_group_without_the_users_email_updates_the_company_alone_and_says_so():
    item = mapped(message("group", groupId=7, traits={"domain": "acme.example", "website": "https://x.example"}))
    assert item.payload == {
        "id": "7",
        "properties": {"domain": "acme.example", "website": "https://x.example", "segment_group_id": "7"},
    }
    assert item.omitted == ("no_contact_email",)


def test_associating_the_contact_can_be_turned_off():
    event = message("group", groupId="g-7", context={"traits": {"email": "a@x.io"}})
    item = mapped(event, associate_contact=False, group_id_property="external_company_id")
    assert (item.payload, item.omitted) == ({"id": "g-7", "properties": {"external_company_id": "g-7"}}, ())


@pytest.mark.parametrize(
    ("website", "domain"),
    [
        ("https://www.acme.example/about", "acme.example"),
        ("acme.example", "acme.example"),
        ("http://shop.acme.example:8080", "shop.acme.example"),
        ("", None),
    ],
)
def test_the_company_domain_is_the_websites_host(website: str, domain: str | None):
    assert website_domain(website) == domain


def test_mapping_is_pure():
    event = message("identify", traits={"email": "A@x.io", "address": {"city": "X"}, "name": "A B"})
    before = orjson.dumps(event)
    assert HUBSPOT.map(event, settings()) == HUBSPOT.map(event, settings())
    assert orjson.dumps(event) == before


# Requests.


def payloads(*envelopes: dict[str, Any]) -> list[bytes]:
    return [orjson.dumps(envelope) for envelope in envelopes]


def test_contacts_are_upserted_by_email_with_a_trace_id_per_input_and_the_token_as_bearer():
    call = HUBSPOT.call(
        CONTACTS,
        payloads(
            {"id": "a@x.io", "properties": {"email": "a@x.io", "plan": "free"}},
            {"id": "b@x.io", "properties": {"email": "b@x.io"}},
            {"id": "a@x.io", "properties": {"plan": "pro", "city": "Oslo"}},
        ),
        settings(),
        CONTEXT,
    )
    assert (call.method, call.url, call.headers) == (
        "POST",
        f"{HOST}/crm/v3/objects/contacts/batch/upsert",
        {"Authorization": f"Bearer {TOKEN}"},
    )
    assert orjson.loads(call.body) == {
        "inputs": [
            {
                "idProperty": "email",
                "id": "a@x.io",
                "properties": {"email": "a@x.io", "plan": "pro", "city": "Oslo"},
                "objectWriteTraceId": "0",
            },
            {"idProperty": "email", "id": "b@x.io", "properties": {"email": "b@x.io"}, "objectWriteTraceId": "1"},
        ]
    }, "one input per contact: HubSpot refuses a batch naming an id twice; the later values win"
    assert call.state.positions == [0, 1, 0]


def test_companies_are_upserted_by_the_configured_property():
    company = {"id": "g-7", "properties": {"name": "Acme", "external_company_id": "g-7"}, "email": "a@x.io"}
    call = HUBSPOT.call(COMPANIES, payloads(company), settings(group_id_property="external_company_id"), CONTEXT)
    assert call.url == f"{HOST}/crm/v3/objects/companies/batch/upsert"
    assert orjson.loads(call.body)["inputs"] == [
        {
            "idProperty": "external_company_id",
            "id": "g-7",
            "properties": company["properties"],
            "objectWriteTraceId": "0",
        }
    ]


def test_the_chains_steps_look_the_contact_up_by_email_then_associate_it():
    lookup = HUBSPOT.call(CONTACT_IDS, payloads({"id": "a@x.io", "company": "901"}), settings(), CONTEXT)
    assert lookup.url == f"{HOST}/crm/v3/objects/contacts/batch/upsert"
    assert orjson.loads(lookup.body)["inputs"] == [
        {"idProperty": "email", "id": "a@x.io", "properties": {"email": "a@x.io"}, "objectWriteTraceId": "0"}
    ]
    associate = HUBSPOT.call(
        ASSOCIATIONS,
        payloads({"contact": "51", "company": "901"}, {"contact": "51", "company": "901"}),
        settings(),
        CONTEXT,
    )
    assert associate.url == f"{HOST}/crm/v4/associations/contact/company/batch/associate/default"
    assert orjson.loads(associate.body) == {"inputs": [{"from": {"id": "51"}, "to": {"id": "901"}}]}


def test_events_are_sent_as_they_were_mapped_and_the_limits_count_their_body_exactly():
    items = [b'{"eventName":"pe1_a","email":"a@x.io"}', b'{"eventName":"pe1_b","email":"b@x.io"}']
    call = HUBSPOT.call(EVENTS, items, settings(), CONTEXT)
    assert call.url == f"{HOST}/events/v3/send/batch"
    assert call.body == b'{"inputs":[' + b",".join(items) + b"]}"
    limits = HUBSPOT.limits(EVENTS, settings())
    assert (limits.max_items, limits.max_bytes) == (100, 1_980_000)
    assert limits.overhead_bytes + sum(len(item) + 1 for item in items) == len(call.body)


def test_an_endpoint_replaces_the_host():
    call = HUBSPOT.call(EVENTS, [b"{}"], settings(endpoint="http://127.0.0.1:9/hubspot/"), CONTEXT)
    assert call.url == "http://127.0.0.1:9/hubspot/events/v3/send/batch"


def test_a_dublin_stack_is_told_hubspot_has_one_global_api_host():
    warning = HUBSPOT.residency_warning(settings(), "eu-west-1")
    assert warning is not None and "api.hubapi.com" in warning and "EU data centre" in warning
    assert HUBSPOT.residency_warning(settings(), "us-east-1") is None
    assert HUBSPOT.residency_warning(settings(endpoint="https://proxy.example"), "eu-west-1") is None


# Answers.


def answer(status: int, body: Any = b"", headers: dict[str, str] | None = None) -> Answer:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Answer(status, headers or {}, raw, True)


def read(channel: str, envelopes: list[dict[str, Any]], reply: Answer, **overrides: Any) -> list[Verdict]:
    call = HUBSPOT.call(channel, payloads(*envelopes), settings(**overrides), CONTEXT)
    return HUBSPOT.interpret(call, reply, len(envelopes), NOW)


def brief(verdicts: list[Verdict]) -> list[tuple[Any, ...]]:
    return [(v.status, v.code, v.retry_after, v.again, v.then) for v in verdicts]


def result(trace: str, object_id: str, **properties: Any) -> dict[str, Any]:
    return {"id": object_id, "objectWriteTraceId": trace, "properties": properties, "new": False}


CONTACT_A = {"id": "a@x.io", "properties": {"email": "a@x.io"}}
CONTACT_B = {"id": "b@x.io", "properties": {"email": "b@x.io"}}


def test_a_batch_of_contacts_taken_whole_is_delivered():
    reply = answer(200, {"status": "COMPLETE", "results": [result("1", "52"), result("0", "51")]})
    assert brief(read(CONTACTS, [CONTACT_A, CONTACT_B], reply)) == [(DELIVERED, "200", None, None, ())] * 2


def test_a_multi_status_answer_is_read_per_input():
    reply = answer(
        207,
        {
            "status": "COMPLETE",
            "results": [result("0", "51")],
            "numErrors": 2,
            "errors": [
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "Invalid email",
                    "context": {"ids": ["B@x.io"]},
                },
                {"status": "error", "category": "CONFLICT", "context": {"objectWriteTraceId": ["3"]}},
            ],
        },
    )
    contact_c = {"id": "c@x.io", "properties": {"email": "c@x.io"}}
    contact_d = {"id": "d@x.io", "properties": {"email": "d@x.io"}}
    verdicts = read(CONTACTS, [CONTACT_A, CONTACT_B, contact_c, contact_d], reply)
    assert [(v.status, v.code) for v in verdicts] == [
        (DELIVERED, "207"),
        (FINAL, "207.validation_error"),
        (RETRY, "207.unconfirmed"),
        (FINAL, "207.conflict"),
    ]


def test_a_company_taken_leads_to_its_contact_and_the_contact_to_the_association():
    company = {"id": "g-7", "properties": {"segment_group_id": "g-7"}, "email": "a@x.io"}
    lone_company = {"id": "g-8", "properties": {"segment_group_id": "g-8"}}
    reply = answer(201, {"results": [result("0", "901"), result("1", "902")]})
    assert brief(read(COMPANIES, [company, lone_company], reply)) == [
        (DELIVERED, "201", None, None, (Item(CONTACT_IDS, {"id": "a@x.io", "company": "901"}),)),
        (DELIVERED, "201", None, None, ()),
    ]
    reply = answer(200, {"results": [result("0", "51")]})
    assert brief(read(CONTACT_IDS, [{"id": "a@x.io", "company": "901"}], reply)) == [
        (DELIVERED, "200", None, None, (Item(ASSOCIATIONS, {"contact": "51", "company": "901"}),))
    ]
    reply = answer(200, {"results": [{"from": {"id": "51"}, "to": {"id": "901"}, "associationSpec": {}}]})
    assert brief(read(ASSOCIATIONS, [{"contact": "51", "company": "901"}], reply)) == [
        (DELIVERED, "200", None, None, ())
    ]


def test_results_without_trace_ids_are_matched_by_their_id_property():
    company = {"id": "g-7", "properties": {"segment_group_id": "g-7"}, "email": "a@x.io"}
    reply = answer(200, {"results": [{"id": "901", "properties": {"segment_group_id": "g-7"}}]})
    assert read(COMPANIES, [company], reply)[0].then == (Item(CONTACT_IDS, {"id": "a@x.io", "company": "901"}),)
    reply = answer(
        200,
        {"results": [{"id": "52", "properties": {"email": "B@X.io"}}, {"id": "51", "properties": {"email": "a@x.io"}}]},
    )
    lookups = [{"id": "a@x.io", "company": "901"}, {"id": "b@x.io", "company": "902"}]
    assert [v.then for v in read(CONTACT_IDS, lookups, reply)] == [
        (Item(ASSOCIATIONS, {"contact": "51", "company": "901"}),),
        (Item(ASSOCIATIONS, {"contact": "52", "company": "902"}),),
    ]


def test_a_chained_step_whose_id_the_answer_does_not_give_is_final():
    company = {"id": "g-7", "properties": {"segment_group_id": "g-7"}, "email": "a@x.io"}
    assert brief(read(COMPANIES, [company], answer(200, b"not json"))) == [(FINAL, "200.no_id", None, None, ())]


def test_properties_hubspot_lacks_are_left_out_and_the_items_sent_again_at_once():
    unknown = {
        "status": "error",
        "message": 'Property values were not valid: [{"isValid":false,"message":"Property \\"plan\\" does not exist",'
        '"error":"PROPERTY_DOESNT_EXIST","name":"plan"},{"isValid":false,"message":"Property \\"logins\\" does not '
        'exist","error":"PROPERTY_DOESNT_EXIST","name":"logins"}]',
        "category": "VALIDATION_ERROR",
    }
    with_plan = {"id": "a@x.io", "properties": {"email": "a@x.io", "plan": "pro", "logins": 3, "city": "Oslo"}}
    verdicts = read(CONTACTS, [with_plan, CONTACT_B], answer(400, unknown))
    assert brief(verdicts) == [
        (
            DELIVERED,
            "400.unknown_property",
            None,
            None,
            (
                Item(
                    CONTACTS,
                    {"id": "a@x.io", "properties": {"email": "a@x.io", "city": "Oslo"}},
                    omitted=("unknown_property",),
                ),
            ),
        ),
        (DELIVERED, "400.unknown_property", None, None, (Item(CONTACTS, CONTACT_B),)),
    ]
    event = {"eventName": "pe1_a", "email": "a@x.io", "properties": {"plan": "pro", "total": 3}}
    (verdict,) = read(EVENTS, [event], answer(400, unknown))
    assert verdict.then == (Item(EVENTS, {**event, "properties": {"total": 3}}, omitted=("unknown_property",)),)


def test_a_missing_group_id_property_is_final_and_named():
    body = {"status": "error", "message": 'Property "segment_group_id" does not exist', "category": "VALIDATION_ERROR"}
    company = {"id": "g-7", "properties": {"segment_group_id": "g-7", "name": "Acme"}}
    assert brief(read(COMPANIES, [company], answer(400, body))) == [(FINAL, "400.unknown_id_property", None, None, ())]


def test_another_refusal_goes_again_in_halves_and_is_final_alone():
    body = {"status": "error", "message": "Invalid input JSON", "category": "VALIDATION_ERROR"}
    assert {v.again for v in read(CONTACTS, [CONTACT_A, CONTACT_B], answer(400, body))} == {Again.SPLIT}
    assert brief(read(CONTACTS, [CONTACT_A], answer(400, body))) == [(FINAL, "400", None, None, ())]
    named_but_absent = {"message": 'Property "plan" does not exist'}
    assert brief(read(CONTACTS, [CONTACT_A], answer(400, named_but_absent))) == [(FINAL, "400", None, None, ())]


def test_the_daily_limit_waits_for_midnight_in_the_accounts_time_zone():
    daily = {
        "status": "error",
        "message": "You have reached your daily limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "DAILY",
    }
    (verdict,) = read(CONTACTS, [CONTACT_A], answer(429, daily), time_zone="America/New_York")
    midnight = datetime(2026, 12, 1, tzinfo=ZoneInfo("America/New_York")).timestamp()
    assert (verdict.status, verdict.code, verdict.retry_after) == (RETRY, "429.daily", midnight - NOW)
    (utc,) = read(EVENTS, [{"eventName": "pe1_a"}], answer(429, daily))
    assert utc.retry_after == datetime(2026, 12, 1, tzinfo=UTC).timestamp() - NOW


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Max": "100"}, 10.0),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "1000"}, 1.0),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "1000", "Retry-After": "4"}, 4.0),
        ({}, 10.0),
    ],
)
def test_the_ten_secondly_limit_waits_for_its_window(headers: dict[str, str], wait: float):
    rolling = {"status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
    verdicts = read(CONTACTS, [CONTACT_A, CONTACT_B], answer(429, rolling, headers))
    assert brief(verdicts) == [(RETRY, "429", wait, None, ())] * 2


@pytest.mark.parametrize(
    ("status", "headers", "verdict"),
    [
        (204, {}, (DELIVERED, "204", None)),
        (401, {}, (FINAL, "401", None)),
        (403, {}, (FINAL, "403", None)),
        (404, {}, (FINAL, "404", None)),
        (423, {}, (RETRY, "423", 2.0)),
        (477, {"Retry-After": "3600"}, (RETRY, "477", 3600.0)),
        (500, {}, (RETRY, "500", None)),
        (502, {}, (RETRY, "502", None)),
        (503, {"Retry-After": "5"}, (RETRY, "503", 5.0)),
    ],
)
def test_answers_to_events_are_read_by_status(status: int, headers: dict[str, str], verdict: tuple[Any, ...]):
    verdicts = read(EVENTS, [{"eventName": "pe1_a"}, {"eventName": "pe1_b"}], answer(status, b"", headers))
    assert [(v.status, v.code, v.retry_after) for v in verdicts] == [verdict] * 2


def test_a_request_too_large_goes_again_in_halves():
    assert {v.again for v in read(EVENTS, [{"a": 1}, {"b": 2}], answer(413))} == {Again.SPLIT}
    assert brief(read(EVENTS, [{"a": 1}], answer(413))) == [(FINAL, "413", None, None, ())]


@pytest.mark.parametrize(
    ("local", "zone", "hours"),
    [
        (datetime(2026, 11, 30, 23, 0), "Europe/Berlin", 1.0),
        (datetime(2026, 3, 28, 23, 0), "Europe/Berlin", 1.0),  # the night clocks go forward
        (datetime(2026, 3, 29, 12, 0), "Europe/Berlin", 12.0),
        (datetime(2026, 11, 30, 0, 0), "Asia/Kolkata", 24.0),
    ],
)
def test_seconds_until_midnight(local: datetime, zone: str, hours: float):
    now = local.replace(tzinfo=ZoneInfo(zone)).timestamp()
    assert seconds_until_midnight(now, account_zone(zone)) == hours * 3600


# Through the driver, against a HubSpot that keeps its records.


class FakeHubspot:
    """Upserts contacts and companies (ids handed out in order, results in reverse order as HubSpot
    does not promise it), records associations, takes events; `fail` answers a path's next requests."""

    def __init__(self) -> None:
        self.ids = itertools.count(101)
        self.records: dict[tuple[str, str], str] = {}
        self.associations: list[tuple[str, str]] = []
        self.events: list[dict[str, Any]] = []
        self.sent: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.fail: dict[str, list[Answer]] = {}

    def request(self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], deadline: float) -> Answer:
        assert method == "POST"
        path = url.removeprefix(HOST)
        parsed = orjson.loads(body)
        self.sent.append((path, parsed, dict(headers)))
        if self.fail.get(path):
            return self.fail[path].pop(0)
        if path == "/events/v3/send/batch":
            self.events.extend(parsed["inputs"])
            return Answer(204, {}, b"", True)
        if path.endswith("/batch/associate/default"):
            pairs = [(i["from"]["id"], i["to"]["id"]) for i in parsed["inputs"]]
            self.associations.extend(pairs)
            return Answer(
                200, {}, orjson.dumps({"results": [{"from": {"id": a}, "to": {"id": b}} for a, b in pairs]}), True
            )
        kind = path.split("/")[4]
        results = []
        for item in parsed["inputs"]:
            key = (kind, item["id"])
            if key not in self.records:
                self.records[key] = str(next(self.ids))
            results.append(
                {"id": self.records[key], "objectWriteTraceId": item["objectWriteTraceId"], "properties": {}}
            )
        return Answer(200, {}, orjson.dumps({"status": "COMPLETE", "results": results[::-1]}), True)


def adapter(http: FakeHubspot) -> ToolAdapter:
    return ToolAdapter(
        HUBSPOT,
        "us-east-1",
        http=http,  # type: ignore[arg-type]
        credentials=StaticCredentials({"access_token": TOKEN}),
        clock=lambda: NOW,
        monotonic=lambda: 0.0,
    )


def destination(**overrides: Any) -> Any:
    return stored_destination("hubspot-crm", "hubspot", settings(**overrides))


def test_a_hand_over_sends_each_kind_in_one_request_and_the_group_chain_after_them():
    http = FakeHubspot()
    events = [
        message("track", 1, event="Signed Up", properties={"email": "ada@x.io", "plan": "pro"}),
        message("identify", 2, traits={"email": "Ada@x.io", "plan": "pro"}),
        message("group", 3, groupId="g-7", traits={"name": "Acme"}, context={"traits": {"email": "ada@x.io"}}),
        message("identify", 4, traits={"email": "bo@x.io"}),
        message("group", 5, groupId="g-7", traits={"plan": "gold"}, context={"traits": {"email": "bo@x.io"}}),
        message("page", 6, name="Home"),
        message("identify", 7, traits={"email": "ada@x.io", "city": "Oslo"}),
    ]
    attempts = adapter(http).send(destination(), events, deadline=60.0)
    assert [path for path, _, _ in http.sent] == [
        "/events/v3/send/batch",
        "/crm/v3/objects/contacts/batch/upsert",
        "/crm/v3/objects/companies/batch/upsert",
        "/crm/v3/objects/contacts/batch/upsert",
        "/crm/v4/associations/contact/company/batch/associate/default",
    ]
    contacts = http.sent[1][1]["inputs"]
    assert [(i["id"], i["properties"]) for i in contacts] == [
        ("ada@x.io", {"plan": "pro", "email": "ada@x.io", "city": "Oslo"}),
        ("bo@x.io", {"email": "bo@x.io"}),
    ]
    assert http.sent[2][1]["inputs"] == [
        {
            "idProperty": "segment_group_id",
            "id": "g-7",
            "properties": {"name": "Acme", "segment_group_id": "g-7", "plan": "gold"},
            "objectWriteTraceId": "0",
        }
    ]
    company = http.records[("companies", "g-7")]
    assert company == "103"
    assert [i["id"] for i in http.sent[3][1]["inputs"]] == ["ada@x.io", "bo@x.io"]
    assert http.associations == [
        (http.records[("contacts", "ada@x.io")], company),
        (http.records[("contacts", "bo@x.io")], company),
    ]
    assert [(a.status, a.code) for a in attempts] == [
        (DELIVERED, "204"),
        (DELIVERED, "200"),
        (DELIVERED, "200"),
        (DELIVERED, "200"),
        (DELIVERED, "200"),
        (UNSUPPORTED, "unsupported.no_page_api"),
        (DELIVERED, "200"),
    ]
    assert all(headers["Authorization"] == f"Bearer {TOKEN}" for _, _, headers in http.sent)


def test_an_association_that_fails_is_the_group_calls_outcome_and_its_sample_shows_no_token():
    http = FakeHubspot()
    http.fail["/crm/v4/associations/contact/company/batch/associate/default"] = [
        Answer(503, {}, b'{"message":"down"}', True)
    ]
    event = message("group", groupId="g-7", context={"traits": {"email": "ada@x.io"}})
    (attempt,) = adapter(http).send(destination(), [event], deadline=60.0)
    assert (attempt.status, attempt.code) == (RETRY, "503")
    assert attempt.request["url"].endswith("/batch/associate/default")
    assert attempt.request["headers"]["Authorization"] == "<redacted>"
    assert TOKEN not in orjson.dumps([attempt.request, attempt.response]).decode()


def test_properties_hubspot_lacks_are_dropped_and_the_contact_still_goes():
    http = FakeHubspot()
    refusal = orjson.dumps(
        {"status": "error", "message": 'Property "plan" does not exist', "category": "VALIDATION_ERROR"}
    )
    http.fail["/crm/v3/objects/contacts/batch/upsert"] = [Answer(400, {}, refusal, True)]
    (attempt,) = adapter(http).send(
        destination(), [message("identify", traits={"email": "a@x.io", "plan": "pro"})], 60.0
    )
    assert (attempt.status, attempt.omitted) == (DELIVERED, ("unknown_property",))
    assert [inputs["inputs"][0]["properties"] for _, inputs, _ in http.sent] == [
        {"plan": "pro", "email": "a@x.io"},
        {"email": "a@x.io"},
    ]


def test_a_daily_limit_holds_every_event_until_midnight():
    http = FakeHubspot()
    daily = Answer(429, {}, b'{"status":"error","policyName":"DAILY","errorType":"RATE_LIMIT"}', True)
    http.fail["/crm/v3/objects/contacts/batch/upsert"] = [daily]
    attempts = adapter(http).send(
        destination(time_zone="Europe/Berlin"), [message("identify", traits={"email": "a@x.io"})], 60.0
    )
    midnight = datetime(2026, 12, 1, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    assert [(a.status, a.code, a.retry_after) for a in attempts] == [(RETRY, "429.daily", midnight - NOW)]
