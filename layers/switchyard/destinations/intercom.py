"""`type: intercom`: contacts, data events and companies through Intercom's REST API.

Every request carries `Authorization: Bearer <access token>`, `Intercom-Version` (setting
`api_version`) and `Accept: application/json`. Intercom takes one record per request: each event is
its own request, or a chain of them where Intercom's answer gives the id the next one needs
(`Verdict.then`).

- identify (a contact of role `user`, by `external_id` = `userId`):
  1. `POST /contacts/search` `{"query": {"field": "external_id", "operator": "=", "value"}}`;
  2. found: `PUT /contacts/{id}`; not found: `POST /contacts` with `role: user`. A create that
     Intercom answers `409` ("A contact matching those details already exists with id=…", its
     search index lagging behind) becomes the update of that id.
  Fields as Segment's Intercom destination maps them: `external_id`, `email`, `phone`, `name` (else
  `firstName` + `lastName`), `avatar`, `signed_up_at` (`createdAt`, Unix seconds), `last_seen_at`
  (the event's timestamp), `unsubscribed_from_emails`; every other trait in `custom_attributes`,
  dates (`…_at`/`…At` ISO strings) as Unix seconds. Intercom only takes text, numbers and booleans
  there: an object or a list is left out (`omitted.nested_attribute`). An identify without a
  `userId` is unsupported (`unsupported.no_user_id`).
- track: `POST /events` `{"event_name", "created_at" (Unix seconds), "user_id" (else "email"),
  "metadata"}`, answered `202`. Metadata: the properties Intercom can show (text, numbers,
  booleans; others `omitted.nested_metadata`), `revenue`/`currency` as Intercom's `price`
  (`{"amount": cents, "currency"}`, USD by default), at most 10 keys as Intercom keeps no more
  (the rest `omitted.too_many_metadata`), `email` left out. Intercom has no event id: it drops
  an event equal to one it has (same user, name, `created_at` and metadata), so a resent event
  is not counted twice.
- group: the company, then the user's membership:
  1. `POST /companies` (create or update by `company_id` = `groupId`): `name`, `plan`,
     `monthly_spend`, `size` (`employees`), `website`, `industry`, `remote_created_at`
     (`createdAt`), other traits in `custom_attributes`;
  2. with the company's Intercom id: `POST /contacts/search` on the `userId`;
  3. `POST /contacts/{contact id}/companies` `{"id": company id}`.
  Without a `userId` the company is updated alone (`omitted.no_user_id`).
- page, screen, alias: unsupported (`no_page_api`, `no_screen_api`, `no_alias_api`).

Answers:
- `2xx` delivered (the chain's next step sent within the same hand-over).
- `404` for an event or a membership: the user is not in Intercom yet, as when its identify is
  still on its way. Retried once, after the destination's backoff, then final
  (`404.unknown_user`, `Verdict.final_from_attempt`).
- `400` naming custom attributes the workspace does not have (`Custom attribute 'plan' does not
  exist`: Intercom refuses attributes not created first): sent again at once without them
  (`400.unknown_attribute`). Other `400`s, `401` (a revoked token), `403`, `409` for an archived
  contact: final.
- `429`: retried at `X-RateLimit-Reset` (Unix seconds; Intercom counts requests per 10-second
  window), else after `Retry-After`, else after 10 s. `5xx`: retried.

Hosts: `api.intercom.io` (US), `api.eu.intercom.io` (EU), `api.au.intercom.io` (Australia): the
workspace's region (setting `region`; unset, EU in an `eu-*` stack, else US). Intercom routes a
request sent to the US host to the workspace's region, but it crosses the US on the way: in an
`eu-*` stack `switchyard apply` warns when `region` is not `eu`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

import orjson
from pydantic import Field

from switchyard.delivery.attempts import AttemptStatus, parse_retry_after
from switchyard.delivery.http import Answer
from switchyard.destinations.base import (
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
    identity,
    new_item,
    uniform,
)
from switchyard.destinations.mapping import EMPTY, as_object, as_text, event_time_ms, put, utc_time


class IntercomRegion(StrEnum):
    US = "us"
    EU = "eu"
    AU = "au"


REGION_HOSTS: Mapping[IntercomRegion, str] = MappingProxyType(
    {
        IntercomRegion.US: "api.intercom.io",
        IntercomRegion.EU: "api.eu.intercom.io",
        IntercomRegion.AU: "api.au.intercom.io",
    }
)
# For `switchyard destinations types`; Australia is `region: au`.
INTERCOM_HOSTS = Hosts(us=REGION_HOSTS[IntercomRegion.US], eu=REGION_HOSTS[IntercomRegion.EU])
# The Intercom-Version sent unless the settings name another.
DEFAULT_API_VERSION = "2.14"

# Channels: each one kind of request, one item (one event's step) per request.
CONTACT_SEARCH = "contact_search"  # identify, step 1
CONTACT_CREATE = "contact_create"  # identify, step 2 when not found
CONTACT_UPDATE = "contact_update"  # identify, step 2 when found
EVENT = "event"  # track
COMPANY = "company"  # group, step 1
MEMBER_SEARCH = "member_search"  # group, step 2: the user's contact
MEMBERSHIP = "membership"  # group, step 3: attach the contact to the company

# Hand-overs of this many events: a request each (up to three for a group call), so that one
# hand-over's requests stay few while `concurrency` hand-overs run at a time.
EVENTS_PER_SEND = 10
# Intercom allows a private app 10,000 requests a minute (counted per 10-second window): 50 events
# a second stay under it even when each is a three-request group call.
RATE_LIMIT_PER_SECOND = 50
# One record per request; Intercom documents no body limit, events come at 256 KiB at most.
MAX_REQUEST_BYTES = 1_000_000
MAX_METADATA_KEYS = 10
ROLLING_WINDOW_SECONDS = 10.0
USER = "user"

# Segment traits Intercom has a field for (the others are custom attributes).
STANDARD_TRAITS = frozenset(
    {
        "email",
        "phone",
        "name",
        "firstName",
        "first_name",
        "lastName",
        "last_name",
        "avatar",
        "createdAt",
        "created_at",
        "unsubscribed_from_emails",
    }
)
# Segment group traits -> Intercom company fields.
COMPANY_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "name": "name",
        "plan": "plan",
        "monthly_spend": "monthly_spend",
        "employees": "size",
        "size": "size",
        "website": "website",
        "industry": "industry",
    }
)
COMPANY_DATES = frozenset({"createdAt", "created_at"})
# Properties that become the event's `price`, or are the user's: not metadata.
NOT_METADATA = frozenset({"revenue", "currency", "email"})
_SCALARS = (str, int, float, bool)
_NUMBERS = frozenset({int, float})
# Unix seconds of each second seen, by the timestamp's first 20 characters (see `_second_of`).
MAX_CACHED_SECONDS = 4096
_seconds_of: dict[str, int] = {}
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
# "Custom attribute 'plan' does not exist" (contacts and companies alike).
_UNKNOWN_ATTRIBUTE = re.compile(r"attribute '([^']+)' does not exist")
_CONFLICTING_ID = re.compile(r"already exists with id=([A-Za-z0-9_-]+)")

UNKNOWN_TYPE = Unsupported("unknown_type")
NO_USER_ID = Unsupported("no_user_id")
NO_EVENT_NAME = Unsupported("no_event_name")
NO_USER_ID_OR_EMAIL = Unsupported("no_user_id_or_email")
NO_TIMESTAMP = Unsupported("no_timestamp")
NO_GROUP_ID = Unsupported("no_group_id")
_REFUSED_CALLS: Mapping[str, Unsupported] = MappingProxyType(
    {
        EventType.PAGE: Unsupported("no_page_api"),
        EventType.SCREEN: Unsupported("no_screen_api"),
        EventType.ALIAS: Unsupported("no_alias_api"),
    }
)

UNKNOWN_USER = Verdict(AttemptStatus.RETRY, "404.unknown_user", final_from_attempt=2)
ARCHIVED_CONTACT = Verdict(AttemptStatus.FINAL, "409.archived_contact")


class IntercomSettings(ToolSettings):
    """`type: intercom`: an Intercom workspace, through an access token."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("access_token",)

    access_token: SecretText = Field(min_length=8, description="An access token of the workspace's app")
    region: IntercomRegion | None = Field(
        default=None, description="us | eu | au: where the workspace is hosted (unset: eu in eu-* stacks, else us)"
    )
    api_version: str = Field(
        default=DEFAULT_API_VERSION,
        pattern=r"^([0-9]+\.[0-9]+|Unstable)$",
        description="The Intercom-Version header (2.14, 2.15, ... or Unstable)",
    )

    def residency(self, aws_region: str) -> IntercomRegion:
        if self.region is not None:
            return self.region
        return IntercomRegion.EU if aws_region.startswith("eu-") else IntercomRegion.US


@dataclass(slots=True)
class Step:
    """The step a request makes, and the item it was made from (for the next step)."""

    channel: str
    item: Mapping[str, Any]


class Intercom(DestinationType):
    name = "intercom"
    title = "Intercom"
    settings_model = IntercomSettings
    calls = (EventType.IDENTIFY, EventType.TRACK, EventType.GROUP)
    hosts = INTERCOM_HOSTS
    default_rate_limit_per_second = RATE_LIMIT_PER_SECOND

    def map(self, event: dict[str, Any], settings: IntercomSettings) -> list[Item] | Unsupported:
        kind = event.get("type")
        if kind == "track":  # most events: no table look-up
            return _track(event, settings)
        mapper = _MAPPERS.get(kind) if isinstance(kind, str) else None
        if mapper is None:
            return _REFUSED_CALLS.get(kind, UNKNOWN_TYPE) if isinstance(kind, str) else UNKNOWN_TYPE
        return mapper(event, settings)

    def limits(self, channel: str, settings: IntercomSettings) -> Limits:
        # One item per request, the body itself (the driver counts a separator byte per item).
        return Limits(max_items=1, max_bytes=MAX_REQUEST_BYTES + 1)

    def events_per_send(self, settings: IntercomSettings) -> int:
        return EVENTS_PER_SEND

    def base_url(self, settings: ToolSettings, aws_region: str) -> str:
        if settings.endpoint:
            return settings.endpoint.rstrip("/")
        region = settings.residency(aws_region) if isinstance(settings, IntercomSettings) else IntercomRegion.US
        return "https://" + REGION_HOSTS[region]

    def residency_warning(self, settings: DestinationSettings, aws_region: str) -> str | None:
        if not aws_region.startswith("eu-") or not isinstance(settings, IntercomSettings) or settings.endpoint:
            return None
        region = settings.residency(aws_region)
        if region is IntercomRegion.EU:
            return None
        return f"sends to {REGION_HOSTS[region]}, outside the EU (`region: {region.value}`)"

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: IntercomSettings, context: CallContext
    ) -> HttpCall:
        base, events_url, headers = _request_parts(settings, context.aws_region)
        if channel == EVENT:  # the item is the request's body as it is; most requests
            return HttpCall("POST", events_url, payloads[0], headers, _EVENT_STEP)
        item = orjson.loads(payloads[0])
        method, path, body = _request(channel, item)
        return HttpCall(method, base + path, orjson.dumps(body), headers, state=Step(channel, item))

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        step = call.state if isinstance(call, HttpCall) else None
        if not isinstance(step, Step) or not isinstance(answer, Answer):
            return uniform(answer, count, now)
        return [_verdict(step, answer, now)]


INTERCOM = Intercom()
# Every event's request has the same step (no item kept: nothing follows it).
_EVENT_STEP = Step(EVENT, EMPTY)


# Each destination's request parts, by its settings' id (see `_request_parts`).
MAX_KEPT_SETTINGS = 64
_parts: dict[int, tuple[IntercomSettings, str, tuple[str, str, Mapping[str, str]]]] = {}


def _request_parts(settings: IntercomSettings, aws_region: str) -> tuple[str, str, Mapping[str, str]]:
    """The base URL, the events' URL and the headers of a destination's requests: the same for
    each of its events, made once. Remembered by the settings' identity (hashing a settings
    model costs more than a request's other work); the entry holds the settings, so their id
    cannot be another's while it is kept."""
    kept = _parts.get(id(settings))
    if kept is not None and kept[0] is settings and kept[1] == aws_region:
        return kept[2]
    headers = {
        "Authorization": f"Bearer {settings.access_token}",
        "Intercom-Version": settings.api_version,
        "Accept": "application/json",
    }
    base = INTERCOM.base_url(settings, aws_region)
    parts = (base, base + "/events", MappingProxyType(headers))
    if len(_parts) >= MAX_KEPT_SETTINGS:
        _parts.clear()
    _parts[id(settings)] = (settings, aws_region, parts)
    return parts


# -- the calls ---------------------------------------------------------------------------------


def _identify(event: dict[str, Any], settings: IntercomSettings) -> list[Item] | Unsupported:
    user_id, _ = identity(event)
    if user_id is None:
        return NO_USER_ID
    traits = as_object(event.get("traits"))
    contact: dict[str, Any] = {"external_id": user_id}
    email = traits.get("email")
    put(contact, "email", email if isinstance(email, str) else None)
    put(contact, "phone", as_text(traits.get("phone")))
    put(contact, "name", _name(traits))
    put(contact, "avatar", traits.get("avatar") if isinstance(traits.get("avatar"), str) else None)
    put(contact, "signed_up_at", _seconds(traits.get("createdAt") or traits.get("created_at")))
    put(contact, "last_seen_at", _timestamp_seconds(event.get("timestamp")))
    unsubscribed = traits.get("unsubscribed_from_emails")
    if isinstance(unsubscribed, bool):
        contact["unsubscribed_from_emails"] = unsubscribed
    attributes, left_out = _custom_attributes(traits, STANDARD_TRAITS)
    if attributes:
        contact["custom_attributes"] = attributes
    return [new_item(Item, (CONTACT_SEARCH, {"external_id": user_id, "contact": contact}, left_out))]


def _track(event: dict[str, Any], settings: IntercomSettings) -> list[Item] | Unsupported:
    """Runs for most events: `identity` and `event_time_ms` inline in their usual cases, the
    occurrence built as one dict."""
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return NO_EVENT_NAME
    properties = event.get("properties")
    if properties.__class__ is not dict:
        properties = as_object(properties)
    user_id = event.get("userId")
    if user_id.__class__ is str:
        user_id = user_id or None
    elif user_id is not None:
        user_id, _ = identity(event)
    timestamp = event.get("timestamp")
    # A second seen before: one look-up (see `_second_of`).
    created_at = _seconds_of.get(timestamp[:20]) if timestamp.__class__ is str and timestamp[-1:] == "Z" else None
    if created_at is None:
        created_at = _event_seconds(event)
        if created_at is None:
            return NO_TIMESTAMP
    if user_id is not None:
        occurrence: dict[str, Any] = {"event_name": name, "created_at": created_at, "user_id": user_id}
    else:
        email = properties.get("email") or _context_traits(event).get("email")
        if not isinstance(email, str) or not email:
            return NO_USER_ID_OR_EMAIL
        occurrence = {"event_name": name, "created_at": created_at, "email": email}
    metadata, left_out = _metadata(properties)
    if metadata:
        occurrence["metadata"] = metadata
    return [new_item(Item, (EVENT, occurrence, left_out))]


def _group(event: dict[str, Any], settings: IntercomSettings) -> list[Item] | Unsupported:
    group_id = as_text(event.get("groupId"))
    if group_id is None:
        return NO_GROUP_ID
    traits = as_object(event.get("traits"))
    company: dict[str, Any] = {"company_id": group_id}
    for trait, field in COMPANY_FIELDS.items():
        value = traits.get(trait)
        if value is not None and value != "" and isinstance(value, _SCALARS):
            company.setdefault(field, value)
    put(company, "remote_created_at", _seconds(traits.get("createdAt") or traits.get("created_at")))
    attributes, left_out = _custom_attributes(traits, COMPANY_FIELDS.keys() | COMPANY_DATES)
    if attributes:
        company["custom_attributes"] = attributes
    user_id, _ = identity(event)
    if user_id is None:
        return [Item(COMPANY, {"company": company}, (*left_out, "no_user_id"))]
    return [Item(COMPANY, {"company": company, "external_id": user_id}, left_out)]


_MAPPERS: dict[str, Callable[[dict[str, Any], IntercomSettings], list[Item] | Unsupported]] = {
    EventType.IDENTIFY: _identify,
    EventType.TRACK: _track,
    EventType.GROUP: _group,
}


def _name(traits: Mapping[str, Any]) -> str | None:
    name = traits.get("name")
    if isinstance(name, str) and name:
        return name
    first = traits.get("firstName") or traits.get("first_name")
    last = traits.get("lastName") or traits.get("last_name")
    parts = [part for part in (first, last) if isinstance(part, str) and part]
    return " ".join(parts) or None


def _custom_attributes(
    traits: Mapping[str, Any], standard: frozenset[str] | set[str]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The other traits Intercom can store: text, numbers, booleans; dates as Unix seconds."""
    attributes: dict[str, Any] = {}
    nested = False
    for key, value in traits.items():
        if key in standard or value is None or value == "":
            continue
        if not isinstance(value, _SCALARS):
            nested = True
            continue
        if isinstance(value, str) and (key.endswith("_at") or key.endswith("At")):
            value = _seconds(value) or value
        attributes[key] = value
    return attributes, ("nested_attribute",) if nested else ()


def _metadata(properties: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Intercom's event metadata: at most 10 keys of text, numbers and booleans, and the price.
    Runs for every track: the value's class is tested once, the keys left out with one look-up."""
    metadata: dict[str, Any] = {}
    revenue = properties.get("revenue")
    if revenue is not None and revenue.__class__ in _NUMBERS:
        currency = properties.get("currency")
        metadata["price"] = {
            "amount": round(revenue * 100),
            "currency": currency if isinstance(currency, str) else "usd",
        }
    nested = False
    room = MAX_METADATA_KEYS - len(metadata)
    for key, value in properties.items():
        kind = value.__class__
        if kind is str:
            if not value:
                continue
        elif kind is not int and kind is not float and kind is not bool:
            nested = nested or value is not None
            continue
        if key in NOT_METADATA:
            continue
        if not room:
            return metadata, ("nested_metadata", "too_many_metadata") if nested else ("too_many_metadata",)
        metadata[key] = value
        room -= 1
    return metadata, ("nested_metadata",) if nested else ()


def _seconds(value: object) -> int | None:
    """A Segment time (ISO 8601 text, or already Unix seconds) as Intercom's Unix seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    moment = utc_time(value) if isinstance(value, str) and value else None
    return None if moment is None else int(moment.timestamp())


def _timestamp_seconds(value: object) -> int | None:
    """`_seconds(value)`, through the seconds remembered (see `_second_of`); a time before 1970
    aside, which `_seconds` rounds toward zero, not down."""
    seconds = _seconds_of.get(value[:20]) if value.__class__ is str and value[-1:] == "Z" else None  # type: ignore[index]
    if seconds is None and value.__class__ is str:
        seconds = _second_of(value)
    return seconds if seconds is not None and seconds >= 0 else _seconds(value)


def _event_seconds(event: Mapping[str, Any]) -> int | None:
    """`event_time_ms(event) // 1000`: the timestamp's second, else when the event was received."""
    seconds = _second_of(event.get("timestamp"))
    if seconds is None:
        time_ms = event_time_ms(event)
        return None if time_ms is None else time_ms // 1000
    return seconds


def _second_of(timestamp: object) -> int | None:
    """A timestamp's Unix second (rounded down). A `...THH:MM:SS(.fff)Z` timestamp's second is
    remembered, by its first 20 characters: the next timestamps of that second cost one look-up
    instead of a datetime each (times are not personal data)."""
    moment = utc_time(timestamp)
    if moment is None:
        return None
    seconds = (moment - _EPOCH_UTC) // _SECOND
    if timestamp[-1:] == "Z" and timestamp[16:17] == ":" and timestamp[19:20] in (".", "Z"):  # type: ignore[index]
        if len(_seconds_of) >= MAX_CACHED_SECONDS:
            _seconds_of.clear()
        _seconds_of[timestamp[:20]] = seconds  # type: ignore[index]
    return seconds


def _context_traits(event: Mapping[str, Any]) -> Mapping[str, Any]:
    context = event.get("context")
    return as_object(context.get("traits")) if isinstance(context, dict) else EMPTY


# -- requests ----------------------------------------------------------------------------------


def _request(channel: str, item: Mapping[str, Any]) -> tuple[str, str, Any]:
    """(method, path, body) of a step's request."""
    if channel in (CONTACT_SEARCH, MEMBER_SEARCH):
        return (
            "POST",
            "/contacts/search",
            {"query": {"field": "external_id", "operator": "=", "value": item["external_id"]}},
        )
    if channel == CONTACT_CREATE:
        return "POST", "/contacts", {"role": USER, **item["contact"]}
    if channel == CONTACT_UPDATE:
        return "PUT", f"/contacts/{item['id']}", item["contact"]
    if channel == COMPANY:
        return "POST", "/companies", item["company"]
    if channel == MEMBERSHIP:
        return "POST", f"/contacts/{item['contact']}/companies", {"id": item["company"]}
    raise ValueError(f"intercom has no channel {channel!r}")


# -- answers -----------------------------------------------------------------------------------


def _verdict(step: Step, answer: Answer, now: float) -> Verdict:
    status = answer.status
    if 200 <= status < 300:
        return _done(step, answer)
    if status == 404 and step.channel in (EVENT, MEMBERSHIP):
        return UNKNOWN_USER
    if status == 409 and step.channel == CONTACT_CREATE:
        return _conflict(step, answer)
    if status == 400 and step.channel in (CONTACT_CREATE, CONTACT_UPDATE, COMPANY):
        return _refused(step, answer)
    if status == 429:
        return _throttled(answer, now)
    return uniform(answer, 1, now)[0]


def _done(step: Step, answer: Answer) -> Verdict:
    """A step taken, and the chain's next one (built from Intercom's answer)."""
    code = str(answer.status)
    item = step.item
    if step.channel in (CONTACT_SEARCH, MEMBER_SEARCH):
        found = _first_contact_id(answer.body)
        if step.channel == MEMBER_SEARCH:
            if found is None:
                return UNKNOWN_USER
            return _then(code, Item(MEMBERSHIP, {"contact": found, "company": item["company"]}))
        if found is None:
            return _then(code, Item(CONTACT_CREATE, {"contact": item["contact"]}))
        return _then(code, Item(CONTACT_UPDATE, {"id": found, "contact": item["contact"]}))
    if step.channel == COMPANY and "external_id" in item:
        company_id = as_text(_json_object(answer.body).get("id"))
        if company_id is None:
            return Verdict(AttemptStatus.FINAL, f"{code}.no_id")
        return _then(code, Item(MEMBER_SEARCH, {"external_id": item["external_id"], "company": company_id}))
    return Verdict(AttemptStatus.DELIVERED, code)


def _then(code: str, step: Item) -> Verdict:
    return Verdict(AttemptStatus.DELIVERED, code, then=(step,))


def _conflict(step: Step, answer: Answer) -> Verdict:
    """A contact Intercom's search did not find yet, but it has: updated under its id instead."""
    message = " ".join(_error_messages(answer.body))
    if "archived" in message:
        return ARCHIVED_CONTACT
    found = _CONFLICTING_ID.search(message)
    if found is None:
        return Verdict(AttemptStatus.FINAL, "409")
    return _then("409.exists", Item(CONTACT_UPDATE, {"id": found.group(1), "contact": step.item["contact"]}))


def _refused(step: Step, answer: Answer) -> Verdict:
    """Custom attributes the workspace lacks: the record again without them; else final."""
    unknown = {name for message in _error_messages(answer.body) for name in _UNKNOWN_ATTRIBUTE.findall(message)}
    key = "company" if step.channel == COMPANY else "contact"
    record = step.item[key]
    attributes = record.get("custom_attributes")
    if not unknown or not isinstance(attributes, dict) or unknown.isdisjoint(attributes):
        return Verdict(AttemptStatus.FINAL, "400")
    kept = {name: value for name, value in attributes.items() if name not in unknown}
    changed = {name: value for name, value in record.items() if name != "custom_attributes"}
    if kept:
        changed["custom_attributes"] = kept
    return _then(
        "400.unknown_attribute", Item(step.channel, {**step.item, key: changed}, omitted=("unknown_attribute",))
    )


def _throttled(answer: Answer, now: float) -> Verdict:
    reset = answer.headers.get("X-RateLimit-Reset")
    if reset and reset.strip().isdigit():
        wait: float | None = max(int(reset) - now, 1.0)
    else:
        wait = parse_retry_after(answer.headers.get("Retry-After"), now)
    return Verdict(AttemptStatus.RETRY, "429", wait if wait is not None else ROLLING_WINDOW_SECONDS)


# -- small helpers -----------------------------------------------------------------------------


def _first_contact_id(body: bytes) -> str | None:
    """The contact a search found (the first, when several share the external id), else None."""
    data = _json_object(body).get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return as_text(data[0].get("id"))
    return None


def _error_messages(body: bytes) -> list[str]:
    errors = _json_object(body).get("errors")
    if not isinstance(errors, list):
        return []
    return [str(error.get("message")) for error in errors if isinstance(error, dict) and error.get("message")]


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
