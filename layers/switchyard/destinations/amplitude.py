"""`type: amplitude`: events to Amplitude's HTTP V2 API, traits to its Identify, Group Identify and
User Mapping APIs.

Channels (items of one channel share a request):

- `events` (`POST /2/httpapi`, JSON): track, page and screen. `insert_id` is the `messageId`, so
  a resent event is dropped by Amplitude's 7-day deduplication instead of counted twice.
- `identify` (`POST /identify`, form): identify's traits as `user_properties.$set`, and a group
  call's membership (`groups`) on the user.
- `groupidentify` (`POST /groupidentify`, form): a group call's traits as `group_properties`.
- `usermap` (`POST /usermap`, form): alias, when `enable_alias` is on (Portfolio add-on).

Failure semantics of `/2/httpapi` (Amplitude's "Batch and retry HTTP V2 API requests" guide and
the HTTP V2 reference): a `400` or `429` rejects the whole request, none of its events is ingested.
A `400` names the refused events by index (`events_with_invalid_fields`,
`events_with_missing_fields`, `silenced_events`): those are final, and the others are retried
(`400.resend`): the driver sends them again at once without the refused ones. A `429` names the
throttled events (`throttled_events`): they wait `Retry-After`, else the 30 s pause Amplitude asks
for; the others go again at once (`429.resend`). A `413` (over 1 MB) is sent again at once in
halves (`413.split`); a lone event that draws a `413` is final. Whatever the deadline leaves unsent
waits on the queue with that code. Resending is safe: the same `insert_id` is never counted twice.

The form APIs answer one status for the whole request, read as for any tool (`uniform`), except
that a `429` waits `Retry-After`, else the 15 s (Identify, Group Identify) or 30 s (User Mapping)
Amplitude documents, and a `413` is read as above.

User deletion (the User Privacy API, v1): `POST /api/2/deletions/users` on `amplitude.com` (EU
`analytics.eu.amplitude.com`; `endpoint` replaces it too) with Basic `api_key:secret_key` and
`{"user_ids": [...], "requester": "switchyard", "ignore_invalid_id": "True"}`, at most 100 ids
per request. Without `ignore_invalid_id` one userId Amplitude does not know refuses the whole
request; Amplitude wants the flag as the text "True" (as Segment's own Amplitude destination sends
it). Amplitude schedules the deletion job (run some 10 days later) and answers `200`. Needs the
optional `secret_key`: without it there is no deletion.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Literal
from urllib.parse import quote_plus, urlsplit

import orjson
from pydantic import Field

from switchyard.delivery.attempts import AttemptStatus, parse_retry_after
from switchyard.delivery.http import Answer
from switchyard.destinations.base import (
    Again,
    Call,
    CallContext,
    DestinationType,
    EventType,
    Hosts,
    HttpCall,
    Item,
    Limits,
    RegionalSettings,
    SecretText,
    Unsupported,
    Verdict,
    identity,
    join_json_array,
    new_item,
    uniform,
)
from switchyard.destinations.mapping import (
    EMPTY,
    as_object,
    as_text,
    copy_fields,
    copy_sections,
    event_time_ms,
    page_event_name,
    page_properties,
    put,
)

EVENTS = "events"
IDENTIFY = "identify"
GROUP_IDENTIFY = "groupidentify"
USERMAP = "usermap"
PATHS: Mapping[str, str] = MappingProxyType(
    {EVENTS: "/2/httpapi", IDENTIFY: "/identify", GROUP_IDENTIFY: "/groupidentify", USERMAP: "/usermap"}
)
# The form field holding a channel's JSON list.
FORM_FIELDS: Mapping[str, str] = MappingProxyType(
    {IDENTIFY: "identification", GROUP_IDENTIFY: "identification", USERMAP: "mapping"}
)

INGESTION_HOSTS = Hosts(us="api2.amplitude.com", eu="api.eu.amplitude.com")
# The User Mapping API lives on the other US host (Amplitude's "User Mapping (Aliasing) API").
USERMAP_HOSTS = Hosts(us="api.amplitude.com", eu="api.eu.amplitude.com")
# The User Privacy API's hosts ("User Privacy API": the app's own hosts, not the ingestion ones).
DELETION_HOSTS = Hosts(us="amplitude.com", eu="analytics.eu.amplitude.com")
DELETION_PATH = "/api/2/deletions/users"
MAX_DELETIONS_PER_REQUEST = 100  # "up to 100 users can be specified at a time"
REQUESTER = "switchyard"  # who asked, for Amplitude's audit trail

# Per request, as Amplitude documents them: HTTP V2 "fewer than 2000 events" and "under 1 MB"
# (413 above); Group Identify 1024 and 1 MB; User Mapping 2000 and 1 MB. The Identify API states no
# count: it gets Group Identify's 1024. 1 MB is taken as 1,000,000 bytes, the smaller reading.
MAX_EVENTS_PER_REQUEST = 2000
MAX_ITEMS_PER_FORM: Mapping[str, int] = MappingProxyType({IDENTIFY: 1024, GROUP_IDENTIFY: 1024, USERMAP: 2000})
MAX_REQUEST_BYTES = 1_000_000
# URL-encoding turns a byte into at most three (`"` -> `%22`): packed JSON is kept to a third of
# the limit so the encoded form never exceeds it.
URL_ENCODING_GROWTH = 3

# How long a throttled user or device should pause without a Retry-After (HTTP V2: 30 s;
# Identify: 15 s, which Group Identify shares; User Mapping: its 30 s window).
THROTTLE_PAUSE_SECONDS: Mapping[str, float] = MappingProxyType(
    {EVENTS: 30.0, IDENTIFY: 15.0, GROUP_IDENTIFY: 15.0, USERMAP: 30.0}
)
# Per-event refusals in a 400, by the answer's field, with the code the event is discarded under.
REFUSAL_FIELDS: tuple[tuple[str, str], ...] = (
    ("events_with_invalid_fields", "400.invalid_fields"),
    ("events_with_missing_fields", "400.missing_fields"),
    ("events_with_invalid_id_lengths", "400.invalid_id_length"),
)
# Segment's name for a group without a type trait (kept so migrated projects keep their groups).
LEGACY_GROUP_TYPE = "[Segment] Group"
# Segment context -> Amplitude event fields: top-level keys, then sections (as Segment maps them).
CONTEXT_FIELDS: tuple[tuple[str, str], ...] = (("locale", "language"), ("ip", "ip"))
CONTEXT_SECTION_FIELDS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("app", (("version", "app_version"),)),
    ("device", (("type", "platform"), ("manufacturer", "device_manufacturer"), ("model", "device_model"))),
    ("os", (("name", "os_name"), ("version", "os_version"))),
    ("network", (("carrier", "carrier"),)),
    (
        "location",
        (
            ("country", "country"),
            ("region", "region"),
            ("city", "city"),
            ("latitude", "location_lat"),
            ("longitude", "location_lng"),
        ),
    ),
)
# Where the advertising id goes, by `context.device.type`.
ADVERTISING_ID_FIELDS: Mapping[str, str] = MappingProxyType({"ios": "idfa", "android": "adid"})
# Options an event may carry for this destination (`integrations.Amplitude`), as with Segment.
INTEGRATION_NAME = "Amplitude"

# What `quote_plus` leaves as it is (besides the space, which becomes "+"), and how many distinct
# bytes to escape `form_encoded` takes on before a pass per byte costs more than quote_plus.
_FORM_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_MAX_FORM_PASSES = 40

JSON_HEADERS: Mapping[str, str] = MappingProxyType({"Content-Type": "application/json"})
FORM_HEADERS: Mapping[str, str] = MappingProxyType({"Content-Type": "application/x-www-form-urlencoded"})

# Session ids below this are Unix seconds (Segment's documented form); Amplitude wants milliseconds.
_LARGEST_SECONDS = 10_000_000_000

RESEND_AFTER_400 = Verdict(AttemptStatus.RETRY, "400.resend", again=Again.RESEND)
RESEND_AFTER_429 = Verdict(AttemptStatus.RETRY, "429.resend", again=Again.RESEND)
SPLIT = Verdict(AttemptStatus.RETRY, "413.split", again=Again.SPLIT)
TOO_LARGE = Verdict(AttemptStatus.FINAL, "413")


class AmplitudeSettings(RegionalSettings):
    """`type: amplitude`."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("api_key", "secret_key")

    api_key: SecretText = Field(min_length=1, description="The project's API key")
    secret_key: SecretText | None = Field(
        default=None, min_length=1, description="The project's secret key: only to delete users (User Privacy API)"
    )
    min_id_length: int | None = Field(
        default=None, ge=1, le=1024, description="Shortest user_id/device_id Amplitude keeps (its default: 5)"
    )
    prefer_anonymous_id_for_device_id: bool = Field(
        default=False, description="device_id from anonymousId first (default: context.device.id first)"
    )
    page_event_naming: Literal["named", "consolidated"] = Field(
        default="named",
        description='named: "Viewed <category> <name> Page"; consolidated: always "Loaded a Page"/"Loaded a Screen"',
    )
    group_type_trait: str | None = Field(default=None, description="The group trait holding the group type")
    group_value_trait: str | None = Field(default=None, description="The group trait holding the group value")
    group_type: str = Field(
        default=LEGACY_GROUP_TYPE, min_length=1, description="Group type when the type trait is not set or absent"
    )
    enable_alias: bool = Field(default=False, description="Send alias to the User Mapping API (Portfolio add-on)")


class Amplitude(DestinationType):
    name = "amplitude"
    title = "Amplitude"
    settings_model = AmplitudeSettings
    hosts = INGESTION_HOSTS
    max_deletions_per_call = MAX_DELETIONS_PER_REQUEST

    # -- mapping ---------------------------------------------------------------------------------

    def map(self, event: dict[str, Any], settings: AmplitudeSettings) -> list[Item] | Unsupported:
        kind = event.get("type")
        mapper = _MAPPERS.get(kind) if isinstance(kind, str) else None
        return UNKNOWN_TYPE if mapper is None else mapper(event, settings)

    # -- requests --------------------------------------------------------------------------------

    def limits(self, channel: str, settings: AmplitudeSettings) -> Limits:
        if channel == EVENTS:
            prefix, suffix = _events_envelope(settings)
            return Limits(MAX_EVENTS_PER_REQUEST, MAX_REQUEST_BYTES, overhead_bytes=len(prefix) + len(suffix) + 2)
        room = MAX_REQUEST_BYTES - len(_form_prefix(channel, settings))
        return Limits(MAX_ITEMS_PER_FORM[channel], room // URL_ENCODING_GROWTH, overhead_bytes=2)

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: AmplitudeSettings, context: CallContext
    ) -> HttpCall:
        url = self.channel_url(channel, settings, context.aws_region)
        if channel == EVENTS:
            prefix, suffix = _events_envelope(settings)
            # One join: the events are most of a megabyte, each `+` would copy them again.
            body = b"".join((prefix, b"[", b",".join(payloads), b"]", suffix))
            return HttpCall("POST", url, body, JSON_HEADERS)
        body = _form_prefix(channel, settings) + form_encoded(join_json_array(payloads))
        return HttpCall("POST", url, body, FORM_HEADERS)

    def channel_url(self, channel: str, settings: AmplitudeSettings, aws_region: str) -> str:
        """`endpoint` replaces every host; User Mapping has a US host of its own."""
        return self.url_on(USERMAP_HOSTS if channel == USERMAP else self.hosts, settings, aws_region) + PATHS[channel]

    def delete_call(
        self, user_ids: Sequence[str], settings: AmplitudeSettings, context: CallContext
    ) -> HttpCall | None:
        if not settings.secret_key:
            return None
        url = self.url_on(DELETION_HOSTS, settings, context.aws_region) + DELETION_PATH
        credentials = base64.b64encode(f"{settings.api_key}:{settings.secret_key}".encode()).decode("ascii")
        body = orjson.dumps({"user_ids": list(user_ids), "requester": REQUESTER, "ignore_invalid_id": "True"})
        return HttpCall("POST", url, body, {**JSON_HEADERS, "Authorization": "Basic " + credentials})

    def deletion_requirement(self, settings: AmplitudeSettings) -> str:
        return "set `secret_key` (the project's secret key) to delete users"

    def hidden_values(self, settings: AmplitudeSettings) -> list[str]:
        """The key as the form bodies carry it, when URL-encoding changes it."""
        encoded = quote_plus(settings.api_key)
        return [encoded] if encoded != settings.api_key else []

    # -- answers ---------------------------------------------------------------------------------

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        if not isinstance(call, HttpCall) or not isinstance(answer, Answer):
            return uniform(answer, count, now)
        channel = channel_of(call.url)
        if channel is None:
            return uniform(answer, count, now)
        if answer.status == 400 and channel == EVENTS:
            return refused_events(answer, count, now)
        if answer.status == 429:
            return throttled(answer, count, now, THROTTLE_PAUSE_SECONDS[channel])
        if answer.status == 413:
            return [SPLIT] * count if count > 1 else [TOO_LARGE]
        return uniform(answer, count, now)


AMPLITUDE = Amplitude()


# -- the calls ---------------------------------------------------------------------------------

# Refusals, shared by every event they concern (frozen, compared by value).
UNKNOWN_TYPE = Unsupported("unknown_type")
NO_EVENT_NAME = Unsupported("no_event_name")
NO_USER_OR_DEVICE_ID = Unsupported("no_user_or_device_id")
NO_TIMESTAMP = Unsupported("no_timestamp")
ALIAS_DISABLED = Unsupported("alias_disabled")


def _track(event: dict[str, Any], settings: AmplitudeSettings) -> list[Item] | Unsupported:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return NO_EVENT_NAME
    properties = event.get("properties")
    if not isinstance(properties, dict):
        properties = EMPTY
    mapped = _event(event, settings, name, properties)
    if isinstance(mapped, Unsupported):
        return mapped
    if "revenue" in properties:  # most tracks have none: no call for them
        _add_revenue(mapped, properties)
    return [new_item(Item, (EVENTS, mapped, ()))]


def _page(event: dict[str, Any], settings: AmplitudeSettings) -> list[Item] | Unsupported:
    """A page or a screen."""
    kind = event["type"]
    name = as_text(event.get("name"))
    category = as_text(event.get("category"))
    properties = page_properties(name, category, as_object(event.get("properties")))
    event_type = page_event_name(kind, name, category, consolidated=settings.page_event_naming == "consolidated")
    mapped = _event(event, settings, event_type, properties)
    return mapped if isinstance(mapped, Unsupported) else [new_item(Item, (EVENTS, mapped, ()))]


def _identify(event: dict[str, Any], settings: AmplitudeSettings) -> list[Item] | Unsupported:
    context = as_object(event.get("context"))
    person = _person(event, context, settings)
    if person is None:
        return NO_USER_OR_DEVICE_ID
    traits = as_object(event.get("traits"))
    if traits:
        person["user_properties"] = {"$set": traits}
    groups = as_object(_integration_options(event).get("groups"))
    if groups:
        person["groups"] = groups  # Segment's legacy group assignment through identify
    put(person, "app_version", as_object(context.get("app")).get("version"))
    # Without traits it still ties the device to the user, which is what the Identify API is for.
    return [Item(IDENTIFY, person)]


def _group(event: dict[str, Any], settings: AmplitudeSettings) -> list[Item] | Unsupported:
    group_id = as_text(event.get("groupId"))
    if group_id is None:
        return Unsupported("no_group_id")
    traits = as_object(event.get("traits"))
    group_type = as_text(traits.get(settings.group_type_trait)) if settings.group_type_trait else None
    group_value = as_text(traits.get(settings.group_value_trait)) if settings.group_value_trait else None
    group_type, group_value = group_type or settings.group_type, group_value or group_id
    items: list[Item] = []
    person = _person(event, as_object(event.get("context")), settings)
    if person is not None:
        person["groups"] = {group_type: group_value}
        items.append(Item(IDENTIFY, person))
    if traits:
        group = {"group_type": group_type, "group_value": group_value, "group_properties": traits}
        items.append(Item(GROUP_IDENTIFY, group))
    return items or Unsupported("no_user_or_group_traits")


def _alias(event: dict[str, Any], settings: AmplitudeSettings) -> list[Item] | Unsupported:
    if not settings.enable_alias:
        return ALIAS_DISABLED
    previous_id = as_text(event.get("previousId"))
    user_id, _ = identity(event)
    if previous_id is None or user_id is None:
        return Unsupported("no_previous_or_user_id")
    return [Item(USERMAP, {"user_id": previous_id, "global_user_id": user_id})]


# The mapping of each call, by its type: one look-up per event (in a plain dict, the fastest).
_MAPPERS: dict[str, Callable[[dict[str, Any], AmplitudeSettings], list[Item] | Unsupported]] = {
    EventType.TRACK: _track,
    EventType.PAGE: _page,
    EventType.SCREEN: _page,
    EventType.IDENTIFY: _identify,
    EventType.GROUP: _group,
    EventType.ALIAS: _alias,
}


# -- pieces ------------------------------------------------------------------------------------


def _event(
    event: dict[str, Any], settings: AmplitudeSettings, event_type: str, properties: Mapping[str, Any]
) -> dict[str, Any] | Unsupported:
    """An HTTP V2 event: identity, time, dedup key, properties, then what the context tells."""
    context = event.get("context")
    if not isinstance(context, dict):
        context = EMPTY
    mapped = _person(event, context, settings)
    if mapped is None:
        return NO_USER_OR_DEVICE_ID
    time = event_time_ms(event)
    if time is None:
        return NO_TIMESTAMP
    mapped["event_type"] = event_type
    mapped["time"] = time
    insert_id = event.get("messageId")
    if insert_id.__class__ is not str or not insert_id:  # the usual non-empty string needs no call
        insert_id = as_text(insert_id)
    if insert_id is not None:
        mapped["insert_id"] = insert_id
    if properties:
        mapped["event_properties"] = properties
    if context:
        traits = context.get("traits")
        if traits and isinstance(traits, dict):
            mapped["user_properties"] = traits
        _add_context(mapped, context)
    integrations = event.get("integrations")
    if integrations:  # most often `{}`
        options = _integration_options(event)
        if options:
            _add_integration_options(mapped, options)
    return mapped


def _person(event: dict[str, Any], context: Mapping[str, Any], settings: AmplitudeSettings) -> dict[str, Any] | None:
    """`user_id` and `device_id` as Segment sets them server-side: the device id from
    `context.device.id`, else the anonymousId (or the other way round, by setting). None without
    either."""
    user_id, anonymous_id = identity(event)
    device = context.get("device")
    device_from_context = as_text(device.get("id")) if device and isinstance(device, dict) else None
    if settings.prefer_anonymous_id_for_device_id:
        device_id = anonymous_id or device_from_context
    else:
        device_id = device_from_context or anonymous_id
    if user_id is None:
        return None if device_id is None else {"device_id": device_id}
    return {"user_id": user_id} if device_id is None else {"user_id": user_id, "device_id": device_id}


def _add_context(mapped: dict[str, Any], context: Mapping[str, Any]) -> None:
    """Amplitude's device and location fields from the context, by the tables above."""
    copy_fields(mapped, context, CONTEXT_FIELDS)
    copy_sections(mapped, context, CONTEXT_SECTION_FIELDS)
    if "platform" not in mapped and context.get("userAgent"):
        mapped["platform"] = "Web"  # a browser: analytics.js sends no device type
    device = context.get("device")
    advertising_id = device.get("advertisingId") if device and isinstance(device, dict) else None
    if advertising_id:
        platform = mapped.get("platform")
        if isinstance(platform, str) and platform.lower() in ADVERTISING_ID_FIELDS:
            mapped[ADVERTISING_ID_FIELDS[platform.lower()]] = advertising_id


def _add_integration_options(mapped: dict[str, Any], options: Mapping[str, Any]) -> None:
    """`integrations.Amplitude.session_id` (start of the session) and `.groups` (event-level)."""
    session_id = options.get("session_id")
    if isinstance(session_id, (int, float)) and not isinstance(session_id, bool) and session_id > 0:
        mapped["session_id"] = int(session_id * 1000 if session_id < _LARGEST_SECONDS else session_id)
    groups = as_object(options.get("groups"))
    if groups:
        mapped["groups"] = groups


def _add_revenue(mapped: dict[str, Any], properties: Mapping[str, Any]) -> None:
    """Amplitude's revenue fields from `properties.revenue` only: a `price` and `quantity` on a
    product event (Product Added) would otherwise count as revenue."""
    revenue = properties.get("revenue")
    if not isinstance(revenue, (int, float)) or isinstance(revenue, bool):
        return
    mapped["revenue"] = revenue
    put(mapped, "productId", properties.get("productId"))
    put(mapped, "revenueType", properties.get("revenueType"))


def _events_envelope(settings: AmplitudeSettings) -> tuple[bytes, bytes]:
    """What goes around the events array. The key comes first, so a sample cut short cannot show
    part of it unmasked."""
    prefix = b'{"api_key":' + orjson.dumps(settings.api_key) + b',"events":'
    if settings.min_id_length is None:
        return prefix, b"}"
    return prefix, b',"options":{"min_id_length":' + str(settings.min_id_length).encode() + b"}}"


def _form_prefix(channel: str, settings: AmplitudeSettings) -> bytes:
    return f"api_key={quote_plus(settings.api_key)}&{FORM_FIELDS[channel]}=".encode("ascii")


def form_encoded(data: bytes) -> bytes:
    """`quote_plus(data)`, byte for byte, at C speed: one `replace` per distinct byte to escape
    instead of quote_plus's Python step per byte (ten times slower on a form body). Serialized
    JSON has a dozen or so such bytes; text with many more distinct ones goes to quote_plus."""
    pending = data.translate(None, _FORM_SAFE)  # every byte to escape, as often as it occurs
    if not pending:
        return data
    encoded = data
    if b"%" in pending:  # first: the escapes below bring their own
        encoded = encoded.replace(b"%", b"%25")
        pending = pending.translate(None, b"%")
    spaces = b" " in pending  # last: "+" itself is escaped first
    if spaces:
        pending = pending.translate(None, b" ")
    for _ in range(_MAX_FORM_PASSES):
        if not pending:
            return encoded.replace(b" ", b"+") if spaces else encoded
        byte = pending[:1]
        encoded = encoded.replace(byte, b"%%%02X" % byte[0])
        pending = pending.translate(None, byte)
    return quote_plus(data).encode("ascii")


def channel_of(url: str) -> str | None:
    """The channel a request went to, from its path (`endpoint` may put a prefix before it)."""
    path = urlsplit(url).path
    for channel, channel_path in PATHS.items():
        if path.endswith(channel_path):
            return channel
    return None


# -- answers -----------------------------------------------------------------------------------


def refused_events(answer: Answer, count: int, now: float) -> list[Verdict]:
    """A 400 naming its refused events: those are final; the throttled ones wait; the rest, refused
    only for travelling with them, go again. A 400 naming none is the request's fault: all final."""
    body = _json_object(answer.body)
    refused: dict[int, Verdict] = {}
    for field, code in REFUSAL_FIELDS:
        verdict = Verdict(AttemptStatus.FINAL, code)
        for indexes in as_object(body.get(field)).values():
            for index in _indexes(indexes, count):
                refused.setdefault(index, verdict)
    silenced = Verdict(AttemptStatus.FINAL, "400.silenced")
    for index in _indexes(body.get("silenced_events"), count):
        refused.setdefault(index, silenced)
    throttled_indexes = set(_indexes(body.get("throttled_events"), count))
    if not refused and not throttled_indexes:
        return uniform(answer, count, now)
    wait = Verdict(AttemptStatus.RETRY, "400.throttled", _pause(answer, now, THROTTLE_PAUSE_SECONDS[EVENTS]))
    return [refused.get(i) or (wait if i in throttled_indexes else RESEND_AFTER_400) for i in range(count)]


def throttled(answer: Answer, count: int, now: float, pause: float) -> list[Verdict]:
    """A 429: the events it names as throttled wait; the others go again. Naming none: all wait."""
    wait = Verdict(AttemptStatus.RETRY, "429", _pause(answer, now, pause))
    named = set(_indexes(_json_object(answer.body).get("throttled_events"), count))
    if not named:
        return [wait] * count
    return [wait if i in named else RESEND_AFTER_429 for i in range(count)]


def _pause(answer: Answer, now: float, default: float) -> float:
    retry_after = parse_retry_after(answer.headers.get("Retry-After"), now)
    return default if retry_after is None else retry_after


def _indexes(value: object, count: int) -> Iterable[int]:
    if not isinstance(value, list):
        return ()
    return (i for i in value if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count)


def _json_object(body: bytes) -> Mapping[str, Any]:
    """The answer's JSON object, or nothing (a body cut short, plain text)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return EMPTY
    return as_object(parsed)


# -- small helpers -----------------------------------------------------------------------------


def _integration_options(event: Mapping[str, Any]) -> Mapping[str, Any]:
    integrations = event.get("integrations")
    if not integrations or not isinstance(integrations, dict):  # most often `{}`
        return EMPTY
    return as_object(integrations.get(INTEGRATION_NAME))
