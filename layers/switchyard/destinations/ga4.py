"""`type: ga4`: track and page calls to Google Analytics 4 through the Measurement Protocol.

`POST /mp/collect?measurement_id=G-...&api_secret=...` with `{"client_id", "user_id"?,
"user_properties"?, "events": [{"timestamp_micros", "name", "params"}]}`. A request's client, user
and user properties are shared by all its events, so the channel is the body up to its events
array, which holds them: one request carries one client's events only, and `events_per_send` is one
request's worth (25) so that different clients' requests run `concurrency` at a time instead of one
after another.

Mapping. Segment's e-commerce and lifecycle events become GA4's recommended events with their
parameters (`RECOMMENDED`), products become `items`; any other track keeps its name, snake_cased to
GA4's rules; a page call is `page_view`. The properties a recommended event does not consume go on
as custom parameters, after the recommended ones, so that the 25-parameter cap never cuts those.
identify, group, alias and screen have no Measurement Protocol counterpart for a web stream.

Limits. The Measurement Protocol answers 2xx whatever it then drops, so its limits are enforced
here: a parameter, item or user property that breaks one is left out and the event still goes.
The event's item names what was left out, one reason code per thing (`Item.omitted`, found while
mapping), and Event Delivery counts each as `omitted.<reason>`:

- `event_name_truncated`: a custom event's name over 40 characters, sent cut to 40;
- `user_id_too_long`: a `userId` over 256 characters (the event goes without `user_id`);
- `user_property_value_too_long`, `user_property_value_not_scalar`: a configured trait over 36
  characters, or an object or a list;
- `param_name_invalid`, `param_name_reserved`, `param_name_too_long`: a property whose snake_cased
  name GA4 refuses (not starting with a letter; a reserved name or prefix; over 40 characters);
- `param_name_duplicate`: a property whose GA4 name an earlier one took (`videoTitle`, `Video Title`);
- `param_value_too_long`, `param_value_not_scalar`: a parameter value over 100 characters (`page_*`
  may run longer), or an object or a list;
- `param_value_not_a_number`, `param_value_not_a_currency`: a recommended parameter that must be a
  number (`value`, `tax`, `shipping`) or a currency code and is not;
- `too_many_params`: each parameter past the 25th;
- `item_value_too_long`, `item_value_not_scalar`, `item_value_not_a_number`: a product field, as
  for parameters (the item goes without it);
- `item_without_id_or_name`: a product with neither an id nor a name;
- `too_many_items`: each product past the 200th.

Time. Each event carries its own `timestamp_micros`. GA4 backdates events by at most 72 hours; an
event older than that when its request is built is not sent (`final`, `older_than_72_hours`): GA4
would drop it or file it under the wrong day, and a wrong day is worse than a visible discard. When
every event of a request is that old, no request is made. An event dated after the request (a
client clock ahead) goes without a timestamp: GA4 dates it on arrival. Both need the clock, so they
are decided in `call`, not in `map`.

Answers. 2xx delivered, 408/429/5xx retried (after `Retry-After` if sent), other 4xx final.

Mapping and requests run per event: tables are read once per event, refusals are shared constants,
and the request's URL is built once per destination (see `mapping.py` on why each step counts).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Literal, NamedTuple, TypeVar
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
    NoCall,
    RegionalSettings,
    SecretText,
    Unsupported,
    Verdict,
    identity,
    new_item,
    uniform,
)
from switchyard.destinations.mapping import EMPTY, utc_time

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

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MAX_BACKDATE_MICROS = MAX_BACKDATE // _MICROSECOND

# What was left out of an event (`Item.omitted`), see the module's docstring; `param_name(key)`
# gives the three `param_name_*` reasons of a property's name.
EVENT_NAME_TRUNCATED = "event_name_truncated"
USER_ID_TOO_LONG = "user_id_too_long"
USER_PROPERTY_VALUE_TOO_LONG = "user_property_value_too_long"
USER_PROPERTY_VALUE_NOT_SCALAR = "user_property_value_not_scalar"
PARAM_NAME_DUPLICATE = "param_name_duplicate"
PARAM_VALUE_NOT_A_CURRENCY = "param_value_not_a_currency"
TOO_MANY_PARAMS = "too_many_params"
ITEM_WITHOUT_ID_OR_NAME = "item_without_id_or_name"
TOO_MANY_ITEMS = "too_many_items"


class ValueReasons(NamedTuple):
    """Why a value was left out, by where it was going (a parameter, an item)."""

    too_long: str
    not_scalar: str
    not_a_number: str


PARAM_VALUE = ValueReasons("param_value_too_long", "param_value_not_scalar", "param_value_not_a_number")
ITEM_VALUE = ValueReasons("item_value_too_long", "item_value_not_scalar", "item_value_not_a_number")
OMITTED_REASONS = frozenset(
    {
        EVENT_NAME_TRUNCATED,
        USER_ID_TOO_LONG,
        USER_PROPERTY_VALUE_TOO_LONG,
        USER_PROPERTY_VALUE_NOT_SCALAR,
        "param_name_invalid",
        "param_name_reserved",
        "param_name_too_long",
        PARAM_NAME_DUPLICATE,
        *PARAM_VALUE,
        PARAM_VALUE_NOT_A_CURRENCY,
        TOO_MANY_PARAMS,
        *ITEM_VALUE,
        ITEM_WITHOUT_ID_OR_NAME,
        TOO_MANY_ITEMS,
    }
)


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
# ITEM_FIELDS keyed by Segment's product field, text and numbers apart: the item parameter. `sku`
# is kept apart (under its own name, which no item parameter has) until the product is read, as it
# only stands in for a missing `product_id`.
_SKU = "sku"
_PRODUCT_TEXT: dict[str, str] = {
    key: _SKU if key == "sku" else param for param, keys in ITEM_FIELDS if param not in NUMBER_PARAMS for key in keys
}
_PRODUCT_NUMBERS: dict[str, str] = {key: param for param, keys in ITEM_FIELDS if param in NUMBER_PARAMS for key in keys}
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


# How a recommended parameter's value is checked.
ValueKind = Literal["number", "currency", "text"]


class _Prepared(NamedTuple):
    """A recommended event as mapping reads it: each parameter with how its value is checked, and
    the properties it consumes."""

    name: str
    params: tuple[tuple[str, tuple[str, ...], ValueKind], ...]
    items: Literal["products", "product", "none"]
    consumed: frozenset[str]


def _value_kind(param: str) -> ValueKind:
    if param in NUMBER_PARAMS:
        return "number"
    return "currency" if param in CURRENCY_PARAMS else "text"


def _prepared(spec: Recommended) -> _Prepared:
    params = tuple((param, sources, _value_kind(param)) for param, sources in spec.params)
    return _Prepared(spec.name, params, spec.items, _consumed(spec))


# Plain dicts: read per event, where a MappingProxyType's look-up costs more.
_PREPARED: dict[str, _Prepared] = {name: _prepared(spec) for name, spec in RECOMMENDED.items()}
_LONG_VALUE_CHARS: dict[str, int] = dict(LONG_VALUE_CHARS)
# page_view's parameters: (parameter, property and context.page field, longest value).
_PAGE_PARAMS: tuple[tuple[str, str, int], ...] = tuple(
    (param, field, LONG_VALUE_CHARS.get(param, MAX_VALUE_CHARS)) for param, field in PAGE_FIELDS
)
_NOTHING_CONSUMED: frozenset[str] = frozenset()

# Refusals, shared by every event they concern.
UNKNOWN_TYPE = Unsupported("unknown_type")
NO_EVENT_NAME = Unsupported("no_event_name")
NO_USER_OR_ANONYMOUS_ID = Unsupported("no_user_or_anonymous_id")
_REFUSED_CALLS: dict[str, Unsupported] = {kind: Unsupported(reason) for kind, reason in UNSUPPORTED_CALLS.items()}
_REFUSED_NAMES: dict[str, Unsupported] = {
    reason: Unsupported(reason) for reason in ("invalid_event_name", "reserved_event_name")
}


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
        kind = event.get("type")
        if not isinstance(kind, str):
            return UNKNOWN_TYPE
        mapper = _MAPPERS.get(kind)
        return _REFUSED_CALLS.get(kind, UNKNOWN_TYPE) if mapper is None else mapper(event, settings)

    def limits(self, channel: str, settings: Ga4Settings) -> Limits:
        # The channel is the envelope, in bytes as long as its text when ASCII (the usual ids).
        return _limits(len(channel) if channel.isascii() else len(channel.encode()))

    def events_per_send(self, settings: Ga4Settings) -> int:
        return MAX_EVENTS_PER_REQUEST

    def hidden_values(self, settings: Ga4Settings) -> list[str]:
        """The secret as it appears in the URL, when quoting changed it (masking knows the raw one)."""
        quoted = quote(settings.api_secret, safe="")
        return [quoted] if quoted != settings.api_secret else []

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: Ga4Settings, context: CallContext
    ) -> Ga4Call | NoCall:
        events, too_old = _dated_for(payloads, int(context.now * 1_000_000))
        if not events:  # all too old: GA4 would answer 2xx to a request with no event
            return NoCall([OLDER_THAN_72_HOURS] * len(payloads))
        body = b"".join((channel.encode(), b"[", b",".join(events), b"]}"))
        return Ga4Call("POST", self.collect_url(settings, context.aws_region), body, EMPTY, too_old=too_old)

    def collect_url(self, settings: Ga4Settings, aws_region: str) -> str:
        """The Measurement Protocol's URL for the settings: the same for every request of a
        destination, so built once (GA4 requests are many and small, one client's each)."""
        key = (settings.measurement_id, settings.api_secret, settings.endpoint, settings.region, aws_region)
        url = _collect_urls.get(key)
        if url is None:
            query = f"?measurement_id={settings.measurement_id}&api_secret={quote(settings.api_secret, safe='')}"
            url = _remember(_collect_urls, key, self.base_url(settings, aws_region) + COLLECT_PATH + query)
        return url

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        verdicts = uniform(answer, count, now)
        for index in call.too_old if isinstance(call, Ga4Call) else ():
            verdicts[index] = OLDER_THAN_72_HOURS
        return verdicts


GA4 = Ga4()


# -- mapping -------------------------------------------------------------------------------------
# Each function appends to `omitted` a reason for each thing it leaves out (see the docstring).


def _track(event: dict[str, Any], settings: Ga4Settings) -> list[Item] | Unsupported:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return NO_EVENT_NAME
    properties = event.get("properties")
    if not isinstance(properties, dict):
        properties = EMPTY
    omitted: list[str] = []
    spec = _PREPARED.get(name)
    if spec is not None:
        params = _recommended_params(spec, properties, omitted)
        return _item(event, settings, spec.name, params, properties, spec.consumed, omitted)
    ga4_name, problem = event_name(name)
    if problem is not None:
        refused = _REFUSED_NAMES.get(problem)
        if refused is not None:
            return refused
        omitted.append(problem)  # cut to 40 characters, and sent
    return _item(event, settings, ga4_name, {}, properties, _NOTHING_CONSUMED, omitted)


def _page(event: dict[str, Any], settings: Ga4Settings) -> list[Item] | Unsupported:
    properties = event.get("properties")
    if not isinstance(properties, dict):
        properties = EMPTY
    context = event.get("context")
    page = context.get("page") if isinstance(context, dict) else None
    if not isinstance(page, dict):
        page = EMPTY
    params: dict[str, Any] = {}
    omitted: list[str] = []
    for param, field, longest in _PAGE_PARAMS:
        value = properties.get(field) or page.get(field)
        if not value and param == "page_title":
            value = event.get("name")
        if not value:
            continue
        if value.__class__ is str and len(value) <= longest:
            params[param] = value  # the usual case, first
        else:
            _put_text(params, param, value, PARAM_VALUE, omitted)
    return _item(event, settings, "page_view", params, properties, PAGE_CONSUMED, omitted)


# The mapping of each call GA4 takes, by its type.
_MAPPERS: dict[str, Callable[[dict[str, Any], Ga4Settings], list[Item] | Unsupported]] = {
    EventType.TRACK.value: _track,
    EventType.PAGE.value: _page,
}


def _recommended_params(spec: _Prepared, properties: Mapping[str, Any], omitted: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    value_of = properties.get
    for param, sources, kind in spec.params:
        for source in sources:  # the first one set
            value = value_of(source)
            if value is None or value == "":
                continue
            value_class = value.__class__
            if kind == "number" and (value_class is float or value_class is int):
                params[param] = value  # the usual cases, first
            elif kind == "currency" and value_class is str and len(value) == 3 and value.isascii() and value.isalpha():
                params[param] = value.upper()
            else:
                _put_recommended(params, param, kind, value, omitted)
            break
    if spec.items == "product":
        item = _item_of(properties, omitted)
        params["items"] = [item] if _is_item(item, omitted) else []
    elif spec.items == "products":
        products = properties.get("products")
        if isinstance(products, list):
            params["items"] = _items(products, omitted)
    return params


def _put_recommended(params: dict[str, Any], name: str, kind: ValueKind, value: Any, omitted: list[str]) -> None:
    """A recommended parameter: a number, a currency code, or text (ids may come as numbers)."""
    if kind == "number":
        _put_number(params, name, value, PARAM_VALUE, omitted)
    elif kind == "currency":
        if isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha():
            params[name] = value.upper()
        else:
            omitted.append(PARAM_VALUE_NOT_A_CURRENCY)
    elif value.__class__ is int or value.__class__ is float:
        params[name] = str(value)
    else:
        _put_text(params, name, value, PARAM_VALUE, omitted)


def _items(products: list[Any], omitted: list[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for product in products:
        if len(items) == MAX_ITEMS_PER_EVENT:
            omitted.append(TOO_MANY_ITEMS)
            continue
        item = _item_of(product, omitted) if isinstance(product, dict) else {}
        if _is_item(item, omitted):
            items.append(item)
    return items


def _is_item(item: dict[str, Any], omitted: list[str]) -> bool:
    """Whether GA4 takes the item: it needs an id or a name."""
    if "item_id" in item or "item_name" in item:
        return True
    omitted.append(ITEM_WITHOUT_ID_OR_NAME)
    return False


def _item_of(product: Mapping[str, Any], omitted: list[str]) -> dict[str, Any]:
    """A product's item parameters. Walks the product's own keys, one lookup each (the events with
    many products are the costly ones); `sku` stands in for a missing `product_id`."""
    item: dict[str, Any] = {}
    text_name, number_name = _PRODUCT_TEXT.get, _PRODUCT_NUMBERS.get
    for key, value in product.items():
        kind = value.__class__
        name = text_name(key)
        if name is not None:
            if kind is str and value and len(value) <= MAX_VALUE_CHARS:
                item[name] = value  # the usual case, first
            elif kind is int or kind is float:
                item[name] = str(value)
            elif value is not None and value != "":
                _put_text(item, name, value, ITEM_VALUE, omitted)
            continue
        name = number_name(key)
        if name is None:
            continue
        if kind is int or kind is float:
            item[name] = value
        elif value is not None and value != "":
            _put_number(item, name, value, ITEM_VALUE, omitted)
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
    omitted: list[str],
) -> list[Item] | Unsupported:
    """The event's item: its request's envelope as the channel, the event (timestamp first, see
    `_dated_for`), and what was left out."""
    envelope = _envelope(event, settings, omitted)
    if envelope is None:
        return NO_USER_OR_ANONYMOUS_ID
    engagement = settings.engagement_time_msec
    if engagement and "engagement_time_msec" not in properties:
        params["engagement_time_msec"] = engagement
    if properties:
        _put_custom_params(params, properties, consumed, omitted)
    micros = _timestamp_micros(event.get("timestamp"))
    if micros is None:
        payload = {"name": name, "params": params}
    else:
        payload = {"timestamp_micros": micros, "name": name, "params": params}
    return [new_item(Item, (envelope, payload, tuple(omitted) if omitted else ()))]


def _envelope(event: dict[str, Any], settings: Ga4Settings, omitted: list[str]) -> str | None:
    """What one request's events share, as the request body up to its events array:
    `{"client_id":..,"user_id":..,"user_properties":..,"events":` (`call` adds the events)."""
    user_id, anonymous_id = identity(event)
    client_id = (anonymous_id or user_id) if settings.client_id_from == "anonymous_id" else (user_id or anonymous_id)
    if client_id is None:
        return None
    envelope: dict[str, Any] = {"client_id": client_id}
    if user_id is not None and settings.send_user_id:
        if len(user_id) > MAX_USER_ID_CHARS:
            omitted.append(USER_ID_TOO_LONG)
        else:
            envelope["user_id"] = user_id
    if settings.user_properties:
        user_properties = _user_properties(event, settings.user_properties, omitted)
        if user_properties:
            envelope["user_properties"] = user_properties
    return orjson.dumps(envelope)[:-1].decode() + ',"events":'


def _user_properties(event: dict[str, Any], names: tuple[str, ...], omitted: list[str]) -> dict[str, Any]:
    context = event.get("context")
    traits = context.get("traits") if isinstance(context, dict) else None
    if not isinstance(traits, dict):
        return {}
    properties: dict[str, Any] = {}
    for name in names:
        value = traits.get(name)
        if value is None:
            continue
        if value.__class__ is bool:
            value = "true" if value else "false"
        if not isinstance(value, (str, int, float)):
            omitted.append(USER_PROPERTY_VALUE_NOT_SCALAR)
        elif isinstance(value, str) and len(value) > MAX_USER_PROPERTY_VALUE_CHARS:
            omitted.append(USER_PROPERTY_VALUE_TOO_LONG)
        else:
            properties[name] = {"value": value}
    return properties


def _put_custom_params(
    params: dict[str, Any], properties: Mapping[str, Any], consumed: frozenset[str], omitted: list[str]
) -> None:
    """The properties not mapped yet, under GA4 names, within the 25-parameter cap."""
    if properties.keys() <= consumed:  # e.g. a product's: one C loop instead of one in Python
        return
    names = _param_names
    for key, value in properties.items():
        if value is None or key in consumed:
            continue
        name, problem = names.get(key) or param_name(key)
        if problem is not None:
            omitted.append(problem)
        elif name in params:
            omitted.append(PARAM_NAME_DUPLICATE)
        else:
            kind = value.__class__
            if (kind is str and len(value) <= MAX_VALUE_CHARS) or kind is int or kind is float:
                params[name] = value  # the usual cases, first
            else:
                _put_scalar(params, name, value, omitted)
    if len(params) > MAX_PARAMS_PER_EVENT:  # the last ones go: recommended parameters come first
        for name in list(params)[MAX_PARAMS_PER_EVENT:]:
            del params[name]
            omitted.append(TOO_MANY_PARAMS)


# -- values ---------------------------------------------------------------------------------------


def _put_text(target: dict[str, Any], name: str, value: Any, reasons: ValueReasons, omitted: list[str]) -> None:
    if not isinstance(value, str):
        omitted.append(reasons.not_scalar)
    elif len(value) > _LONG_VALUE_CHARS.get(name, MAX_VALUE_CHARS):
        omitted.append(reasons.too_long)
    else:
        target[name] = value


def _put_number(target: dict[str, Any], name: str, value: Any, reasons: ValueReasons, omitted: list[str]) -> None:
    number = _number(value)
    if number is None:
        omitted.append(reasons.not_a_number)
    else:
        target[name] = number


def _put_scalar(target: dict[str, Any], name: str, value: Any, omitted: list[str]) -> None:
    """A custom parameter: GA4 takes strings and numbers; a boolean goes as "true"/"false"."""
    kind = value.__class__
    if kind is str:
        if len(value) > _LONG_VALUE_CHARS.get(name, MAX_VALUE_CHARS):
            omitted.append(PARAM_VALUE.too_long)
        else:
            target[name] = value
    elif kind is int or kind is float:
        target[name] = value
    elif kind is bool:
        target[name] = "true" if value else "false"
    else:
        omitted.append(PARAM_VALUE.not_scalar)


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
    moment = utc_time(value)
    return None if moment is None else (moment - _EPOCH) // _MICROSECOND


# -- names ----------------------------------------------------------------------------------------

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NOT_NAME = re.compile(r"[\W_]+")
_NOT_WORD = re.compile(r"\W")
# Names seen before: a few hundred distinct ones in practice; cleared if a client invents thousands.
# (Also the size of the caches of limits and URLs below, which hold far fewer.)
_CACHE_SIZE = 10_000
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


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def _remember(cache: dict[_Key, _Value], key: _Key, value: _Value) -> _Value:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


# -- requests -------------------------------------------------------------------------------------

_TIMESTAMP_KEY = b'{"timestamp_micros":'
# Limits by the envelope's length in bytes (the few lengths ids have), and URLs by settings.
_limits_by_size: dict[int, Limits] = {}
_collect_urls: dict[tuple[str, str, str | None, str | None, str], str] = {}


def _limits(envelope_bytes: int) -> Limits:
    """A request's limits: the envelope, then "[" "]" and "}"; less one, as the driver counts a
    separator per item."""
    overhead = envelope_bytes + 2
    limits = _limits_by_size.get(overhead)
    if limits is None:
        limits = _remember(
            _limits_by_size, overhead, Limits(MAX_EVENTS_PER_REQUEST, MAX_BODY_BYTES, overhead_bytes=overhead)
        )
    return limits


def _dated_for(payloads: Sequence[bytes], now_micros: int) -> tuple[list[bytes], tuple[int, ...]]:
    """The events to send at `now`, and the indexes of those too old to: an event dated after `now`
    loses its timestamp. Each serialized event starts with its timestamp (see `_item`), so this
    reads it without parsing the event."""
    events: list[bytes] = []
    too_old: list[int] = []
    oldest = now_micros - _MAX_BACKDATE_MICROS
    start = len(_TIMESTAMP_KEY)
    for payload in payloads:
        if payload.startswith(_TIMESTAMP_KEY):
            end = payload.index(b",", start)
            micros = int(payload[start:end])
            if micros > now_micros:
                payload = b"{" + payload[end + 1 :]
            elif micros < oldest:
                too_old.append(len(events) + len(too_old))  # its index: no count kept for the usual case
                continue
        events.append(payload)
    return events, tuple(too_old) if too_old else ()
