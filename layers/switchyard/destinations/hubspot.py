"""`type: hubspot`: contacts, companies and custom behavioral events through HubSpot's public API.

Calls (private-app token as `Authorization: Bearer`, host `api.hubapi.com`):

- identify: the contact, upserted by email: `POST /crm/v3/objects/contacts/batch/upsert` with
  `{"inputs": [{"idProperty": "email", "id", "properties", "objectWriteTraceId"}]}` (at most 100
  inputs). Traits become contact properties as Segment's HubSpot destination sends them: `email`,
  `firstName`/`first_name` -> `firstname`, `lastName`/`last_name` -> `lastname`, `name` split into
  both when they are absent, `phone`, `website`, `title` -> `jobtitle`, `company` (or
  `company.name`) -> `company`, `address.street/city/state/postalCode/country` ->
  `address/city/state/zip/country`, `lifecycleStage` -> `lifecyclestage` (lower-cased); any other
  trait under its name lower-cased with spaces as underscores (HubSpot's internal names). An
  identify without `traits.email` is unsupported (`unsupported.no_email`): email is how HubSpot
  tells contacts apart.
- track: a custom behavioral event, `POST /events/v3/send/batch` `{"inputs": [{"eventName",
  "email", "occurredAt", "uuid", "properties"}]}` (answered `204`). HubSpot only takes events
  defined in the account, by their fully qualified name (`pe<portal id>_<name>`): the setting
  `events` maps Segment event names to them, and other events are unsupported
  (`unsupported.unmapped_event`), as Segment's destination sends only the events mapped to one.
  The contact is `properties.email`, else `context.traits.email` (Segment's defaults); `uuid` is
  the `messageId` (a UUIDv5 of it when it is not a UUID). At most 50 properties (HubSpot's limit):
  the others are left out (`omitted.too_many_properties`).
- group: the company, then its contact: a chain of requests, each step built from the answer to
  the one before (`Verdict.then`):
  1. `POST /crm/v3/objects/companies/batch/upsert` by the unique company property
     `group_id_property` (default `segment_group_id`, the property Segment's destination creates,
     so companies it made are found again) = `groupId`; traits as company properties (`name`,
     `description`, `industry`, `phone`, `website` and its host as `domain`, `employees` ->
     `numberofemployees`, the address, others lower-cased). HubSpot's upsert needs a property with
     unique values: `domain` is not one.
  2. with the company's id: the user's contact (`context.traits.email`) upserted by email, which
     gives its id (a contact HubSpot does not know yet is created with just the email);
  3. `POST /crm/v4/associations/contact/company/batch/associate/default` `{"inputs": [{"from":
     {"id": contact}, "to": {"id": company}}]}`.
  A group without an email in `context.traits` updates the company only
  (`omitted.no_contact_email`); `associate_contact: false` never associates.
- page, screen, alias: unsupported (HubSpot counts page views through its own tracking code).

Each CRM request's inputs are unique by id: events of one hand-over for the same contact or
company are merged in order (later values win), as HubSpot refuses a batch naming an id twice.

Answers (per item wherever HubSpot says which input it concerns):

- `200`/`201`: delivered; each result matched to its input by the `objectWriteTraceId` it echoes
  (else by its id property). `207` (partly done): the inputs named in `errors` (by trace id or
  `context.ids`) are final (`207.<category>`), those in `results` delivered, any other retried
  (`207.unconfirmed`, upserts being safe to repeat). A chained step whose id cannot be found in a
  `2xx` answer is final (`<status>.no_id`).
- `400` naming properties the account does not have (`Property "x" does not exist`): every item is
  sent again at once without them (`400.unknown_property`), as the properties HubSpot lacks would
  otherwise hold back the whole batch (HubSpot's v1 API dropped them itself). The id property
  missing is final (`400.unknown_id_property`: create it). Another `400` of several items: again
  at once in halves (`400.split`), so one bad input does not refuse the others; alone, final.
- `401` (token revoked) and `403` (missing scope): final, never retried.
- `429`: the body's `policyName` says which limit. `DAILY`: retried after the next midnight in
  the account's time zone (setting `time_zone`), when HubSpot resets the daily quota
  (`429.daily`); a destination whose `retry.max_hours` ends sooner moves its events to the
  dead-letter store, for `switchyard dlq redrive`. Otherwise (`TEN_SECONDLY_ROLLING`): after
  `X-HubSpot-RateLimit-Interval-Milliseconds` (10 s when absent), or `Retry-After` if longer.
- `423` (records locked while HubSpot syncs many at once): retried after 2 s, as HubSpot asks.
  `477` (account migrating between data centres): retried after its `Retry-After`. `413`: again
  at once in halves. `5xx`: retried.

Hosts: HubSpot has one API host, `api.hubapi.com`, for accounts in every data centre (its own
reference calls it for an account whose `dataHostingLocation` is `eu1`; private-app tokens of EU
accounts start `pat-eu1-`). HubSpot keeps an EU account's data in its EU data centre, but the
host itself is global: in an `eu-*` stack, `switchyard apply` says so.

User deletion: `POST /crm/v3/objects/contacts/gdpr-delete` `{"idProperty": "email", "objectId"}`
(HubSpot's "Permanently delete a contact (GDPR-compliant)"), one contact per request, answered
`204`. Contacts are told apart by email here, and HubSpot has no property holding the userId: a
userId that is an email address is deleted by it (HubSpot blocklists an email it has no contact
for, so it is never used again); any other userId cannot be deleted (`deletion_not_configured`).
Answers are read as above (`429`, `423`, `477`).

Limits: at most 100 inputs per request (HubSpot's batch limit for CRM objects; events are sent
100 at a time too), and requests under 2 MB (HubSpot documents no byte limit for them).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from types import MappingProxyType
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import Field, StringConstraints, field_validator

from switchyard.delivery.attempts import AttemptStatus, parse_retry_after
from switchyard.delivery.http import Answer
from switchyard.destinations.base import (
    Again,
    Call,
    CallContext,
    DestinationSettings,
    DestinationType,
    EventType,
    Hosts,
    HttpCall,
    Item,
    Limits,
    SecretText,
    ToolSettings,
    Unsupported,
    Verdict,
    join_json_array,
    new_item,
    uniform,
)
from switchyard.destinations.mapping import EMPTY, as_object, as_text, put
from switchyard.destinations.posthog import event_uuid

HUBSPOT_HOSTS = Hosts(us="api.hubapi.com")

# Channels: each one request kind.
CONTACTS = "contacts"  # identify: contact upserts
COMPANIES = "companies"  # group, step 1: company upserts
CONTACT_IDS = "contact_ids"  # group, step 2: the user's contact upserted by email, for its id
ASSOCIATIONS = "associations"  # group, step 3: contact -> company
EVENTS = "events"  # track: custom behavioral events
PATHS: Mapping[str, str] = MappingProxyType(
    {
        CONTACTS: "/crm/v3/objects/contacts/batch/upsert",
        COMPANIES: "/crm/v3/objects/companies/batch/upsert",
        CONTACT_IDS: "/crm/v3/objects/contacts/batch/upsert",
        ASSOCIATIONS: "/crm/v4/associations/contact/company/batch/associate/default",
        EVENTS: "/events/v3/send/batch",
    }
)
CONTACT_ID_PROPERTY = "email"
GDPR_DELETE = "gdpr_delete"  # user deletion: `HttpCall.state`'s channel
GDPR_DELETE_PATH = "/crm/v3/objects/contacts/gdpr-delete"

MAX_INPUTS = 100
# The items as packed; `call` adds less than 100 bytes per input around them, within 2 MB.
MAX_PACKED_BYTES = 1_980_000
MAX_EVENT_PROPERTIES = 50
TOO_MANY_PROPERTIES = ("too_many_properties",)  # what an event over the limit counts as left out
# TEN_SECONDLY_ROLLING: the window, when HubSpot does not send its length.
ROLLING_WINDOW_SECONDS = 10.0
# 423 Locked: "locks last 2 seconds" (HubSpot's error-handling guide).
LOCKED_SECONDS = 2.0
DAILY = "DAILY"

# A HubSpot fully qualified custom event name: pe<portal id>_<internal name>.
EventName = Annotated[str, StringConstraints(pattern=r"^pe[0-9]+_[A-Za-z0-9_]+$")]
# A HubSpot property's internal name.
PropertyName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=100)]

# Segment traits -> HubSpot contact properties (Segment's HubSpot destination's defaults).
CONTACT_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "firstName": "firstname",
        "first_name": "firstname",
        "lastName": "lastname",
        "last_name": "lastname",
        "title": "jobtitle",
        "companyName": "company",
        "lifecycleStage": "lifecyclestage",
        "lifecycle_stage": "lifecyclestage",
    }
)
# Segment group traits -> HubSpot company properties.
COMPANY_NAMES: Mapping[str, str] = MappingProxyType({"employees": "numberofemployees"})
# Segment's address trait -> HubSpot's address properties (contacts and companies alike).
ADDRESS_FIELDS: tuple[tuple[str, str], ...] = (
    ("street", "address"),
    ("city", "city"),
    ("state", "state"),
    ("postalCode", "zip"),
    ("postal_code", "zip"),
    ("country", "country"),
)
# Property names already normalized (`property_name`), up to this many.
MAX_REMEMBERED_NAMES = 10_000
_NAMES: dict[str, str] = {}
# Those of them that are their own HubSpot name (most: Segment's properties are snake_case).
_UNCHANGED_NAMES: set[str] = set()
# An email address, as a userId must be to name a contact (HubSpot's own check is stricter).
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# `Property "plan" does not exist` (in a 400's message, itself sometimes JSON inside JSON).
_UNKNOWN_PROPERTY = re.compile(r'Property \\*"([A-Za-z0-9_.\-]+)\\*" does not exist')

# Refusals, shared by every event they concern.
UNKNOWN_TYPE = Unsupported("unknown_type")
NO_EMAIL = Unsupported("no_email")
NO_EVENT_NAME = Unsupported("no_event_name")
UNMAPPED_EVENT = Unsupported("unmapped_event")
NO_GROUP_ID = Unsupported("no_group_id")
_REFUSED_CALLS: Mapping[str, Unsupported] = MappingProxyType(
    {
        EventType.PAGE: Unsupported("no_page_api"),
        EventType.SCREEN: Unsupported("no_screen_api"),
        EventType.ALIAS: Unsupported("no_alias_api"),
    }
)

SPLIT_TOO_LARGE = Verdict(AttemptStatus.RETRY, "413.split", again=Again.SPLIT)
TOO_LARGE = Verdict(AttemptStatus.FINAL, "413")
SPLIT_REFUSED = Verdict(AttemptStatus.RETRY, "400.split", again=Again.SPLIT)
REFUSED = Verdict(AttemptStatus.FINAL, "400")
UNKNOWN_ID_PROPERTY = Verdict(AttemptStatus.FINAL, "400.unknown_id_property")
UNCONFIRMED = Verdict(AttemptStatus.RETRY, "207.unconfirmed")


@functools.lru_cache(maxsize=32)
def account_zone(name: str) -> tzinfo:
    """The IANA time zone `name`; from dateutil's own copy of the database (shipped in the
    dependencies layer) on a runtime without the system's."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        from dateutil.zoneinfo import get_zonefile_instance  # noqa: PLC0415 - only without system data

        zone = get_zonefile_instance().get(name)
        if zone is None:
            raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)") from None
        return zone


class HubspotSettings(ToolSettings):
    """`type: hubspot`: a HubSpot account, through a private app's access token."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("access_token",)

    access_token: SecretText = Field(min_length=8, description="The private app's access token (pat-...)")
    events: dict[str, EventName] = Field(
        default_factory=dict,
        description="Segment event name -> HubSpot custom event's fully qualified name (pe<portal>_<name>)",
    )
    group_id_property: PropertyName = Field(
        default="segment_group_id", description="The company property with unique values holding the groupId"
    )
    associate_contact: bool = Field(
        default=True, description="Group calls associate the user's contact (context.traits.email) with the company"
    )
    time_zone: str = Field(
        default="UTC", description="The account's time zone (HubSpot resets the daily API limit at its midnight)"
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        account_zone(name)
        return name


@dataclass(slots=True)
class Sent:
    """What `interpret` needs of a request: its items (parsed for the CRM channels) and where each
    went among the request's inputs (several items for one contact or company share an input)."""

    channel: str
    zone: tzinfo
    payloads: Sequence[bytes]
    id_property: str = ""  # CRM upserts: the property each input's id is a value of
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # item -> input
    keys: list[Any] = field(default_factory=list)  # each input's id (contact, company or pair)

    def items(self) -> list[dict[str, Any]]:
        return self.envelopes or [orjson.loads(payload) for payload in self.payloads]


class Hubspot(DestinationType):
    name = "hubspot"
    title = "HubSpot"
    settings_model = HubspotSettings
    calls = (EventType.IDENTIFY, EventType.TRACK, EventType.GROUP)
    hosts = HUBSPOT_HOSTS
    max_deletions_per_call = 1  # gdpr-delete takes one contact

    def map(self, event: dict[str, Any], settings: HubspotSettings) -> list[Item] | Unsupported:
        kind = event.get("type")
        mapper = _MAPPERS.get(kind) if isinstance(kind, str) else None
        if mapper is None:
            return _REFUSED_CALLS.get(kind, UNKNOWN_TYPE) if isinstance(kind, str) else UNKNOWN_TYPE
        return mapper(event, settings)

    def limits(self, channel: str, settings: HubspotSettings) -> Limits:
        # The envelope, less one: the driver counts a separator per item.
        return Limits(MAX_INPUTS, MAX_PACKED_BYTES, overhead_bytes=len(b'{"inputs":[]}') - 1)

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: HubspotSettings, context: CallContext
    ) -> HttpCall:
        url = self.base_url(settings, context.aws_region) + PATHS[channel]
        headers = {"Authorization": f"Bearer {settings.access_token}"}
        zone = account_zone(settings.time_zone)
        if channel == EVENTS:  # the items are HubSpot's inputs as they are: no parsing
            body = b'{"inputs":' + join_json_array(payloads) + b"}"
            return HttpCall("POST", url, body, headers, state=Sent(channel, zone, payloads))
        sent = _crm_inputs(channel, payloads, settings, zone)
        return HttpCall("POST", url, orjson.dumps({"inputs": sent.inputs}), headers, state=sent.sent)

    def delete_call(self, user_ids: Sequence[str], settings: HubspotSettings, context: CallContext) -> HttpCall | None:
        [user_id] = user_ids
        email = _email(user_id)
        if email is None or not _EMAIL.fullmatch(email):
            return None
        url = self.base_url(settings, context.aws_region) + GDPR_DELETE_PATH
        body = orjson.dumps({"idProperty": CONTACT_ID_PROPERTY, "objectId": email})
        sent = Sent(GDPR_DELETE, account_zone(settings.time_zone), [body])
        return HttpCall("POST", url, body, {"Authorization": f"Bearer {settings.access_token}"}, state=sent)

    def deletion_requirement(self, settings: HubspotSettings) -> str:
        return "HubSpot contacts are deleted by email: the userId must be an email address"

    def interpret_delete(self, call: Call, answer: Any, now: float) -> Verdict:
        [verdict] = self.interpret(call, answer, 1, now)
        return verdict

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        sent = call.state if isinstance(call, HttpCall) else None
        if not isinstance(sent, Sent) or not isinstance(answer, Answer):
            return uniform(answer, count, now)
        status = answer.status
        if 200 <= status < 300:
            return uniform(answer, count, now) if sent.channel in (EVENTS, GDPR_DELETE) else _accepted(sent, answer)
        if status == 400 and sent.channel != GDPR_DELETE:
            return _refused(sent, answer, count)
        if status == 429:
            return [_throttled(sent, answer, now)] * count
        if status == 423:
            return [Verdict(AttemptStatus.RETRY, "423", LOCKED_SECONDS)] * count
        if status == 477:
            return [
                Verdict(AttemptStatus.RETRY, "477", parse_retry_after(answer.headers.get("Retry-After"), now))
            ] * count
        if status == 413:
            return [SPLIT_TOO_LARGE] * count if count > 1 else [TOO_LARGE]
        return uniform(answer, count, now)

    def residency_warning(self, settings: DestinationSettings, aws_region: str) -> str | None:
        if not aws_region.startswith("eu-") or (isinstance(settings, ToolSettings) and settings.endpoint):
            return None
        return (
            f"sends to {HUBSPOT_HOSTS.us}, HubSpot's one API host for all accounts (an account hosted in "
            "HubSpot's EU data centre keeps its data there)"
        )


HUBSPOT = Hubspot()


# -- the calls ---------------------------------------------------------------------------------


def _identify(event: dict[str, Any], settings: HubspotSettings) -> list[Item] | Unsupported:
    traits = as_object(event.get("traits"))
    email = _email(traits.get("email"))
    if email is None:
        return NO_EMAIL
    properties = _contact_properties(traits)
    properties["email"] = email
    return [Item(CONTACTS, {"id": email, "properties": properties})]


def _track(event: dict[str, Any], settings: HubspotSettings) -> list[Item] | Unsupported:
    """(Runs for every track: the usual cases of `_email`, `put` and `as_text` are inlined, and the
    usual occurrence is built as one dict.)"""
    get = event.get  # a local: read six times
    name = get("event")
    if not isinstance(name, str) or not name:
        return NO_EVENT_NAME
    event_name = settings.events.get(name)
    if event_name is None:
        return UNMAPPED_EVENT
    own = get("properties")
    if not isinstance(own, dict):
        own = EMPTY
    email = own.get("email")
    if email is not None:
        email = _email(email)
    if email is None:  # the contact's email in the context's traits (`_context_traits`, inline)
        context = get("context")
        traits = context.get("traits") if isinstance(context, dict) else None
        email = _email(traits.get("email")) if isinstance(traits, dict) else None
        if email is None:
            return NO_EMAIL
    properties, left_out = _event_properties(own)
    occurred_at = get("timestamp") or get("receivedAt")
    message_id = get("messageId")
    if message_id.__class__ is not str or not message_id:
        message_id = as_text(message_id)
    if occurred_at is not None and occurred_at != "" and message_id is not None:
        occurrence = {
            "eventName": event_name,
            "email": email,
            "occurredAt": occurred_at,
            "uuid": event_uuid(message_id),
            "properties": properties,
        }
    else:  # the same fields, those set
        occurrence = {"eventName": event_name, "email": email}
        put(occurrence, "occurredAt", occurred_at)
        if message_id is not None:
            occurrence["uuid"] = event_uuid(message_id)
        occurrence["properties"] = properties
    return [new_item(Item, (EVENTS, occurrence, left_out))]


def _group(event: dict[str, Any], settings: HubspotSettings) -> list[Item] | Unsupported:
    group_id = as_text(event.get("groupId"))
    if group_id is None:
        return NO_GROUP_ID
    properties = _company_properties(as_object(event.get("traits")))
    properties[settings.group_id_property] = group_id
    company: dict[str, Any] = {"id": group_id, "properties": properties}
    if not settings.associate_contact:
        return [Item(COMPANIES, company)]
    email = _email(_context_traits(event).get("email"))
    if email is None:
        return [Item(COMPANIES, company, ("no_contact_email",))]
    company["email"] = email
    return [Item(COMPANIES, company)]


_MAPPERS: dict[str, Callable[[dict[str, Any], HubspotSettings], list[Item] | Unsupported]] = {
    EventType.IDENTIFY: _identify,
    EventType.TRACK: _track,
    EventType.GROUP: _group,
}


# -- properties --------------------------------------------------------------------------------


def property_name(key: str) -> str:
    """A trait's HubSpot internal name: lower case, spaces as underscores (as Segment sends them).
    Remembered: the same few names come with every event."""
    name = _NAMES.get(key)
    if name is None:
        name = key.lower().replace(" ", "_")
        if len(_NAMES) < MAX_REMEMBERED_NAMES:
            _NAMES[key] = name
            if name == key:
                _UNCHANGED_NAMES.add(key)
    return name


def property_value(value: Any) -> Any:
    """HubSpot property values are text, numbers or booleans: a list as the `a;b` of multiple-choice
    properties, an object as its JSON."""
    kind = value.__class__
    if kind is str or kind is int or kind is float or kind is bool:
        return value
    if kind is list:
        return ";".join(str(member) for member in value if member is not None)
    return orjson.dumps(value).decode()


def _contact_properties(traits: Mapping[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    full_name = None
    for key, value in traits.items():
        if value is None or value == "" or key == "email":
            continue
        if key == "address" and isinstance(value, dict):
            _put_address(properties, value)
        elif key == "company":
            company = value.get("name") if isinstance(value, dict) else value
            if company is not None and company != "":
                properties["company"] = property_value(company)
        elif key == "name":
            full_name = value
        else:
            properties[CONTACT_NAMES.get(key) or property_name(key)] = property_value(value)
    stage = properties.get("lifecyclestage")
    if isinstance(stage, str):
        properties["lifecyclestage"] = stage.lower()
    if isinstance(full_name, str) and "firstname" not in properties and "lastname" not in properties:
        first, _, last = full_name.strip().partition(" ")
        put(properties, "firstname", first)
        put(properties, "lastname", last.strip())
    return properties


def _company_properties(traits: Mapping[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key, value in traits.items():
        if value is None or value == "":
            continue
        if key == "address" and isinstance(value, dict):
            _put_address(properties, value)
        else:
            properties[COMPANY_NAMES.get(key) or property_name(key)] = property_value(value)
    website = properties.get("website")
    if "domain" not in properties and isinstance(website, str):
        put(properties, "domain", website_domain(website))
    return properties


def _event_properties(own: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The properties as HubSpot names them, up to its 50. Runs for every track: most events' are
    all named as HubSpot names them already (names seen before, in `_UNCHANGED_NAMES`: one C call
    tells) with values sent as they are, and are copied whole; otherwise the names come from
    `_NAMES` and `property_value`'s usual cases (text, numbers) are inlined."""
    if len(own) > MAX_EVENT_PROPERTIES:
        return _first_event_properties(own)
    if _UNCHANGED_NAMES.issuperset(own) and _all_plain(own.values()):
        return dict(own), ()
    properties: dict[str, Any] = {}
    names = _NAMES
    for key, value in own.items():
        kind = value.__class__
        if kind is str:
            if value:
                properties[names.get(key) or property_name(key)] = value
        elif kind is int or kind is float or kind is bool:
            properties[names.get(key) or property_name(key)] = value
        elif value is not None:
            properties[names.get(key) or property_name(key)] = property_value(value)
    return properties, ()


def _all_plain(values: Iterable[Any]) -> bool:
    """Whether every value is one HubSpot takes as it is: text (not empty), a number or a boolean."""
    for value in values:
        kind = type(value)
        if kind is str:
            if not value:
                return False
        elif kind is not int and kind is not float and kind is not bool:
            return False
    return True


def _first_event_properties(own: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """More properties than HubSpot takes: the first 50 that are set."""
    properties: dict[str, Any] = {}
    for key, value in own.items():
        if value is None or value == "":
            continue
        if len(properties) == MAX_EVENT_PROPERTIES:
            return properties, TOO_MANY_PROPERTIES
        properties[property_name(key)] = property_value(value)
    return properties, ()


def _put_address(properties: dict[str, Any], address: Mapping[str, Any]) -> None:
    for key, name in ADDRESS_FIELDS:
        value = address.get(key)
        if value is not None and value != "":
            properties[name] = property_value(value)


def website_domain(website: str) -> str | None:
    """`https://www.example.com/about` -> `example.com` (HubSpot's company domain)."""
    host = urlsplit(website if "//" in website else "//" + website).hostname
    return host.removeprefix("www.") if host else None


def _email(value: object) -> str | None:
    """HubSpot stores emails lower-cased; so are ids compared in its answers."""
    if not isinstance(value, str):
        return None
    return value.strip().lower() or None


def _context_traits(event: Mapping[str, Any]) -> Mapping[str, Any]:
    context = event.get("context")
    return as_object(context.get("traits")) if isinstance(context, dict) else EMPTY


# -- requests ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Inputs:
    inputs: list[dict[str, Any]]
    sent: Sent


def _crm_inputs(channel: str, payloads: Sequence[bytes], settings: HubspotSettings, zone: tzinfo) -> _Inputs:
    """The request's inputs, one per contact, company or association: items for the same one are
    merged in order (HubSpot refuses a batch that names an id twice)."""
    envelopes = [orjson.loads(payload) for payload in payloads]
    id_property = settings.group_id_property if channel == COMPANIES else CONTACT_ID_PROPERTY
    inputs: list[dict[str, Any]] = []
    positions: list[int] = []
    keys: list[Any] = []
    at: dict[Any, int] = {}
    for envelope in envelopes:
        key = (envelope["contact"], envelope["company"]) if channel == ASSOCIATIONS else envelope["id"]
        position = at.get(key)
        if position is None:
            position = at[key] = len(inputs)
            keys.append(key)
            inputs.append(_input(channel, envelope, id_property, position))
        elif channel != ASSOCIATIONS:
            inputs[position]["properties"].update(_properties_of(channel, envelope))
        positions.append(position)
    return _Inputs(inputs, Sent(channel, zone, payloads, id_property, envelopes, positions, keys))


def _input(channel: str, envelope: dict[str, Any], id_property: str, position: int) -> dict[str, Any]:
    if channel == ASSOCIATIONS:
        return {"from": {"id": envelope["contact"]}, "to": {"id": envelope["company"]}}
    return {
        "idProperty": id_property,
        "id": envelope["id"],
        "properties": dict(_properties_of(channel, envelope)),
        "objectWriteTraceId": str(position),
    }


def _properties_of(channel: str, envelope: dict[str, Any]) -> dict[str, Any]:
    # Step 2 writes nothing but the email it looks the contact up by.
    return {"email": envelope["id"]} if channel == CONTACT_IDS else envelope["properties"]


# -- answers -----------------------------------------------------------------------------------


def _accepted(sent: Sent, answer: Answer) -> list[Verdict]:
    """A 2xx of a CRM batch: each item's verdict, and the next step of a chained one."""
    body = _json_object(answer.body)
    found = _found_ids(sent, body)
    failed = _failed_inputs(sent, body)
    status = answer.status
    verdicts = []
    for envelope, position in zip(sent.envelopes, sent.positions, strict=True):
        if position in failed:
            verdicts.append(failed[position])
            continue
        hubspot_id = found.get(position)
        if hubspot_id is None and status == 207:
            verdicts.append(UNCONFIRMED)
            continue
        step = _next_step(sent.channel, envelope, hubspot_id)
        if step is None and _chained(sent.channel, envelope):
            verdicts.append(Verdict(AttemptStatus.FINAL, f"{status}.no_id"))
        else:
            verdicts.append(Verdict(AttemptStatus.DELIVERED, str(status), then=(step,) if step else ()))
    return verdicts


def _chained(channel: str, envelope: dict[str, Any]) -> bool:
    return channel == CONTACT_IDS or (channel == COMPANIES and "email" in envelope)


def _next_step(channel: str, envelope: dict[str, Any], hubspot_id: str | None) -> Item | None:
    if hubspot_id is None:
        return None
    if channel == COMPANIES and "email" in envelope:
        return Item(CONTACT_IDS, {"id": envelope["email"], "company": hubspot_id})
    if channel == CONTACT_IDS:
        return Item(ASSOCIATIONS, {"contact": hubspot_id, "company": envelope["company"]})
    return None


def _found_ids(sent: Sent, body: Mapping[str, Any]) -> dict[int, str]:
    """Input -> the id HubSpot gave it, by the trace id it echoes, else by the id property's value
    (an association: by its pair of ids)."""
    by_key = {key: position for position, key in enumerate(sent.keys)}
    found: dict[int, str] = {}
    for result in _objects(body.get("results")):
        if sent.channel == ASSOCIATIONS:
            pair = (as_text(as_object(result.get("from")).get("id")), as_text(as_object(result.get("to")).get("id")))
            position = by_key.get(pair)
            if position is not None:
                found[position] = "associated"
            continue
        position = _trace_position(result.get("objectWriteTraceId"), len(sent.keys))
        if position is None:
            value = as_object(result.get("properties")).get(sent.id_property)
            position = by_key.get(value.lower() if sent.channel != COMPANIES and isinstance(value, str) else value)
        hubspot_id = as_text(result.get("id"))
        if position is not None and hubspot_id is not None:
            found[position] = hubspot_id
    return found


def _failed_inputs(sent: Sent, body: Mapping[str, Any]) -> dict[int, Verdict]:
    """Inputs HubSpot named in `errors` (207): final, but for throttling."""
    failed: dict[int, Verdict] = {}
    if not body.get("errors"):
        return failed
    by_key = {str(key).lower(): position for position, key in enumerate(sent.keys)}
    for error in _objects(body.get("errors")):
        category = str(error.get("category") or error.get("status") or "error").lower()
        status = AttemptStatus.RETRY if "rate_limit" in category else AttemptStatus.FINAL
        verdict = Verdict(status, f"207.{category}")
        context = as_object(error.get("context"))
        for trace in _strings(context.get("objectWriteTraceId")):
            position = _trace_position(trace, len(sent.keys))
            if position is not None:
                failed[position] = verdict
        for named in _strings(context.get("ids")):
            position = by_key.get(named.lower())
            if position is not None:
                failed[position] = verdict
    return failed


def _refused(sent: Sent, answer: Answer, count: int) -> list[Verdict]:
    """A 400 for the whole request: without the properties HubSpot lacks, or in halves."""
    unknown = set(_UNKNOWN_PROPERTY.findall(answer.body.decode("utf-8", "replace")))
    if unknown and sent.channel in (CONTACTS, COMPANIES, EVENTS):
        if sent.id_property in unknown:
            return [UNKNOWN_ID_PROPERTY] * count
        items = sent.items()
        stripped = [_without(item, unknown) for item in items]
        if any(item is not None for item in stripped):
            return [
                Verdict(
                    AttemptStatus.DELIVERED,
                    "400.unknown_property",
                    then=(
                        Item(sent.channel, item)
                        if changed is None
                        else Item(sent.channel, changed, omitted=("unknown_property",)),
                    ),
                )
                for item, changed in zip(items, stripped, strict=True)
            ]
    return [SPLIT_REFUSED] * count if count > 1 else [REFUSED]


def _without(item: dict[str, Any], names: set[str]) -> dict[str, Any] | None:
    """The item without the properties named, or None when it has none of them."""
    properties = item.get("properties")
    if not isinstance(properties, dict) or names.isdisjoint(properties):
        return None
    return {**item, "properties": {name: value for name, value in properties.items() if name not in names}}


def _throttled(sent: Sent, answer: Answer, now: float) -> Verdict:
    if _json_object(answer.body).get("policyName") == DAILY:
        return Verdict(AttemptStatus.RETRY, "429.daily", seconds_until_midnight(now, sent.zone))
    interval = _milliseconds(answer.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
    retry_after = parse_retry_after(answer.headers.get("Retry-After"), now)
    return Verdict(AttemptStatus.RETRY, "429", max(interval or ROLLING_WINDOW_SECONDS, retry_after or 0.0))


def seconds_until_midnight(now: float, zone: tzinfo) -> float:
    """From `now` to the next midnight in `zone` (when HubSpot resets the daily limit)."""
    local = datetime.fromtimestamp(now, zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=zone)
    return max(midnight.timestamp() - now, 1.0)


# -- small helpers -----------------------------------------------------------------------------


def _trace_position(value: object, inputs: int) -> int | None:
    if isinstance(value, str) and value.isdigit() and int(value) < inputs:
        return int(value)
    return None


def _milliseconds(value: str | None) -> float | None:
    return int(value) / 1000 if value and value.strip().isdigit() else None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _objects(value: object) -> list[dict[str, Any]]:
    return [member for member in value if isinstance(member, dict)] if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(member) for member in value if member is not None] if isinstance(value, list) else []
