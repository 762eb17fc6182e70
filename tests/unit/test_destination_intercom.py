"""`type: intercom`: settings and regional hosts, the contact, event and company of each call, the
requests of each step, Intercom's answers (the chains' next steps built from them, the unknown
user retried once, custom attributes the workspace lacks left out, throttling), and delivery
through the driver against an Intercom that keeps its records."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.base import CallContext, Item, Unsupported, Verdict
from switchyard.destinations.driver import ToolAdapter
from switchyard.destinations.intercom import (
    COMPANY,
    CONTACT_CREATE,
    CONTACT_SEARCH,
    CONTACT_UPDATE,
    EVENT,
    INTERCOM,
    MEMBER_SEARCH,
    MEMBERSHIP,
    IntercomSettings,
)
from tests.support.destinations import StaticCredentials, stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
UNSUPPORTED = AttemptStatus.UNSUPPORTED
TOKEN = "dG9rOmE2ZjBlYzE4XzRjYjFfNDA3Nl85ODMxXzE5NjUxZGI1YjQ0ZjoxOjA="
TIMESTAMP = "2026-11-30T09:25:21.123Z"
SECONDS = 1_796_030_721  # TIMESTAMP, in whole seconds
NOW = 1_796_031_000.0
US = "https://api.intercom.io"
CONTEXT = CallContext("us-east-1", NOW)


def settings(**overrides: Any) -> IntercomSettings:
    return IntercomSettings.model_validate({"access_token": TOKEN, **overrides})


def message(kind: str, number: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "userId": "u1",
        "anonymousId": "a1",
        "messageId": f"m{number}",
        "timestamp": TIMESTAMP,
        **fields,
    }


def mapped(event: dict[str, Any], **overrides: Any) -> Item:
    result = INTERCOM.map(event, settings(**overrides))
    assert isinstance(result, list) and len(result) == 1, result
    return result[0]


# Settings and hosts.


def test_the_access_token_is_a_credential():
    configured = settings()
    assert IntercomSettings.SECRET_FIELDS == ("access_token",)
    assert configured.credentials() == {"access_token": TOKEN}
    assert TOKEN not in orjson.dumps(configured.public_settings()).decode()
    assert (configured.region, configured.api_version) == (None, "2.14")


def test_the_access_token_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INTERCOM_TOKEN", TOKEN)
    assert IntercomSettings.model_validate({"access_token": {"env": "INTERCOM_TOKEN"}}).access_token == TOKEN


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"access_token": None}, "access_token"),
        ({"access_token": "short"}, "access_token"),
        ({"region": "ap"}, "region"),
        ({"api_version": "latest"}, "api_version"),
        ({"api_version": "2"}, "api_version"),
        ({"endpoint": "api.intercom.io"}, "endpoint"),
        ({"app_id": "abc"}, "app_id"),
    ],
)
def test_settings_intercom_cannot_use_are_refused(overrides: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        settings(**overrides)


@pytest.mark.parametrize(
    ("aws_region", "overrides", "base"),
    [
        ("us-east-1", {}, US),
        ("eu-west-1", {}, "https://api.eu.intercom.io"),
        ("ap-southeast-2", {"region": "au"}, "https://api.au.intercom.io"),
        ("eu-west-1", {"region": "us"}, US),
        ("us-east-1", {"region": "eu"}, "https://api.eu.intercom.io"),
        ("eu-west-1", {"endpoint": "http://127.0.0.1:9/intercom/"}, "http://127.0.0.1:9/intercom"),
    ],
)
def test_the_workspaces_region_picks_the_host(aws_region: str, overrides: dict[str, Any], base: str):
    call = INTERCOM.call(EVENT, [b"{}"], settings(**overrides), CallContext(aws_region, NOW))
    assert call.url == base + "/events"


def test_a_dublin_stack_is_warned_of_a_workspace_outside_the_eu():
    assert INTERCOM.residency_warning(settings(), "eu-west-1") is None
    assert (
        INTERCOM.residency_warning(settings(region="us"), "eu-west-1")
        == "sends to api.intercom.io, outside the EU (`region: us`)"
    )
    assert (
        INTERCOM.residency_warning(settings(region="au"), "eu-west-1")
        == "sends to api.au.intercom.io, outside the EU (`region: au`)"
    )
    assert INTERCOM.residency_warning(settings(region="us"), "us-east-1") is None
    assert INTERCOM.residency_warning(settings(region="us", endpoint="https://proxy.example"), "eu-west-1") is None


# Identify: the contact, by external id.


def test_identify_looks_the_contact_up_by_its_external_id_with_the_fields_to_write():
    traits = {
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "avatar": "https://img.example/ada.png",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "unsubscribed_from_emails": False,
        "plan": "pro",
        "logins": 12,
        "beta": True,
        "trial_ends_at": "2026-12-01T00:00:00Z",
        "address": {"city": "London"},
        "tags": ["a"],
        "nickname": None,
    }
    item = mapped(message("identify", traits=traits))
    assert item == Item(
        CONTACT_SEARCH,
        {
            "external_id": "u1",
            "contact": {
                "external_id": "u1",
                "email": "ada@example.com",
                "phone": "+44 20 7946 0000",
                "name": "Ada Lovelace",
                "avatar": "https://img.example/ada.png",
                "signed_up_at": 1_767_225_600,
                "last_seen_at": SECONDS,
                "unsubscribed_from_emails": False,
                "custom_attributes": {"plan": "pro", "logins": 12, "beta": True, "trial_ends_at": 1_796_083_200},
            },
        },
        ("nested_attribute",),
    )


def test_a_name_trait_wins_and_unix_seconds_stay_as_they_are():
    item = mapped(message("identify", traits={"name": "Ada King", "firstName": "Augusta", "created_at": 1_700_000_000}))
    assert item.payload["contact"] == {
        "external_id": "u1",
        "name": "Ada King",
        "signed_up_at": 1_700_000_000,
        "last_seen_at": SECONDS,
    }
    assert item.omitted == ()


def test_an_identify_without_a_user_id_is_unsupported():
    assert INTERCOM.map(message("identify", userId=None, traits={"email": "a@x.io"}), settings()) == Unsupported(
        "no_user_id"
    )


# Track: a data event.


def test_track_is_a_data_event_of_the_user_with_its_metadata_and_price():
    properties = {"revenue": 12.5, "currency": "eur", "order_id": "o-1", "items": 2, "email": "a@x.io", "coupon": None}
    item = mapped(message("track", event="Order Completed", properties=properties))
    assert item == Item(
        EVENT,
        {
            "event_name": "Order Completed",
            "created_at": SECONDS,
            "user_id": "u1",
            "metadata": {"price": {"amount": 1250, "currency": "eur"}, "order_id": "o-1", "items": 2},
        },
    )


def test_intercom_keeps_ten_metadata_keys_of_text_numbers_and_booleans():
    properties = {"revenue": 3, **{f"k{n}": n for n in range(12)}, "cart": {"id": 1}}
    item = mapped(message("track", event="Checkout", properties=properties))
    assert item.payload["metadata"] == {"price": {"amount": 300, "currency": "usd"}, **{f"k{n}": n for n in range(9)}}
    assert item.omitted == ("too_many_metadata",)
    nested = mapped(message("track", event="Checkout", properties={"cart": {"id": 1}, "tags": ["a"], "ok": True}))
    assert (nested.payload["metadata"], nested.omitted) == ({"ok": True}, ("nested_metadata",))


def test_an_anonymous_event_is_the_users_by_email():
    event = message("track", event="Signed Up", userId=None, context={"traits": {"email": "a@x.io"}}, timestamp=None)
    event["receivedAt"] = "2026-11-30T09:25:22.000Z"
    assert mapped(event).payload == {"event_name": "Signed Up", "created_at": SECONDS + 1, "email": "a@x.io"}


# Group: the company, then the user's membership.


def test_group_creates_or_updates_the_company_by_its_id_and_names_the_user_for_its_membership():
    traits = {
        "name": "Acme",
        "plan": "gold",
        "monthly_spend": 99.5,
        "employees": 40,
        "website": "https://acme.example",
        "industry": "Rockets",
        "createdAt": "2020-01-01T00:00:00Z",
        "region": "emea",
        "address": {"city": "Tucson"},
    }
    item = mapped(message("group", groupId="g-7", traits=traits))
    assert item == Item(
        COMPANY,
        {
            "company": {
                "company_id": "g-7",
                "name": "Acme",
                "plan": "gold",
                "monthly_spend": 99.5,
                "size": 40,
                "website": "https://acme.example",
                "industry": "Rockets",
                "remote_created_at": 1_577_836_800,
                "custom_attributes": {"region": "emea"},
            },
            "external_id": "u1",
        },
        ("nested_attribute",),
    )


def test_a_group_without_a_user_id_updates_the_company_alone_and_says_so():
    item = mapped(message("group", groupId=7, userId=None, traits={"name": "Acme"}))
    assert (item.payload, item.omitted) == ({"company": {"company_id": "7", "name": "Acme"}}, ("no_user_id",))


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (message("track"), "no_event_name"),
        (message("track", event=""), "no_event_name"),
        (message("track", event="E", userId=None), "no_user_id_or_email"),
        (message("track", event="E", timestamp=None), "no_timestamp"),
        (message("group"), "no_group_id"),
        (message("page", name="Home"), "no_page_api"),
        (message("screen", name="Home"), "no_screen_api"),
        (message("alias", previousId="a1"), "no_alias_api"),
        (message("batch"), "unknown_type"),
        ({"messageId": "m1"}, "unknown_type"),
    ],
)
def test_events_intercom_cannot_take_are_unsupported(event: dict[str, Any], reason: str):
    assert INTERCOM.map(event, settings()) == Unsupported(reason)


def test_mapping_is_pure():
    event = message("identify", traits={"email": "a@x.io", "address": {"city": "X"}, "plan": "pro"})
    before = orjson.dumps(event)
    assert INTERCOM.map(event, settings()) == INTERCOM.map(event, settings())
    assert orjson.dumps(event) == before


# Requests.


def request(channel: str, item: dict[str, Any], **overrides: Any) -> tuple[str, str, Any, Mapping[str, str]]:
    call = INTERCOM.call(channel, [orjson.dumps(item)], settings(**overrides), CONTEXT)
    return call.method, call.url.removeprefix(US), orjson.loads(call.body), call.headers


CONTACT = {"external_id": "u1", "email": "a@x.io"}


def test_each_step_is_the_request_intercom_documents_with_the_token_and_version():
    search = {"query": {"field": "external_id", "operator": "=", "value": "u1"}}
    assert request(CONTACT_SEARCH, {"external_id": "u1", "contact": CONTACT})[:3] == (
        "POST",
        "/contacts/search",
        search,
    )
    assert request(CONTACT_CREATE, {"contact": CONTACT})[:3] == ("POST", "/contacts", {"role": "user", **CONTACT})
    assert request(CONTACT_UPDATE, {"id": "c-9", "contact": CONTACT})[:3] == ("PUT", "/contacts/c-9", CONTACT)
    assert request(COMPANY, {"company": {"company_id": "g-7"}, "external_id": "u1"})[:3] == (
        "POST",
        "/companies",
        {"company_id": "g-7"},
    )
    assert request(MEMBER_SEARCH, {"external_id": "u1", "company": "co-3"})[:3] == ("POST", "/contacts/search", search)
    assert request(MEMBERSHIP, {"contact": "c-9", "company": "co-3"})[:3] == (
        "POST",
        "/contacts/c-9/companies",
        {"id": "co-3"},
    )
    event = {"event_name": "E", "created_at": SECONDS, "user_id": "u1"}
    assert request(EVENT, event, api_version="2.15") == (
        "POST",
        "/events",
        event,
        {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.15", "Accept": "application/json"},
    )


def test_an_event_is_sent_as_it_was_mapped():
    body = b'{"event_name":"E","created_at":1,"user_id":"u1"}'
    assert INTERCOM.call(EVENT, [body], settings(), CONTEXT).body == body
    limits = INTERCOM.limits(EVENT, settings())
    assert (limits.max_items, limits.max_bytes) == (1, 1_000_001)
    assert INTERCOM.events_per_send(settings()) == 10
    assert INTERCOM.default_rate_limit_per_second == 50


# Answers.


def answer(status: int, body: Any = b"", headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, headers or {}, body if isinstance(body, bytes) else orjson.dumps(body), True)


def read(channel: str, item: dict[str, Any], reply: Answer) -> Verdict:
    call = INTERCOM.call(channel, [orjson.dumps(item)], settings(), CONTEXT)
    (verdict,) = INTERCOM.interpret(call, reply, 1, NOW)
    return verdict


def brief(verdict: Verdict) -> tuple[Any, ...]:
    return verdict.status, verdict.code, verdict.retry_after, verdict.then, verdict.final_from_attempt


def errors(*messages: str, code: str = "parameter_invalid") -> dict[str, Any]:
    return {"type": "error.list", "request_id": "r-1", "errors": [{"code": code, "message": m} for m in messages]}


LOOKUP = {"external_id": "u1", "contact": CONTACT}
FOUND = {"type": "list", "data": [{"type": "contact", "id": "c-9", "external_id": "u1"}], "total_count": 1}
NOT_FOUND = {"type": "list", "data": [], "total_count": 0}


def test_a_contact_found_is_updated_by_its_id_and_one_not_found_is_created():
    assert brief(read(CONTACT_SEARCH, LOOKUP, answer(200, FOUND))) == (
        DELIVERED,
        "200",
        None,
        (Item(CONTACT_UPDATE, {"id": "c-9", "contact": CONTACT}),),
        None,
    )
    assert read(CONTACT_SEARCH, LOOKUP, answer(200, NOT_FOUND)).then == (Item(CONTACT_CREATE, {"contact": CONTACT}),)
    assert brief(read(CONTACT_CREATE, {"contact": CONTACT}, answer(200, {"type": "contact", "id": "c-9"}))) == (
        DELIVERED,
        "200",
        None,
        (),
        None,
    )


def test_a_create_intercom_says_exists_becomes_the_update_of_that_contact():
    conflict = errors(
        "A contact matching those details already exists with id=5da6f18e3d7cf967e4582d05", code="conflict"
    )
    assert brief(read(CONTACT_CREATE, {"contact": CONTACT}, answer(409, conflict))) == (
        DELIVERED,
        "409.exists",
        None,
        (Item(CONTACT_UPDATE, {"id": "5da6f18e3d7cf967e4582d05", "contact": CONTACT}),),
        None,
    )
    archived = errors("An archived contact matching those details already exists with id=5ff25dc6", code="conflict")
    assert brief(read(CONTACT_CREATE, {"contact": CONTACT}, answer(409, archived)))[:2] == (
        FINAL,
        "409.archived_contact",
    )
    assert brief(read(CONTACT_CREATE, {"contact": CONTACT}, answer(409, b"")))[:2] == (FINAL, "409")


def test_custom_attributes_the_workspace_lacks_are_left_out_and_the_record_sent_again():
    contact = {**CONTACT, "custom_attributes": {"plan": "pro", "logins": 3}}
    refusal = answer(400, errors("Custom attribute 'plan' does not exist"))
    assert brief(read(CONTACT_UPDATE, {"id": "c-9", "contact": contact}, refusal)) == (
        DELIVERED,
        "400.unknown_attribute",
        None,
        (
            Item(
                CONTACT_UPDATE,
                {"id": "c-9", "contact": {**CONTACT, "custom_attributes": {"logins": 3}}},
                omitted=("unknown_attribute",),
            ),
        ),
        None,
    )
    company = {"company": {"company_id": "g-7", "custom_attributes": {"plan": "x"}}, "external_id": "u1"}
    assert read(COMPANY, company, refusal).then == (
        Item(COMPANY, {"company": {"company_id": "g-7"}, "external_id": "u1"}, omitted=("unknown_attribute",)),
    )


def test_other_refusals_are_final():
    assert brief(
        read(CONTACT_CREATE, {"contact": CONTACT}, answer(400, errors("The owner specified is not a member")))
    )[:2] == (
        FINAL,
        "400",
    )
    unknown_but_absent = answer(400, errors("Custom attribute 'plan' does not exist"))
    assert brief(read(CONTACT_CREATE, {"contact": CONTACT}, unknown_but_absent))[:2] == (FINAL, "400")
    assert brief(read(EVENT, {"event_name": "E"}, answer(400, errors("bad"))))[:2] == (FINAL, "400")


def test_an_event_of_a_user_intercom_does_not_know_yet_is_retried_once():
    verdict = read(EVENT, {"event_name": "E", "user_id": "u1"}, answer(404, errors("User Not Found", code="not_found")))
    assert brief(verdict) == (RETRY, "404.unknown_user", None, (), 2)
    assert brief(read(EVENT, {"event_name": "E"}, answer(202, b"")))[:2] == (DELIVERED, "202")


def test_a_company_leads_to_its_members_contact_and_the_contact_to_the_membership():
    company = {"company": {"company_id": "g-7"}, "external_id": "u1"}
    created = answer(200, {"type": "company", "id": "co-3", "company_id": "g-7"})
    assert read(COMPANY, company, created).then == (Item(MEMBER_SEARCH, {"external_id": "u1", "company": "co-3"}),)
    assert brief(read(COMPANY, {"company": {"company_id": "g-7"}}, created))[:4] == (DELIVERED, "200", None, ())
    assert brief(read(COMPANY, company, answer(200, b"{}")))[:2] == (FINAL, "200.no_id")
    lookup = {"external_id": "u1", "company": "co-3"}
    assert read(MEMBER_SEARCH, lookup, answer(200, FOUND)).then == (
        Item(MEMBERSHIP, {"contact": "c-9", "company": "co-3"}),
    )
    assert brief(read(MEMBER_SEARCH, lookup, answer(200, NOT_FOUND))) == (RETRY, "404.unknown_user", None, (), 2)
    assert brief(read(MEMBERSHIP, {"contact": "c-9", "company": "co-3"}, answer(200, {"type": "company"})))[:2] == (
        DELIVERED,
        "200",
    )


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"X-RateLimit-Limit": "167", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 7)}, 7.0),
        ({"X-RateLimit-Reset": str(int(NOW) - 3)}, 1.0),
        ({"Retry-After": "4"}, 4.0),
        ({}, 10.0),
    ],
)
def test_throttling_waits_until_intercom_resets_the_window(headers: dict[str, str], wait: float):
    throttled = answer(429, errors("Exceeded rate limit of 167 in 10_seconds", code="rate_limit_exceeded"), headers)
    assert brief(read(EVENT, {"event_name": "E"}, throttled)) == (RETRY, "429", wait, (), None)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(401, (FINAL, "401")), (403, (FINAL, "403")), (404, (FINAL, "404")), (500, (RETRY, "500")), (503, (RETRY, "503"))],
)
def test_other_answers_are_read_by_status(status: int, verdict: tuple[Any, ...]):
    assert brief(read(CONTACT_UPDATE, {"id": "c-9", "contact": CONTACT}, answer(status, b"{}")))[:2] == verdict


# Through the driver, against an Intercom that keeps its records.


class FakeIntercom:
    """Contacts by external id (a second create is a 409 naming the first) and companies by company
    id, given ids in order; memberships and events recorded; an event of a user it does not know is
    a 404."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.contacts: dict[str, dict[str, Any]] = {}
        self.companies: dict[str, str] = {}
        self.memberships: list[tuple[str, str]] = []
        self.events: list[dict[str, Any]] = []
        self.sent: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []

    def request(self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], deadline: float) -> Answer:
        path = url.removeprefix(US)
        parsed = orjson.loads(body)
        self.sent.append((method, path, parsed, dict(headers)))
        if path == "/contacts/search":
            found = [c for c in self.contacts.values() if c["external_id"] == parsed["query"]["value"]]
            return Answer(200, {}, orjson.dumps({"type": "list", "data": found, "total_count": len(found)}), True)
        if path == "/contacts":
            existing = [c["id"] for c in self.contacts.values() if c["external_id"] == parsed["external_id"]]
            if existing:
                conflict = errors(
                    f"A contact matching those details already exists with id={existing[0]}", code="conflict"
                )
                return Answer(409, {}, orjson.dumps(conflict), True)
            contact = {"type": "contact", "id": f"c-{next(self.ids)}", **parsed}
            self.contacts[contact["id"]] = contact
            return Answer(200, {}, orjson.dumps(contact), True)
        if method == "PUT":
            contact_id = path.rsplit("/", 1)[1]
            self.contacts[contact_id].update(parsed)
            return Answer(200, {}, orjson.dumps(self.contacts[contact_id]), True)
        if path == "/companies":
            company_id = self.companies.setdefault(parsed["company_id"], f"co-{next(self.ids)}")
            return Answer(200, {}, orjson.dumps({"type": "company", "id": company_id, **parsed}), True)
        if path.endswith("/companies"):
            self.memberships.append((path.split("/")[2], parsed["id"]))
            return Answer(200, {}, b'{"type":"company"}', True)
        if not any(c["external_id"] == parsed.get("user_id") for c in self.contacts.values()):
            return Answer(404, {}, orjson.dumps(errors("User Not Found", code="not_found")), True)
        self.events.append(parsed)
        return Answer(202, {}, b"", True)


def adapter(http: FakeIntercom) -> ToolAdapter:
    return ToolAdapter(
        INTERCOM,
        "us-east-1",
        http=http,  # type: ignore[arg-type]
        credentials=StaticCredentials({"access_token": TOKEN}),
        clock=lambda: NOW,
        monotonic=lambda: 0.0,
    )


def destination() -> Any:
    return stored_destination("intercom-app", "intercom", settings())


def test_identify_creates_then_updates_track_follows_and_group_attaches_the_member():
    http = FakeIntercom()
    events = [
        message("identify", 1, traits={"email": "ada@x.io"}),
        message("track", 2, event="Signed Up"),
        message("identify", 3, traits={"name": "Ada"}),
        message("group", 4, groupId="g-7", traits={"name": "Acme"}),
        message("page", 5),
    ]
    attempts = adapter(http).send(destination(), events, deadline=60.0)
    assert [(method, path) for method, path, _, _ in http.sent] == [
        ("POST", "/contacts/search"),  # the first identify: not found
        ("POST", "/contacts/search"),  # the second: not found either, the first not created yet
        ("POST", "/events"),  # the user is not in Intercom yet: 404
        ("POST", "/companies"),
        ("POST", "/contacts"),  # the first identify's next step, made from the search's answer
        ("POST", "/contacts"),  # the second's: a 409 naming the contact the first created...
        ("POST", "/contacts/search"),  # (the group's member)
        ("PUT", "/contacts/c-2"),  # ...which is updated instead
        ("POST", "/contacts/c-2/companies"),  # the membership, with both ids Intercom gave
    ]
    assert http.memberships == [("c-2", "co-1")]
    assert http.contacts["c-2"] == {
        "type": "contact",
        "id": "c-2",
        "role": "user",
        "external_id": "u1",
        "email": "ada@x.io",
        "name": "Ada",
        "last_seen_at": SECONDS,
    }
    assert [(a.status, a.code) for a in attempts] == [
        (DELIVERED, "200"),
        (RETRY, "404.unknown_user"),
        (DELIVERED, "200"),
        (DELIVERED, "200"),
        (UNSUPPORTED, "unsupported.no_page_api"),
    ]
    assert attempts[1].final_at(2).status is FINAL, "the event is tried once more, after its identify"
    assert all(headers["Authorization"] == f"Bearer {TOKEN}" for _, _, _, headers in http.sent)


def test_a_known_user_is_updated_and_its_events_go_through():
    http = FakeIntercom()
    adapter(http).send(destination(), [message("identify", 1, traits={"email": "ada@x.io"})], deadline=60.0)
    attempts = adapter(http).send(
        destination(), [message("identify", 2, traits={"plan": "pro"}), message("track", 3, event="Signed Up")], 60.0
    )
    assert [(method, path) for method, path, _, _ in http.sent[2:]] == [
        ("POST", "/contacts/search"),
        ("POST", "/events"),
        ("PUT", "/contacts/c-1"),
    ]
    assert http.contacts["c-1"]["custom_attributes"] == {"plan": "pro"}
    assert [(a.status, a.code) for a in attempts] == [(DELIVERED, "200"), (DELIVERED, "202")]


def test_samples_never_show_the_token():
    http = FakeIntercom()
    (attempt,) = adapter(http).send(destination(), [message("track", 1, event="Signed Up")], deadline=60.0)
    assert attempt.code == "404.unknown_user"
    assert attempt.request["headers"]["Authorization"] == "<redacted>"
    assert TOKEN not in orjson.dumps([attempt.request, attempt.response]).decode()
