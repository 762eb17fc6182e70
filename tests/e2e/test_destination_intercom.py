"""Intercom end to end: events sent to the local stack reach a receiver that answers as Intercom
does (it keeps contacts by external id and companies by company id, hands out their ids, answers
a search with what it has, a second create of a contact with a 409 naming it, an event of a user it
does not know with a 404, custom attributes the workspace lacks with a 400), each request as
Intercom documents it (`Authorization: Bearer` with a token read from the environment,
`Intercom-Version`, the contact search, create and update, `/events`, `/companies`, the
membership), the chains' requests in order with the ids Intercom handed out, and Intercom's answers
read per event: an event before its identify retried once, an unknown user's event discarded after
one more try, a 429 with `X-RateLimit-Reset`, a 503, a 401. Event Delivery counts and samples are
checked along the way."""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import yaml

from switchyard.devstack.receiver import Received, WebhookReceiver
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import TOOL_WORKSPACES, Receivers, wait_until
from tests.e2e.tool_runs import (
    MASK,
    Moment,
    accepted_of_run,
    arrival_gaps,
    assert_cli_report_shows_no_credential,
    counted_since,
    holds,
    new_run,
    of_run,
    org,
    report_of,
    retried_sample,
    send,
    settled_report,
    user,
)

pytestmark = pytest.mark.e2e

DESTINATION = "intercom"
WRITE_KEY = "wk_e2e_icm_000"
# The token as tools/intercom.yaml gives it to `apply` through the environment: one home for it.
TOKEN = yaml.safe_load((TOOL_WORKSPACES / "intercom.yaml").read_text())["environment"]["E2E_INTERCOM_ACCESS_TOKEN"]
API_VERSION = "2.14"
# The workspace's data attributes: any other custom attribute is refused, as Intercom does.
CONTACT_ATTRIBUTES = frozenset({"plan", "logins"})
COMPANY_ATTRIBUTES = frozenset({"region"})
# Seconds until the 429's X-RateLimit-Reset; above the destination's backoff (at most 2 s).
RESET_SECONDS = 4

Answer = tuple[int, dict[str, str], bytes]


# -- Intercom, as the receiver plays it --------------------------------------------------------------


def intercom_errors(code: str, message: str) -> bytes:
    return orjson.dumps(
        {"type": "error.list", "request_id": str(uuid.uuid4()), "errors": [{"code": code, "message": message}]}
    )


class Intercom:
    """Contacts by external id and companies by company id, each given an id once; memberships and
    events as they arrive. `fault` may answer a request first (a throttle, an outage)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.contacts: dict[str, dict[str, Any]] = {}  # by Intercom id
        self.companies: dict[str, dict[str, Any]] = {}  # by company_id
        self.memberships: list[tuple[str, str]] = []
        self.events: list[dict[str, Any]] = []
        self.fault: Callable[[Received], Answer | None] = lambda _: None

    def __call__(self, received: Received) -> Answer:
        if received.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {}, intercom_errors("unauthorized", "Access Token Invalid")
        if (
            received.headers.get("Intercom-Version") != API_VERSION
            or received.headers.get("Accept") != "application/json"
        ):
            return 400, {}, intercom_errors("intercom_version_invalid", "Requested version is not valid")
        faulty = self.fault(received)
        if faulty is not None:
            return faulty
        body = orjson.loads(received.body)
        with self._lock:
            return self._answer(received.method, received.path, body)

    def _answer(self, method: str, path: str, body: dict[str, Any]) -> Answer:
        if (method, path) == ("POST", "/contacts/search"):
            query = body["query"]
            assert (query["field"], query["operator"]) == ("external_id", "=")
            found = [c for c in self.contacts.values() if c["external_id"] == query["value"]]
            return (
                200,
                {},
                orjson.dumps(
                    {
                        "type": "list",
                        "data": found,
                        "total_count": len(found),
                        "pages": {"type": "pages", "page": 1, "per_page": 50, "total_pages": 1},
                    }
                ),
            )
        if (method, path) == ("POST", "/contacts"):
            refusal = self._unknown_attribute(body, CONTACT_ATTRIBUTES)
            if refusal or body.get("role") != "user":
                return refusal or (400, {}, intercom_errors("parameter_invalid", "role must be user or lead"))
            existing = [c["id"] for c in self.contacts.values() if c["external_id"] == body["external_id"]]
            if existing:
                return (
                    409,
                    {},
                    intercom_errors(
                        "conflict", f"A contact matching those details already exists with id={existing[0]}"
                    ),
                )
            contact = {"type": "contact", "id": f"6{next(self._ids):023x}", **body}
            self.contacts[contact["id"]] = contact
            return 200, {}, orjson.dumps(contact)
        contact_path = re.fullmatch(r"/contacts/(\w+)(/companies)?", path)
        if contact_path and contact_path.group(1) in self.contacts:
            contact = self.contacts[contact_path.group(1)]
            if method == "PUT" and not contact_path.group(2):
                refusal = self._unknown_attribute(body, CONTACT_ATTRIBUTES)
                if refusal:
                    return refusal
                contact.update(body)
                return 200, {}, orjson.dumps(contact)
            if method == "POST" and contact_path.group(2):
                company = next((c for c in self.companies.values() if c["id"] == body["id"]), None)
                if company is None:
                    return 404, {}, intercom_errors("company_not_found", "Company Not Found")
                self.memberships.append((contact["id"], company["id"]))
                return 200, {}, orjson.dumps(company)
        if (method, path) == ("POST", "/companies"):
            refusal = self._unknown_attribute(body, COMPANY_ATTRIBUTES)
            if refusal:
                return refusal
            company = self.companies.setdefault(
                body["company_id"], {"type": "company", "id": f"7{next(self._ids):023x}"}
            )
            company.update(body)
            return 200, {}, orjson.dumps(company)
        if (method, path) == ("POST", "/events"):
            if not any(c["external_id"] == body.get("user_id") for c in self.contacts.values()):
                return 404, {}, intercom_errors("not_found", "User Not Found")
            self.events.append(body)
            return 202, {}, b""
        return 404, {}, intercom_errors("not_found", "Resource Not Found")

    @staticmethod
    def _unknown_attribute(body: dict[str, Any], known: frozenset[str]) -> Answer | None:
        unknown = sorted(set(body.get("custom_attributes", {})) - known)
        if unknown:
            return 400, {}, intercom_errors("parameter_invalid", f"Custom attribute '{unknown[0]}' does not exist")
        return None

    def contact_of(self, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            return next((c for c in self.contacts.values() if c["external_id"] == external_id), None)


@pytest.fixture
def intercom(receivers: Receivers) -> Iterator[tuple[Intercom, WebhookReceiver]]:
    receiver = receivers.tools[DESTINATION]
    tool = Intercom()
    receiver.responder = tool
    try:
        yield tool, receiver
    finally:
        receiver.responder = Intercom()


def first_of_run(run: str, answer: Answer) -> Callable[[Received], Answer | None]:
    """A fault answering the first request carrying the run's events."""
    answered = threading.Event()

    def fault(received: Received) -> Answer | None:
        if run.encode() in received.body and not answered.is_set():
            answered.set()
            return answer
        return None

    return fault


# -- events -----------------------------------------------------------------------------------------


def identify(run: str, when: Moment, **traits: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "messageId": str(uuid.uuid4()),
        "userId": user(run),
        "timestamp": when.text,
        "traits": traits,
    }


def track(run: str, name: str, when: Moment, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": str(uuid.uuid4()),
        "userId": user(run),
        "timestamp": when.text,
        "event": name,
        "properties": {"run": run, **properties},
    }


def requests_of(receiver: WebhookReceiver, run: str, path: str) -> list[Received]:
    return [received for received in of_run(receiver, run) if received.path == path]


def whole_seconds(when: Moment) -> int:
    return when.epoch_ms // 1000


def report_change(stack: LocalStack, before: Any, expected: dict[str, int]) -> None:
    assert wait_until(lambda: counted_since(before, report_of(stack, DESTINATION)) == expected), counted_since(
        before, report_of(stack, DESTINATION)
    )


# -- the calls --------------------------------------------------------------------------------------


def test_identify_creates_the_contact_then_updates_it_and_group_attaches_the_member(
    local_stack: LocalStack, intercom: tuple[Intercom, WebhookReceiver]
):
    tool, receiver = intercom
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    traits = {
        "email": f"ada-{run}@example.com",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "plan": "pro",
        "address": {"city": "London"},
    }
    send(local_stack, WRITE_KEY, identify(run, when, **traits))
    assert wait_until(lambda: tool.contact_of(user(run)), timeout=30)

    later = Moment.minutes_ago(1)
    group = {
        "type": "group",
        "messageId": str(uuid.uuid4()),
        "userId": user(run),
        "timestamp": later.text,
        "groupId": org(run),
        "traits": {"name": "Acme", "employees": 40, "plan": "gold", "region": "emea"},
    }
    page = {
        "type": "page",
        "messageId": str(uuid.uuid4()),
        "userId": user(run),
        "name": "Pricing",
        "properties": {"run": run},
    }
    send(local_stack, WRITE_KEY, identify(run, later, logins=3), group, page)
    assert wait_until(lambda: tool.memberships, timeout=30)

    for received in of_run(receiver, run):
        assert received.headers["Authorization"] == f"Bearer {TOKEN}", "read from the environment"
        assert received.headers["Intercom-Version"] == API_VERSION
        assert received.headers["Content-Type"] == "application/json"
    contact = tool.contact_of(user(run))
    assert contact is not None
    company_id = tool.companies[org(run)]["id"]
    # In order: search (not found), create; search (found), company, search (the member), update,
    # membership: each step made from the answer to the one before.
    steps = [(r.method, r.path) for r in sorted(of_run(receiver, run), key=lambda r: r.at)]
    membership = [r for r in receiver.requests if r.path == f"/contacts/{contact['id']}/companies"]
    assert steps[:2] == [("POST", "/contacts/search"), ("POST", "/contacts")]
    assert sorted(steps[2:]) == sorted(
        [
            ("POST", "/contacts/search"),
            ("POST", "/companies"),
            ("POST", "/contacts/search"),
            ("PUT", f"/contacts/{contact['id']}"),
        ]
    )
    assert [orjson.loads(r.body) for r in membership] == [{"id": company_id}]
    (create,) = requests_of(receiver, run, "/contacts")
    assert orjson.loads(create.body) == {
        "role": "user",
        "external_id": user(run),
        "email": f"ada-{run}@example.com",
        "name": "Ada Lovelace",
        "last_seen_at": whole_seconds(when),
        "custom_attributes": {"plan": "pro"},
    }
    (update,) = requests_of(receiver, run, f"/contacts/{contact['id']}")
    assert orjson.loads(update.body) == {
        "external_id": user(run),
        "last_seen_at": whole_seconds(later),
        "custom_attributes": {"logins": 3},
    }
    (company,) = requests_of(receiver, run, "/companies")
    assert orjson.loads(company.body) == {
        "company_id": org(run),
        "name": "Acme",
        "plan": "gold",
        "size": 40,
        "custom_attributes": {"region": "emea"},
    }
    assert tool.memberships == [(contact["id"], company_id)]

    expected = {
        "delivered": 3,
        "not_delivered": 0,
        "retried": 0,
        "filtered.unsupported.no_page_api": 1,
        "omitted.nested_attribute": 1,
    }
    report_change(local_stack, before, expected)


def test_an_event_sent_before_its_identify_is_retried_once_and_delivered(
    local_stack: LocalStack, intercom: tuple[Intercom, WebhookReceiver]
):
    tool, receiver = intercom
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    order = track(run, "Order Completed", when, revenue=12.5, currency="EUR", order_id=f"o-{run}")
    send(local_stack, WRITE_KEY, order, identify(run, when, email=f"bo-{run}@example.com"))

    assert wait_until(lambda: [e for e in tool.events if e["metadata"]["run"] == run], timeout=30)
    (event,) = [e for e in tool.events if e["metadata"]["run"] == run]
    assert event == {
        "event_name": "Order Completed",
        "created_at": whole_seconds(when),
        "user_id": user(run),
        "metadata": {"price": {"amount": 1250, "currency": "EUR"}, "run": run, "order_id": f"o-{run}"},
    }
    events = requests_of(receiver, run, "/events")
    # Sent together, both usually come in one hand-over, where the event's request goes before the
    # identify's chain has created the user: one 404, then the retry after the backoff succeeds.
    assert len(events) in (1, 2), "at most one 404 before the identify created the user"
    report_change(
        local_stack,
        before,
        {
            "delivered": 2,
            "not_delivered": 0,
            "retried": len(events) - 1,
            **({"awaiting_retry.404.unknown_user": 1} if len(events) == 2 else {}),
        },
    )


def test_an_event_of_a_user_intercom_never_gets_is_tried_twice_then_discarded(
    local_stack: LocalStack, intercom: tuple[Intercom, WebhookReceiver]
):
    _, receiver = intercom
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    send(local_stack, WRITE_KEY, track(run, "Report Exported", when))

    assert wait_until(lambda: len(requests_of(receiver, run, "/events")) == 2, timeout=30)
    assert holds(lambda: len(of_run(receiver, run)) == 2), "no third try"
    expected = {
        "delivered": 0,
        "not_delivered": 1,
        "retried": 1,
        "awaiting_retry.404.unknown_user": 1,
        "discarded.404.unknown_user": 1,
    }
    report_change(local_stack, before, expected)


def test_custom_attributes_the_workspace_lacks_are_left_out_and_the_contact_still_goes(
    local_stack: LocalStack, intercom: tuple[Intercom, WebhookReceiver]
):
    tool, receiver = intercom
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    send(local_stack, WRITE_KEY, identify(run, when, email=f"cy-{run}@example.com", plan="pro", favorite_color="blue"))

    assert wait_until(lambda: tool.contact_of(user(run)), timeout=30)
    first, second = [orjson.loads(r.body)["custom_attributes"] for r in requests_of(receiver, run, "/contacts")]
    assert (first, second) == ({"plan": "pro", "favorite_color": "blue"}, {"plan": "pro"})
    assert holds(lambda: len(of_run(receiver, run)) == 3, seconds=1.0), "search, refused create, create: nothing more"
    expected = {"delivered": 1, "not_delivered": 0, "retried": 0, "omitted.unknown_attribute": 1}
    report_change(local_stack, before, expected)


# -- answers ----------------------------------------------------------------------------------------


def test_a_429_is_retried_at_x_ratelimit_reset(local_stack: LocalStack, intercom: tuple[Intercom, WebhookReceiver]):
    tool, receiver = intercom
    run, when = new_run(), Moment.minutes_ago(5)
    tool.contacts["known"] = {"type": "contact", "id": "known", "external_id": user(run)}
    reset = int(time.time()) + RESET_SECONDS
    headers = {"X-RateLimit-Limit": "167", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    tool.fault = first_of_run(
        run, (429, headers, intercom_errors("rate_limit_exceeded", "Exceeded rate limit of 167 in 10_seconds"))
    )
    send(local_stack, WRITE_KEY, track(run, "Report Exported", when))

    assert wait_until(lambda: accepted_of_run(receiver, run), timeout=30)
    assert holds(lambda: len(of_run(receiver, run)) == 2), "one throttled attempt, one accepted, no more"
    first, second = sorted(of_run(receiver, run), key=lambda received: received.at)
    assert second.at >= reset - 1, f"retried {reset - second.at:.2f}s before X-RateLimit-Reset"
    (gap,) = arrival_gaps(of_run(receiver, run))
    assert gap >= RESET_SECONDS - 2


def test_a_503_then_success_is_delivered_once_and_no_sample_shows_the_token(
    local_stack: LocalStack, intercom: tuple[Intercom, WebhookReceiver], capsys: pytest.CaptureFixture[str]
):
    tool, receiver = intercom
    run, when = new_run(), Moment.minutes_ago(5)
    tool.contacts["known"] = {"type": "contact", "id": "known", "external_id": user(run)}
    tool.fault = first_of_run(run, (503, {}, intercom_errors("service_unavailable", "Service Unavailable")))
    event = track(run, "Report Exported", when)
    send(local_stack, WRITE_KEY, event)

    shown = retried_sample(local_stack, receiver, DESTINATION, run, event, "awaiting_retry.503")
    assert shown["request"]["headers"]["Authorization"] == MASK
    assert shown["request"]["url"].endswith("/events")
    for label, kept in report_of(local_stack, DESTINATION).samples.items():
        assert TOKEN not in orjson.dumps(kept).decode(), f"the sample of {label} shows the token"
    assert TOKEN not in assert_cli_report_shows_no_credential(local_stack, DESTINATION, capsys)


def test_a_revoked_token_is_final_and_never_retried(
    local_stack: LocalStack, intercom: tuple[Intercom, WebhookReceiver]
):
    tool, receiver = intercom
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    tool.fault = first_of_run(run, (401, {}, intercom_errors("unauthorized", "Access Token Invalid")))
    send(local_stack, WRITE_KEY, track(run, "Report Exported", when))

    assert wait_until(lambda: of_run(receiver, run), timeout=30)
    report_change(local_stack, before, {"delivered": 0, "not_delivered": 1, "retried": 0, "discarded.401": 1})
    assert holds(lambda: len(of_run(receiver, run)) == 1), "a 401 is not retried"
