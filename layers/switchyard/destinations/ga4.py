"""`type: ga4`: track and page calls to Google Analytics 4 through the Measurement Protocol.

`POST /mp/collect?measurement_id=G-...&api_secret=...` with `{"client_id", "user_id"?,
"user_properties"?, "events": [{"timestamp_micros", "name", "params"}]}`. A request's client, user
and user properties are shared by all its events, so the channel is that triple: one request
carries one client's events only, and `events_per_send` is one request's worth (25) so that
different clients' requests run `concurrency` at a time instead of one after another.

Mapping. Segment's e-commerce and lifecycle events become GA4's recommended events with their
parameters (`RECOMMENDED`), products become `items`; any other track keeps its name, snake_cased to
GA4's rules; a page call is `page_view`. The properties a recommended event does not consume go on
as custom parameters, after the recommended ones, so that the 25-parameter cap never cuts those.
identify, group, alias and screen have no Measurement Protocol counterpart for a web stream.

Limits. The Measurement Protocol answers 2xx whatever it then drops, so its limits are enforced
here: a parameter, item or user property that breaks one is left out and the event still goes.
`violations(event, settings)` lists what was left out of an event and why (the same code path as
`map`), for the Event Tester and for counting.

Time. Each event carries its own `timestamp_micros`. GA4 backdates events by at most 72 hours; an
event older than that when its request is built is not sent (`final`, `older_than_72_hours`): GA4
would drop it or file it under the wrong day, and a wrong day is worse than a visible discard. An
event dated after the request (a client clock ahead) goes without a timestamp: GA4 dates it on
arrival. Both need the clock, so they are decided in `call`, not in `map`.

Answers. 2xx delivered, 408/429/5xx retried (after `Retry-After` if sent), other 4xx final.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Literal, NamedTuple
from urllib.parse import quote

import orjson
from pydantic import Field, field_validator

from switchyard.delivery.attempts import AttemptStatus
from switchyard.destinations.base import (
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
from switchyard.timeutil import parse_timestamp

GA4_HOSTS = Hosts(us="www.google-analytics.com", eu="region1.google-analytics.com")
COLLECT_PATH = "/mp/collect"

# The Measurement Protocol's limits ("Sending events" > Limitations; "Event collection limits").
MAX_EVENTS_PER_REQUEST = 25
MAX_BODY_BYTES = 129_999  # "smaller than 130kB": below 130,000 and 133,120 alike
MAX_PARAMS_PER_EVENT = 25
MAX_NAME_CHARS = 40  # event and parameter names
MAX_VALUE_CHARS = 100
# Parameters GA4 lets run longer than 100 characters.
LONG_VALUE_CHARS: Mapping[str, int] = MappingProxyType({"page_location": 1000, "page_referrer": 420, "page_title": 300})
MAX_ITEMS_PER_EVENT = 200
MAX_USER_PROPERTIES = 25
MAX_USER_PROPERTY_NAME_CHARS = 24
MAX_USER_PROPERTY_VALUE_CHARS = 36
MAX_USER_ID_CHARS = 256
MAX_BACKDATE = timedelta(hours=72)

# Reserved by the Measurement Protocol ("Sending events" > Reserved names).
RESERVED_EVENT_NAMES = frozenset(
    {
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_query",
        "ad_reward",
        "adunit_exposure",
        "app_background",
        "app_clear_data",
        "app_exception",
        "app_remove",
        "app_store_refund",
        "app_store_subscription_cancel",
        "app_store_subscription_convert",
        "app_store_subscription_renew",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "firebase_campaign",
        "firebase_in_app_message_action",
        "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression",
        "first_open",
        "first_visit",
        "in_app_purchase",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "os_update",
        "session_start",
        "session_start_with_rollout",
        "user_engagement",
    }
)
RESERVED_PARAM_NAMES = frozenset({"firebase_conversion"})
RESERVED_USER_PROPERTY_NAMES = frozenset(
    {"first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id", "first_open_after_install"}
)
RESERVED_PREFIXES = ("google_", "ga_", "firebase_")

OLDER_THAN_72_HOURS = Verdict(AttemptStatus.FINAL, "older_than_72_hours")

_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_MAX_BACKDATE_MICROS = MAX_BACKDATE // _MICROSECOND
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Ga4Settings(RegionalSettings):
    """`type: ga4`: a GA4 web data stream's Measurement Protocol."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("api_secret",)

    measurement_id: str = Field(pattern=r"^G-[A-Z0-9]+$", description="The web stream's Measurement ID (G-...)")
    api_secret: SecretText = Field(min_length=8, description="A Measurement Protocol API secret of that stream")
    client_id_from: Literal["anonymous_id", "user_id"] = Field(
        default="anonymous_id", description="Which id is `client_id`; the other stands in when it is missing"
    )
    send_user_id: bool = Field(default=True, description="Send `userId` as GA4's `user_id` (no PII there)")
    engagement_time_msec: int = Field(
        default=1, ge=0, description="Sent with every event so GA4 counts the user as active (0: not sent)"
    )
    user_properties: tuple[str, ...] = Field(
        default=(), max_length=MAX_USER_PROPERTIES, description="Traits (`context.traits`) sent as user properties"
    )

    @field_validator("user_properties")
    @classmethod
    def _user_property_names_ga4_accepts(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            problem = name_problem(name, MAX_USER_PROPERTY_NAME_CHARS, RESERVED_USER_PROPERTY_NAMES)
            if problem is not None:
                raise ValueError(f"user property {name!r}: {problem.replace('_', ' ')}")
        return names


class Violation(NamedTuple):
    """Something left out of an event because GA4 would refuse it (or the whole event with it)."""

    field: str  # "params.<name>", "items[<i>].<name>", "user_properties.<name>", "event_name", "user_id"
    reason: str


class Recommended(NamedTuple):
    """A GA4 recommended event: its parameters from Segment's properties (first present wins)."""

    name: str
    params: tuple[tuple[str, tuple[str, ...]], ...]
    items: Literal["products", "product", "none"]  # `products[]`, the properties themselves, or none


# Segment product fields -> GA4 item parameters (as Segment's own GA4 destination maps them).
ITEM_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("item_id", ("product_id", "sku")),
    ("item_name", ("name",)),
    ("affiliation", ("affiliation",)),
    ("coupon", ("coupon",)),
    ("index", ("position",)),
    ("item_brand", ("brand",)),
    ("item_category", ("category",)),
    ("item_variant", ("variant",)),
    ("price", ("price",)),
    ("quantity", ("quantity",)),
)

_CURRENCY = ("currency", ("currency",))
_ONE_PRODUCT_VALUE = ("value", ("value", "price"))
_CART_VALUE = ("value", ("value", "revenue", "total"))
_ORDER = (
    ("transaction_id", ("order_id",)),
    ("value", ("total", "revenue", "value")),
    _CURRENCY,
    ("affiliation", ("affiliation",)),
    ("coupon", ("coupon",)),
    ("shipping", ("shipping",)),
    ("tax", ("tax",)),
)
_PROMOTION = (
    ("promotion_id", ("promotion_id",)),
    ("promotion_name", ("name",)),
    ("creative_name", ("creative",)),
    ("creative_slot", ("position",)),
)

# Segment's spec event names -> GA4 recommended events.
RECOMMENDED: Mapping[str, Recommended] = MappingProxyType(
    {
        "Products Searched": Recommended("search", (("search_term", ("query",)),), "none"),
        "Product List Viewed": Recommended(
            "view_item_list", (("item_list_id", ("list_id",)), ("item_list_name", ("category",))), "products"
        ),
        "Product Clicked": Recommended("select_item", (), "product"),
        "Product Viewed": Recommended("view_item", (_CURRENCY, _ONE_PRODUCT_VALUE), "product"),
        "Product Added": Recommended("add_to_cart", (_CURRENCY, _ONE_PRODUCT_VALUE), "product"),
        "Product Removed": Recommended("remove_from_cart", (_CURRENCY, _ONE_PRODUCT_VALUE), "product"),
        "Product Added to Wishlist": Recommended("add_to_wishlist", (_CURRENCY, _ONE_PRODUCT_VALUE), "product"),
        "Cart Viewed": Recommended("view_cart", (_CURRENCY, _CART_VALUE), "products"),
        "Checkout Started": Recommended(
            "begin_checkout", (_CURRENCY, _CART_VALUE, ("coupon", ("coupon",))), "products"
        ),
        "Payment Info Entered": Recommended(
            "add_payment_info",
            (_CURRENCY, _CART_VALUE, ("coupon", ("coupon",)), ("payment_type", ("payment_method",))),
            "products",
        ),
        "Order Completed": Recommended("purchase", _ORDER, "products"),
        "Order Refunded": Recommended("refund", _ORDER, "products"),
        "Promotion Viewed": Recommended("view_promotion", _PROMOTION, "none"),
        "Promotion Clicked": Recommended("select_promotion", _PROMOTION, "none"),
        "Signed Up": Recommended("sign_up", (("method", ("method", "type")),), "none"),
        "Signed In": Recommended("login", (("method", ("method",)),), "none"),
    }
)
PRODUCT_LINKS = ("url", "image_url")
NUMBER_PARAMS = frozenset({"value", "tax", "shipping", "price", "quantity", "index", "discount"})
# ITEM_FIELDS keyed by Segment's product field: (item parameter, whether a number). `sku` is kept
# apart (under its own name, which no item parameter has) until the product is read, as it only
# stands in for a missing `product_id`.
_SKU = "sku"
_PRODUCT_TARGETS: dict[str, tuple[str, bool]] = {
    key: (_SKU if key == "sku" else param, param in NUMBER_PARAMS) for param, keys in ITEM_FIELDS for key in keys
}
CURRENCY_PARAMS = frozenset({"currency"})

# page_view: (parameter, property, context.page field); the page call's `name` is the last resort title.
PAGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("page_location", "url"),
    ("page_title", "title"),
    ("page_referrer", "referrer"),
)
# Page properties that say nothing page_location does not (not repeated as custom parameters).
PAGE_CONSUMED = frozenset({"url", "title", "referrer", "path", "search"})

UNSUPPORTED_CALLS: Mapping[str, str] = MappingProxyType(
    {
        EventType.IDENTIFY: "no_user_profile_api",
        EventType.GROUP: "no_group_api",
        EventType.ALIAS: "no_alias_api",
        EventType.SCREEN: "screen_needs_an_app_stream",
    }
)


def _consumed(spec: Recommended) -> frozenset[str]:
    """The properties a recommended event maps, so they are not repeated as custom parameters."""
    keys = {key for _, sources in spec.params for key in sources}
    if spec.items == "products":
        keys.add("products")
    elif spec.items == "product":
        # The product's fields, and those GA4 items have no place for (links to the product).
        keys.update(key for _, sources in ITEM_FIELDS for key in sources)
        keys.update(PRODUCT_LINKS)
    return frozenset(keys)


_CONSUMED: Mapping[str, frozenset[str]] = MappingProxyType(
    {name: _consumed(spec) for name, spec in RECOMMENDED.items()}
)


@dataclass(slots=True)
class Ga4Call(HttpCall):
    """The request, and which of its events were left out of it for being older than 72 hours."""

    too_old: tuple[int, ...] = ()


class Ga4(DestinationType):
    name = "ga4"
    title = "Google Analytics 4"
    settings_model = Ga4Settings
    calls = (EventType.TRACK, EventType.PAGE)
    hosts = GA4_HOSTS

    def map(self, event: dict[str, Any], settings: Ga4Settings) -> list[Item] | Unsupported:
        return _map(event, settings, None)

    def limits(self, channel: str, settings: Ga4Settings) -> Limits:
        # The envelope, then "[" "]" and "}"; less one, as the driver counts a separator per item.
        return Limits(MAX_EVENTS_PER_REQUEST, MAX_BODY_BYTES, overhead_bytes=len(_envelope(channel)) + 2)

    def events_per_send(self, settings: Ga4Settings) -> int:
        return MAX_EVENTS_PER_REQUEST

    def hidden_values(self, settings: Ga4Settings) -> list[str]:
        """The secret as it appears in the URL, when quoting changed it (masking knows the raw one)."""
        quoted = quote(settings.api_secret, safe="")
        return [quoted] if quoted != settings.api_secret else []

    def call(self, channel: str, payloads: Sequence[bytes], settings: Ga4Settings, context: CallContext) -> Ga4Call:
        now = int(context.now * 1_000_000)
        events, too_old = _dated_for(payloads, now)
        body = _envelope(channel) + join_json_array(events) + b"}"
        query = f"?measurement_id={settings.measurement_id}&api_secret={quote(settings.api_secret, safe='')}"
        url = self.base_url(settings, context.aws_region) + COLLECT_PATH + query
        return Ga4Call("POST", url, body, {}, too_old)

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        verdicts = uniform(answer, count, now)
        for index in call.too_old if isinstance(call, Ga4Call) else ():
            verdicts[index] = OLDER_THAN_72_HOURS
        return verdicts


GA4 = Ga4()


def violations(event: dict[str, Any], settings: Ga4Settings) -> list[Violation]:
    """What `map` leaves out of the event to stay within GA4's limits (empty when unsupported)."""
    found: list[Violation] = []
    _map(event, settings, found)
    return found


# -- mapping -------------------------------------------------------------------------------------


def _map(event: dict[str, Any], settings: Ga4Settings, found: list[Violation] | None) -> list[Item] | Unsupported:
    kind = event.get("type")
    if kind == EventType.TRACK:
        return _track(event, settings, found)
    if kind == EventType.PAGE:
        return _page(event, settings, found)
    return Unsupported(UNSUPPORTED_CALLS.get(kind, "unknown_type"))


def _track(event: dict[str, Any], settings: Ga4Settings, found: list[Violation] | None) -> list[Item] | Unsupported:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return Unsupported("no_event_name")
    properties = _object(event.get("properties"))
    spec = RECOMMENDED.get(name)
    if spec is not None:
        params = _recommended_params(spec, properties, found)
        return _item(event, settings, spec.name, params, properties, _CONSUMED[name], found)
    ga4_name, problem = event_name(name)
    if problem == "event_name_truncated":
        _note(found, "event_name", problem)
    elif problem is not None:
        return Unsupported(problem)
    return _item(event, settings, ga4_name, {}, properties, frozenset(), found)


def _page(event: dict[str, Any], settings: Ga4Settings, found: list[Violation] | None) -> list[Item] | Unsupported:
    properties = _object(event.get("properties"))
    page = _object(_object(event.get("context")).get("page"))
    params: dict[str, Any] = {}
    for param, field in PAGE_FIELDS:
        value = properties.get(field) or page.get(field)
        if param == "page_title" and not value:
            value = event.get("name")
        if value:
            _put_text(params, param, value, found)
    return _item(event, settings, "page_view", params, properties, PAGE_CONSUMED, found)


def _recommended_params(
    spec: Recommended, properties: Mapping[str, Any], found: list[Violation] | None
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for param, sources in spec.params:
        value = _first(properties, sources)
        if value is not None:
            _put_typed(params, param, value, found, "params.")
    if spec.items == "products":
        products = properties.get("products")
        if isinstance(products, list):
            params["items"] = _items(products, found)
    elif spec.items == "product":
        params["items"] = _items([properties], found)
    return params


def _items(products: list[Any], found: list[Violation] | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for index, product in enumerate(products):
        if len(items) == MAX_ITEMS_PER_EVENT:
            _note(found, f"items[{index}]", "too_many_items")
            continue
        item = _item_of(product, index, found) if isinstance(product, dict) else {}
        if "item_id" in item or "item_name" in item:
            items.append(item)
        else:
            _note(found, f"items[{index}]", "item_without_id_or_name")
    return items


def _item_of(product: dict[str, Any], index: int, found: list[Violation] | None) -> dict[str, Any]:
    """A product's item parameters. Walks the product's own keys, one lookup each (the events with
    many products are the costly ones); `sku` stands in for a missing `product_id`."""
    item: dict[str, Any] = {}
    targets = _PRODUCT_TARGETS
    for key, value in product.items():
        target = targets.get(key)
        if target is None:
            continue
        name, numeric = target
        kind = value.__class__
        if kind is str and value and not numeric and len(value) <= MAX_VALUE_CHARS:
            item[name] = value  # the usual case, first
        elif kind is int or kind is float:
            item[name] = value if numeric else str(value)
        elif value is not None and value != "":
            _put_typed(item, name, value, found, f"items[{index}].")
    sku = item.pop(_SKU, None)
    if sku is not None and "item_id" not in item:
        item["item_id"] = sku
    return item


def _item(
    event: dict[str, Any],
    settings: Ga4Settings,
    name: str,
    params: dict[str, Any],
    properties: Mapping[str, Any],
    consumed: frozenset[str],
    found: list[Violation] | None,
) -> list[Item] | Unsupported:
    """The event's item: identity as the channel, the event (timestamp first, see `_dated_for`)."""
    channel = _channel(event, settings, found)
    if channel is None:
        return Unsupported("no_user_or_anonymous_id")
    if settings.engagement_time_msec and "engagement_time_msec" not in properties:
        params["engagement_time_msec"] = settings.engagement_time_msec
    _put_custom_params(params, properties, consumed, found)
    payload: dict[str, Any] = {}
    micros = _timestamp_micros(event.get("timestamp"))
    if micros is not None:
        payload["timestamp_micros"] = micros
    payload["name"] = name
    payload["params"] = params
    return [Item(channel, payload)]


def _channel(event: dict[str, Any], settings: Ga4Settings, found: list[Violation] | None) -> str | None:
    """One request's shared identity: [client_id, user_id, user_properties] as JSON."""
    user_id, anonymous_id = identity(event)
    client_id = (anonymous_id or user_id) if settings.client_id_from == "anonymous_id" else (user_id or anonymous_id)
    if client_id is None:
        return None
    if not settings.send_user_id:
        user_id = None
    elif user_id is not None and len(user_id) > MAX_USER_ID_CHARS:
        _note(found, "user_id", "value_too_long")
        user_id = None
    properties = _user_properties(event, settings, found) if settings.user_properties else None
    return orjson.dumps((client_id, user_id, properties)).decode()


def _user_properties(
    event: dict[str, Any], settings: Ga4Settings, found: list[Violation] | None
) -> dict[str, Any] | None:
    traits = _object(_object(event.get("context")).get("traits"))
    properties: dict[str, Any] = {}
    for name in settings.user_properties:
        value = traits.get(name)
        if value is None:
            continue
        if value.__class__ is bool:
            value = "true" if value else "false"
        if not isinstance(value, (str, int, float)):
            _note(found, f"user_properties.{name}", "value_not_scalar")
        elif isinstance(value, str) and len(value) > MAX_USER_PROPERTY_VALUE_CHARS:
            _note(found, f"user_properties.{name}", "value_too_long")
        else:
            properties[name] = {"value": value}
    return properties or None


def _put_custom_params(
    params: dict[str, Any], properties: Mapping[str, Any], consumed: frozenset[str], found: list[Violation] | None
) -> None:
    """The properties not mapped yet, under GA4 names, within the 25-parameter cap."""
    names = _param_names
    for key, value in properties.items():
        if value is None or key in consumed:
            continue
        name, problem = names.get(key) or param_name(key)
        if problem is not None:
            _note(found, f"params.{key}", problem)
        elif name in params:
            _note(found, f"params.{key}", "param_name_duplicate")
        else:
            kind = value.__class__
            if (kind is str and len(value) <= MAX_VALUE_CHARS) or kind is int or kind is float:
                params[name] = value  # the usual cases, first
            else:
                _put_scalar(params, name, value, found)
    if len(params) > MAX_PARAMS_PER_EVENT:
        for name in list(params)[MAX_PARAMS_PER_EVENT:]:
            del params[name]
            _note(found, f"params.{name}", "too_many_params")


# -- values ---------------------------------------------------------------------------------------


def _put_typed(target: dict[str, Any], name: str, value: Any, found: list[Violation] | None, where: str) -> None:
    """A recommended parameter: a number, a currency code, or text (ids may come as numbers)."""
    if name in NUMBER_PARAMS:
        number = _number(value)
        if number is None:
            _note(found, where + name, "not_a_number")
        else:
            target[name] = number
    elif name in CURRENCY_PARAMS:
        if isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha():
            target[name] = value.upper()
        else:
            _note(found, where + name, "currency_invalid")
    elif value.__class__ in (int, float):
        target[name] = str(value)
    else:
        _put_text(target, name, value, found, where)


def _put_text(
    target: dict[str, Any], name: str, value: Any, found: list[Violation] | None, where: str = "params."
) -> None:
    if not isinstance(value, str):
        _note(found, where + name, "value_not_scalar")
    elif len(value) > LONG_VALUE_CHARS.get(name, MAX_VALUE_CHARS):
        _note(found, where + name, "value_too_long")
    else:
        target[name] = value


def _put_scalar(target: dict[str, Any], name: str, value: Any, found: list[Violation] | None) -> None:
    """A custom parameter: GA4 takes strings and numbers; a boolean goes as "true"/"false"."""
    kind = value.__class__
    if kind is str:
        if len(value) > LONG_VALUE_CHARS.get(name, MAX_VALUE_CHARS):
            _note(found, "params." + name, "value_too_long")
        else:
            target[name] = value
    elif kind is int or kind is float:
        target[name] = value
    elif kind is bool:
        target[name] = "true" if value else "false"
    else:
        _note(found, "params." + name, "value_not_scalar")


def _number(value: Any) -> int | float | None:
    """A number, or a numeric string (some SDKs send prices as text); never a boolean."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _timestamp_micros(value: object) -> int | None:
    if isinstance(value, str) and value.endswith("Z"):  # the form ingest stores: parsed directly
        try:
            return (datetime.fromisoformat(value[:-1]) - _EPOCH) // _MICROSECOND
        except ValueError:
            pass
    moment = parse_timestamp(value)
    return None if moment is None else (moment - _EPOCH) // _MICROSECOND


# -- names ----------------------------------------------------------------------------------------

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NOT_NAME = re.compile(r"[\W_]+")
_NOT_WORD = re.compile(r"\W")
# Names seen before: a few hundred distinct ones in practice; cleared if a client invents thousands.
_NAME_CACHE_SIZE = 10_000
_event_names: dict[str, tuple[str, str | None]] = {}
_param_names: dict[str, tuple[str, str | None]] = {}


def snake_case(name: str) -> str:
    """`Video Played` -> `video_played`, `orderType` -> `order_type` (letters, digits, underscores)."""
    return _NOT_NAME.sub("_", _CAMEL_BOUNDARY.sub("_", name)).strip("_").lower()


def name_problem(name: str, max_chars: int, reserved: frozenset[str]) -> str | None:
    """Why GA4 would refuse a (snake_cased) name, or None: it must start with a letter and hold
    only letters, digits and underscores, be no reserved name or prefix, and be short enough."""
    if not name or not name[0].isalpha() or _NOT_WORD.search(name):
        return "name_invalid"
    if name in reserved or name.startswith(RESERVED_PREFIXES):
        return "name_reserved"
    if len(name) > max_chars:
        return "name_too_long"
    return None


def event_name(name: str) -> tuple[str, str | None]:
    """The GA4 name of a custom event and, if it cannot go as is, why: `event_name_truncated` (it
    goes cut to 40 characters), `invalid_event_name` or `reserved_event_name` (it cannot go)."""
    known = _event_names.get(name)
    if known is None:
        known = _remember(_event_names, name, _event_name(name))
    return known


def _event_name(name: str) -> tuple[str, str | None]:
    snake = snake_case(name)
    problem = name_problem(snake, MAX_NAME_CHARS, RESERVED_EVENT_NAMES)
    if problem == "name_too_long":
        truncated = snake[:MAX_NAME_CHARS].rstrip("_")
        if name_problem(truncated, MAX_NAME_CHARS, RESERVED_EVENT_NAMES) is None:
            return truncated, "event_name_truncated"
    if problem is None:
        return snake, None
    return snake, "reserved_event_name" if problem == "name_reserved" else "invalid_event_name"


def param_name(key: str) -> tuple[str, str | None]:
    """The GA4 name of a property, and why it cannot be a parameter if it cannot."""
    known = _param_names.get(key)
    if known is None:
        snake = snake_case(key)
        problem = name_problem(snake, MAX_NAME_CHARS, RESERVED_PARAM_NAMES)
        known = _remember(_param_names, key, (snake, None if problem is None else "param_" + problem))
    return known


def _remember(
    cache: dict[str, tuple[str, str | None]], key: str, value: tuple[str, str | None]
) -> tuple[str, str | None]:
    if len(cache) >= _NAME_CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


# -- requests -------------------------------------------------------------------------------------

_TIMESTAMP_KEY = b'{"timestamp_micros":'


def _envelope(channel: str) -> bytes:
    """The request body up to its events array: `{"client_id":..,"user_id":..,..,"events":`."""
    client_id, user_id, user_properties = orjson.loads(channel)
    envelope: dict[str, Any] = {"client_id": client_id}
    if user_id is not None:
        envelope["user_id"] = user_id
    if user_properties:
        envelope["user_properties"] = user_properties
    return orjson.dumps(envelope)[:-1] + b',"events":'


def _dated_for(payloads: Sequence[bytes], now_micros: int) -> tuple[list[bytes], tuple[int, ...]]:
    """The events to send at `now`, and the indexes of those too old to: an event dated after `now`
    loses its timestamp. Each serialized event starts with its timestamp (see `_item`), so this
    reads it without parsing the event."""
    events: list[bytes] = []
    too_old: list[int] = []
    oldest = now_micros - _MAX_BACKDATE_MICROS
    start = len(_TIMESTAMP_KEY)
    for index, payload in enumerate(payloads):
        if not payload.startswith(_TIMESTAMP_KEY):
            events.append(payload)
            continue
        end = payload.index(b",", start)
        micros = int(payload[start:end])
        if micros < oldest:
            too_old.append(index)
        elif micros > now_micros:
            events.append(b"{" + payload[end + 1 :])
        else:
            events.append(payload)
    return events, tuple(too_old)


# -- small helpers --------------------------------------------------------------------------------


def _note(found: list[Violation] | None, field: str, reason: str) -> None:
    if found is not None:
        found.append(Violation(field, reason))


def _first(values: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = values.get(key)
        if value is not None and value != "":
            return value
    return None


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else _EMPTY
