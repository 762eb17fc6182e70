"""The destination adapter model: what one destination type is made of.

A type (one module in this package) declares:

- a settings model (pydantic): validated by `switchyard apply`; the fields named in
  `SECRET_FIELDS` are credentials, stored in SSM and merged back in by delivery;
- `map(event, settings)`: the event as the tool's items (usually one), or `Unsupported`;
- `limits(channel, settings)`: how many items and bytes one request of a channel may hold;
- `call(channel, payloads, settings)`: the request for a packed batch of items (HTTP or an AWS API);
- `interpret(call, answer, count, now)`: the tool's answer as one verdict per item, so accepted
  items of a partly refused request are never sent again. A verdict may carry the event's next
  requests (`Verdict.then`), built from the answer: a tool whose API needs an id it hands out
  (look a contact up, then update it) is a chain of steps, each an ordinary item.
- for a tool with a user-deletion API (`max_deletions_per_call` > 0): `delete_call(user_ids,
  settings, context)`, the request deleting those users, and `interpret_delete(call, answer, now)`,
  its answer as one verdict (whose `then` items, sent through `call`, may finish the deletion).

Mapping is pure: no I/O, no clock, no credentials beyond the settings. Sending, packing, deadlines
and masking are shared (`destinations/driver.py`), so a type is mostly its mapping table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from switchyard.delivery.attempts import AttemptStatus, classify_status, parse_retry_after
from switchyard.delivery.http import Answer

# Events handed to one `send` unless a type says otherwise (the queue delivers 50 at most anyway).
DEFAULT_EVENTS_PER_SEND = 100
# A destination's `rate_limit_per_second` (events) and `concurrency` (hand-overs at a time) unless
# the workspace sets them; a type whose tool takes less says so (`DestinationType.default_*`).
DEFAULT_RATE_LIMIT_PER_SECOND = 100
DEFAULT_CONCURRENCY = 5
# A base URL: scheme and host, optionally a port and a path prefix.
URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$"


class EventType(StrEnum):
    IDENTIFY = "identify"
    TRACK = "track"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


ALL_CALLS: tuple[EventType, ...] = tuple(EventType)


def _from_environment(value: object) -> object:
    """A credential may be written as `{env: VAR}`: read from the environment of `switchyard apply`,
    so the workspace file can be committed without it."""
    if isinstance(value, dict) and set(value) == {"env"}:
        name = value["env"]
        if not isinstance(name, str) or name not in os.environ:
            raise ValueError(f"environment variable {name!r} is not set")
        return os.environ[name]
    return value


# A credential: a string, or `{env: VAR}`. Stored by `apply` as an SSM SecureString, never in the
# config item, a template or a log line.
SecretText = Annotated[str, BeforeValidator(_from_environment)]


class DestinationSettings(BaseModel):
    """Settings every type shares. Subclasses add theirs and name their credentials."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Settings that are credentials: kept in SSM (config/credentials.py), not in the config item.
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ()

    timeout_seconds: float = Field(default=10.0, gt=0, le=30, description="Per request")

    def credentials(self) -> dict[str, Any]:
        return {name: value for name in self.SECRET_FIELDS if (value := getattr(self, name))}

    def public_settings(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=set(self.SECRET_FIELDS))


class ToolSettings(DestinationSettings):
    """A tool with a host of its own, which `endpoint` may replace."""

    endpoint: str | None = Field(
        default=None,
        pattern=URL_PATTERN,
        description="Base URL replacing the tool's host (proxies, self-hosted, tests)",
    )


class Residency(StrEnum):
    US = "us"
    EU = "eu"


class RegionalSettings(ToolSettings):
    """A tool with a US and an EU host. Unset, the stack's region decides: EU in an `eu-*` region."""

    region: Residency | None = Field(default=None, description="us | eu: which of the tool's hosts")

    def residency(self, aws_region: str) -> Residency:
        if self.region is not None:
            return self.region
        return Residency.EU if aws_region.startswith("eu-") else Residency.US


@dataclass(frozen=True, slots=True)
class Hosts:
    us: str
    eu: str | None = None

    def for_residency(self, residency: Residency) -> str:
        return self.eu if residency is Residency.EU and self.eu else self.us


@dataclass(frozen=True, slots=True)
class Unsupported:
    """The tool has nothing for this event (a call it does not take, or an event missing what it needs)."""

    reason: str


class Item(NamedTuple):
    """One piece of what the tool receives for one event. Items of one channel share requests.
    (A tuple: made for every event, and a frozen dataclass costs twice as much to build.)"""

    channel: str
    payload: Any  # JSON-serializable
    # What the type left out of the event to meet the tool's limits (e.g. GA4's "param_value_too_long"):
    # the event still goes, and Event Delivery counts each as `omitted.<reason>`.
    omitted: tuple[str, ...] = ()


# Builds an Item without NamedTuple's generated `__new__` (a Python function): half the cost, for
# the one item most events map to. `new_item(Item, (channel, payload, omitted))`.
new_item = tuple.__new__


@dataclass(frozen=True, slots=True)
class Limits:
    max_items: int
    max_bytes: int  # of the packed payloads, separators included
    overhead_bytes: int = 0  # the request's envelope around them
    max_item_bytes: int | None = None  # one serialized item's own limit, if the tool has one


# Calls are made per request (per event for an unbatched webhook): plain slotted classes, not
# frozen ones, whose __init__ costs a setattr call per field.
@dataclass(slots=True)
class HttpCall:
    method: Literal["GET", "POST", "PUT", "PATCH"]
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    # The type's own, for `interpret`: what it needs of the items to build their next steps.
    state: Any = None


@dataclass(frozen=True, slots=True)
class DeletionAttempt:
    """What a destination answered to one user-deletion request."""

    user_ids: tuple[str, ...]
    status: AttemptStatus  # DELIVERED (the tool took the request), RETRY (try later), FINAL (refused)
    code: str  # the HTTP status as text, or a transport / outcome code
    request: dict[str, Any]  # the request as samples show it (credentials masked: `shown_call`)
    response: dict[str, Any]  # the answer as samples show it (masked: `shown_answer`), or {"error": ...}
    retry_after: float | None = None


@dataclass(slots=True)
class AwsCall:
    """A call of an AWS API through botocore (the delivery role's own credentials)."""

    service: str  # botocore service name: "events", "firehose"
    operation: str  # the client method: "put_events"
    params: Mapping[str, Any]
    body_size: int = 0
    state: Any = None  # as HttpCall.state


@dataclass(slots=True)
class NoCall:
    """No request is needed after all (e.g. every item is too old for the tool): their verdicts."""

    verdicts: list[Verdict]


Call = HttpCall | AwsCall


@dataclass(frozen=True, slots=True)
class CallContext:
    aws_region: str  # the stack's region: picks EU hosts in eu-* regions, names AWS resources
    now: float  # epoch seconds (signatures, sent-at fields)


class Again(StrEnum):
    """An item the tool did not take, through no fault of its own, sent again within the same
    hand-over instead of waiting on the queue."""

    RESEND = "resend"  # the tool refused the whole request for other items: again without them
    SPLIT = "split"  # the request was too large: again in halves


@dataclass(frozen=True, slots=True)
class Verdict:
    """The tool's answer for one item."""

    status: AttemptStatus
    code: str
    retry_after: float | None = None  # seconds, from the tool's throttling headers
    again: Again | None = None  # with RETRY: try again right away (if time allows), see Again
    # With DELIVERED: the event's next step(s), sent within the same hand-over after the requests
    # already planned; the event's outcome is then the worst of all its steps.
    then: tuple[Item, ...] = ()
    # With RETRY: from this attempt of the event on, the answer is final instead (an answer worth
    # one more try, such as Intercom's 404 for a user its identify has not created yet).
    final_from_attempt: int | None = None


class DestinationType:
    """One kind of destination; subclasses are stateless singletons (see catalog.py)."""

    name: ClassVar[str]
    title: ClassVar[str]
    settings_model: ClassVar[type[DestinationSettings]]
    calls: ClassVar[tuple[EventType, ...]] = ALL_CALLS
    hosts: ClassVar[Hosts | None] = None
    # Headers whose values a sample never shows (besides every credential's value).
    secret_headers: ClassVar[frozenset[str]] = frozenset({"authorization", "x-api-key"})
    # The workspace's defaults for destinations of this type (Slack takes about a message a second).
    default_rate_limit_per_second: ClassVar[int] = DEFAULT_RATE_LIMIT_PER_SECOND
    default_concurrency: ClassVar[int] = DEFAULT_CONCURRENCY
    # How many userIds one deletion request of the tool may name; 0: the tool has no deletion API.
    max_deletions_per_call: ClassVar[int] = 0

    def map(self, event: dict[str, Any], settings: Any) -> list[Item] | Unsupported:
        raise NotImplementedError

    def limits(self, channel: str, settings: Any) -> Limits:
        raise NotImplementedError

    def call(self, channel: str, payloads: Sequence[bytes], settings: Any, context: CallContext) -> Call | NoCall:
        raise NotImplementedError

    def hidden_values(self, settings: Any) -> list[str]:
        """Public settings a sample should not show all the same (a token in a URL's query)."""
        return []

    def events_per_send(self, settings: Any) -> int:
        """Events per hand-over from the deliverer; hand-overs run `concurrency` at a time."""
        return DEFAULT_EVENTS_PER_SEND

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        """Default for HTTP: one verdict for all items, from the status and `Retry-After`."""
        return uniform(answer, count, now)

    def delete_call(self, user_ids: Sequence[str], settings: Any, context: CallContext) -> Call | None:
        """The tool's request deleting these users (at most `max_deletions_per_call` of them), or None
        when these settings cannot delete (e.g. an optional deletion credential is not set)."""
        raise NotImplementedError

    def interpret_delete(self, call: Call, answer: Any, now: float) -> Verdict:
        """The answer to a deletion request (or to a step its verdict's `then` named)."""
        return uniform(answer, 1, now)[0]

    def deletion_requirement(self, settings: Any) -> str:
        """Why `delete_call` gave no request: what deletion needs that these settings lack."""
        return f"{self.title} has no user-deletion API"

    def base_url(self, settings: ToolSettings, aws_region: str) -> str:
        """`endpoint` if set, else the tool's host for the settings' residency."""
        return self.url_on(self.hosts, settings, aws_region)

    def url_on(self, hosts: Hosts | None, settings: ToolSettings, aws_region: str) -> str:
        """`endpoint` if set (it replaces every host of the tool), else `hosts`' host for the settings'
        residency: also for an API the tool serves from hosts of its own (user deletions, Amplitude's
        User Mapping)."""
        if settings.endpoint:
            return settings.endpoint.rstrip("/")
        if hosts is None:
            raise ValueError(f"{self.name} has no default host: set `endpoint`")
        residency = settings.residency(aws_region) if isinstance(settings, RegionalSettings) else Residency.US
        return "https://" + hosts.for_residency(residency)

    def residency_warning(self, settings: DestinationSettings, aws_region: str) -> str | None:
        """For `switchyard apply`: a Dublin destination that would send to a non-EU host."""
        if not aws_region.startswith("eu-") or self.hosts is None:
            return None
        if isinstance(settings, ToolSettings) and settings.endpoint:
            return None  # the operator chose the host; we cannot tell where it is
        if isinstance(settings, RegionalSettings) and settings.residency(aws_region) is Residency.US:
            return f"sends to {self.hosts.us}, outside the EU (`region: us`)"
        if self.hosts.eu is None:
            return f"sends to {self.hosts.us}: {self.title} has no EU host"
        return None


def uniform(answer: Answer, count: int, now: float) -> list[Verdict]:
    """The same verdict for every item of a request: 2xx delivered, 408/429/5xx retry, 4xx final."""
    verdict = Verdict(
        classify_status(answer.status), str(answer.status), parse_retry_after(answer.headers.get("Retry-After"), now)
    )
    return [verdict] * count


def join_json_array(payloads: Sequence[bytes]) -> bytes:
    """A JSON array of already-serialized values (each serialized once, when packing)."""
    return b"[" + b",".join(payloads) + b"]"


def identity(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """(userId, anonymousId) as strings, None when absent or empty."""
    user = event.get("userId")
    anonymous = event.get("anonymousId")
    return (str(user) if user not in (None, "") else None, str(anonymous) if anonymous not in (None, "") else None)
