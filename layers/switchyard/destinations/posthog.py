"""`type: posthog`: every call as a PostHog event, sent to the capture API's `/batch/` endpoint.

`POST /batch/` with `{"api_key", "historical_migration"?, "batch": [{"event", "distinct_id",
"timestamp", "uuid", "properties"}]}`. The project API key is the body's first field: whole in any
sample of the body's start, where masking finds it (never a part of it cut off at the end).

Calls, as PostHog's own SDKs send them:

- track: the event's name; page: `$pageview` with `$current_url`; screen: `$screen` with
  `$screen_name`. A `context.groupId` adds `$groups` (the configured group type), so the event
  counts for the group.
- identify: `$identify` on the `userId` with the traits as `$set`, and the `anonymousId` as
  `$anon_distinct_id`, which merges the anonymous person into the identified one. Without a
  `userId`, a `$set` event updates the anonymous person instead (nothing to identify).
- group: `$groupidentify` with `$group_type` (setting `group_type`), `$group_key` (the
  `groupId`) and the traits as `$group_set`.
- alias: `$create_alias` with `distinct_id` = `userId` (the person kept) and `alias` =
  `previousId` (merged into it), as posthog-python's `alias(distinct_id, previous_id)` sends it.

`distinct_id` is the `userId`, else the `anonymousId`. `uuid` is the `messageId` when that is a
UUID (PostHog drops an event whose uuid is not one), else a UUIDv5 of it: the same message always
gets the same uuid, so a resent event can be deduplicated. PostHog's deduplication is best effort
(ClickHouse merges rows with the same uuid, event, distinct_id and timestamp, eventually).

Context becomes PostHog's default properties (`CONTEXT_NAMES`); an event's own properties win.
Without `context.ip`, `$geoip_disable` keeps PostHog from placing the user where our servers are.

Requests hold at most 1,000 events and 5,000,000 bytes (PostHog takes up to 20 MB and any number;
smaller requests keep a retry cheap and stay under common proxy limits). Each event is far below
PostHog's 1 MB per event, as the queue carries events of 256 KiB at most.

Mapping runs per event: the context is read once, each of its keys with one table look-up, and a
canonical UUID costs a pattern match (SHA-1 only for other messageIds).

Answers: 2xx delivered; 400 (invalid request) and 401 (invalid key) final; after a 413 (a proxy
in front of a self-hosted instance may allow less than PostHog) the events go again at once in
halves (`413.split`), final for a lone event; 408/429/5xx retried, after `Retry-After` when sent.

User deletion: the private API's `POST /api/projects/<project_id>/persons/bulk_delete/`
`{"distinct_ids": [...], "delete_events": true, "delete_recordings": true}` (PostHog's persons API,
at most 1,000 distinct ids; answered `202`), on PostHog Cloud's app hosts `us.posthog.com` / EU
`eu.posthog.com` (the capture hosts do not serve it), or on `endpoint` (a self-hosted instance
serves both APIs). It deletes the persons behind those distinct ids; their events and recordings
are deleted by a job PostHog runs weekly. It needs a personal API key with the `person:write`
scope and the project's id, both optional settings: without them there is no deletion.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

import orjson
from pydantic import Field, model_validator

from switchyard.delivery.attempts import AttemptStatus
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
from switchyard.destinations.mapping import EMPTY, as_object, as_text

POSTHOG_HOSTS = Hosts(us="us.i.posthog.com", eu="eu.i.posthog.com")
BATCH_PATH = "/batch/"
BATCH = "batch"  # the only channel
# The private API (person deletion) is on PostHog Cloud's app hosts.
APP_HOSTS = Hosts(us="us.posthog.com", eu="eu.posthog.com")
MAX_DELETIONS_PER_REQUEST = 1000  # "a maximum of 1000 IDs per call"

MAX_EVENTS_PER_REQUEST = 1000
MAX_REQUEST_BYTES = 5_000_000
# PostHog refuses group keys longer than this.
MAX_GROUP_KEY_CHARS = 400
LIB = "switchyard"

# UUIDv5 namespace for messageIds that are not UUIDs. Never change it: resent events would get
# new uuids and escape deduplication.
UUID_NAMESPACE = bytes.fromhex("6f0b3f9c5b2e4d1a9a51c2f1d3e4b5a6")
# The namespace hashed once: each messageId's hash continues from a copy of it.
_NAMESPACE_SHA1 = hashlib.sha1(UUID_NAMESPACE)  # noqa: S324 - RFC 4122 v5
_VARIANT: dict[str, str] = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# Segment context -> PostHog's default properties (the names posthog-js and the mobile SDKs use):
# a context value's property name, or a context section's fields and their property names.
CONTEXT_NAMES: Mapping[str, str | Mapping[str, str]] = MappingProxyType(
    {
        "ip": "$ip",
        "userAgent": "$raw_user_agent",
        "locale": "$locale",
        "timezone": "$timezone",
        "page": {"url": "$current_url", "referrer": "$referrer", "path": "$pathname"},
        "os": {"name": "$os", "version": "$os_version"},
        "device": {"manufacturer": "$device_manufacturer", "model": "$device_model"},
        "app": {"name": "$app_name", "version": "$app_version", "build": "$app_build"},
        "screen": {"width": "$screen_width", "height": "$screen_height"},
        "campaign": {
            "source": "utm_source",
            "medium": "utm_medium",
            "name": "utm_campaign",
            "term": "utm_term",
            "content": "utm_content",
        },
    }
)

# CONTEXT_NAMES split by kind, as plain dicts: read per context key, where a MappingProxyType and
# telling a name from a section's table would cost more.
_CONTEXT_VALUE_NAMES: dict[str, str] = {key: names for key, names in CONTEXT_NAMES.items() if isinstance(names, str)}
_CONTEXT_SECTION_NAMES: dict[str, dict[str, str]] = {
    key: dict(names) for key, names in CONTEXT_NAMES.items() if not isinstance(names, str)
}

SPLIT = Verdict(AttemptStatus.RETRY, "413.split", again=Again.SPLIT)
TOO_LARGE = Verdict(AttemptStatus.FINAL, "413")

# Refusals, shared by every event they concern.
UNKNOWN_TYPE = Unsupported("unknown_type")
NO_EVENT_NAME = Unsupported("no_event_name")
NO_USER_OR_ANONYMOUS_ID = Unsupported("no_user_or_anonymous_id")


class PosthogSettings(RegionalSettings):
    """`type: posthog`: PostHog Cloud (US or EU) or a self-hosted instance (`endpoint`)."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("api_key", "personal_api_key")

    api_key: SecretText = Field(min_length=8, description="The project API key (phc_...)")
    personal_api_key: SecretText | None = Field(
        default=None, min_length=8, description="A personal API key (phx_...) with person:write: only to delete users"
    )
    project_id: str | None = Field(
        default=None, pattern=r"^[0-9]+$", description="The project's id (in its URLs): needed to delete users"
    )
    historical_migration: bool = Field(
        default=False, description="Send as a historical import (for backfills; PostHog asks to be told first)"
    )
    group_type: str = Field(
        default="company", min_length=1, max_length=400, description="`$group_type` of group calls and `$groups`"
    )

    @model_validator(mode="after")
    def _deletion_is_complete(self) -> PosthogSettings:
        if self.personal_api_key and not self.project_id:
            raise ValueError("a `personal_api_key` needs `project_id` (the project whose persons it deletes)")
        return self


class Posthog(DestinationType):
    name = "posthog"
    title = "PostHog"
    settings_model = PosthogSettings
    hosts = POSTHOG_HOSTS
    max_deletions_per_call = MAX_DELETIONS_PER_REQUEST

    def map(self, event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
        kind = event.get("type")
        mapper = _MAPPERS.get(kind) if isinstance(kind, str) else None
        return UNKNOWN_TYPE if mapper is None else mapper(event, settings)

    def limits(self, channel: str, settings: PosthogSettings) -> Limits:
        # The envelope, then "[" "]" and "}"; less one, as the driver counts a separator per item.
        return Limits(MAX_EVENTS_PER_REQUEST, MAX_REQUEST_BYTES, overhead_bytes=len(_envelope(settings)) + 2)

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: PosthogSettings, context: CallContext
    ) -> HttpCall:
        body = _envelope(settings) + join_json_array(payloads) + b"}"
        return HttpCall("POST", self.base_url(settings, context.aws_region) + BATCH_PATH, body, {})

    def delete_call(self, user_ids: Sequence[str], settings: PosthogSettings, context: CallContext) -> HttpCall | None:
        if not settings.personal_api_key or not settings.project_id:
            return None
        base = self.url_on(APP_HOSTS, settings, context.aws_region)
        url = f"{base}/api/projects/{settings.project_id}/persons/bulk_delete/"
        body = orjson.dumps({"distinct_ids": list(user_ids), "delete_events": True, "delete_recordings": True})
        return HttpCall("POST", url, body, {"Authorization": "Bearer " + settings.personal_api_key})

    def deletion_requirement(self, settings: PosthogSettings) -> str:
        return "set `personal_api_key` (with the person:write scope) and `project_id` to delete users"

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        if isinstance(answer, Answer) and answer.status == 413:
            return [SPLIT] * count if count > 1 else [TOO_LARGE]
        return uniform(answer, count, now)


POSTHOG = Posthog()


# -- the calls ------------------------------------------------------------------------------------


def _track(event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return NO_EVENT_NAME
    own = as_object(event.get("properties"))
    return _capture(event, name, _event_properties(own, _context_of(event), settings))


def _page(event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
    own = as_object(event.get("properties"))
    context = _context_of(event)
    properties = _event_properties(own, context, settings)
    url = own.get("url") or as_object(context.get("page")).get("url")
    if url:
        properties["$current_url"] = url
    _put_missing(properties, "name", event.get("name"))
    _put_missing(properties, "category", event.get("category"))
    return _capture(event, "$pageview", properties)


def _screen(event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
    properties = _event_properties(as_object(event.get("properties")), _context_of(event), settings)
    screen_name = event.get("name") or properties.get("name")
    if screen_name:
        properties["$screen_name"] = screen_name
    return _capture(event, "$screen", properties)


def _identify(event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
    user_id, anonymous_id = identity(event)
    traits = as_object(event.get("traits"))
    properties = _context_properties(_context_of(event))
    properties["$set"] = dict(traits)
    if user_id is None:
        # Nothing to identify: the anonymous person's properties are updated, if there are any.
        return _capture(event, "$set", properties) if traits else []
    if anonymous_id is not None and anonymous_id != user_id:
        properties["$anon_distinct_id"] = anonymous_id
    return _capture(event, "$identify", properties)


def _group(event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
    group_key = as_text(event.get("groupId"))
    if group_key is None:
        return Unsupported("no_group_id")
    if len(group_key) > MAX_GROUP_KEY_CHARS:
        return Unsupported("group_id_too_long")
    properties = _context_properties(_context_of(event))
    properties["$group_type"] = settings.group_type
    properties["$group_key"] = group_key
    properties["$group_set"] = dict(as_object(event.get("traits")))
    return _capture(event, "$groupidentify", properties)


def _alias(event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
    user_id, _ = identity(event)
    previous_id = as_text(event.get("previousId"))
    if user_id is None or previous_id is None:
        return Unsupported("no_user_or_previous_id")
    if previous_id == user_id:
        return []  # already one person
    properties = _context_properties(_context_of(event))
    properties["alias"] = previous_id
    return _capture(event, "$create_alias", properties, distinct_id=user_id)


# The mapping of each call, by its type: one look-up per event.
_MAPPERS: dict[str, Callable[[dict[str, Any], PosthogSettings], list[Item] | Unsupported]] = {
    EventType.TRACK.value: _track,
    EventType.PAGE.value: _page,
    EventType.SCREEN.value: _screen,
    EventType.IDENTIFY.value: _identify,
    EventType.GROUP.value: _group,
    EventType.ALIAS.value: _alias,
}


# -- pieces ---------------------------------------------------------------------------------------


def _capture(
    event: dict[str, Any], name: str, properties: dict[str, Any], distinct_id: str | None = None
) -> list[Item] | Unsupported:
    """One `/batch/` event: the name, who, when, the dedup key, then the properties."""
    if distinct_id is None:
        user_id, anonymous_id = identity(event)
        distinct_id = user_id or anonymous_id
        if distinct_id is None:
            return NO_USER_OR_ANONYMOUS_ID
    properties["$lib"] = LIB
    captured: dict[str, Any] = {"event": name, "distinct_id": distinct_id}
    timestamp = event.get("timestamp") or event.get("receivedAt")
    if isinstance(timestamp, str):
        captured["timestamp"] = timestamp
    message_id = event.get("messageId")
    if message_id.__class__ is not str or not message_id:  # the usual non-empty string needs no call
        message_id = as_text(message_id)
    if message_id is not None:
        captured["uuid"] = event_uuid(message_id)
    captured["properties"] = properties
    return [new_item(Item, (BATCH, captured, ()))]


def _event_properties(own: Mapping[str, Any], context: Mapping[str, Any], settings: PosthogSettings) -> dict[str, Any]:
    """Context defaults, then the event's own properties (which win), then its group, if any."""
    properties = _context_properties(context)
    properties.update(own)
    group_id = context.get("groupId")
    if group_id is not None:
        group_id = as_text(group_id)
        if group_id is not None:
            properties["$groups"] = {settings.group_type: group_id}
    return properties


def _context_properties(context: Mapping[str, Any]) -> dict[str, Any]:
    """PostHog's default properties from the context. Walks the context's own keys, usually fewer
    than `CONTEXT_NAMES` has, so the properties come in the context's order."""
    properties: dict[str, Any] = {}
    value_name, section_names = _CONTEXT_VALUE_NAMES.get, _CONTEXT_SECTION_NAMES.get
    # "Set" is neither None nor "": a truthy value is, which spares the two tests most values.
    for key, value in context.items():
        name = value_name(key)
        if name is not None:
            if value or (value is not None and value != ""):
                properties[name] = value
            continue
        names = section_names(key)
        if names is not None and isinstance(value, dict):
            name_of = names.get
            for field, inner in value.items():
                name = name_of(field)
                if name is not None and (inner or (inner is not None and inner != "")):
                    properties[name] = inner
    if "$ip" not in properties:
        properties["$geoip_disable"] = True
    return properties


def event_uuid(message_id: str) -> str:
    """The `messageId` if it is a UUID (lower-cased), else its UUIDv5 in `UUID_NAMESPACE`
    (RFC 4122 name-based with SHA-1: equal to `uuid.uuid5`, at a fraction of its cost)."""
    if len(message_id) == 36 and _UUID.fullmatch(message_id):
        return message_id.lower()  # the usual case: no hashing
    hashed = _NAMESPACE_SHA1.copy()
    hashed.update(message_id.encode())
    digest = hashed.hexdigest()
    # Version 5 in the 13th digit, the RFC 4122 variant (10xx) in the 17th.
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{_VARIANT[digest[16]]}{digest[17:20]}-{digest[20:32]}"


def _envelope(settings: PosthogSettings) -> bytes:
    """The body up to its batch array: the key first (see the module's docstring)."""
    envelope: dict[str, Any] = {"api_key": settings.api_key}
    if settings.historical_migration:
        envelope["historical_migration"] = True
    return orjson.dumps(envelope)[:-1] + b',"batch":'


# -- small helpers --------------------------------------------------------------------------------


def _context_of(event: dict[str, Any]) -> Mapping[str, Any]:
    context = event.get("context")
    return context if isinstance(context, dict) else EMPTY


def _put_missing(target: dict[str, Any], key: str, value: object) -> None:
    if key not in target and value is not None and value != "":
        target[key] = value
