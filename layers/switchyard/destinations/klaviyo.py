"""`type: klaviyo`: identify as a profile upsert, track as an event, on Klaviyo's revisioned JSON:API.

Requests (`https://a.klaviyo.com`, JSON:API bodies, checked against Klaviyo's OpenAPI documents
`create_or_update_profile` and `create_event` of revisions 2026-07-15 and later):

- identify: `POST /api/profile-import` (Create or Update Profile) `{"data": {"type": "profile",
  "attributes": {"external_id", "email", "phone_number", "first_name", "last_name",
  "organization", "title", "image", "location", "properties"}}}`: an upsert on the identifiers
  (201 created, 200 updated). `external_id` is the `userId`; the other traits go as `properties`.
- track: `POST /api/events` (Create Event) `{"data": {"type": "event", "attributes":
  {"properties", "time", "value"?, "value_currency"?, "unique_id", "metric": {"data": {"type":
  "metric", "attributes": {"name"}}}, "profile": {"data": {"type": "profile", "attributes":
  {"external_id", "anonymous_id", "email", "phone_number"}}}}}}` (202: validated, processed
  later). `unique_id` is the `messageId`: Klaviyo records only the first event of a profile and
  metric with that id, so a resent event is not counted twice. Order Completed carries `value`
  (`revenue`, else `total`, else `value`) and `value_currency`; any other event carries `value` when
  it has a numeric `revenue`. Order Completed also gives one `Ordered Product` event per product
  (setting `ordered_product_metric`), as Segment's Klaviyo destination and Klaviyo's own store
  integrations send them, each with `unique_id` `<messageId>:<index>`.

Headers: `Authorization: Klaviyo-API-Key <private key>`, `revision: <revision>` (a setting, the
latest stable revision by default; Klaviyo keeps a revision stable for a year, deprecated for a
second, then retires it), `accept` and `content-type` `application/vnd.api+json`.

One request per item. Klaviyo has bulk endpoints, but neither answers per item: a profile bulk
import is a job whose per-profile errors are read later from another endpoint (and Klaviyo advises
against it for small numbers of profiles), and a bulk event job answers 202 for all its events or
fails all of them, a repeated `unique_id` included, so one resent event would fail its whole
batch. The single endpoints answer for each item and deduplicate silently; their rate limits
(events 350/s burst, 3,500/min steady; profiles 75/s, 750/min) are well above the bulk
endpoints' 10/s, 150/min. Hand-overs hold 10 events, run `concurrency` at a time.

Mapping runs per event: the track path is inline, a metric's relationship object is built once
per name, and a destination's URLs and headers once per settings object.

Limits: an event body of at most 5 MB and at most 400 properties; a profile body of at most
100 KB; a metric name under 128 characters. A phone number Klaviyo would refuse (not E.164, once
spaces, dashes, dots and brackets are removed) is left out of the profile (`omitted.
phone_number_not_e164`): a refused phone number would fail the whole request.

Answers: 2xx delivered; 429 retried no sooner than `Retry-After` (Klaviyo sends it with every 429,
and no `RateLimit-*` headers then); 408 and 5xx retried; other 4xx final, coded by the status and
Klaviyo's first error code (`400.invalid`, `401.not_authenticated`, ...).

User deletion: Klaviyo's Data Privacy API deletes one profile per request, named by its email,
phone number or Klaviyo id, not by `external_id` (`POST /api/data-privacy-deletion-jobs`, the
`request_profile_deletion` OpenAPI document). So a deletion is two steps (`Verdict.then`):
`GET /api/profiles?filter=equals(external_id,"<userId>")` (Get Profiles), then for the profile
found (the userId is its `external_id`, as identify and track set it) `{"data": {"type":
"data-privacy-deletion-job", "attributes": {"profile": {"data": {"type": "profile", "id"}}}}}`,
answered `202` (Klaviyo deletes it later, a GDPR deletion). No profile with that `external_id`:
nothing to delete (delivered, `200.no_profile`); a profile Klaviyo only knows by email is not found
this way. The key needs the `profiles:read` and `data-privacy:write` scopes besides those above;
the Data Privacy API allows 3 requests a second (60 a minute).

Hosts: Klaviyo has one API host, in the US: in an `eu-*` region `switchyard apply` says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import urlencode

import orjson
from pydantic import Field

from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.base import (
    Call,
    CallContext,
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
    uniform,
)
from switchyard.destinations.mapping import as_object, as_text

KLAVIYO_HOSTS = Hosts(us="a.klaviyo.com")
# The revision sent unless the settings name another (Klaviyo's latest, checked 2026-11).
CURRENT_REVISION = "2026-10-15"
JSON_API = "application/vnd.api+json"

EVENTS = "events"
PROFILES = "profiles"
DELETION = "deletion"  # a deletion's second step: a profile found by its external_id, deleted
PATHS: Mapping[str, str] = MappingProxyType(
    {EVENTS: "/api/events", PROFILES: "/api/profile-import", DELETION: "/api/data-privacy-deletion-jobs"}
)
# A deletion's first step (Get Profiles): the Klaviyo id of the profile whose external_id is the userId.
PROFILE_LOOKUP_PATH = "/api/profiles"

# Klaviyo's documented body limits ("5 MB", "100KB"), read as decimal units, the smaller reading.
MAX_EVENT_BYTES = 5_000_000
MAX_PROFILE_BYTES = 100_000
MAX_EVENT_PROPERTIES = 400
MAX_METRIC_NAME_CHARS = 127  # "less than 128 characters"
# Hand-overs of this many events: one request each, so a hand-over's requests stay few while
# `concurrency` hand-overs run at a time.
EVENTS_PER_SEND = 10

ORDER_COMPLETED = "Order Completed"
# Where an event's `value` comes from: the first numeric property.
ORDER_VALUE_PROPERTIES = ("revenue", "total", "value")
EVENT_VALUE_PROPERTIES = ("revenue",)

# Segment traits -> Klaviyo's standard profile attributes (the rest become `properties`).
PROFILE_ATTRIBUTES: Mapping[str, str] = MappingProxyType(
    {
        "email": "email",
        "firstName": "first_name",
        "first_name": "first_name",
        "lastName": "last_name",
        "last_name": "last_name",
        "title": "title",
        "organization": "organization",
        "avatar": "image",
    }
)
# Segment's `traits.address` -> Klaviyo's `location`.
LOCATION_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "street": "address1",
        "city": "city",
        "state": "region",
        "postal_code": "zip",
        "country": "country",
    }
)
PHONE_TRAIT = "phone"
COMPANY_TRAIT = "company"  # a name, or an object with one: the organization unless one is given
ADDRESS_TRAIT = "address"

PHONE_NUMBER_NOT_E164 = "phone_number_not_e164"
OMITTED_REASONS = frozenset({PHONE_NUMBER_NOT_E164})

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_PHONE_PUNCTUATION = str.maketrans("", "", " -.()")
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Plain dicts, read per trait and per address field.
_PROFILE_ATTRIBUTES: dict[str, str] = dict(PROFILE_ATTRIBUTES)
_LOCATION_FIELDS: dict[str, str] = dict(LOCATION_FIELDS)
_CONSUMED_TRAITS = frozenset({*PROFILE_ATTRIBUTES, PHONE_TRAIT, COMPANY_TRAIT, ADDRESS_TRAIT})

# Refusals, shared by every event they concern.
UNKNOWN_TYPE = Unsupported("unknown_type")
NO_EVENT_NAME = Unsupported("no_event_name")
EVENT_NAME_TOO_LONG = Unsupported("event_name_too_long")
TOO_MANY_PROPERTIES = Unsupported("too_many_properties")
NO_PROFILE_IDENTIFIER = Unsupported("no_profile_identifier")
UNSUPPORTED_CALLS: Mapping[str, str] = MappingProxyType(
    {
        EventType.PAGE.value: "no_page_api",
        EventType.SCREEN.value: "no_screen_api",
        EventType.GROUP.value: "no_group_api",
        EventType.ALIAS.value: "no_alias_api",
    }
)
_REFUSED_CALLS: dict[str, Unsupported] = {kind: Unsupported(reason) for kind, reason in UNSUPPORTED_CALLS.items()}


class KlaviyoSettings(ToolSettings):
    """`type: klaviyo`: a Klaviyo account, through a private API key."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("private_api_key",)

    private_api_key: SecretText = Field(
        pattern=r"^pk_\S{8,}$",
        description="A private API key (pk_...) with the events:write and profiles:write scopes "
        "(and profiles:read, data-privacy:write to delete users)",
    )
    revision: str = Field(
        default=CURRENT_REVISION,
        pattern=r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$",
        description="The API revision (`revision` header), YYYY-MM-DD",
    )
    ordered_product_metric: str | None = Field(
        default="Ordered Product",
        min_length=1,
        max_length=MAX_METRIC_NAME_CHARS,
        description="Metric of the event sent per product of an Order Completed (null: none)",
    )


class Klaviyo(DestinationType):
    name = "klaviyo"
    title = "Klaviyo"
    settings_model = KlaviyoSettings
    calls = (EventType.IDENTIFY, EventType.TRACK)
    hosts = KLAVIYO_HOSTS
    max_deletions_per_call = 1  # the Data Privacy API deletes one profile per request

    def map(self, event: dict[str, Any], settings: KlaviyoSettings) -> list[Item] | Unsupported:
        kind = event.get("type")
        mapper = _MAPPERS.get(kind) if kind.__class__ is str else None
        if mapper is None:
            return _REFUSED_CALLS.get(kind, UNKNOWN_TYPE) if kind.__class__ is str else UNKNOWN_TYPE
        return mapper(event, settings)

    def limits(self, channel: str, settings: KlaviyoSettings) -> Limits:
        # One item per request, the body itself; plus the separator the driver counts per item.
        return _LIMITS[channel]

    def events_per_send(self, settings: KlaviyoSettings) -> int:
        return EVENTS_PER_SEND

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: KlaviyoSettings, context: CallContext
    ) -> HttpCall:
        urls, sent_headers = self.request_parts(settings, context.aws_region)
        return HttpCall("POST", urls[channel], payloads[0], sent_headers)

    def request_parts(self, settings: KlaviyoSettings, aws_region: str) -> tuple[dict[str, str], Mapping[str, str]]:
        """Each channel's URL, and the headers: the same for every request of a destination (Klaviyo
        has one host, whatever the region), so built once per settings object, as one request per
        item makes requests as many as events."""
        known = _request_parts.get(id(settings))
        if known is not None and known[0] is settings:  # the cache keeps it alive: the id is still its own
            return known[1], known[2]
        base = self.base_url(settings, aws_region)
        urls = {channel: base + path for channel, path in PATHS.items()}
        shared = MappingProxyType(headers(settings))
        if len(_request_parts) >= MAX_CACHED_SETTINGS:
            _request_parts.clear()
        _request_parts[id(settings)] = (settings, urls, shared)
        return urls, shared

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        if isinstance(answer, Answer) and 400 <= answer.status < 500 and answer.status not in (408, 423, 429):
            return [Verdict(AttemptStatus.FINAL, refusal_code(answer))] * count
        return uniform(answer, count, now)

    def delete_call(self, user_ids: Sequence[str], settings: KlaviyoSettings, context: CallContext) -> HttpCall:
        """The first step: the profile whose external_id is the userId (`max_deletions_per_call` is 1);
        its verdict names the deletion of each profile found."""
        [user_id] = user_ids
        query = urlencode(
            {"filter": f"equals(external_id,{orjson.dumps(user_id).decode()})", "fields[profile]": "external_id"}
        )
        url = self.base_url(settings, context.aws_region) + PROFILE_LOOKUP_PATH + "?" + query
        return HttpCall("GET", url, b"", headers(settings), state=LOOKUP)

    def interpret_delete(self, call: Call, answer: Any, now: float) -> Verdict:
        [verdict] = self.interpret(call, answer, 1, now)
        lookup = isinstance(call, HttpCall) and call.state == LOOKUP
        if verdict.status is not AttemptStatus.DELIVERED or not lookup or not isinstance(answer, Answer):
            return verdict
        found = _profile_ids(answer.body)
        if not found:
            return Verdict(AttemptStatus.DELIVERED, f"{answer.status}.no_profile")
        steps = tuple(Item(DELETION, deletion_job(profile_id)) for profile_id in found)
        return Verdict(AttemptStatus.DELIVERED, verdict.code, then=steps)


KLAVIYO = Klaviyo()

# Request parts by settings object (see `request_parts`): a few destinations' worth; cleared if
# settings objects keep changing (each config change makes a new one).
MAX_CACHED_SETTINGS = 64
_request_parts: dict[int, tuple[KlaviyoSettings, dict[str, str], Mapping[str, str]]] = {}
# Metric relationships by name (see `metric`): cleared if a client invents names without end.
MAX_CACHED_METRICS = 10_000
_metrics: dict[str, dict[str, Any]] = {}

_LIMITS: dict[str, Limits] = {
    EVENTS: Limits(1, MAX_EVENT_BYTES + 1),
    PROFILES: Limits(1, MAX_PROFILE_BYTES + 1),
}


def headers(settings: KlaviyoSettings) -> dict[str, str]:
    return {
        "Authorization": "Klaviyo-API-Key " + settings.private_api_key,
        "revision": settings.revision,
        "Accept": JSON_API,
        "Content-Type": JSON_API,
    }


# -- user deletion --------------------------------------------------------------------------------

LOOKUP = "profile_lookup"  # `HttpCall.state` of a deletion's first step


def deletion_job(profile_id: str) -> dict[str, Any]:
    profile = {"data": {"type": "profile", "id": profile_id}}
    return {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": profile}}}


def _profile_ids(body: bytes) -> list[str]:
    """The ids of the profiles a Get Profiles answer lists."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    data = parsed.get("data") if isinstance(parsed, dict) else None
    profiles = data if isinstance(data, list) else []
    return [profile_id for profile in profiles if (profile_id := as_text(as_object(profile).get("id"))) is not None]


# -- the calls ------------------------------------------------------------------------------------


def _identify(event: dict[str, Any], settings: KlaviyoSettings) -> list[Item] | Unsupported:
    user_id, _ = identity(event)
    traits = event.get("traits")
    if traits.__class__ is not dict:
        traits = as_object(traits)
    attributes: dict[str, Any] = {} if user_id is None else {"external_id": user_id}
    properties: dict[str, Any] = {}
    attribute_of = _PROFILE_ATTRIBUTES.get
    for key, value in traits.items():
        if value is None or value == "":
            continue
        attribute = attribute_of(key)
        if attribute is not None:
            attributes[attribute] = value
        elif key not in _CONSUMED_TRAITS:
            properties[key] = value
    phone, company, address = traits.get(PHONE_TRAIT), traits.get(COMPANY_TRAIT), traits.get(ADDRESS_TRAIT)
    omitted = () if phone is None else _put_phone_number(attributes, phone)
    if company is not None and "organization" not in attributes:
        _put_organization(attributes, properties, company)
    if address is not None:
        _put_location(attributes, properties, address)
    if not ("external_id" in attributes or "email" in attributes or "phone_number" in attributes):
        return NO_PROFILE_IDENTIFIER
    if properties:
        attributes["properties"] = properties
    return [Item(PROFILES, {"data": {"type": "profile", "attributes": attributes}}, omitted)]


def _track(event: dict[str, Any], settings: KlaviyoSettings) -> list[Item] | Unsupported:
    name = event.get("event")
    if name.__class__ is not str or not name:
        return NO_EVENT_NAME
    if len(name) > MAX_METRIC_NAME_CHARS:
        return EVENT_NAME_TOO_LONG
    properties = event.get("properties")
    if properties.__class__ is not dict:
        properties = {}  # Klaviyo requires the object
    elif len(properties) > MAX_EVENT_PROPERTIES:
        return TOO_MANY_PROPERTIES
    # The profile: its ids, and the email and phone number of the context's traits, else of the
    # properties (inline: this runs for most events).
    who: dict[str, Any] = {}
    user_id, anonymous_id = event.get("userId"), event.get("anonymousId")
    if user_id.__class__ is not str or not user_id:  # the usual non-empty strings need no call
        user_id = as_text(user_id)
    if user_id is not None:
        who["external_id"] = user_id
    if anonymous_id.__class__ is not str or not anonymous_id:
        anonymous_id = as_text(anonymous_id)
    if anonymous_id is not None:
        who["anonymous_id"] = anonymous_id
    context = event.get("context")
    traits = context.get("traits") if context.__class__ is dict else None
    if traits.__class__ is dict and traits:
        email, phone = traits.get("email") or properties.get("email"), traits.get(PHONE_TRAIT)
    else:
        email, phone = properties.get("email"), None
    if email.__class__ is str and email:
        who["email"] = email
    phone = phone or properties.get(PHONE_TRAIT)
    omitted = () if phone is None else _put_phone_number(who, phone)
    if not who:
        return NO_PROFILE_IDENTIFIER
    profile = {"data": {"type": "profile", "attributes": who}}
    message_id = event.get("messageId")
    if message_id.__class__ is not str or not message_id:  # the usual non-empty string needs no call
        message_id = as_text(message_id)
    time = event.get("timestamp") or event.get("receivedAt")
    attributes = {
        "properties": properties,
        "time": time,
        "unique_id": message_id,
        "metric": _metrics.get(name) or metric(name),
        "profile": profile,
    }
    if time.__class__ is not str or message_id is None:  # rare: no key rather than a null
        _drop_nulls(attributes)
    items = [Item(EVENTS, {"data": {"type": "event", "attributes": attributes}}, omitted)]
    if name != ORDER_COMPLETED:
        revenue = properties.get("revenue")
        if revenue is not None:
            _put_value(attributes, properties, EVENT_VALUE_PROPERTIES)
        return items
    _put_value(attributes, properties, ORDER_VALUE_PROPERTIES)
    if settings.ordered_product_metric:
        items.extend(_ordered_products(settings.ordered_product_metric, properties, event, message_id, profile))
    return items


# The mapping of each call Klaviyo takes, by its type.
_MAPPERS: dict[str, Callable[[dict[str, Any], KlaviyoSettings], list[Item] | Unsupported]] = {
    EventType.IDENTIFY.value: _identify,
    EventType.TRACK.value: _track,
}


def _ordered_products(
    metric: str,
    order: Mapping[str, Any],
    event: dict[str, Any],
    message_id: str | None,
    profile: dict[str, Any],
) -> list[Item]:
    """One event per product: the order's properties (without its product list) and the product's."""
    products = order.get("products")
    if not isinstance(products, list) or not products:
        return []
    shared = {key: value for key, value in order.items() if key != "products"}
    currency = _currency(order.get("currency"))
    items = []
    for index, product in enumerate(products):
        if not isinstance(product, dict):
            continue
        properties = {**shared, **product}
        if len(properties) > MAX_EVENT_PROPERTIES:
            continue
        unique_id = None if message_id is None else f"{message_id}:{index}"
        attributes = _event_attributes(metric, properties, event, unique_id, profile)
        price = product.get("price")
        if price.__class__ is int or price.__class__ is float:
            attributes["value"] = price
            if currency is not None:
                attributes["value_currency"] = currency
        items.append(Item(EVENTS, {"data": {"type": "event", "attributes": attributes}}))
    return items


# -- pieces ---------------------------------------------------------------------------------------


def _event_attributes(
    name: str, properties: Mapping[str, Any], event: dict[str, Any], unique_id: str | None, profile: dict[str, Any]
) -> dict[str, Any]:
    """An event's attributes (as `_track` builds its own inline): `time` is the event's ISO 8601
    timestamp as Segment wrote it, else when it was received; neither: when Klaviyo receives it."""
    time = event.get("timestamp") or event.get("receivedAt")
    attributes: dict[str, Any] = {
        "properties": properties,
        "time": time,
        "unique_id": unique_id,
        "metric": _metrics.get(name) or metric(name),
        "profile": profile,
    }
    if time.__class__ is not str or unique_id is None:
        _drop_nulls(attributes)
    return attributes


def metric(name: str) -> dict[str, Any]:
    """An event's `metric` relationship. Names repeat (a few hundred in practice), so each one's is
    built once and shared by the events that name it (payloads are only ever serialized)."""
    relationship = {"data": {"type": "metric", "attributes": {"name": name}}}
    if len(_metrics) >= MAX_CACHED_METRICS:
        _metrics.clear()  # a client inventing names: keep the cache bounded
    _metrics[name] = relationship
    return relationship


def _drop_nulls(attributes: dict[str, Any]) -> None:
    """No `time` or `unique_id` key rather than a null, or a time that is not text."""
    if attributes["time"].__class__ is not str:
        del attributes["time"]
    if attributes["unique_id"] is None:
        del attributes["unique_id"]


def _put_phone_number(attributes: dict[str, Any], phone: object) -> tuple[str, ...]:
    """`phone_number` in E.164, or why it was left out."""
    if phone is None or phone == "":
        return ()
    if isinstance(phone, str):
        number = phone if _E164.fullmatch(phone) else phone.translate(_PHONE_PUNCTUATION)
        if _E164.fullmatch(number):
            attributes["phone_number"] = number
            return ()
    return (PHONE_NUMBER_NOT_E164,)


def _put_organization(attributes: dict[str, Any], properties: dict[str, Any], company: object) -> None:
    """Segment's `company` trait: a name, or an object whose `name` is one (the rest stays a property)."""
    if isinstance(company, str) and company:
        attributes["organization"] = company
    elif isinstance(company, dict):
        name = company.get("name")
        if isinstance(name, str) and name:
            attributes["organization"] = name
        properties[COMPANY_TRAIT] = company
    elif company is not None and company != "":
        properties[COMPANY_TRAIT] = company


def _put_location(attributes: dict[str, Any], properties: dict[str, Any], address: object) -> None:
    if not isinstance(address, dict):
        if address is not None and address != "":
            properties[ADDRESS_TRAIT] = address
        return
    location = {}
    field_of = _LOCATION_FIELDS.get
    for key, value in address.items():
        field = field_of(key)
        if field is not None and value is not None and value != "":
            location[field] = value
    if location:
        attributes["location"] = location


def _put_value(attributes: dict[str, Any], properties: Mapping[str, Any], sources: tuple[str, ...]) -> None:
    for source in sources:
        value = properties.get(source)
        if value.__class__ is int or value.__class__ is float:
            attributes["value"] = value
            currency = _currency(properties.get("currency"))
            if currency is not None:
                attributes["value_currency"] = currency
            return


def _currency(value: object) -> str | None:
    """An ISO 4217 code (three letters), upper-cased."""
    if isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha():
        return value.upper()
    return None


# -- answers --------------------------------------------------------------------------------------


def refusal_code(answer: Answer) -> str:
    """A final 4xx as `<status>.<Klaviyo's first error code>` (`400.invalid`), else the status."""
    try:
        body = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return str(answer.status)
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    code = first.get("code") if isinstance(first, dict) else None
    if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
        return f"{answer.status}.{code}"
    return str(answer.status)
