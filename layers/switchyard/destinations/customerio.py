"""`type: customerio`: every call as an entity of Customer.io's Track API v2 batch endpoint.

`POST /api/v2/batch` with `{"batch": [<entity>, ...]}`, Basic auth `site_id:api_key` (Customer.io's
"Journeys Track API" reference). The mapping is Segment's Customer.io (Actions) destination's, which
sends the same v2 entities:

- identify: `{"type": "person", "action": "identify", "identifiers", "attributes", "timestamp"}`;
  the attributes are the traits (`created_at`/`createdAt` as `created_at`), with `anonymous_id` =
  the anonymousId so the person's anonymous events join them; `traits.objectId` adds a relationship
  to that object (`cio_relationships`, type `traits.objectTypeId` else `object_type_id`).
- track: `action: event`, `name` = the event, `attributes` = its properties, `id` = the messageId
  (Customer.io's deduplication key), `timestamp`.
- page: `action: page`, `name` = the page's URL (`properties.url`, else `context.page.url`, else
  its name); screen: `action: screen`, `name` = the screen's name.
- group: an object (`"type": "object"`, `identifiers: {object_type_id, object_id: groupId}`,
  `action: identify`, `attributes` = the traits) related to the person (`cio_relationships`); for
  an anonymous person `action: identify_anonymous` with the anonymousId, which Customer.io carries
  over once the person is identified.
- alias: `action: merge`, `primary` = the userId (kept), `secondary` = the previousId (merged
  into it, then deleted).

Who: `identifiers` is `{"id": userId}` — `{"email": ...}` when the userId is an email address,
`{"cio_id": ...}` for a `cio_` prefix, as Segment resolves them. An identify without a userId is
made by `traits.email`; other calls without one are anonymous (`{"anonymous_id": ...}`): with
Customer.io's anonymous event merging, those of the last 30 days join the person who identifies
with that anonymousId.
`timestamp` is Unix seconds. With `convert_timestamps` (Segment's default), ISO 8601 strings
among attributes become Unix seconds too, as Customer.io compares dates as numbers.

Limits: a batch smaller than 500 KB, each entity 32 KB or smaller (the reference's words; KB read
as 1,000 bytes, the stricter reading); an entity over 32 KB is final (`item_too_large`). No count
limit is documented: at most 1,000 entities per request. Customer.io asks for no more than 100
requests a second per workspace (fair use, not enforced; 429 beyond).

Answers: 200 delivered. 207: the entities listed in `errors` by `batch_index` were refused
(final, `207.invalid_entity`), the others accepted and never sent again. 400 (the whole batch
malformed) and 401 (wrong credentials, or a US workspace addressed in the EU) final; 413 halves
the request; 429/5xx retried, after `Retry-After` when sent.

User deletion: the same `/api/v2/batch`, one `{"type": "person", "action": "delete",
"identifiers"}` entity per userId (identifiers as above, so a person made by email is deleted by
email), at most 100 per request, which keeps it under 500 KB for userIds of up to some 4 KB (a 413
would refuse it whole). A 207 names the entities Customer.io refused: the request is final
(`207.invalid_entity`), its answer saying which. Deleting does not suppress the person: events
still on their way would create it again.

Hosts: `track.customer.io`, EU `track-eu.customer.io` (`region`, default from the stack's region).
The site ID is not a secret (Customer.io's JavaScript snippet puts it in every page); the API key is.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
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
    join_json_array,
    new_item,
    uniform,
)
from switchyard.destinations.mapping import EMPTY, as_object, as_text, event_time_ms, utc_time

CUSTOMERIO_HOSTS = Hosts(us="track.customer.io", eu="track-eu.customer.io")
BATCH_PATH = "/api/v2/batch"
BATCH = "batch"  # the only channel
ENVELOPE_START, ENVELOPE_END = b'{"batch":', b"}"

MAX_REQUEST_BYTES = 500_000 - 1  # "smaller than 500kb"
MAX_ENTITY_BYTES = 32_000  # "32kb or smaller"
MAX_ENTITIES_PER_REQUEST = 1000
MAX_DELETIONS_PER_REQUEST = 100  # see the module's docstring

DEFAULT_OBJECT_TYPE_ID = "1"
_from_iso = datetime.fromisoformat
CIO_ID_PREFIX = "cio_"
# Unix seconds of each second seen, by its ISO 8601 prefix `YYYY-MM-DDTHH:MM:SS`, for times whose
# rest is one of `_TAILS` (Segment's milliseconds, or none): see `unix_seconds`.
MAX_CACHED_SECONDS = 4096
_seconds: dict[str, int] = {}
_TAILS = frozenset({"Z", *(f".{millisecond:03d}Z" for millisecond in range(1000))})
# What Segment's destination takes for an email address (an identifier of its own kind).
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Traits that say how to relate a person or an object, not attributes of it.
OBJECT_TYPE_TRAITS = ("object_type_id", "objectTypeId")
NOT_PERSON_ATTRIBUTES = frozenset({"createdAt", *OBJECT_TYPE_TRAITS, "objectId", "relationshipAttributes"})
NOT_OBJECT_ATTRIBUTES = frozenset({"createdAt", *OBJECT_TYPE_TRAITS})

INVALID_ENTITY = "invalid_entity"
SPLIT = Verdict(AttemptStatus.RETRY, "413.split", again=Again.SPLIT)
TOO_LARGE = Verdict(AttemptStatus.FINAL, "413")

UNKNOWN_TYPE = Unsupported("unknown_type")
NO_EVENT_NAME = Unsupported("no_event_name")
NO_USER_OR_ANONYMOUS_ID = Unsupported("no_user_or_anonymous_id")


class CustomerioSettings(RegionalSettings):
    """`type: customerio`: a Customer.io workspace's Track API credentials."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("api_key",)

    site_id: str = Field(
        min_length=1, pattern=r"^[A-Za-z0-9]+$", description="The workspace's Site ID (Track API credentials)"
    )
    api_key: SecretText = Field(min_length=8, description="The Track API key paired with the Site ID")
    object_type_id: str = Field(
        default=DEFAULT_OBJECT_TYPE_ID,
        pattern=r"^[1-9][0-9]*$",
        description="Object type of group calls (1: the first)",
    )
    convert_timestamps: bool = Field(
        default=True, description="ISO 8601 attribute values as Unix seconds, as Customer.io compares dates"
    )


class Customerio(DestinationType):
    name = "customerio"
    title = "Customer.io"
    settings_model = CustomerioSettings
    hosts = CUSTOMERIO_HOSTS
    max_deletions_per_call = MAX_DELETIONS_PER_REQUEST
    # The Basic credentials' header; the key's value is masked wherever else it shows.
    secret_headers = frozenset({"authorization"})

    def map(self, event: dict[str, Any], settings: CustomerioSettings) -> list[Item] | Unsupported:
        kind = event.get("type")
        mapper = _MAPPERS.get(kind) if isinstance(kind, str) else None
        return UNKNOWN_TYPE if mapper is None else mapper(event, settings)

    def limits(self, channel: str, settings: CustomerioSettings) -> Limits:
        # The envelope, plus "[" "]", less one separator the driver counts per item.
        overhead = len(ENVELOPE_START) + len(ENVELOPE_END) + 1
        return Limits(MAX_ENTITIES_PER_REQUEST, MAX_REQUEST_BYTES, overhead, max_item_bytes=MAX_ENTITY_BYTES)

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: CustomerioSettings, context: CallContext
    ) -> HttpCall:
        body = ENVELOPE_START + join_json_array(payloads) + ENVELOPE_END
        headers = {"Authorization": basic_authorization(settings)}
        return HttpCall("POST", self.base_url(settings, context.aws_region) + BATCH_PATH, body, headers)

    def delete_call(self, user_ids: Sequence[str], settings: CustomerioSettings, context: CallContext) -> HttpCall:
        entities = [{"type": "person", "action": "delete", "identifiers": person_identifiers(uid)} for uid in user_ids]
        headers = {"Authorization": basic_authorization(settings)}
        url = self.base_url(settings, context.aws_region) + BATCH_PATH
        return HttpCall("POST", url, orjson.dumps({"batch": entities}), headers)

    def interpret_delete(self, call: Call, answer: Any, now: float) -> Verdict:
        if isinstance(answer, Answer) and answer.status == 207:
            # A refused entity would be refused again: final, the answer naming which it was.
            return Verdict(AttemptStatus.FINAL, f"207.{INVALID_ENTITY}")
        return uniform(answer, 1, now)[0]

    def hidden_values(self, settings: CustomerioSettings) -> list[str]:
        """The Basic credentials as the header carries them, wherever else they might show."""
        return [basic_authorization(settings).removeprefix("Basic ")]

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        if not isinstance(answer, Answer):
            return uniform(answer, count, now)
        if answer.status == 207:
            return refused_entities(answer, count)
        if answer.status == 413:
            return [SPLIT] * count if count > 1 else [TOO_LARGE]
        return uniform(answer, count, now)


CUSTOMERIO = Customerio()


# -- the calls ------------------------------------------------------------------------------------


def _identify(event: dict[str, Any], settings: CustomerioSettings) -> list[Item] | Unsupported:
    user_id = as_text(event.get("userId"))
    traits = as_object(event.get("traits"))
    person = user_id or as_text(traits.get("email"))
    if person is None:
        return Unsupported("no_user_id_or_email")
    if NOT_PERSON_ATTRIBUTES.isdisjoint(traits):  # the usual case: a copy, no filter per trait
        attributes = dict(traits)
    else:
        attributes = {key: value for key, value in traits.items() if key not in NOT_PERSON_ATTRIBUTES}
        created_at = traits.get("createdAt")
        if created_at is not None and "created_at" not in attributes:
            attributes["created_at"] = created_at
    if settings.convert_timestamps and _may_hold_dates(attributes.values()):
        _timestamps_as_numbers(attributes)
    anonymous_id = as_text(event.get("anonymousId"))
    if anonymous_id is not None:
        attributes["anonymous_id"] = anonymous_id
    entity: dict[str, Any] = {"type": "person", "action": "identify", "identifiers": person_identifiers(person)}
    seconds = unix_seconds(event)
    if seconds is not None:
        entity["timestamp"] = seconds
    entity["attributes"] = attributes
    object_id = as_text(traits.get("objectId"))
    if object_id is not None:
        relationship: dict[str, Any] = {"identifiers": _object_identifiers(traits, object_id, settings)}
        relationship_attributes = traits.get("relationshipAttributes")
        if isinstance(relationship_attributes, dict):
            relationship["relationship_attributes"] = relationship_attributes
        entity["cio_relationships"] = [relationship]
    return [new_item(Item, (BATCH, entity, ()))]


def _track(event: dict[str, Any], settings: CustomerioSettings) -> list[Item] | Unsupported:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return NO_EVENT_NAME
    return _person_event(event, settings, "event", name)


def _page(event: dict[str, Any], settings: CustomerioSettings) -> list[Item] | Unsupported:
    """Customer.io names a page view by its URL (Segment's mapping), else by the page's name."""
    name = (
        as_text(as_object(event.get("properties")).get("url"))
        or as_text(as_object(as_object(event.get("context")).get("page")).get("url"))
        or as_text(event.get("name"))
    )
    if name is None:
        return Unsupported("no_page_url")
    return _person_event(event, settings, "page", name)


def _screen(event: dict[str, Any], settings: CustomerioSettings) -> list[Item] | Unsupported:
    name = as_text(event.get("name")) or as_text(as_object(event.get("properties")).get("name"))
    if name is None:
        return Unsupported("no_screen_name")
    return _person_event(event, settings, "screen", name)


def _group(event: dict[str, Any], settings: CustomerioSettings) -> list[Item] | Unsupported:
    group_id = as_text(event.get("groupId"))
    if group_id is None:
        return Unsupported("no_group_id")
    user_id, anonymous_id = as_text(event.get("userId")), as_text(event.get("anonymousId"))
    if user_id is not None:
        action, member = "identify", person_identifiers(user_id)
    elif anonymous_id is not None:
        action, member = "identify_anonymous", {"anonymous_id": anonymous_id}
    else:
        return NO_USER_OR_ANONYMOUS_ID
    traits = as_object(event.get("traits"))
    attributes = {key: value for key, value in traits.items() if key not in NOT_OBJECT_ATTRIBUTES}
    created_at = traits.get("createdAt")
    if created_at is not None and "created_at" not in attributes:
        attributes["created_at"] = created_at
    if settings.convert_timestamps:
        attributes = _timestamps_as_numbers(attributes)
    entity = {
        "type": "object",
        "action": action,
        "identifiers": _object_identifiers(traits, group_id, settings),
        "attributes": attributes,
        "cio_relationships": [{"identifiers": member}],
    }
    return [new_item(Item, (BATCH, entity, ()))]


def _alias(event: dict[str, Any], settings: CustomerioSettings) -> list[Item] | Unsupported:
    user_id, previous_id = as_text(event.get("userId")), as_text(event.get("previousId"))
    if user_id is None or previous_id is None:
        return Unsupported("no_user_or_previous_id")
    if user_id == previous_id:
        return []
    entity = {
        "type": "person",
        "action": "merge",
        "primary": person_identifiers(user_id),
        "secondary": person_identifiers(previous_id),
    }
    return [new_item(Item, (BATCH, entity, ()))]


_MAPPERS: dict[str, Callable[[dict[str, Any], CustomerioSettings], list[Item] | Unsupported]] = {
    EventType.IDENTIFY: _identify,
    EventType.TRACK: _track,
    EventType.PAGE: _page,
    EventType.SCREEN: _screen,
    EventType.GROUP: _group,
    EventType.ALIAS: _alias,
}


# -- pieces ---------------------------------------------------------------------------------------


def _person_event(
    event: dict[str, Any], settings: CustomerioSettings, action: str, name: str
) -> list[Item] | Unsupported:
    """An event, page or screen of a person: identified, else anonymous. (Most events come here:
    the common cases are tested first, inline, and the usual entity is built as one dict.)"""
    get = event.get  # a local: read five times
    user_id = get("userId")
    if user_id.__class__ is not str or not user_id:
        user_id = as_text(user_id)
    anonymous_id = get("anonymousId")
    if anonymous_id.__class__ is not str or not anonymous_id:
        anonymous_id = as_text(anonymous_id)
    if user_id is not None:
        plain = "@" not in user_id and user_id[:4] != CIO_ID_PREFIX
        identifiers = {"id": user_id} if plain else person_identifiers(user_id)
    elif anonymous_id is not None:
        identifiers = {"anonymous_id": anonymous_id}
    else:
        return NO_USER_OR_ANONYMOUS_ID
    message_id = get("messageId")
    if message_id.__class__ is not str or not message_id:
        message_id = as_text(message_id)
    timestamp = get("timestamp")
    # `unix_seconds`' usual case inline: Segment's form, of a second seen before.
    seconds = _seconds.get(timestamp[:19]) if timestamp.__class__ is str and timestamp[19:] in _TAILS else None  # type: ignore[index]
    if seconds is None:
        seconds = unix_seconds(event)
    properties = get("properties")
    if properties and isinstance(properties, dict):
        attributes = dict(properties)
        if settings.convert_timestamps and _may_hold_dates(properties.values()):
            _timestamps_as_numbers(attributes)
    else:
        attributes = {}
    if user_id is not None and anonymous_id is not None:
        attributes["anonymous_id"] = anonymous_id  # as Segment sends it: ties the anonymous history
    if message_id is not None and seconds is not None and attributes:
        # `id` is Customer.io's deduplication key, as Segment sends it.
        entity = {
            "type": "person",
            "action": action,
            "identifiers": identifiers,
            "name": name,
            "id": message_id,
            "timestamp": seconds,
            "attributes": attributes,
        }
    else:  # the same fields, those set
        entity = {"type": "person", "action": action, "identifiers": identifiers, "name": name}
        if message_id is not None:
            entity["id"] = message_id
        if seconds is not None:
            entity["timestamp"] = seconds
        if attributes:
            entity["attributes"] = attributes
    return [new_item(Item, (BATCH, entity, ()))]


def person_identifiers(person: str) -> dict[str, str]:
    """`cio_id` for Customer.io's own ids, `email` for an email address, else `id` (as Segment)."""
    if person.startswith(CIO_ID_PREFIX):
        return {"cio_id": person[len(CIO_ID_PREFIX) :]}
    if "@" in person and _EMAIL.fullmatch(person):
        return {"email": person}
    return {"id": person}


def _object_identifiers(traits: Mapping[str, Any], object_id: str, settings: CustomerioSettings) -> dict[str, str]:
    object_type_id = as_text(traits.get("object_type_id")) or as_text(traits.get("objectTypeId"))
    return {"object_type_id": object_type_id or settings.object_type_id, "object_id": object_id}


def unix_seconds(event: Mapping[str, Any]) -> int | None:
    """The event's `timestamp` (else when it was received) as Unix seconds, rounded down. Segment's
    form (`...THH:MM:SS.fffZ`) is read once per second: the next times of that second are a look-up
    (a time is not personal data)."""
    value = event.get("timestamp")
    if value.__class__ is str and value[-1:] == "Z":  # Segment's form: one C call  # type: ignore[union-attr]
        seconds = _seconds.get(value[:19]) if value[19:] in _TAILS else None  # type: ignore[index]
        if seconds is not None:
            return seconds
        try:
            seconds = int(_from_iso(value).timestamp())  # type: ignore[arg-type]
        except ValueError:
            pass
        else:
            # Before 1970, int() would round a fraction up: such a second is not remembered.
            if seconds >= 0 and value[19:] in _TAILS:  # type: ignore[index]
                if len(_seconds) >= MAX_CACHED_SECONDS:
                    _seconds.clear()
                _seconds[value[:19]] = seconds  # type: ignore[index]
            return seconds
    time_ms = event_time_ms(event)
    return None if time_ms is None else time_ms // 1000


def _may_hold_dates(values: Iterable[Any]) -> bool:
    """Whether a value may be an ISO 8601 date (a string of 10 characters or more, its fifth a "-")
    or an object, which may hold some. Most events' have neither: this one pass, with the cheapest
    tests first, spares them `_timestamps_as_numbers`."""
    for value in values:
        kind = type(value)
        if kind is str:
            if len(value) > 9 and value[4] == "-":
                return True
        elif kind is dict:
            return True
    return False


def _timestamps_as_numbers(attributes: dict[str, Any]) -> dict[str, Any]:
    """ISO 8601 dates among the values (nested objects too) as Unix seconds, in place: callers hand
    it a copy of the event's object."""
    for key, value in attributes.items():
        if value.__class__ is str:
            # A date starts "YYYY-MM-DD" (10 characters or more): most strings are ruled out by
            # their length or fifth character.
            if len(value) > 9 and value[4] == "-" and value[7] == "-" and value[:4].isdigit():
                moment = utc_time(value)
                if moment is not None:
                    attributes[key] = int(moment.timestamp())
        elif value.__class__ is dict:
            attributes[key] = _timestamps_as_numbers(dict(value))
    return attributes


def basic_authorization(settings: CustomerioSettings) -> str:
    return "Basic " + base64.b64encode(f"{settings.site_id}:{settings.api_key}".encode()).decode("ascii")


# -- answers --------------------------------------------------------------------------------------


def refused_entities(answer: Answer, count: int) -> list[Verdict]:
    """A 207: the entities `errors` names by `batch_index` were refused, the others accepted."""
    accepted = Verdict(AttemptStatus.DELIVERED, "207")
    try:
        body = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        body = EMPTY
    verdicts = [accepted] * count
    refused = Verdict(AttemptStatus.FINAL, f"207.{INVALID_ENTITY}")
    errors = as_object(body).get("errors")
    for error in errors if isinstance(errors, list) else ():
        index = as_object(error).get("batch_index")
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count:
            verdicts[index] = refused
    return verdicts
