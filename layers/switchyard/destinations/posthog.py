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

Answers: 2xx delivered; 400 (invalid request) and 401 (invalid key) final; after a 413 (a proxy
in front of a self-hosted instance may allow less than PostHog) the events go again at once in
halves (`413.split`), final for a lone event; 408/429/5xx retried, after `Retry-After` when sent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

import orjson
from pydantic import Field

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
    uniform,
)

POSTHOG_HOSTS = Hosts(us="us.i.posthog.com", eu="eu.i.posthog.com")
BATCH_PATH = "/batch/"
BATCH = "batch"  # the only channel

MAX_EVENTS_PER_REQUEST = 1000
MAX_REQUEST_BYTES = 5_000_000
# PostHog refuses group keys longer than this.
MAX_GROUP_KEY_CHARS = 400
LIB = "switchyard"

# UUIDv5 namespace for messageIds that are not UUIDs. Never change it: resent events would get
# new uuids and escape deduplication.
UUID_NAMESPACE = bytes.fromhex("6f0b3f9c5b2e4d1a9a51c2f1d3e4b5a6")
_VARIANT: Mapping[str, str] = MappingProxyType({digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"})
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

SPLIT = Verdict(AttemptStatus.RETRY, "413.split", again=Again.SPLIT)
TOO_LARGE = Verdict(AttemptStatus.FINAL, "413")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class PosthogSettings(RegionalSettings):
    """`type: posthog`: PostHog Cloud (US or EU) or a self-hosted instance (`endpoint`)."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("api_key",)

    api_key: SecretText = Field(min_length=8, description="The project API key (phc_...)")
    historical_migration: bool = Field(
        default=False, description="Send as a historical import (for backfills; PostHog asks to be told first)"
    )
    group_type: str = Field(
        default="company", min_length=1, max_length=400, description="`$group_type` of group calls and `$groups`"
    )


class Posthog(DestinationType):
    name = "posthog"
    title = "PostHog"
    settings_model = PosthogSettings
    hosts = POSTHOG_HOSTS

    def map(self, event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
        kind = event.get("type")
        if kind == EventType.TRACK:
            return _track(event, settings)
        if kind == EventType.PAGE:
            return _page(event, settings)
        if kind == EventType.SCREEN:
            return _screen(event, settings)
        if kind == EventType.IDENTIFY:
            return _identify(event)
        if kind == EventType.GROUP:
            return _group(event, settings)
        if kind == EventType.ALIAS:
            return _alias(event)
        return Unsupported("unknown_type")

    def limits(self, channel: str, settings: PosthogSettings) -> Limits:
        # The envelope, then "[" "]" and "}"; less one, as the driver counts a separator per item.
        return Limits(MAX_EVENTS_PER_REQUEST, MAX_REQUEST_BYTES, overhead_bytes=len(_envelope(settings)) + 2)

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: PosthogSettings, context: CallContext
    ) -> HttpCall:
        body = _envelope(settings) + join_json_array(payloads) + b"}"
        return HttpCall("POST", self.base_url(settings, context.aws_region) + BATCH_PATH, body, {})

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        if isinstance(answer, Answer) and answer.status == 413:
            return [SPLIT] * count if count > 1 else [TOO_LARGE]
        return uniform(answer, count, now)


POSTHOG = Posthog()


# -- the calls ------------------------------------------------------------------------------------


def _track(event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return Unsupported("no_event_name")
    properties = _event_properties(event, settings)
    return _capture(event, name, properties)


def _page(event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
    properties = _event_properties(event, settings)
    url = _object(event.get("properties")).get("url") or _object(_object(event.get("context")).get("page")).get("url")
    if url:
        properties["$current_url"] = url
    _put_missing(properties, "name", event.get("name"))
    _put_missing(properties, "category", event.get("category"))
    return _capture(event, "$pageview", properties)


def _screen(event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
    properties = _event_properties(event, settings)
    screen_name = event.get("name") or properties.get("name")
    if screen_name:
        properties["$screen_name"] = screen_name
    return _capture(event, "$screen", properties)


def _identify(event: dict[str, Any]) -> list[Item] | Unsupported:
    user_id, anonymous_id = identity(event)
    traits = _object(event.get("traits"))
    properties = _context_properties(_object(event.get("context")))
    properties["$set"] = dict(traits)
    if user_id is None:
        # Nothing to identify: the anonymous person's properties are updated, if there are any.
        return _capture(event, "$set", properties) if traits else []
    if anonymous_id is not None and anonymous_id != user_id:
        properties["$anon_distinct_id"] = anonymous_id
    return _capture(event, "$identify", properties)


def _group(event: dict[str, Any], settings: PosthogSettings) -> list[Item] | Unsupported:
    group_key = _text(event.get("groupId"))
    if group_key is None:
        return Unsupported("no_group_id")
    if len(group_key) > MAX_GROUP_KEY_CHARS:
        return Unsupported("group_id_too_long")
    properties = _context_properties(_object(event.get("context")))
    properties["$group_type"] = settings.group_type
    properties["$group_key"] = group_key
    properties["$group_set"] = dict(_object(event.get("traits")))
    return _capture(event, "$groupidentify", properties)


def _alias(event: dict[str, Any]) -> list[Item] | Unsupported:
    user_id, _ = identity(event)
    previous_id = _text(event.get("previousId"))
    if user_id is None or previous_id is None:
        return Unsupported("no_user_or_previous_id")
    if previous_id == user_id:
        return []  # already one person
    properties = _context_properties(_object(event.get("context")))
    properties["alias"] = previous_id
    return _capture(event, "$create_alias", properties, distinct_id=user_id)


# -- pieces ---------------------------------------------------------------------------------------


def _capture(
    event: dict[str, Any], name: str, properties: dict[str, Any], distinct_id: str | None = None
) -> list[Item] | Unsupported:
    """One `/batch/` event: the name, who, when, the dedup key, then the properties."""
    if distinct_id is None:
        user_id, anonymous_id = identity(event)
        distinct_id = user_id or anonymous_id
        if distinct_id is None:
            return Unsupported("no_user_or_anonymous_id")
    properties["$lib"] = LIB
    captured: dict[str, Any] = {"event": name, "distinct_id": distinct_id}
    timestamp = event.get("timestamp") or event.get("receivedAt")
    if isinstance(timestamp, str):
        captured["timestamp"] = timestamp
    message_id = _text(event.get("messageId"))
    if message_id is not None:
        captured["uuid"] = event_uuid(message_id)
    captured["properties"] = properties
    return [Item(BATCH, captured)]


def _event_properties(event: dict[str, Any], settings: PosthogSettings) -> dict[str, Any]:
    """Context defaults, then the event's own properties (which win), then its group, if any."""
    context = _object(event.get("context"))
    properties = _context_properties(context)
    properties.update(_object(event.get("properties")))
    group_id = _text(context.get("groupId"))
    if group_id is not None:
        properties["$groups"] = {settings.group_type: group_id}
    return properties


def _context_properties(context: Mapping[str, Any]) -> dict[str, Any]:
    """PostHog's default properties from the context. Walks the context's own keys, usually fewer
    than `CONTEXT_NAMES` has (this runs for every event)."""
    properties: dict[str, Any] = {}
    for key, value in context.items():
        names = CONTEXT_NAMES.get(key)
        if names is None or value is None or value == "":
            continue
        if isinstance(names, str):
            properties[names] = value
        elif isinstance(value, dict):
            for field, inner in value.items():
                name = names.get(field)
                if name is not None and inner is not None and inner != "":
                    properties[name] = inner
    if "$ip" not in properties:
        properties["$geoip_disable"] = True
    return properties


def event_uuid(message_id: str) -> str:
    """The `messageId` if it is a UUID (lower-cased), else its UUIDv5 in `UUID_NAMESPACE`
    (RFC 4122 name-based with SHA-1: equal to `uuid.uuid5`, at a fraction of its cost)."""
    if len(message_id) == 36 and _UUID.fullmatch(message_id):
        return message_id.lower()
    digest = hashlib.sha1(UUID_NAMESPACE + message_id.encode()).hexdigest()  # noqa: S324 - RFC 4122 v5
    # Version 5 in the 13th digit, the RFC 4122 variant (10xx) in the 17th.
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{_VARIANT[digest[16]]}{digest[17:20]}-{digest[20:32]}"


def _envelope(settings: PosthogSettings) -> bytes:
    """The body up to its batch array: the key first (see the module's docstring)."""
    envelope: dict[str, Any] = {"api_key": settings.api_key}
    if settings.historical_migration:
        envelope["historical_migration"] = True
    return orjson.dumps(envelope)[:-1] + b',"batch":'


# -- small helpers --------------------------------------------------------------------------------


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


def _text(value: object) -> str | None:
    """A non-empty identifier as a string (numbers too, as SDKs sometimes send them)."""
    if isinstance(value, str):
        return value or None
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    return str(value)


def _put_missing(target: dict[str, Any], key: str, value: object) -> None:
    if key not in target and value is not None and value != "":
        target[key] = value
