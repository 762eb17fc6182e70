"""`type: braze`: users, custom events and purchases to Braze's REST API on the workspace's instance.

Calls (Braze's REST API reference: "Track users", "Identify users", "Create new user alias"; the
mapping as Segment's Braze destination documents it):

- identify: a user attributes object on `POST /users/track`. Segment's special traits become Braze's
  standard profile fields (`firstName` -> `first_name`, `lastName` -> `last_name`, `birthday` ->
  `dob` as YYYY-MM-DD, `avatar` -> `image_url`, `address.city` -> `home_city`, `address.country` ->
  `country`, `gender` as Braze's M/F/O/N/P, `email`, `phone`...); every other trait is a custom
  attribute (Segment's `id`, `name` and `address` excepted; `name` gives first and last names when
  they are missing).
- track: a custom event object (`name`, `time` ISO 8601, `properties` without Braze's reserved keys
  `time` and `event_name`). `Order Completed` becomes one purchase object per product instead
  (`product_id`, `price`, `currency` — the product's, else the order's, else USD — `quantity`, the
  product's other fields as properties), as Segment's destination sends it; a product without an id
  or a price is left out (`omitted.product_without_id`, `omitted.product_without_price`). An Order
  Completed with no products goes as the custom event.
- page and screen (setting `track_pages`: Segment's "Track All Pages" / "Track Only Named Pages"):
  a custom event "Viewed <category> <name> Page" (or "Loaded a Page" without a name).
- group: the custom attribute `ab_segment_group_<groupId>: true` on the user, as Segment sends it.
- alias: `POST /users/identify` with `aliases_to_identify` [{`external_id`: userId, `user_alias`:
  the previousId under `alias_label`}] — Braze merges the alias-only profile into the user (or names
  it the user when none has that external_id yet) — then `POST /users/alias/new` with that alias and
  the `external_id`, so the user carries the alias and events of that alias still on their way land
  on the user. In this order because Braze does not merge into a user that already has an alias of
  that label.

Who: `external_id` = userId. Without one, Segment sends a `braze_id` from `integrations.Braze`
(`braze_id`), and so do we; without either, Segment's cloud mode sends nothing, and neither do we by
default (`unsupported.no_user_id`): Braze bills data points and profiles. With
`send_anonymous_users`, such events go to the alias-only profile of the anonymousId (`user_alias`
under `alias_label`, with `_update_existing_only: false` so Braze creates it), and an identify that
carries both ids also merges that profile into the user (`/users/identify`, as for alias).

Requests: one channel for `/users/track`, so attributes, events and purchases of different events
share requests: each item is one object tagged with its array (`["events", {...}]`), and the
request is `{"attributes": [...], "events": [...], "purchases": [...]}` cut from those bytes, never
parsed again. At most 75 objects per request counted across the three arrays (Braze's rate-limit
page; `max_objects_per_request` 50 for "Monthly Active Users CY 24-25" plans), 50 aliases per
`/users/identify` and `/users/alias/new` request. Braze documents no body limit; requests are cut
at 4 MiB (a 413 sends them again in halves). `Authorization: Bearer <REST API key>`.

Answers. `/users/track` answers 201 `{"message": "success", "errors": [{"type", "input_array",
"index"}]}` when some objects were refused: those are final (`201.invalid_object`), the others were
processed and are never sent again. Braze does not deduplicate events, so an event whose objects
were split over two requests, one of them retried, sends the accepted objects again (at least
once, as any retry after a time-out). 429: retried when `X-RateLimit-Reset` (UTC epoch seconds)
says, else after our backoff; 400 (the whole request: bad syntax, too many objects), 401 (wrong
key or instance), 403 (permission, plan) and 404 are final; 5xx retried.

User deletion: `POST /users/delete` `{"external_ids": [...]}`, at most 50 per request (Braze's
"Delete users"; the key needs the `users.delete` permission). Braze queues the profiles for
deletion and answers with the number queued (`deleted`); a 429 is read as above.

Hosts: `rest.<instance>.braze.com` (US, AU, ID, JP, KR), `rest.fra-01|fra-02.braze.eu` (EU), from
Braze's "API and SDK endpoints" list; `endpoint` replaces it. An EU stack is warned when the
instance is not an EU one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import orjson
from pydantic import Field, field_validator

from switchyard.delivery.attempts import AttemptStatus, parse_retry_after
from switchyard.delivery.http import Answer
from switchyard.destinations.base import (
    Again,
    Call,
    CallContext,
    DestinationSettings,
    DestinationType,
    EventType,
    HttpCall,
    Item,
    Limits,
    SecretText,
    ToolSettings,
    Unsupported,
    Verdict,
    join_json_array,
    uniform,
)
from switchyard.destinations.mapping import as_object, as_text, page_event_name, utc_time

# -- Braze's instances ----------------------------------------------------------------------------


class BrazeInstance(StrEnum):
    """Braze's REST clusters, named as in their REST hosts (`rest.<instance>.braze.com`)."""

    IAD_01 = "iad-01"
    IAD_02 = "iad-02"
    IAD_03 = "iad-03"
    IAD_04 = "iad-04"
    IAD_05 = "iad-05"
    IAD_06 = "iad-06"
    IAD_07 = "iad-07"
    IAD_08 = "iad-08"
    US_10 = "us-10"
    FRA_01 = "fra-01"
    FRA_02 = "fra-02"
    AU_01 = "au-01"
    ID_01 = "id-01"
    JP_01 = "jp-01"
    KR_01 = "kr-01"


EU_INSTANCES = frozenset({BrazeInstance.FRA_01, BrazeInstance.FRA_02})
# The dashboard's names of the instances (US-01, EU-01...), also taken for `instance`.
INSTANCE_NAMES: Mapping[str, BrazeInstance] = MappingProxyType(
    {
        **{f"us-0{n}": BrazeInstance(f"iad-0{n}") for n in range(1, 9)},
        "us-10": BrazeInstance.US_10,
        "eu-01": BrazeInstance.FRA_01,
        "eu-02": BrazeInstance.FRA_02,
    }
)


def rest_host(instance: BrazeInstance) -> str:
    return f"rest.{instance}.braze.eu" if instance in EU_INSTANCES else f"rest.{instance}.braze.com"


# -- requests -------------------------------------------------------------------------------------

TRACK = "track"  # /users/track: attributes, events and purchases
IDENTIFY = "identify"  # /users/identify: an alias-only profile merged into a user
ALIAS = "alias"  # /users/alias/new: an alias given to a user
DELETE_PATH = "/users/delete"
MAX_DELETIONS_PER_REQUEST = 50  # "up to 50 external_ids"
PATHS: Mapping[str, str] = MappingProxyType(
    {TRACK: "/users/track", IDENTIFY: "/users/identify", ALIAS: "/users/alias/new"}
)
# The array of each channel's body.
ARRAYS: Mapping[str, bytes] = MappingProxyType({IDENTIFY: b'{"aliases_to_identify":', ALIAS: b'{"user_aliases":'})

MAX_OBJECTS_PER_REQUEST = 75  # across attributes, events and purchases
MAX_ALIASES_PER_REQUEST = 50
MAX_REQUEST_BYTES = 4 * 1024 * 1024

# The three arrays of /users/track, in the order Braze processes them.
ATTRIBUTES, EVENTS, PURCHASES = "attributes", "events", "purchases"
TRACK_ARRAYS = (ATTRIBUTES, EVENTS, PURCHASES)
# How an item's serialized tag starts (`["events",`), by the byte that tells the arrays apart.
_TAG_LENGTHS: dict[int, tuple[str, int]] = {ord(name[0]): (name, len(f'["{name}",')) for name in TRACK_ARRAYS}

ORDER_COMPLETED = "Order Completed"
GROUP_ATTRIBUTE_PREFIX = "ab_segment_group_"
INTEGRATION_NAME = "Braze"
DEFAULT_CURRENCY = "USD"

# Segment traits -> Braze standard profile fields (besides those whose names are the same).
TRAIT_FIELDS: Mapping[str, str] = MappingProxyType(
    {"firstName": "first_name", "lastName": "last_name", "avatar": "image_url"}
)
# Segment traits that are not custom attributes (mapped above or below, or meaningless to Braze).
NOT_CUSTOM_ATTRIBUTES = frozenset({*TRAIT_FIELDS, "birthday", "address", "gender", "id", "name"})
# Braze's gender values, by what Segment's sources send.
GENDERS: Mapping[str, str] = MappingProxyType(
    {
        "m": "M",
        "male": "M",
        "man": "M",
        "f": "F",
        "female": "F",
        "woman": "F",
        "o": "O",
        "other": "O",
        "n": "N",
        "not applicable": "N",
        "p": "P",
        "prefer not to say": "P",
    }
)
# Keys Braze refuses in event properties.
RESERVED_EVENT_PROPERTIES = frozenset({"time", "event_name"})
# Product fields a purchase object carries itself (not among its properties).
PURCHASE_FIELDS = frozenset({"product_id", "id", "sku", "price", "quantity", "currency"})
MAX_PURCHASE_QUANTITY = 100

# What was left out of an Order Completed.
PRODUCT_WITHOUT_ID = "product_without_id"
PRODUCT_WITHOUT_PRICE = "product_without_price"

INVALID_OBJECT_CODE = "invalid_object"
SPLIT = Verdict(AttemptStatus.RETRY, "413.split", again=Again.SPLIT)
TOO_LARGE = Verdict(AttemptStatus.FINAL, "413")


class BrazeSettings(ToolSettings):
    """`type: braze`."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("api_key",)

    api_key: SecretText = Field(
        min_length=8,
        description="A REST API key with users.track (and users.alias.new, users.identify; users.delete to delete)",
    )
    instance: BrazeInstance = Field(
        description="The workspace's REST instance: iad-01…iad-08, us-10, fra-01, fra-02, au-01, id-01, jp-01, kr-01 "
        "(or its dashboard name: US-01, EU-01…)"
    )
    app_id: str | None = Field(default=None, min_length=1, description="App identifier put on events and purchases")
    update_existing_only: bool = Field(
        default=False, description="Only update users Braze knows (`_update_existing_only`): create none"
    )
    track_pages: Literal["none", "all", "named"] = Field(
        default="none", description="Page and screen calls as custom events: none, all, or only named ones"
    )
    send_anonymous_users: bool = Field(
        default=False, description="Events without a userId go to the anonymousId's alias-only profile"
    )
    alias_label: str = Field(
        default="anonymous_id", min_length=1, description="The alias label of anonymousIds (alias, anonymous users)"
    )
    max_objects_per_request: int = Field(
        default=MAX_OBJECTS_PER_REQUEST,
        ge=1,
        le=MAX_OBJECTS_PER_REQUEST,
        description="Objects per /users/track request (50 on Monthly Active Users CY 24-25 plans)",
    )

    @field_validator("instance", mode="before")
    @classmethod
    def _dashboard_names_too(cls, value: object) -> object:
        """`US-01` as well as `iad-01`; any case. An unknown one is refused by the enum, by name."""
        if isinstance(value, str):
            lowered = value.strip().lower()
            return INSTANCE_NAMES.get(lowered, lowered)
        return value


class Braze(DestinationType):
    name = "braze"
    title = "Braze"
    settings_model = BrazeSettings
    max_deletions_per_call = MAX_DELETIONS_PER_REQUEST

    def map(self, event: dict[str, Any], settings: BrazeSettings) -> list[Item] | Unsupported:
        kind = event.get("type")
        mapper = _MAPPERS.get(kind) if isinstance(kind, str) else None
        return UNKNOWN_TYPE if mapper is None else mapper(event, settings)

    def limits(self, channel: str, settings: BrazeSettings) -> Limits:
        if channel == TRACK:
            # The three array names and their brackets; the items' tags make the count generous.
            return Limits(settings.max_objects_per_request, MAX_REQUEST_BYTES, overhead_bytes=50)
        return Limits(MAX_ALIASES_PER_REQUEST, MAX_REQUEST_BYTES, overhead_bytes=len(ARRAYS[channel]) + 2)

    def call(self, channel: str, payloads: Sequence[bytes], settings: BrazeSettings, context: CallContext) -> HttpCall:
        url = self.base_url(settings, context.aws_region) + PATHS[channel]
        headers = {"Authorization": "Bearer " + settings.api_key}
        if channel != TRACK:
            return HttpCall("POST", url, ARRAYS[channel] + join_json_array(payloads) + b"}", headers)
        body, positions = track_body(payloads)
        return HttpCall("POST", url, body, headers, state=positions)

    def delete_call(self, user_ids: Sequence[str], settings: BrazeSettings, context: CallContext) -> HttpCall:
        url = self.base_url(settings, context.aws_region) + DELETE_PATH
        body = orjson.dumps({"external_ids": list(user_ids)})
        return HttpCall("POST", url, body, {"Authorization": "Bearer " + settings.api_key})

    def interpret_delete(self, call: Call, answer: Any, now: float) -> Verdict:
        if isinstance(answer, Answer) and answer.status == 429:
            return Verdict(AttemptStatus.RETRY, "429", throttled_for(answer, now))
        return uniform(answer, 1, now)[0]

    def base_url(self, settings: ToolSettings, aws_region: str) -> str:
        if settings.endpoint:
            return settings.endpoint.rstrip("/")
        if not isinstance(settings, BrazeSettings):
            raise TypeError(f"braze settings expected, got {type(settings).__name__}")
        return "https://" + rest_host(settings.instance)

    def residency_warning(self, settings: DestinationSettings, aws_region: str) -> str | None:
        if not aws_region.startswith("eu-") or not isinstance(settings, BrazeSettings) or settings.endpoint:
            return None
        if settings.instance in EU_INSTANCES:
            return None
        return f"sends to {rest_host(settings.instance)}, outside the EU (`instance: {settings.instance}`)"

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        if not isinstance(answer, Answer):
            return uniform(answer, count, now)
        status = answer.status
        if 200 <= status < 300 and isinstance(call, HttpCall) and call.state is not None:
            return refused_objects(answer, call.state, count)
        if status == 429:
            return [Verdict(AttemptStatus.RETRY, "429", throttled_for(answer, now))] * count
        if status == 413:
            return [SPLIT] * count if count > 1 else [TOO_LARGE]
        return uniform(answer, count, now)


BRAZE = Braze()


# -- the calls ------------------------------------------------------------------------------------

UNKNOWN_TYPE = Unsupported("unknown_type")
NO_EVENT_NAME = Unsupported("no_event_name")
NO_USER_ID = Unsupported("no_user_id")
NO_TIMESTAMP = Unsupported("no_timestamp")
PAGES_NOT_TRACKED = Unsupported("pages_not_tracked")
UNNAMED_PAGE = Unsupported("unnamed_page")


def _identify(event: dict[str, Any], settings: BrazeSettings) -> list[Item] | Unsupported:
    who = _who(event, settings)
    if who is None:
        return NO_USER_ID
    attributes = _custom_attributes(as_object(event.get("traits")), who)
    items = [Item(TRACK, (ATTRIBUTES, attributes))]
    user_id = who.get("external_id")
    if settings.send_anonymous_users and user_id is not None:
        anonymous_id = as_text(event.get("anonymousId"))
        if anonymous_id is not None and anonymous_id != user_id:
            items.append(Item(IDENTIFY, _alias_to_identify(user_id, anonymous_id, settings)))
    return items


def _track(event: dict[str, Any], settings: BrazeSettings) -> list[Item] | Unsupported:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return NO_EVENT_NAME
    properties = as_object(event.get("properties"))
    if name == ORDER_COMPLETED:
        products = properties.get("products")
        if isinstance(products, list) and products:
            return _purchases(event, settings, properties, products)
    return _custom_event(event, settings, name, properties)


def _page(event: dict[str, Any], settings: BrazeSettings) -> list[Item] | Unsupported:
    """A page or a screen, as Segment's "Track All Pages" / "Track Only Named Pages" send them."""
    if settings.track_pages == "none":
        return PAGES_NOT_TRACKED
    name, category = as_text(event.get("name")), as_text(event.get("category"))
    if settings.track_pages == "named" and name is None:
        return UNNAMED_PAGE
    page_name = page_event_name(event["type"], name, category, consolidated=False)
    return _custom_event(event, settings, page_name, as_object(event.get("properties")))


def _group(event: dict[str, Any], settings: BrazeSettings) -> list[Item] | Unsupported:
    group_id = as_text(event.get("groupId"))
    if group_id is None:
        return Unsupported("no_group_id")
    who = _who(event, settings)
    if who is None:
        return NO_USER_ID
    who[GROUP_ATTRIBUTE_PREFIX + group_id] = True
    return [Item(TRACK, (ATTRIBUTES, who))]


def _alias(event: dict[str, Any], settings: BrazeSettings) -> list[Item] | Unsupported:
    user_id, previous_id = as_text(event.get("userId")), as_text(event.get("previousId"))
    if user_id is None or previous_id is None:
        return Unsupported("no_user_or_previous_id")
    if user_id == previous_id:
        return []
    new_alias = {"external_id": user_id, "alias_name": previous_id, "alias_label": settings.alias_label}
    return [Item(IDENTIFY, _alias_to_identify(user_id, previous_id, settings)), Item(ALIAS, new_alias)]


_MAPPERS: dict[str, Callable[[dict[str, Any], BrazeSettings], list[Item] | Unsupported]] = {
    EventType.IDENTIFY: _identify,
    EventType.TRACK: _track,
    EventType.PAGE: _page,
    EventType.SCREEN: _page,
    EventType.GROUP: _group,
    EventType.ALIAS: _alias,
}


# -- pieces ---------------------------------------------------------------------------------------


def _who(event: dict[str, Any], settings: BrazeSettings) -> dict[str, Any] | None:
    """A new object naming the user: `external_id`, else Segment's `braze_id`, else (by setting)
    the anonymousId's alias-only profile, which Braze creates on first sight. None: nobody."""
    user_id = event.get("userId")
    if user_id.__class__ is not str or not user_id:  # the usual non-empty string needs no call
        user_id = as_text(user_id)
    if user_id is not None:
        if settings.update_existing_only:
            return {"external_id": user_id, "_update_existing_only": True}
        return {"external_id": user_id}
    integrations = event.get("integrations")
    if integrations:  # most often `{}`
        braze_id = as_text(as_object(as_object(integrations).get(INTEGRATION_NAME)).get("braze_id"))
        if braze_id is not None:
            return {"braze_id": braze_id}
    if settings.send_anonymous_users:
        anonymous_id = as_text(event.get("anonymousId"))
        if anonymous_id is not None:
            alias = {"alias_name": anonymous_id, "alias_label": settings.alias_label}
            return {"user_alias": alias, "_update_existing_only": False}
    return None


def _custom_event(
    event: dict[str, Any], settings: BrazeSettings, name: str, properties: Mapping[str, Any]
) -> list[Item] | Unsupported:
    mapped = _who(event, settings)
    if mapped is None:
        return NO_USER_ID
    time = _time(event)
    if time is None:
        return NO_TIMESTAMP
    if settings.app_id is not None:
        mapped["app_id"] = settings.app_id
    mapped["name"] = name
    mapped["time"] = time
    if properties:
        if not RESERVED_EVENT_PROPERTIES.isdisjoint(properties):
            properties = {key: value for key, value in properties.items() if key not in RESERVED_EVENT_PROPERTIES}
        mapped["properties"] = properties
    return [Item(TRACK, (EVENTS, mapped))]


def _purchases(
    event: dict[str, Any], settings: BrazeSettings, order: Mapping[str, Any], products: list[Any]
) -> list[Item] | Unsupported:
    """One purchase object per product of an Order Completed."""
    who = _who(event, settings)
    if who is None:
        return NO_USER_ID
    time = _time(event)
    if time is None:
        return NO_TIMESTAMP
    order_currency = as_text(order.get("currency")) or DEFAULT_CURRENCY
    items: list[Item] = []
    omitted: list[str] = []
    for product in products:
        product = as_object(product)
        product_id = as_text(product.get("product_id")) or as_text(product.get("id"))
        if product_id is None:
            omitted.append(PRODUCT_WITHOUT_ID)
            continue
        price = _number(product.get("price"))
        if price is None:
            omitted.append(PRODUCT_WITHOUT_PRICE)
            continue
        purchase = dict(who)
        if settings.app_id is not None:
            purchase["app_id"] = settings.app_id
        purchase["product_id"] = product_id
        purchase["currency"] = as_text(product.get("currency")) or order_currency
        purchase["price"] = price
        quantity = product.get("quantity")
        if isinstance(quantity, int) and not isinstance(quantity, bool) and 1 <= quantity <= MAX_PURCHASE_QUANTITY:
            purchase["quantity"] = quantity
        purchase["time"] = time
        properties = {key: value for key, value in product.items() if key not in PURCHASE_FIELDS}
        if properties:
            purchase["properties"] = properties
        items.append(Item(TRACK, (PURCHASES, purchase)))
    if items:
        if omitted:
            items[0] = items[0]._replace(omitted=tuple(omitted))
        return items
    # Nothing purchasable in it: the order goes as the custom event, telling what was left out.
    fallback = _custom_event(event, settings, ORDER_COMPLETED, order)
    if isinstance(fallback, Unsupported) or not omitted:
        return fallback
    return [fallback[0]._replace(omitted=tuple(omitted))]


def _custom_attributes(traits: Mapping[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
    """The traits on the user attributes object: Braze's standard fields by Segment's names, the
    others as custom attributes (which never replace the object's identifiers)."""
    for key, value in traits.items():
        if key not in NOT_CUSTOM_ATTRIBUTES and key not in attributes:
            attributes[key] = value
    if not traits:
        return attributes
    for trait, field in TRAIT_FIELDS.items():
        value = traits.get(trait)
        if value is not None and value != "":
            attributes[field] = value
    name = traits.get("name")
    if isinstance(name, str) and name and ("first_name" not in attributes or "last_name" not in attributes):
        first, _, last = name.strip().partition(" ")
        attributes.setdefault("first_name", first)
        if last:
            attributes.setdefault("last_name", last.strip())
    address = traits.get("address")
    if isinstance(address, dict):
        city, country = address.get("city"), address.get("country")
        if city:
            attributes["home_city"] = city
        if country:
            attributes["country"] = country
    birthday = traits.get("birthday")
    if birthday:
        dob = _date(birthday)
        if dob is not None:
            attributes["dob"] = dob
    gender = traits.get("gender")
    if isinstance(gender, str):
        braze_gender = GENDERS.get(gender.strip().lower())
        if braze_gender is not None:
            attributes["gender"] = braze_gender
    return attributes


def _alias_to_identify(user_id: str, alias_name: str, settings: BrazeSettings) -> dict[str, Any]:
    return {"external_id": user_id, "user_alias": {"alias_name": alias_name, "alias_label": settings.alias_label}}


def _time(event: Mapping[str, Any]) -> str | None:
    """ISO 8601 as Segment writes it (Braze takes it as it is), else when it was received."""
    time = event.get("timestamp") or event.get("receivedAt")
    return time if isinstance(time, str) and time else None


def _date(value: object) -> str | None:
    """YYYY-MM-DD, Braze's `dob`, from a date or a timestamp."""
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-" and value[:4].isdigit():
        return value[:10]
    moment = utc_time(value)
    return None if moment is None else moment.date().isoformat()


def _number(value: object) -> float | int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


# -- requests and answers -------------------------------------------------------------------------


def track_body(payloads: Sequence[bytes]) -> tuple[bytes, dict[str, list[int]]]:
    """The /users/track body from tagged items (`["events",{...}]`): each object cut out of its tag,
    in its array; and, per array, the positions of its objects among the items (for the answer)."""
    objects: dict[str, list[bytes]] = {}
    positions: dict[str, list[int]] = {}
    for position, payload in enumerate(payloads):
        array, start = _TAG_LENGTHS[payload[2]]
        found = objects.get(array)
        if found is None:
            found = objects[array] = []
            positions[array] = []
        found.append(payload[start:-1])
        positions[array].append(position)
    parts = [
        b'"' + array.encode() + b'":' + join_json_array(objects[array]) for array in TRACK_ARRAYS if array in objects
    ]
    return b"{" + b",".join(parts) + b"}", positions


def refused_objects(answer: Answer, positions: Mapping[str, list[int]], count: int) -> list[Verdict]:
    """A 2xx: the objects `errors` names by array and index were refused (final), the others taken."""
    delivered = Verdict(AttemptStatus.DELIVERED, str(answer.status))
    if b'"errors"' not in answer.body:  # the usual answer: nothing to parse
        return [delivered] * count
    try:
        body = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return [delivered] * count
    errors = as_object(body).get("errors")
    verdicts = [delivered] * count
    refused = Verdict(AttemptStatus.FINAL, f"{answer.status}.{INVALID_OBJECT_CODE}")
    for error in errors if isinstance(errors, list) else ():
        error = as_object(error)
        array_positions = positions.get(error.get("input_array"))  # type: ignore[arg-type]
        index = error.get("index")
        if array_positions is not None and isinstance(index, int) and 0 <= index < len(array_positions):
            verdicts[array_positions[index]] = refused
    return verdicts


def throttled_for(answer: Answer, now: float) -> float | None:
    """Seconds until Braze's window resets (`X-RateLimit-Reset`, UTC epoch seconds), else Retry-After."""
    reset = answer.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            pass
    return parse_retry_after(answer.headers.get("Retry-After"), now)
