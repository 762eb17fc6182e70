"""`type: mixpanel`: events to Mixpanel's Import API, traits to its user and group profile APIs.

Channels (items of one channel share a request):

- `import` (`POST /import?strict=1`, JSON array, Basic auth): track, page, screen, and alias as a
  `$create_alias` event. `$insert_id` comes from the `messageId`, so a resent event is deduplicated
  by Mixpanel instead of counted twice.
- `engage` (`POST /engage?verbose=1`): identify's traits as `$set` on the user profile, and a group
  call's membership (`$union` of the group key) on the identified user's profile.
- `groups` (`POST /groups?verbose=1`): a group call's traits as `$set` on the group profile.

Failure semantics. With `strict=1` a `400` is a partial success: Mixpanel ingests the events that
pass validation and lists the others in `failed_records` (by index). Those are final
(`400.invalid_record`), the others delivered and never sent again; if `num_records_imported`
accounts for fewer than the rest, the rest are retried (`400.unconfirmed`), which deduplication
makes safe. A `400` without `failed_records` is the request's fault: all final. `429` is retried
after `Retry-After`, and never sooner than the 2 s Mixpanel recommends starting its backoff at (it
sends no `Retry-After`; the shared policy's backoff applies on top). After a `413` the events go
again at once in halves (`413.split`); final for a lone event. `401`/`403` are final, `5xx` retried. The profile APIs
answer `200` even for invalid data: with `verbose=1` a `"status": 0` means none was valid (final,
`200.invalid`).

User deletion: the GDPR API's deletion task, `POST /api/app/data-deletions/v3.0/?token=<project
token>` on `mixpanel.com` (EU `eu.mixpanel.com`; `endpoint` replaces it) with `Authorization:
Bearer <gdpr_api_token>` and `{"distinct_ids": [...], "compliance_type": "GDPR"}`, at most 1,999
distinct ids per request (the GDPR API reference). Mixpanel deletes every event and the profile of
each (it may take up to 30 days). Not the Engage API's `$delete`: that removes the profile alone,
leaving the user's events, which is not what deleting a user means. The GDPR token is a person's
OAuth token (Mixpanel's Data & Privacy settings, valid one year; a `401` after it expires is
final); without it there is no deletion. The GDPR API allows one request per second: a `429` waits
at least the 2 s above.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from hashlib import blake2b
from types import MappingProxyType
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import orjson
from pydantic import Field, model_validator

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
    copy_sections,
    event_time_ms,
    page_event_name,
    page_properties,
)

IMPORT = "import"
ENGAGE = "engage"
GROUPS = "groups"
PATHS: Mapping[str, str] = MappingProxyType({IMPORT: "/import", ENGAGE: "/engage", GROUPS: "/groups"})

# India (api-in.mixpanel.com) has no residency of its own here: set `endpoint`.
MIXPANEL_HOSTS = Hosts(us="api.mixpanel.com", eu="api-eu.mixpanel.com")
# The GDPR API is on the app's hosts, not the ingestion ones.
GDPR_HOSTS = Hosts(us="mixpanel.com", eu="eu.mixpanel.com")
DELETION_PATH = "/api/app/data-deletions/v3.0/"
MAX_DELETIONS_PER_REQUEST = 1999  # "You can add up to 1999 distinct IDs"

# Per request. Import: 2000 events; its body limit is 10 MB on the current reference page but
# 2 MB (2,097,152 bytes in its own 413 example) in the OpenAPI description: 2,000,000 fits both.
# Engage: 2000 updates; Groups: 200 updates (their "Limits" pages), no total size stated, so the
# same 2,000,000. Each event or update must stay under 1 MB and under 255 properties.
MAX_ITEMS: Mapping[str, int] = MappingProxyType({IMPORT: 2000, ENGAGE: 2000, GROUPS: 200})
MAX_REQUEST_BYTES = 2_000_000
MAX_PROPERTIES = 255
# Mixpanel's advice for 429 (no Retry-After): back off from 2 s, doubling to 60 s.
THROTTLE_FLOOR_SECONDS = 2.0

# `$insert_id`: at most 36 of [A-Za-z0-9-], and none of the placeholder ids Mixpanel refuses.
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
_REFUSED_IDS = frozenset(
    {
        "00000000-0000-0000-0000-000000000000",
        "anon",
        "anonymous",
        "nil",
        "none",
        "null",
        "na",
        "undefined",
        "unknown",
        "0",
        "-1",
        "true",
        "false",
    }
)
# Segment's special traits, as Mixpanel's reserved profile properties.
PROFILE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "created": "$created",
        "email": "$email",
        "firstName": "$first_name",
        "lastName": "$last_name",
        "name": "$name",
        "username": "$username",
        "phone": "$phone",
    }
)
# Segment context sections -> Mixpanel default event properties, as Segment maps them.
CONTEXT_SECTION_FIELDS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("page", (("url", "$current_url"), ("referrer", "$referrer"))),
    ("os", (("name", "$os"), ("version", "$os_version"))),
    ("app", (("version", "$app_version_string"), ("build", "$app_build_number"))),
    ("device", (("manufacturer", "$manufacturer"), ("model", "$model"))),
    ("network", (("carrier", "$carrier"),)),
    ("screen", (("width", "$screen_width"), ("height", "$screen_height"))),
    ("location", (("latitude", "$latitude"), ("longitude", "$longitude"))),
    (
        "campaign",
        (
            ("source", "utm_source"),
            ("medium", "utm_medium"),
            ("name", "utm_campaign"),
            ("term", "utm_term"),
            ("content", "utm_content"),
        ),
    ),
)
# `ip` set to "0" keeps Mixpanel from placing the user where our servers are.
NO_GEOLOCATION = "0"

IMPORTED = Verdict(AttemptStatus.DELIVERED, "400.imported")
UNCONFIRMED = Verdict(AttemptStatus.RETRY, "400.unconfirmed")
INVALID_RECORD = Verdict(AttemptStatus.FINAL, "400.invalid_record")
INVALID_PROFILE_UPDATE = Verdict(AttemptStatus.FINAL, "200.invalid")
SPLIT = Verdict(AttemptStatus.RETRY, "413.split", again=Again.SPLIT)
TOO_LARGE = Verdict(AttemptStatus.FINAL, "413")


class MixpanelSettings(RegionalSettings):
    """`type: mixpanel`. /import authenticates with a service account (with `project_id`), else the
    project's `api_secret`, else the project token (all three are Mixpanel's documented ways)."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = (
        "project_token",
        "api_secret",
        "service_account_username",
        "service_account_secret",
        "gdpr_api_token",
    )

    project_token: SecretText = Field(min_length=1, description="The project token ($token of profile updates)")
    api_secret: SecretText | None = Field(default=None, min_length=1, description="The project's API secret")
    service_account_username: SecretText | None = Field(
        default=None, min_length=1, description="A service account for /import (with its secret and project_id)"
    )
    service_account_secret: SecretText | None = Field(default=None, min_length=1, description="That account's secret")
    project_id: str | None = Field(default=None, pattern=r"^[0-9]+$", description="Needed with a service account")
    gdpr_api_token: SecretText | None = Field(
        default=None, min_length=1, description="A GDPR API OAuth token: only to delete users (expires after a year)"
    )
    page_event_naming: Literal["consolidated", "named"] = Field(
        default="consolidated",
        description='consolidated: "Loaded a Page"/"Loaded a Screen"; named: "Viewed <category> <name> Page"',
    )
    group_identifier_traits: tuple[str, ...] = Field(
        default=(), description="Group traits that name the group key, first present wins (none: no group calls)"
    )

    @model_validator(mode="after")
    def _service_account_is_complete(self) -> MixpanelSettings:
        if bool(self.service_account_username) != bool(self.service_account_secret):
            raise ValueError("set both `service_account_username` and `service_account_secret`, or neither")
        if self.service_account_username and not self.project_id:
            raise ValueError("a service account needs `project_id`")
        return self


class Mixpanel(DestinationType):
    name = "mixpanel"
    title = "Mixpanel"
    settings_model = MixpanelSettings
    hosts = MIXPANEL_HOSTS
    max_deletions_per_call = MAX_DELETIONS_PER_REQUEST

    # -- mapping ---------------------------------------------------------------------------------

    def map(self, event: dict[str, Any], settings: MixpanelSettings) -> list[Item] | Unsupported:
        kind = event.get("type")
        mapper = _MAPPERS.get(kind) if isinstance(kind, str) else None
        return UNKNOWN_TYPE if mapper is None else mapper(event, settings)

    # -- requests --------------------------------------------------------------------------------

    def limits(self, channel: str, settings: MixpanelSettings) -> Limits:
        return Limits(MAX_ITEMS[channel], MAX_REQUEST_BYTES, overhead_bytes=2)

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: MixpanelSettings, context: CallContext
    ) -> HttpCall:
        url = self.base_url(settings, context.aws_region) + PATHS[channel]
        body = join_json_array(payloads)
        if channel != IMPORT:
            # Profile APIs answer 200 whatever the data; verbose=1 says whether any update was valid.
            return HttpCall("POST", url + "?verbose=1", body, {"Content-Type": "application/json"})
        query = f"?strict=1&project_id={settings.project_id}" if settings.service_account_username else "?strict=1"
        headers = {"Content-Type": "application/json", "Authorization": import_authorization(settings)}
        return HttpCall("POST", url + query, body, headers)

    def delete_call(self, user_ids: Sequence[str], settings: MixpanelSettings, context: CallContext) -> HttpCall | None:
        if not settings.gdpr_api_token:
            return None
        base = self.url_on(GDPR_HOSTS, settings, context.aws_region)
        url = f"{base}{DELETION_PATH}?token={quote(settings.project_token, safe='')}"
        body = orjson.dumps({"distinct_ids": list(user_ids), "compliance_type": "GDPR"})
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + settings.gdpr_api_token}
        return HttpCall("POST", url, body, headers)

    def hidden_values(self, settings: MixpanelSettings) -> list[str]:
        """The project token as a deletion URL's query carries it, when quoting changes it."""
        quoted = quote(settings.project_token, safe="")
        return [quoted] if quoted != settings.project_token else []

    def deletion_requirement(self, settings: MixpanelSettings) -> str:
        return "set `gdpr_api_token` (a GDPR API OAuth token of a project owner or admin) to delete users"

    # -- answers ---------------------------------------------------------------------------------

    def interpret_delete(self, call: Call, answer: Any, now: float) -> Verdict:
        if isinstance(answer, Answer) and answer.status == 429:
            return throttled(answer, now)
        return uniform(answer, 1, now)[0]

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        if not isinstance(call, HttpCall) or not isinstance(answer, Answer):
            return uniform(answer, count, now)
        channel = channel_of(call.url)
        if answer.status == 400 and channel == IMPORT:
            return partly_imported(answer, count, now)
        if answer.status == 200 and channel in (ENGAGE, GROUPS):
            return profile_updates(answer, count, now)
        if answer.status == 429:
            return [throttled(answer, now)] * count
        if answer.status == 413:
            return [SPLIT] * count if count > 1 else [TOO_LARGE]
        return uniform(answer, count, now)


MIXPANEL = Mixpanel()


# -- the calls ---------------------------------------------------------------------------------

# Refusals, shared by every event they concern (frozen, compared by value).
UNKNOWN_TYPE = Unsupported("unknown_type")
NO_EVENT_NAME = Unsupported("no_event_name")
NO_USER_OR_ANONYMOUS_ID = Unsupported("no_user_or_anonymous_id")
NO_TIMESTAMP = Unsupported("no_timestamp")
TOO_MANY_PROPERTIES = Unsupported("too_many_properties")
NO_GROUP_IDENTIFIER_TRAIT = Unsupported("no_group_identifier_trait")


def _event(event: dict[str, Any], name: str, properties: Mapping[str, Any]) -> list[Item] | Unsupported:
    """An Import API event: context defaults, then the event's properties, then the identity,
    time and dedup key (which properties cannot override)."""
    user_id, anonymous_id = identity(event)
    distinct_id = user_id or anonymous_id
    if distinct_id is None:
        return NO_USER_OR_ANONYMOUS_ID
    time = event_time_ms(event)
    if time is None:
        return NO_TIMESTAMP
    context = event.get("context")
    merged = _context_properties(context if isinstance(context, dict) else EMPTY)
    merged.update(properties)
    merged["time"] = time
    merged["distinct_id"] = distinct_id
    merged["$insert_id"] = insert_id(event)
    # Simplified ID Merge: an event with both ids merges the anonymous history into the user.
    if anonymous_id is not None:
        merged["$device_id"] = anonymous_id
    if user_id is not None:
        merged["$user_id"] = user_id
    if len(merged) >= MAX_PROPERTIES:
        return TOO_MANY_PROPERTIES
    return [new_item(Item, (IMPORT, {"event": name, "properties": merged}, ()))]


def _track(event: dict[str, Any], settings: MixpanelSettings) -> list[Item] | Unsupported:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return NO_EVENT_NAME
    properties = event.get("properties")
    return _event(event, name, properties if isinstance(properties, dict) else EMPTY)


def _page(event: dict[str, Any], settings: MixpanelSettings) -> list[Item] | Unsupported:
    """A page or a screen."""
    name = as_text(event.get("name"))
    category = as_text(event.get("category"))
    properties = page_properties(name, category, as_object(event.get("properties")))
    consolidated = settings.page_event_naming == "consolidated"
    return _event(event, page_event_name(event["type"], name, category, consolidated=consolidated), properties)


def _identify(event: dict[str, Any], settings: MixpanelSettings) -> list[Item] | Unsupported:
    user_id, _ = identity(event)
    if user_id is None:
        # Mixpanel advises against profiles for anonymous users.
        return Unsupported("no_user_id")
    traits = as_object(event.get("traits"))
    if not traits:
        return []
    update = _profile_update(event, settings, user_id)
    update["$set"] = {PROFILE_NAMES.get(name, name): value for name, value in traits.items()}
    return [Item(ENGAGE, update)]


def _group(event: dict[str, Any], settings: MixpanelSettings) -> list[Item] | Unsupported:
    if not settings.group_identifier_traits:  # not configured: no group calls, for every group event
        return NO_GROUP_IDENTIFIER_TRAIT
    traits = as_object(event.get("traits"))
    identifiers = ((trait, as_text(traits.get(trait))) for trait in settings.group_identifier_traits)
    key, group_id = next(((trait, value) for trait, value in identifiers if value), (None, None))
    if key is None:
        return NO_GROUP_IDENTIFIER_TRAIT
    group = {"$token": settings.project_token, "$group_key": key, "$group_id": group_id, "$set": traits}
    items = [Item(GROUPS, group)]
    user_id, _ = identity(event)
    if user_id is not None:
        membership = _profile_update(event, settings, user_id)
        membership["$union"] = {key: [group_id]}
        items.append(Item(ENGAGE, membership))
    return items


def _alias(event: dict[str, Any], settings: MixpanelSettings) -> list[Item] | Unsupported:
    """`$create_alias`: the new userId becomes an alias of the previousId."""
    previous_id = as_text(event.get("previousId"))
    user_id, _ = identity(event)
    if previous_id is None or user_id is None:
        return Unsupported("no_previous_or_user_id")
    time = event_time_ms(event)
    if time is None:
        return NO_TIMESTAMP
    properties = {
        "distinct_id": previous_id,
        "alias": user_id,
        "token": settings.project_token,  # required on $create_alias, whatever authenticates
        "time": time,
        "$insert_id": insert_id(event),
    }
    return [Item(IMPORT, {"event": "$create_alias", "properties": properties})]


# The mapping of each call, by its type: one look-up per event (in a plain dict, the fastest).
_MAPPERS: dict[str, Callable[[dict[str, Any], MixpanelSettings], list[Item] | Unsupported]] = {
    EventType.TRACK: _track,
    EventType.PAGE: _page,
    EventType.SCREEN: _page,
    EventType.IDENTIFY: _identify,
    EventType.GROUP: _group,
    EventType.ALIAS: _alias,
}


# -- pieces ------------------------------------------------------------------------------------


def _context_properties(context: Mapping[str, Any]) -> dict[str, Any]:
    """Mixpanel's default properties from Segment's context, by the table above."""
    properties: dict[str, Any] = {"ip": context.get("ip") or NO_GEOLOCATION}
    copy_sections(properties, context, CONTEXT_SECTION_FIELDS)
    return properties


def _profile_update(event: Mapping[str, Any], settings: MixpanelSettings, distinct_id: str) -> dict[str, Any]:
    ip = as_object(event.get("context")).get("ip")
    return {"$token": settings.project_token, "$distinct_id": distinct_id, "$ip": ip or NO_GEOLOCATION}


def insert_id(event: Mapping[str, Any]) -> str:
    """The `messageId` when Mixpanel takes it as `$insert_id` (a UUID does), else a 32-character
    hex digest of it: the same event always gets the same id, so resending stays deduplicated."""
    message_id = event.get("messageId")
    if message_id.__class__ is not str or not message_id:  # the usual non-empty string needs no call
        message_id = as_text(message_id)
    if message_id is None:
        # Never the case for events that came through ingest; derived from what identifies the event.
        message_id = "|".join(str(event.get(key)) for key in ("type", "timestamp", "userId", "anonymousId", "event"))
    elif len(message_id) <= 36 and _INSERT_ID.fullmatch(message_id) and message_id.lower() not in _REFUSED_IDS:
        return message_id
    return blake2b(message_id.encode(), digest_size=16).hexdigest()


def import_authorization(settings: MixpanelSettings) -> str:
    """Basic auth for /import: service account, else API secret, else project token (no password)."""
    if settings.service_account_username and settings.service_account_secret:
        user, password = settings.service_account_username, settings.service_account_secret
    else:
        user, password = settings.api_secret or settings.project_token, ""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def channel_of(url: str) -> str | None:
    path = urlsplit(url).path
    for channel, channel_path in PATHS.items():
        if path.endswith(channel_path):
            return channel
    return None


# -- answers -----------------------------------------------------------------------------------


def partly_imported(answer: Answer, count: int, now: float) -> list[Verdict]:
    """A strict 400: the failed records are final, the others were imported."""
    body = _json_object(answer.body)
    failed = set(_indexes((record.get("index") for record in _objects(body.get("failed_records"))), count))
    if not failed:
        return uniform(answer, count, now)
    imported = body.get("num_records_imported")
    confirmed = not isinstance(imported, int) or imported >= count - len(failed)
    rest = IMPORTED if confirmed else UNCONFIRMED
    return [INVALID_RECORD if i in failed else rest for i in range(count)]


def throttled(answer: Answer, now: float) -> Verdict:
    """A 429: after `Retry-After`, and never sooner than Mixpanel's advised first pause."""
    retry_after = parse_retry_after(answer.headers.get("Retry-After"), now)
    return Verdict(AttemptStatus.RETRY, "429", max(retry_after or 0.0, THROTTLE_FLOOR_SECONDS))


def profile_updates(answer: Answer, count: int, now: float) -> list[Verdict]:
    """`{"status": 1}` (or a bare `1`): at least one update was valid; `0`: none was."""
    parsed = _json(answer.body)
    status = parsed.get("status") if isinstance(parsed, dict) else parsed
    if status == 0:
        return [INVALID_PROFILE_UPDATE] * count
    return uniform(answer, count, now)


def _indexes(values: Iterable[object], count: int) -> Iterable[int]:
    return (i for i in values if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count)


def _objects(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _json_object(body: bytes) -> Mapping[str, Any]:
    return as_object(_json(body))
