"""`type: facebook_conversions`: track and page calls as server events of Meta's Conversions API.

`POST https://graph.facebook.com/<api_version>/<pixel_id>/events` with a JSON body
`{"access_token", "test_event_code"?, "data": [<server event>, ...]}`, at most 1,000 events per
request (Meta's "Using the API" and "Main Body Parameters" pages). The token goes in the body, not
in the URL, where proxies and access logs would keep it; it is the body's first field, and masked
in every sample.

A server event: `{"event_time" (unix seconds), "event_name", "event_id", "action_source",
"event_source_url"?, "user_data", "custom_data"?, "data_processing_options"?}`.

- `event_id` is the `messageId`: Meta keeps the first of the events with the same `event_id` and
  `event_name` received within 48 hours ("Server Event Parameters"; documented for the pixel's
  and the Conversions API's copies of one action, so relied on for a resent server event too).
- `event_name`: Segment's e-commerce and lifecycle names become Meta's standard events
  (`STANDARD_EVENTS`, as Segment's Facebook Conversions API destination maps them; the setting
  `event_mapping` adds or overrides names); any other track goes under its own name as a custom
  event (unless `custom_events` is off), so a track already named like a standard event (`Lead`,
  `Contact`, `Subscribe`...) is that event. A page call is `PageView`.
- `custom_data`: for the e-commerce standard events, their parameters from the properties (as
  Segment's destination sends them): `content_ids`, `contents` [{`id`, `quantity`,
  `item_price`}], `content_type`, `content_name`, `content_category`, `num_items`, `order_id`,
  `value` (an order's `revenue`, else `total`, else `value`; a product's `value`, else `price`)
  with `currency` (else the setting's), `search_string`. Any other event (CompleteRegistration,
  custom events) carries its properties as custom properties, less those read as user data
  (`email`, `phone`, `fbc`, `fbp`), which never go in `custom_data`. A Purchase without a value is
  not sent (`unsupported.purchase_without_value`): Meta requires one.
- `user_data`: `em`, `ph`, `fn`, `ln`, `ge`, `db`, `ct`, `st`, `zp`, `country` and `external_id`
  normalized as Meta's "Customer Information Parameters" page specifies, then SHA-256 hashed (hex):
  never sent in clear. A value already shaped like a SHA-256 digest is taken as hashed. Sources:
  `context.traits` (`email`, `phone`, `firstName`, `lastName`, `gender`, `birthday`, `address.city`,
  `.state`, `.postal_code`, `.country`), else the properties for `email` and `phone`; `external_id`
  is the `userId`, else the `anonymousId`. `client_ip_address` (`context.ip`),
  `client_user_agent` (`context.userAgent`), `fbc` and `fbp` (properties) go as they are, as Meta
  asks. A value normalization cannot make valid is left out, named in `Item.omitted`.

Time: Meta refuses an event older than 7 days (62 with `action_source: physical_store`), and a
request holding one fails as a whole ("we return an error for the entire request and process no
events"). Such an event is settled when its request is built
(`final`, `older_than_7_days`), without a request when all are; an event dated after the request
(a client clock ahead) is sent as happening now. Both need the clock, so they are decided in
`call`, reading `event_time`, each serialized event's first field, without parsing the event.

Answers (Graph API "Handling Errors"): 2xx delivered. A 400 refuses the whole request and names
no event: when it is about an event's data (code 100, "Invalid parameter", except subcode 33, an
unknown or inaccessible pixel), the events go again at once in halves (`400.split`) until the one
at fault is alone, final (`400.100.<subcode>`); the others are delivered. Throttling codes (4, 17,
32, 341, 613, 80000-80014) are retried even under a 400, no sooner than the
`X-Business-Use-Case-Usage` header's `estimated_time_to_regain_access` (minutes) or a
`Retry-After`; transient errors (`is_transient`, codes 1 and 2), 408, 429 and 5xx are retried;
a 413 splits; other 4xx (an invalid token, code 190; missing permissions) are final, coded
`<status>.<code>[.<subcode>]`.

Hosts: `graph.facebook.com`, Meta's only one (no EU host): in an `eu-*` region `switchyard apply`
says so.

Mapping runs per event, hashing included: one function for the common steps (a call costs as
much as several lines), values normalized with str methods and hashed once each with
`hashlib.sha256`, times read second by second. No personal value is cached across events (a cache
of hashes would hold personal data in clear); only seconds, minutes and currency codes are.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import orjson
from pydantic import Field, field_validator

from switchyard.delivery.attempts import AttemptStatus, classify_status, parse_retry_after
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
    NoCall,
    SecretText,
    ToolSettings,
    Unsupported,
    Verdict,
    new_item,
    uniform,
)
from switchyard.destinations.mapping import EMPTY, as_text, utc_time

GRAPH_HOSTS = Hosts(us="graph.facebook.com")
# The Graph API version sent unless the settings name another: for the Conversions API, a version
# is supported at least two years after its release (v26.0: July 2026).
CURRENT_API_VERSION = "v26.0"
EVENTS = "events"  # the only channel

MAX_EVENTS_PER_REQUEST = 1000
# Meta documents no body limit: this keeps a retry cheap and passes common proxies' limits.
MAX_REQUEST_BYTES = 5_000_000
MAX_EVENT_NAME_CHARS = 50  # Meta's limit on custom event names
MAX_AGE = timedelta(days=7)
MAX_AGE_PHYSICAL_STORE = timedelta(days=62)
# Taken off the age limit: the request's way to Meta, so an event at the limit is not refused there.
AGE_MARGIN = timedelta(minutes=1)

ActionSource = Literal[
    "website",
    "app",
    "email",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
]

# Segment spec event names -> Meta standard events (Segment's Facebook Conversions API mapping).
STANDARD_EVENTS: Mapping[str, str] = MappingProxyType(
    {
        "Order Completed": "Purchase",
        "Checkout Started": "InitiateCheckout",
        "Payment Info Entered": "AddPaymentInfo",
        "Product Added": "AddToCart",
        "Product Viewed": "ViewContent",
        "Product Added to Wishlist": "AddToWishlist",
        "Products Searched": "Search",
        "Signed Up": "CompleteRegistration",
    }
)
PAGE_VIEW = "PageView"
PURCHASE = "Purchase"

# Where an order's value comes from: the first numeric one (a product's: `value`, else `price`).
ORDER_VALUE_PROPERTIES = ("revenue", "total", "value")
# Properties read as user data: hashed or kept in user_data, never repeated in custom_data.
USER_DATA_PROPERTIES = frozenset({"email", "phone", "fbc", "fbp"})

# What was left out of user_data (`Item.omitted`, counted as `omitted.<reason>`).
EMAIL_INVALID = "email_invalid"
PHONE_INVALID = "phone_invalid"
GENDER_NOT_M_OR_F = "gender_not_m_or_f"
BIRTHDAY_NOT_A_DATE = "birthday_not_a_date"
COUNTRY_NOT_ISO_CODE = "country_not_iso_3166_alpha_2"
OMITTED_REASONS = frozenset(
    {EMAIL_INVALID, PHONE_INVALID, GENDER_NOT_M_OR_F, BIRTHDAY_NOT_A_DATE, COUNTRY_NOT_ISO_CODE}
)

# US state names -> the 2-letter ANSI codes Meta asks for (lowercase, spaces removed).
US_STATES: Mapping[str, str] = MappingProxyType(
    {
        "alabama": "al",
        "alaska": "ak",
        "arizona": "az",
        "arkansas": "ar",
        "california": "ca",
        "colorado": "co",
        "connecticut": "ct",
        "delaware": "de",
        "districtofcolumbia": "dc",
        "florida": "fl",
        "georgia": "ga",
        "hawaii": "hi",
        "idaho": "id",
        "illinois": "il",
        "indiana": "in",
        "iowa": "ia",
        "kansas": "ks",
        "kentucky": "ky",
        "louisiana": "la",
        "maine": "me",
        "maryland": "md",
        "massachusetts": "ma",
        "michigan": "mi",
        "minnesota": "mn",
        "mississippi": "ms",
        "missouri": "mo",
        "montana": "mt",
        "nebraska": "ne",
        "nevada": "nv",
        "newhampshire": "nh",
        "newjersey": "nj",
        "newmexico": "nm",
        "newyork": "ny",
        "northcarolina": "nc",
        "northdakota": "nd",
        "ohio": "oh",
        "oklahoma": "ok",
        "oregon": "or",
        "pennsylvania": "pa",
        "rhodeisland": "ri",
        "southcarolina": "sc",
        "southdakota": "sd",
        "tennessee": "tn",
        "texas": "tx",
        "utah": "ut",
        "vermont": "vt",
        "virginia": "va",
        "washington": "wa",
        "westvirginia": "wv",
        "wisconsin": "wi",
        "wyoming": "wy",
        "puertorico": "pr",
        "guam": "gu",
        "americansamoa": "as",
        "northernmarianaislands": "mp",
        "usvirginislands": "vi",
    }
)
_US_STATES: dict[str, str] = dict(US_STATES)
_GENDERS: dict[str, str] = {"f": "f", "female": "f", "m": "m", "male": "m"}

# Graph API error codes (Handling Errors; Rate Limiting): throttling, and transient failures.
THROTTLING_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
INVALID_PARAMETER = 100
# Subcodes of an invalid parameter that concern the request, not an event: 33, the pixel does
# not exist or the token may not write to it.
REQUEST_LEVEL_SUBCODES = frozenset({33})

SPLIT = Verdict(AttemptStatus.RETRY, "400.split", again=Again.SPLIT)
SPLIT_TOO_LARGE = Verdict(AttemptStatus.RETRY, "413.split", again=Again.SPLIT)
TOO_LARGE = Verdict(AttemptStatus.FINAL, "413")

# Refusals, shared by every event they concern.
UNKNOWN_TYPE = Unsupported("unknown_type")
NO_EVENT_NAME = Unsupported("no_event_name")
EVENT_NAME_TOO_LONG = Unsupported("event_name_too_long")
NOT_A_MAPPED_EVENT = Unsupported("not_a_mapped_event")
NO_TIMESTAMP = Unsupported("no_timestamp")
NO_USER_DATA = Unsupported("no_user_data")
PURCHASE_WITHOUT_VALUE = Unsupported("purchase_without_value")
UNSUPPORTED_CALLS: Mapping[str, str] = MappingProxyType(
    {
        EventType.IDENTIFY.value: "no_profile_api",
        EventType.SCREEN.value: "screen_needs_app_events",
        EventType.GROUP.value: "no_group_api",
        EventType.ALIAS.value: "no_alias_api",
    }
)
_REFUSED_CALLS: dict[str, Unsupported] = {kind: Unsupported(reason) for kind, reason in UNSUPPORTED_CALLS.items()}

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_BIRTHDAY = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
_EVENT_TIME_KEY = b'{"event_time":'
_NOT_DIGITS = re.compile(r"\D+")
_sha256 = hashlib.sha256
# Unix seconds of each minute and second seen, by their ISO 8601 prefixes `YYYY-MM-DDTHH:MM:` and
# `YYYY-MM-DDTHH:MM:SS.` or `...SSZ` (see `_unix_seconds`): what may follow the seconds.
MAX_CACHED_MINUTES = 4096
MAX_CACHED_SECONDS = 4096
_minutes: dict[str, int] = {}
_seconds: dict[str, int] = {}
_AFTER_SECONDS = (".", "Z")
_SECONDS: dict[str, int] = {f"{second:02d}": second for second in range(60)}  # a look-up costs less than int()
# Currency codes as given -> as sent (see `_currency`).
MAX_CACHED_CURRENCIES = 1024
_currencies: dict[object, str] = {}


class FacebookConversionsSettings(ToolSettings):
    """`type: facebook_conversions`: a Meta pixel (dataset) and a Conversions API access token."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("access_token",)

    pixel_id: str = Field(pattern=r"^[0-9]{6,20}$", description="The pixel's (dataset's) ID, digits only")
    access_token: SecretText = Field(
        min_length=20, description="A Conversions API access token (Events Manager > Settings)"
    )
    api_version: str = Field(
        default=CURRENT_API_VERSION, pattern=r"^v[0-9]{2}\.0$", description="The Graph API version, vNN.0"
    )
    action_source: ActionSource = Field(
        default="website",
        description="Where the conversions happen: website, app, email, phone_call, chat, physical_store, "
        "system_generated, business_messaging or other",
    )
    test_event_code: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9]{1,64}$",
        description="Sends the events as test events (Events Manager > Test events); remove for real traffic",
    )
    event_mapping: dict[str, str] = Field(
        default_factory=dict, description="Segment event name -> Meta event name, over the standard mapping"
    )
    custom_events: bool = Field(default=True, description="Send other tracks as custom events under their own name")
    currency: str = Field(
        default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of a value whose event names none"
    )
    limited_data_use: bool = Field(
        default=False, description="Mark events for Limited Data Use (data_processing_options LDU, geolocated)"
    )

    @field_validator("event_mapping")
    @classmethod
    def _meta_event_names(cls, mapping: dict[str, str]) -> dict[str, str]:
        for segment_name, meta_name in mapping.items():
            if not segment_name or not meta_name or len(meta_name) > MAX_EVENT_NAME_CHARS:
                raise ValueError(f"{segment_name!r}: a Meta event name of 1 to {MAX_EVENT_NAME_CHARS} characters")
        return mapping


@dataclass(slots=True)
class ConversionsCall(HttpCall):
    """The request, and which of its events were left out of it for being too old for Meta."""

    too_old: tuple[int, ...] = ()
    too_old_verdict: Verdict | None = None


class FacebookConversions(DestinationType):
    name = "facebook_conversions"
    title = "Meta Conversions API"
    settings_model = FacebookConversionsSettings
    calls = (EventType.TRACK, EventType.PAGE)
    hosts = GRAPH_HOSTS

    def map(self, event: dict[str, Any], settings: FacebookConversionsSettings) -> list[Item] | Unsupported:
        kind = event.get("type")
        if kind == "track" or kind == "page":
            return _server_event(event, settings, kind == "page")
        return _REFUSED_CALLS.get(kind, UNKNOWN_TYPE) if kind.__class__ is str else UNKNOWN_TYPE

    def limits(self, channel: str, settings: FacebookConversionsSettings) -> Limits:
        # The envelope, then "]}"; less one, as the driver counts a separator per item.
        return Limits(MAX_EVENTS_PER_REQUEST, MAX_REQUEST_BYTES, overhead_bytes=len(_envelope(settings)) + 1)

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: FacebookConversionsSettings, context: CallContext
    ) -> ConversionsCall | NoCall:
        max_age = MAX_AGE_PHYSICAL_STORE if settings.action_source == "physical_store" else MAX_AGE
        too_old_verdict = _OLDER_THAN[max_age]
        events, too_old = _dated_for(payloads, int(context.now), int((max_age - AGE_MARGIN).total_seconds()))
        if not events:  # all too old: a request would fail as a whole
            return NoCall([too_old_verdict] * len(payloads))
        body = b"".join((_envelope(settings), b",".join(events), b"]}"))
        url = f"{self.base_url(settings, context.aws_region)}/{settings.api_version}/{settings.pixel_id}/events"
        return ConversionsCall("POST", url, body, {}, too_old=too_old, too_old_verdict=too_old_verdict)

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        too_old = call.too_old if isinstance(call, ConversionsCall) else ()
        verdicts = _verdicts(answer, count, count - len(too_old), now)
        if too_old and isinstance(call, ConversionsCall) and call.too_old_verdict is not None:
            for index in too_old:
                verdicts[index] = call.too_old_verdict
        return verdicts


FACEBOOK_CONVERSIONS = FacebookConversions()

_OLDER_THAN: dict[timedelta, Verdict] = {
    MAX_AGE: Verdict(AttemptStatus.FINAL, "older_than_7_days"),
    MAX_AGE_PHYSICAL_STORE: Verdict(AttemptStatus.FINAL, "older_than_62_days"),
}


# -- the calls ------------------------------------------------------------------------------------


def _server_event(event: dict[str, Any], settings: FacebookConversionsSettings, page: bool) -> list[Item] | Unsupported:
    """A track's or a page's server event, `event_time` first (see `_dated_for`). One function, its
    steps inline: it runs for most events, and each call costs as much as several of its lines.
    Dicts are built whole, their absent fields then deleted (the order stays): a put costs more."""
    properties = event.get("properties")
    if properties.__class__ is not dict:
        properties = EMPTY
    context = event.get("context")
    if context.__class__ is not dict:
        context = EMPTY
    page_context = context.get("page")
    url = page_context.get("url") if page_context.__class__ is dict else None
    custom_data: dict[str, Any] | None = None
    if page:
        name = PAGE_VIEW
        url = properties.get("url") or url
    else:
        name = event.get("event")
        if name.__class__ is not str or not name:
            return NO_EVENT_NAME
        mapping = settings.event_mapping
        # A standard event's Meta name and custom_data with one look-up.
        standard = None if mapping and name in mapping else _STANDARD_CUSTOM_DATA.get(name)
        if standard is not None:
            name, custom_data_of = standard
        else:
            name = (mapping.get(name) if mapping else None) or _custom_event(name, settings)
            if name.__class__ is Unsupported:
                return name  # type: ignore[return-value]
            custom_data_of = _CUSTOM_DATA.get(name, _custom_properties)  # type: ignore[arg-type]
        custom_data = custom_data_of(properties, settings)
        if custom_data is None:
            return PURCHASE_WITHOUT_VALUE
    time = event.get("timestamp") or event.get("receivedAt")
    # `_unix_seconds`' usual case inline: a second seen before, one look-up.
    seconds = _seconds.get(time[:20]) if time.__class__ is str and time[-1:] == "Z" else None  # type: ignore
    if seconds is None:
        seconds = _unix_seconds(time)
        if seconds is None:
            return NO_TIMESTAMP

    # user_data: the ids, hashed; the client's IP and user agent as they are; the rest, rarer, apart.
    user_data: dict[str, Any] = {}
    omitted: tuple[str, ...] = ()
    traits = context.get("traits")
    if traits.__class__ is dict and traits:
        omitted = _put_person(user_data, traits, properties)
    # USER_DATA_PROPERTIES, tested key by key: cheaper than a set operation on the properties.
    elif "email" in properties or "phone" in properties or "fbc" in properties or "fbp" in properties:
        omitted = _put_person(user_data, EMPTY, properties)
    external_id = event.get("userId") or event.get("anonymousId")
    if external_id.__class__ is str:
        external_id = external_id.strip().lower()
        if external_id:  # `_hashed` inline
            is_digest = len(external_id) == 64 and _SHA256_HEX.fullmatch(external_id)
            user_data["external_id"] = external_id if is_digest else _sha256(external_id.encode()).hexdigest()
    elif external_id:
        user_data["external_id"] = _hashed(str(external_id))
    ip, user_agent = context.get("ip"), context.get("userAgent")
    if ip.__class__ is str and ip:
        user_data["client_ip_address"] = ip
    if user_agent.__class__ is str and user_agent:
        user_data["client_user_agent"] = user_agent
    if not user_data:
        return NO_USER_DATA

    message_id = event.get("messageId")
    if message_id.__class__ is not str or not message_id:  # the usual non-empty string needs no call
        message_id = as_text(message_id)
    server_event: dict[str, Any] = {
        "event_time": seconds,
        "event_name": name,
        "event_id": message_id,
        "action_source": settings.action_source,
        "event_source_url": url,
        "user_data": user_data,
        "custom_data": custom_data,
    }
    if message_id is None:
        del server_event["event_id"]
    if url.__class__ is not str or not url:
        del server_event["event_source_url"]
    if not custom_data:
        del server_event["custom_data"]
    if settings.limited_data_use:
        # LDU, with the country and state left to Meta's geolocation (0, 0).
        server_event["data_processing_options"] = ["LDU"]
        server_event["data_processing_options_country"] = 0
        server_event["data_processing_options_state"] = 0
    return [new_item(Item, (EVENTS, server_event, omitted))]


def _custom_event(name: str, settings: FacebookConversionsSettings) -> str | Unsupported:
    """A track neither the settings nor the standard mapping name: a custom event of its own name."""
    if not settings.custom_events:
        return NOT_A_MAPPED_EVENT
    return EVENT_NAME_TOO_LONG if len(name) > MAX_EVENT_NAME_CHARS else name


def _unix_seconds(value: object) -> int | None:
    """An event's time as unix seconds, read by `utc_time` (any form Segment's SDKs send). A
    `...THH:MM:SS(.fff)Z` time's minute and second are remembered: `_server_event` reads the next
    times of the second with one look-up, and the other seconds of the minute cost two here, with
    no datetime per event (times are not personal data)."""
    shaped = value.__class__ is str and value[-1:] == "Z" and value[16:17] == ":" and value[19:20] in _AFTER_SECONDS  # type: ignore
    if shaped:
        minute, second = _minutes.get(value[:17]), _SECONDS.get(value[17:19])  # type: ignore[index]
        if minute is not None and second is not None:
            epoch = minute + second
            _remember_second(value[:20], epoch)  # type: ignore[index]
            return epoch
    moment = utc_time(value)
    if moment is None:
        return None
    epoch = int(moment.timestamp())
    if shaped:
        if len(_minutes) >= MAX_CACHED_MINUTES:
            _minutes.clear()
        _minutes[value[:17]] = epoch - moment.second  # type: ignore[index]
        _remember_second(value[:20], epoch)  # type: ignore[index]
    return epoch


def _remember_second(prefix: str, epoch: int) -> None:
    if len(_seconds) >= MAX_CACHED_SECONDS:
        _seconds.clear()
    _seconds[prefix] = epoch


# -- user_data: normalized and hashed as Meta specifies ----------------------------------------


def _put_person(user_data: dict[str, Any], traits: Mapping[str, Any], properties: Mapping[str, Any]) -> tuple[str, ...]:
    """Email and phone (from the traits, else the properties), names, gender, birthday and address
    (traits), and the pixel's cookies (properties). Returns what was left out, and why."""
    omitted: list[str] = []
    email = traits.get("email") or properties.get("email")
    if email:
        _put_hashed(user_data, "em", _email(email), EMAIL_INVALID, omitted)
    phone = traits.get("phone") or properties.get("phone")
    if phone:
        _put_hashed(user_data, "ph", _phone(phone), PHONE_INVALID, omitted)
    first = traits.get("firstName") or traits.get("first_name")
    if first:
        _put_hashed(user_data, "fn", _letters(first), None, omitted)
    last = traits.get("lastName") or traits.get("last_name")
    if last:
        _put_hashed(user_data, "ln", _letters(last), None, omitted)
    gender = traits.get("gender")
    if gender:
        _put_hashed(user_data, "ge", _gender(gender), GENDER_NOT_M_OR_F, omitted)
    birthday = traits.get("birthday")
    if birthday:
        _put_hashed(user_data, "db", _birthday(birthday), BIRTHDAY_NOT_A_DATE, omitted)
    address = traits.get("address")
    if address.__class__ is dict and address:
        _put_address(user_data, address, omitted)
    fbc, fbp = properties.get("fbc"), properties.get("fbp")
    if fbc.__class__ is str and fbc:
        user_data["fbc"] = fbc
    if fbp.__class__ is str and fbp:
        user_data["fbp"] = fbp
    return tuple(omitted)


def _put_address(user_data: dict[str, Any], address: Mapping[str, Any], omitted: list[str]) -> None:
    city = address.get("city")
    if city:
        _put_hashed(user_data, "ct", _letters(city), None, omitted)
    state = address.get("state")
    if state:
        _put_hashed(user_data, "st", _state(state), None, omitted)
    given_country = address.get("country")
    country = _country(given_country)
    postal_code = address.get("postal_code") or address.get("postalCode") or address.get("zip")
    if postal_code:
        _put_hashed(user_data, "zp", _postal_code(postal_code, country), None, omitted)
    if country is not None:
        user_data["country"] = _hashed(country)
    elif given_country:
        omitted.append(COUNTRY_NOT_ISO_CODE)


def _put_hashed(
    user_data: dict[str, Any], key: str, normalized: str | None, reason: str | None, omitted: list[str]
) -> None:
    if normalized:
        user_data[key] = _hashed(normalized)
    elif reason is not None:
        omitted.append(reason)


def _hashed(normalized: str) -> str:
    """SHA-256 of the normalized value, hex; a value that already is a SHA-256 digest stays as it is."""
    if len(normalized) == 64 and _SHA256_HEX.fullmatch(normalized):
        return normalized
    return _sha256(normalized.encode()).hexdigest()


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and _SHA256_HEX.fullmatch(text) is not None


def _email(value: object) -> str | None:
    """Trimmed and lowercased."""
    if value.__class__ is not str:
        return None
    email = value.strip().lower()
    return email if "@" in email or _is_sha256(email) else None


def _phone(value: object) -> str | None:
    """Digits only, without leading zeros (an international prefix "00" included): the country code
    must be part of the number, as Meta matches on it."""
    if value.__class__ is int:
        text = str(value)
    elif value.__class__ is str:
        text = value.strip().lower()
        if _is_sha256(text):
            return text
        if not text.isdigit():
            text = _NOT_DIGITS.sub("", text)
    else:
        return None
    return text.lstrip("0") or None


def _letters(value: object) -> str | None:
    """Names and cities: lowercased, without punctuation, symbols or spaces; letters of any script
    kept as they are (UTF-8), as Meta's examples `valéry` and `정` show."""
    if value.__class__ is not str:
        return None
    text = value.lower()
    if text.isalpha():
        return text
    text = text.strip()
    if _is_sha256(text):
        return text
    return "".join(character for character in text if character.isalnum()) or None


def _state(value: object) -> str | None:
    """The 2-letter code for a US state's name; other regions lowercased without punctuation or spaces."""
    letters = _letters(value)
    return None if letters is None else _US_STATES.get(letters, letters)


def _country(value: object) -> str | None:
    """An ISO 3166-1 alpha-2 code, lowercased (a country's name is not one)."""
    if value.__class__ is not str:
        return None
    code = value.strip().lower()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None


def _postal_code(value: object, country: str | None) -> str | None:
    """Lowercased without spaces or dashes; a US ZIP code's first 5 digits."""
    if value.__class__ is int:
        text = str(value)
    elif value.__class__ is str:
        text = value.strip().lower().replace(" ", "").replace("-", "")
    else:
        return None
    if text.isdigit() and len(text) in (5, 9) and country in (None, "us"):
        return text[:5]  # ZIP or ZIP+4
    return text or None


def _gender(value: object) -> str | None:
    """`f` or `m` (Meta takes no other), from those letters or `female`, `male`."""
    return _GENDERS.get(value.strip().lower()) if value.__class__ is str else None  # type: ignore[union-attr]


def _birthday(value: object) -> str | None:
    """YYYYMMDD, from an ISO 8601 date or date-time (Segment's `birthday`)."""
    if value.__class__ is not str:
        return None
    match = _BIRTHDAY.match(value.strip())
    if match is None:
        return None
    year, month, day = match.groups()
    return f"{year}{month}{day}" if "01" <= month <= "12" and "01" <= day <= "31" else None


# -- custom_data ----------------------------------------------------------------------------------


def _custom_properties(properties: Mapping[str, Any], settings: FacebookConversionsSettings) -> dict[str, Any]:
    """A custom event's properties, without those read as user data."""
    if not properties:
        return {}
    if properties.keys().isdisjoint(USER_DATA_PROPERTIES):
        return dict(properties)
    return {key: value for key, value in properties.items() if key not in USER_DATA_PROPERTIES}


def _one_product(properties: Mapping[str, Any], settings: FacebookConversionsSettings) -> dict[str, Any]:
    """ViewContent, AddToCart, AddToWishlist: the product the properties describe."""
    product_id = properties.get("product_id") or properties.get("sku")
    if product_id.__class__ is not str:
        product_id = as_text(product_id)
    price = properties.get("price")
    if price.__class__ is not float and price.__class__ is not int:
        price = _number(price)
    if product_id:
        quantity = properties.get("quantity")
        if quantity.__class__ is not int or quantity < 1:
            quantity = 1
        content = {"id": product_id, "quantity": quantity, "item_price": price}
        if price is None:
            del content["item_price"]
        custom_data = {"content_ids": [product_id], "contents": [content], "content_type": "product"}
    else:
        custom_data = {}
    name, category, value = properties.get("name"), properties.get("category"), properties.get("value")
    if name:
        custom_data["content_name"] = name
    if category:
        custom_data["content_category"] = category
    _put_value(custom_data, properties, price if value is None else _number(value), settings)
    return custom_data


def _products(properties: Mapping[str, Any], settings: FacebookConversionsSettings) -> dict[str, Any]:
    """InitiateCheckout, AddPaymentInfo, Purchase: the order's products, its value and id."""
    custom_data: dict[str, Any] = {}
    products = properties.get("products")
    if products.__class__ is list and products:
        contents, count = _contents(products)
        if contents:
            custom_data["content_ids"] = [content["id"] for content in contents]
            custom_data["contents"] = contents
            custom_data["content_type"] = "product"
        custom_data["num_items"] = count
    order_id = as_text(properties.get("order_id"))
    if order_id is not None:
        custom_data["order_id"] = order_id
    for source in ORDER_VALUE_PROPERTIES:
        value = _number(properties.get(source))
        if value is not None:
            _put_value(custom_data, properties, value, settings)
            break
    return custom_data


def _purchase(properties: Mapping[str, Any], settings: FacebookConversionsSettings) -> dict[str, Any] | None:
    """Purchase: as `_products`; Meta requires its value (and currency)."""
    custom_data = _products(properties, settings)
    return custom_data if "value" in custom_data else None


def _search(properties: Mapping[str, Any], settings: FacebookConversionsSettings) -> dict[str, Any]:
    query = properties.get("query")
    if query is None or query == "":
        return {}
    return {"search_string": query if query.__class__ is str else str(query)}


def _contents(products: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """Segment products as Meta contents (`id`, `quantity`, `item_price`), and the number of items."""
    contents: list[dict[str, Any]] = []
    count = 0
    for product in products:
        if product.__class__ is not dict:
            continue
        quantity = product.get("quantity")
        if quantity.__class__ is not int or quantity < 1:
            quantity = 1
        count += quantity
        product_id = as_text(product.get("product_id")) or as_text(product.get("sku"))
        if product_id is None:
            continue
        content: dict[str, Any] = {"id": product_id, "quantity": quantity}
        price = _number(product.get("price"))
        if price is not None:
            content["item_price"] = price
        contents.append(content)
    return contents, count


def _put_value(
    custom_data: dict[str, Any],
    properties: Mapping[str, Any],
    value: float | None,
    settings: FacebookConversionsSettings,
) -> None:
    """`value` with its `currency` (the properties', else the setting's), when there is one."""
    if value is None:
        return
    custom_data["value"] = value
    currency = properties.get("currency")
    known = _currencies.get(currency) if currency.__class__ is str else None
    custom_data["currency"] = known or _currency(currency) or settings.currency


def _currency(value: object) -> str | None:
    """An ISO 4217 code (three letters), upper-cased; remembered, as events name a few."""
    if value.__class__ is not str or len(value) != 3 or not value.isascii() or not value.isalpha():  # type: ignore
        return None
    if len(_currencies) >= MAX_CACHED_CURRENCIES:
        _currencies.clear()
    code = _currencies[value] = value.upper()  # type: ignore[index,union-attr]
    return code


def _number(value: object) -> int | float | None:
    """A number, or a numeric string (some SDKs send prices as text); never a boolean."""
    if value.__class__ is int or value.__class__ is float:
        return value  # type: ignore[return-value]
    if value.__class__ is str:
        try:
            return float(value)  # type: ignore[arg-type]
        except ValueError:
            return None
    return None


# Plain dicts: read per event.
CustomData = Callable[[Mapping[str, Any], FacebookConversionsSettings], dict[str, Any] | None]
_CUSTOM_DATA: dict[str, CustomData] = {
    "Purchase": _purchase,
    "InitiateCheckout": _products,
    "AddPaymentInfo": _products,
    "ViewContent": _one_product,
    "AddToCart": _one_product,
    "AddToWishlist": _one_product,
    "Search": _search,
}
# Segment's standard names -> (Meta's name, its custom_data).
_STANDARD_CUSTOM_DATA: dict[str, tuple[str, CustomData]] = {
    segment_name: (meta_name, _CUSTOM_DATA.get(meta_name, _custom_properties))
    for segment_name, meta_name in STANDARD_EVENTS.items()
}


# -- requests -------------------------------------------------------------------------------------


def _envelope(settings: FacebookConversionsSettings) -> bytes:
    """The body up to its events: the token first, then the test code, then `"data":[`."""
    envelope: dict[str, Any] = {"access_token": settings.access_token}
    if settings.test_event_code:
        envelope["test_event_code"] = settings.test_event_code
    return orjson.dumps(envelope)[:-1] + b',"data":['


def _dated_for(payloads: Sequence[bytes], now: int, max_age_seconds: int) -> tuple[list[bytes], tuple[int, ...]]:
    """The events to send at `now`, and the indexes of those too old to; an event dated after `now`
    is sent as happening now. Each serialized event starts with its `event_time` (`_server_event`),
    so this reads it without parsing the event: ten digits (until 2286), compared as bytes."""
    events: list[bytes] = []
    too_old: list[int] = []
    start = len(_EVENT_TIME_KEY)
    oldest, latest = b"%d," % (now - max_age_seconds), b"%d," % now
    dated_now = b"%s%d" % (_EVENT_TIME_KEY, now)
    for payload in payloads:
        stamp = payload[start : start + 11]
        if oldest <= stamp <= latest:  # the usual case; false of any time but ten digits and a comma
            events.append(payload)
            continue
        if stamp > latest and stamp[10:] == b",":  # ten digits, after now (a client clock ahead)
            events.append(dated_now + payload[start + 10 :])
            continue
        end = payload.index(b",", start)
        seconds = int(payload[start:end])
        if seconds > now:
            events.append(dated_now + payload[end:])
        elif seconds < now - max_age_seconds:
            too_old.append(len(events) + len(too_old))  # its index: no count kept for the usual case
        else:
            events.append(payload)
    return events, tuple(too_old) if too_old else ()


# -- answers --------------------------------------------------------------------------------------


def _verdicts(answer: Any, count: int, sent: int, now: float) -> list[Verdict]:
    """One verdict per item from Meta's answer (the items left out as too old are replaced later)."""
    if not isinstance(answer, Answer) or 200 <= answer.status < 300:
        return uniform(answer, count, now)
    status = answer.status
    if status == 413:
        return [SPLIT_TOO_LARGE] * count if sent > 1 else [TOO_LARGE] * count
    error = graph_error(answer.body)
    code, subcode = _integer(error.get("code")), _integer(error.get("error_subcode"))
    label = error_label(status, code, subcode)
    if code in THROTTLING_CODES:
        wait = regain_seconds(answer.headers) or parse_retry_after(answer.headers.get("Retry-After"), now)
        return [Verdict(AttemptStatus.RETRY, label, wait)] * count
    if classify_status(status) is AttemptStatus.RETRY:
        return uniform(answer, count, now)
    if error.get("is_transient") is True or code in TRANSIENT_CODES:
        return [Verdict(AttemptStatus.RETRY, label, parse_retry_after(answer.headers.get("Retry-After"), now))] * count
    if code == INVALID_PARAMETER and subcode not in REQUEST_LEVEL_SUBCODES and sent > 1:
        return [SPLIT] * count  # one event's data: halves until it is alone
    return [Verdict(AttemptStatus.FINAL, label)] * count


def graph_error(body: bytes) -> Mapping[str, Any]:
    """The Graph API's `error` object, or an empty one."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return EMPTY
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else EMPTY


def error_label(status: int, code: int | None, subcode: int | None) -> str:
    """`<status>.<code>[.<subcode>]`, e.g. `400.100.2804003`; the status alone without a code."""
    if code is None:
        return str(status)
    return f"{status}.{code}" if subcode is None else f"{status}.{code}.{subcode}"


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def regain_seconds(headers: Mapping[str, str]) -> float | None:
    """When a throttled business may call again: the longest `estimated_time_to_regain_access`
    (minutes) of the `X-Business-Use-Case-Usage` header, in seconds."""
    header = headers.get("X-Business-Use-Case-Usage")  # answers' headers are case-insensitive
    if not header:
        return None
    try:
        usage = orjson.loads(header)
    except orjson.JSONDecodeError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else ())
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    longest = max((m for m in minutes if isinstance(m, int | float) and not isinstance(m, bool)), default=0)
    return float(longest) * 60 if longest > 0 else None
