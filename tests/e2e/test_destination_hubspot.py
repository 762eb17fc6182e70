"""HubSpot end to end: events sent to the local stack reach a receiver that answers as HubSpot does
(it keeps contacts and companies, hands out their ids, records associations and events, refuses
properties the account lacks and emails it finds invalid), each request as HubSpot documents it
(batch upserts by email and by the unique company property, the custom events batch, the v4
default association, `Authorization: Bearer` with a token read from the environment), the group
call's chain in order with the ids HubSpot handed out, and HubSpot's answers read per input: a
207, a 400 naming unknown properties, the ten-secondly and daily 429s, a 503, a 401. Event
Delivery counts and samples are checked along the way."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import yaml

from switchyard.delivery.deadletters import DeadLetters
from switchyard.delivery.table import DeliveryTable
from switchyard.devstack.receiver import Received, WebhookReceiver
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import TOOL_WORKSPACES, Receivers, wait_until
from tests.e2e.tool_runs import (
    MASK,
    Moment,
    assert_cli_report_shows_no_credential,
    assert_retried_after_the_wait_and_delivered_once,
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

DESTINATION = "hubspot"
WRITE_KEY = "wk_e2e_hub_000"
# A destination of its own for the daily limit, which holds it until midnight (tools/hubspot.yaml).
QUOTA_DESTINATION = "hubspot-quota"
QUOTA_WRITE_KEY = "wk_e2e_hubq_000"
WORKSPACE = yaml.safe_load((TOOL_WORKSPACES / "hubspot.yaml").read_text())
# The token as tools/hubspot.yaml gives it to `apply` through the environment: one home for it.
TOKEN = WORKSPACE["environment"]["E2E_HUBSPOT_ACCESS_TOKEN"]
EVENT_NAMES: dict[str, str] = WORKSPACE["destinations"][0]["settings"]["events"]
CONTACTS_UPSERT = "/crm/v3/objects/contacts/batch/upsert"
COMPANIES_UPSERT = "/crm/v3/objects/companies/batch/upsert"
ASSOCIATE = "/crm/v4/associations/contact/company/batch/associate/default"
EVENTS_BATCH = "/events/v3/send/batch"
# The account's properties: any other is refused as HubSpot does.
CONTACT_PROPERTIES = frozenset(
    {"email", "firstname", "lastname", "phone", "company", "website", "jobtitle", "address", "city", "zip", "country"}
)
COMPANY_PROPERTIES = frozenset({"name", "domain", "website", "industry", "numberofemployees", "segment_group_id"})
# What the ten-secondly 429 says the window is; above the destination's backoff (at most 2 s).
WINDOW_SECONDS = 3

Answer = tuple[int, dict[str, str], bytes]


# -- HubSpot, as the receiver plays it --------------------------------------------------------------


def hubspot_error(message: str, category: str = "VALIDATION_ERROR", **fields: Any) -> bytes:
    return orjson.dumps(
        {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **fields}
    )


class Hubspot:
    """Contacts by email and companies by `segment_group_id`, each given an id once; associations
    and events as they arrive. `fault` may answer a request first (a throttle, an outage)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(7001)
        self.contacts: dict[str, str] = {}
        self.companies: dict[str, str] = {}
        self.associations: list[tuple[str, str]] = []
        self.fault: Callable[[Received], Answer | None] = lambda _: None

    def __call__(self, received: Received) -> Answer:
        if received.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {}, hubspot_error("Authentication credentials not found.", "INVALID_AUTHENTICATION")
        faulty = self.fault(received)
        if faulty is not None:
            return faulty
        body = orjson.loads(received.body)
        with self._lock:
            if received.path == EVENTS_BATCH:
                unknown = [i["eventName"] for i in body["inputs"] if i["eventName"] not in EVENT_NAMES.values()]
                return (400, {}, hubspot_error(f"Event {unknown[0]} not found")) if unknown else (204, {}, b"")
            if received.path == ASSOCIATE:
                return self._associate(body["inputs"])
            if received.path == CONTACTS_UPSERT:
                return self._upsert(body["inputs"], "email", CONTACT_PROPERTIES, self.contacts)
            if received.path == COMPANIES_UPSERT:
                return self._upsert(body["inputs"], "segment_group_id", COMPANY_PROPERTIES, self.companies)
        return 404, {}, hubspot_error("Not found", "OBJECT_NOT_FOUND")

    def _upsert(
        self, inputs: list[dict[str, Any]], id_property: str, known: frozenset[str], records: dict[str, str]
    ) -> Answer:
        ids = [item["id"] for item in inputs]
        if len(set(ids)) != len(ids) or any(item["idProperty"] != id_property for item in inputs):
            return 400, {}, hubspot_error("Duplicate IDs found in batch input, or a wrong idProperty")
        unknown = sorted({name for item in inputs for name in item["properties"]} - known)
        if unknown:
            invalid = [
                {
                    "isValid": False,
                    "message": f'Property "{name}" does not exist',
                    "error": "PROPERTY_DOESNT_EXIST",
                    "name": name,
                }
                for name in unknown
            ]
            return 400, {}, hubspot_error("Property values were not valid: " + orjson.dumps(invalid).decode())
        results, errors = [], []
        for item in inputs:
            if item["id"].startswith("invalid"):
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": "Email address is invalid",
                        "context": {"ids": [item["id"]]},
                    }
                )
                continue
            new = item["id"] not in records
            records.setdefault(item["id"], str(next(self._ids)))
            results.append(
                {
                    "id": records[item["id"]],
                    "properties": item["properties"],
                    "new": new,
                    "objectWriteTraceId": item["objectWriteTraceId"],
                }
            )
        answer = {"status": "COMPLETE", "results": results[::-1]}  # HubSpot does not promise the inputs' order
        if errors:
            return 207, {}, orjson.dumps({**answer, "numErrors": len(errors), "errors": errors})
        return 200, {}, orjson.dumps(answer)

    def _associate(self, inputs: list[dict[str, Any]]) -> Answer:
        pairs = [(item["from"]["id"], item["to"]["id"]) for item in inputs]
        if any(
            contact not in self.contacts.values() or company not in self.companies.values()
            for contact, company in pairs
        ):
            return 400, {}, hubspot_error("No such record")
        self.associations.extend(pairs)
        results = [
            {
                "from": {"id": a},
                "to": {"id": b},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279},
            }
            for a, b in pairs
        ]
        return 200, {}, orjson.dumps({"status": "COMPLETE", "results": results})


@pytest.fixture
def hubspot(receivers: Receivers) -> Iterator[tuple[Hubspot, WebhookReceiver]]:
    receiver = receivers.tools[DESTINATION]
    tool = Hubspot()
    receiver.responder = tool
    try:
        yield tool, receiver
    finally:
        receiver.responder = Hubspot()


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


def email(run: str, name: str = "ada") -> str:
    return f"{name}-{run}@example.com"


def identify(run: str, when: Moment, contact: str, **traits: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "messageId": str(uuid.uuid4()),
        "userId": user(run),
        "timestamp": when.text,
        "traits": {"email": contact, **traits},
    }


def track(run: str, name: str, when: Moment, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": str(uuid.uuid4()),
        "userId": user(run),
        "timestamp": when.text,
        "event": name,
        "properties": {"run": run, **properties},
        "context": {"traits": {"email": email(run)}},
    }


def requests_to(receiver: WebhookReceiver, path: str, run: str) -> list[Received]:
    return [received for received in of_run(receiver, run) if received.path == path]


def inputs_of(requests: list[Received]) -> list[dict[str, Any]]:
    return [item for received in requests for item in orjson.loads(received.body)["inputs"]]


# -- the calls --------------------------------------------------------------------------------------


def test_identify_track_and_group_reach_hubspot_as_it_documents_the_group_as_a_chain(
    local_stack: LocalStack, hubspot: tuple[Hubspot, WebhookReceiver]
):
    tool, receiver = hubspot
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    traits = {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "company": {"name": "Engines"},
        "address": {"city": "London", "postalCode": "SW1Y"},
    }
    order = track(run, "Order Completed", when, order_id=f"o-{run}", revenue=12.5)
    group = {
        "type": "group",
        "messageId": str(uuid.uuid4()),
        "userId": user(run),
        "timestamp": when.text,
        "groupId": org(run),
        "traits": {"name": "Acme", "website": "https://www.acme.example", "employees": 40},
        "context": {"traits": {"email": email(run).upper()}},
    }
    page = {
        "type": "page",
        "messageId": str(uuid.uuid4()),
        "userId": user(run),
        "name": "Pricing",
        "properties": {"run": run},
    }
    send(local_stack, WRITE_KEY, identify(run, when, email(run), **traits), order, group, page)

    assert wait_until(lambda: tool.associations and tool.companies.get(org(run)), timeout=30), [
        r.path for r in of_run(receiver, run)
    ]
    contact_id, company_id = tool.contacts[email(run)], tool.companies[org(run)]
    (association,) = [r for r in receiver.requests if r.path == ASSOCIATE and contact_id.encode() in r.body]
    for received in [*of_run(receiver, run), association]:
        assert received.method == "POST"
        assert received.query == ""
        assert received.headers["Authorization"] == f"Bearer {TOKEN}", "read from the environment"
        assert received.headers["Content-Type"] == "application/json"

    contact_inputs = inputs_of(requests_to(receiver, CONTACTS_UPSERT, run))
    assert [{k: v for k, v in i.items() if k != "objectWriteTraceId"} for i in contact_inputs] == [
        {
            "idProperty": "email",
            "id": email(run),
            "properties": {
                "firstname": "Ada",
                "lastname": "Lovelace",
                "company": "Engines",
                "city": "London",
                "zip": "SW1Y",
                "email": email(run),
            },
        },
        {"idProperty": "email", "id": email(run), "properties": {"email": email(run)}},  # the group's step 2
    ]
    assert all(i["objectWriteTraceId"].isdigit() for i in contact_inputs)
    assert inputs_of(requests_to(receiver, EVENTS_BATCH, run)) == [
        {
            "eventName": "pe4412345_order_completed",
            "email": email(run),
            "occurredAt": when.text,
            "uuid": order["messageId"],
            "properties": {"run": run, "order_id": f"o-{run}", "revenue": 12.5},
        }
    ]
    (company_input,) = inputs_of(requests_to(receiver, COMPANIES_UPSERT, run))
    assert company_input == {
        "idProperty": "segment_group_id",
        "id": org(run),
        "properties": {
            "name": "Acme",
            "website": "https://www.acme.example",
            "numberofemployees": 40,
            "domain": "acme.example",
            "segment_group_id": org(run),
        },
        "objectWriteTraceId": "0",
    }

    # The chain: the company, then its contact looked up by email, then the association of the two
    # ids HubSpot handed out, each request after the answer to the one before.
    assert orjson.loads(association.body) == {"inputs": [{"from": {"id": contact_id}, "to": {"id": company_id}}]}
    (company_request,) = requests_to(receiver, COMPANIES_UPSERT, run)
    lookup = requests_to(receiver, CONTACTS_UPSERT, run)[-1]
    assert company_request.at <= lookup.at <= association.at

    expected = {"delivered": 3, "not_delivered": 0, "retried": 0, "filtered.unsupported.no_page_api": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )
    assert holds(lambda: len(of_run(receiver, run)) == 4, seconds=1.0), "nothing is sent twice"


# -- answers ----------------------------------------------------------------------------------------


def test_a_contact_hubspot_refuses_in_a_207_is_discarded_and_the_others_go_once(
    local_stack: LocalStack, hubspot: tuple[Hubspot, WebhookReceiver]
):
    _, receiver = hubspot
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    valid, invalid = email(run), f"invalid-{run}@example.com"
    send(
        local_stack,
        WRITE_KEY,
        identify(run, when, valid, firstName="Ada"),
        identify(run, when, invalid, firstName="Bo"),
    )

    def upserted() -> list[str]:
        return sorted(i["id"] for i in inputs_of(requests_to(receiver, CONTACTS_UPSERT, run)))

    assert wait_until(lambda: upserted() == sorted([valid, invalid]), timeout=30), upserted()
    assert holds(lambda: upserted() == sorted([valid, invalid])), (
        "the accepted contact is not sent again, the refused one neither"
    )
    expected = {"delivered": 1, "not_delivered": 1, "retried": 0, "discarded.207.validation_error": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )


def test_properties_the_account_lacks_are_left_out_and_the_contact_still_goes(
    local_stack: LocalStack, hubspot: tuple[Hubspot, WebhookReceiver]
):
    tool, receiver = hubspot
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    send(
        local_stack,
        WRITE_KEY,
        identify(run, when, email(run), firstName="Ada", plan="pro", **{"Favorite Color": "blue"}),
    )

    assert wait_until(lambda: email(run) in tool.contacts, timeout=30)
    first, second = [
        orjson.loads(r.body)["inputs"][0]["properties"] for r in requests_to(receiver, CONTACTS_UPSERT, run)
    ]
    assert first == {"firstname": "Ada", "plan": "pro", "favorite_color": "blue", "email": email(run)}
    assert second == {"firstname": "Ada", "email": email(run)}, "again at once, without what HubSpot lacks"
    expected = {"delivered": 1, "not_delivered": 0, "retried": 0, "omitted.unknown_property": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected)
    assert holds(lambda: len(requests_to(receiver, CONTACTS_UPSERT, run)) == 2, seconds=1.0)


def test_the_ten_secondly_limit_is_waited_out_as_hubspot_says(
    local_stack: LocalStack, hubspot: tuple[Hubspot, WebhookReceiver]
):
    tool, receiver = hubspot
    run, when = new_run(), Moment.minutes_ago(5)
    headers = {
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(WINDOW_SECONDS * 1000),
        "X-HubSpot-RateLimit-Max": "100",
        "X-HubSpot-RateLimit-Remaining": "0",
    }
    body = orjson.dumps(
        {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "policyName": "TEN_SECONDLY_ROLLING",
        }
    )
    tool.fault = first_of_run(run, (429, headers, body))
    send(local_stack, WRITE_KEY, track(run, "Report Exported", when))

    assert_retried_after_the_wait_and_delivered_once(receiver, run, WINDOW_SECONDS)


def test_a_503_then_success_is_delivered_once_and_no_sample_shows_the_token(
    local_stack: LocalStack, hubspot: tuple[Hubspot, WebhookReceiver], capsys: pytest.CaptureFixture[str]
):
    tool, receiver = hubspot
    run, when = new_run(), Moment.minutes_ago(5)
    tool.fault = first_of_run(run, (503, {}, b'{"status":"error","message":"Service Unavailable"}'))
    event = track(run, "Report Exported", when)
    send(local_stack, WRITE_KEY, event)

    shown = retried_sample(local_stack, receiver, DESTINATION, run, event, "awaiting_retry.503")
    assert shown["request"]["headers"]["Authorization"] == MASK
    assert shown["request"]["url"].endswith(EVENTS_BATCH)
    for label, kept in report_of(local_stack, DESTINATION).samples.items():
        assert TOKEN not in orjson.dumps(kept).decode(), f"the sample of {label} shows the token"
    assert TOKEN not in assert_cli_report_shows_no_credential(local_stack, DESTINATION, capsys)


def test_a_revoked_token_is_final_and_never_retried(local_stack: LocalStack, hubspot: tuple[Hubspot, WebhookReceiver]):
    tool, receiver = hubspot
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)
    tool.fault = first_of_run(
        run, (401, {}, hubspot_error("The OAuth token used to make this call expired.", "EXPIRED_AUTHENTICATION"))
    )
    send(local_stack, WRITE_KEY, track(run, "Report Exported", when))

    assert wait_until(lambda: of_run(receiver, run), timeout=30)
    expected = {"delivered": 0, "not_delivered": 1, "retried": 0, "discarded.401": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )
    assert holds(lambda: len(of_run(receiver, run)) == 1), "a 401 is not retried"


def test_the_daily_limit_is_not_retried_every_few_seconds_and_ends_in_the_dead_letter_store(
    local_stack: LocalStack, hubspot: tuple[Hubspot, WebhookReceiver]
):
    """Midnight in New York is hours away, past the destination's `retry.max_hours` (36 s): the
    event waits in the dead-letter store for `switchyard dlq redrive`, without a retry on the way."""
    tool, receiver = hubspot
    run, when = new_run(), Moment.minutes_ago(5)
    body = orjson.dumps(
        {
            "status": "error",
            "message": "You have reached your daily limit.",
            "errorType": "RATE_LIMIT",
            "policyName": "DAILY",
        }
    )
    tool.fault = first_of_run(run, (429, {}, body))
    event = track(run, "Report Exported", when)
    send(local_stack, QUOTA_WRITE_KEY, event)

    assert local_stack.resources is not None
    letters = DeadLetters(DeliveryTable(local_stack.resources.delivery_table, local_stack.client("dynamodb")))
    dead = wait_until(
        lambda: [d for d in letters.list(QUOTA_DESTINATION) if d.message_id == event["messageId"]], timeout=30
    )
    assert dead and dead[0].last_error == "awaiting_retry.429.daily"
    assert holds(lambda: len(of_run(receiver, run)) == 1), "a daily limit is not retried every few seconds"
