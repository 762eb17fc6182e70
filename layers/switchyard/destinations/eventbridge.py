"""`type: eventbridge`: put each event on an EventBridge event bus of the stack's account and region.

Each event is one `PutEvents` entry: the event itself as `Detail` (a JSON object, as the tracking
API stored it), `Source` and `DetailType` from the settings, `Time` from the event's `timestamp`,
no `Resources`. Rules on the bus take it from there. The delivery role may put events on the buses
the workspace names and no other (infra/destination_grants.py), so a bus is named, never an ARN.

`detail_type` is a fixed string or a template: `{type}` is the call (`track`, `identify`, `page`,
`screen`, `group`, `alias`), `{event}` the event name of a track call (the call for the others).
Entries are cut at AWS's 128 characters.

A call holds at most 10 entries and 256 KiB counted as AWS counts an entry: Source, DetailType and
Detail in UTF-8 bytes, plus 14 bytes for Time. Entries AWS refuses are retried alone (see
`entry_verdict`); the others of the call are delivered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import Field, field_validator

from switchyard.delivery.attempts import AttemptStatus
from switchyard.destinations.base import (
    ALL_CALLS,
    AwsCall,
    Call,
    CallContext,
    DestinationSettings,
    DestinationType,
    EventType,
    Item,
    Limits,
    Unsupported,
    Verdict,
    new_item,
)
from switchyard.destinations.mapping import utc_time

ENTRIES = "entries"
MAX_ENTRIES_PER_CALL = 10
MAX_CALL_BYTES = 256 * 1024
MAX_SOURCE_CHARS = 256
MAX_DETAIL_TYPE_CHARS = 128
# PutEvents' own pattern for a bus name: no ARN (the grant is per name, in this account and
# region) and no partner bus (`aws.partner/...`, which only its partner may put events on).
BUS_NAME_PATTERN = r"^[.\-_A-Za-z0-9]{1,256}$"
RESERVED_SOURCE_PREFIX = "aws."  # sources of AWS services
TYPE_PLACEHOLDER = "{type}"
EVENT_PLACEHOLDER = "{event}"

# Entry errors in what we sent: no retry changes them. AWS also calls its authorization errors
# (AccessDeniedException, NotAuthorizedFor...) non-retryable, but an operator fixes those (a bus
# policy, a key policy): retried, they are delivered then or dead-lettered, where a final drops them.
FINAL_ENTRY_ERRORS = frozenset({"MalformedDetail", "InvalidArgument", "InvalidAccountIdException"})
NO_RESULT = "no_result"  # the answer lacks the entry's result: whether it was put is unknown
DELIVERED_CODE = "200"  # botocore raises on any other status

_CALLS = frozenset(ALL_CALLS)
_ACCEPTED = Verdict(AttemptStatus.DELIVERED, DELIVERED_CODE)
UNKNOWN_CALL = Unsupported("unknown_call")


class EventBridgeSettings(DestinationSettings):
    """`type: eventbridge`: each event as an entry on `event_bus_name` (same account and region)."""

    event_bus_name: str = Field(
        pattern=BUS_NAME_PATTERN, description="The event bus's name (not its ARN), in the stack's account and region"
    )
    source: str = Field(
        default="switchyard",
        min_length=1,
        max_length=MAX_SOURCE_CHARS,
        description="The entries' `source`, for rules to match (not starting with `aws.`)",
    )
    detail_type: str = Field(
        default=TYPE_PLACEHOLDER,
        min_length=1,
        max_length=MAX_DETAIL_TYPE_CHARS,
        description="The entries' `detail-type`: fixed text, `{type}` (the call) and `{event}` (a track's name)",
    )

    @field_validator("event_bus_name", mode="before")
    @classmethod
    def _a_name_not_an_arn(cls, value: object) -> object:
        if isinstance(value, str) and value.startswith("arn:"):
            raise ValueError("give the bus's name, not its ARN: it must be in the stack's account and region")
        return value

    @field_validator("source")
    @classmethod
    def _not_an_aws_source(cls, value: str) -> str:
        if value.startswith(RESERVED_SOURCE_PREFIX):
            raise ValueError(f"sources starting with {RESERVED_SOURCE_PREFIX!r} are reserved for AWS services")
        return value

    @field_validator("detail_type")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        rest = value.replace(TYPE_PLACEHOLDER, "").replace(EVENT_PLACEHOLDER, "")
        if "{" in rest or "}" in rest:
            raise ValueError(f"the only placeholders are {TYPE_PLACEHOLDER} and {EVENT_PLACEHOLDER}")
        return value


class EventBridge(DestinationType):
    name = "eventbridge"
    title = "Amazon EventBridge"
    settings_model = EventBridgeSettings

    def map(self, event: dict[str, Any], settings: EventBridgeSettings) -> list[Item] | Unsupported:
        call = event.get("type")
        if call not in _CALLS:
            return UNKNOWN_CALL
        timestamp = event.get("timestamp")
        when = timestamp if isinstance(timestamp, str) else None  # read by `put_events_entry`
        template = settings.detail_type
        detail_type = call if template == TYPE_PLACEHOLDER else render_detail_type(template, call, event)
        # The entry in compact form. Its serialized bytes are never fewer than the entry's size as
        # AWS counts it (a readable timestamp's quotes, commas and brackets outweigh Time's 14
        # bytes), so packing on them keeps every call within AWS's limit.
        return [new_item(Item, (ENTRIES, (when, settings.source, detail_type, event), ()))]

    def limits(self, channel: str, settings: EventBridgeSettings) -> Limits:
        return Limits(max_items=MAX_ENTRIES_PER_CALL, max_bytes=MAX_CALL_BYTES)

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: EventBridgeSettings, context: CallContext
    ) -> AwsCall:
        entries = [put_events_entry(payload, settings.event_bus_name) for payload in payloads]
        return AwsCall("events", "put_events", {"Entries": entries}, body_size=sum(map(len, payloads)))

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        if not answer.get("FailedEntryCount"):
            return [_ACCEPTED] * count
        results = answer.get("Entries") or []
        return [entry_verdict(results[index] if index < len(results) else None) for index in range(count)]


def render_detail_type(template: str, call: str, event: Mapping[str, Any]) -> str:
    if template == TYPE_PLACEHOLDER:  # the default: no templating on every event
        return call
    name = event.get("event") if call == EventType.TRACK else None
    if not isinstance(name, str) or not name:
        name = call
    # `{event}` last: an event name containing "{type}" is kept as written.
    return template.replace(TYPE_PLACEHOLDER, call).replace(EVENT_PLACEHOLDER, name)[:MAX_DETAIL_TYPE_CHARS]


def put_events_entry(payload: bytes, bus_name: str) -> dict[str, Any]:
    """The entry an item stands for, its event passed on as the bytes the driver serialized."""
    (when, source, detail_type), event_start = _item_header(payload)
    entry: dict[str, Any] = {
        "EventBusName": bus_name,
        "Source": source,
        "DetailType": detail_type,
        "Detail": payload[event_start:-1].decode(),
        "Resources": [],
    }
    moment = utc_time(when)
    if moment is not None:  # else EventBridge stamps the time it received the entry
        entry["Time"] = moment
    return entry


def _item_header(payload: bytes) -> tuple[list[Any], int]:
    """An item as the driver serialized it, `[time|null,source,detail-type,{event}]`: its first
    three values, and where its event starts.

    The event starts at the first `,{` outside the header's strings. A `,{` inside one would cut
    it unterminated, so the first cut that reads as JSON is the one: most often the first `,{`,
    read by one small `loads` (a regular expression over the strings' escapes costs more).
    """
    boundary = payload.find(b",{")
    while boundary >= 0:
        try:
            header = orjson.loads(payload[:boundary] + b"]")
        except orjson.JSONDecodeError:
            boundary = payload.find(b",{", boundary + 1)
            continue
        if isinstance(header, list) and len(header) == 3:
            return header, boundary + 1
        break
    raise ValueError("not an item of the eventbridge type")


def entry_verdict(result: Mapping[str, Any] | None) -> Verdict:
    if result is None:
        return Verdict(AttemptStatus.RETRY, NO_RESULT)
    code = result.get("ErrorCode")
    if not code:
        return _ACCEPTED
    # InternalFailure and ThrottlingException, documented as retryable, and any code AWS adds later.
    return Verdict(AttemptStatus.FINAL if code in FINAL_ENTRY_ERRORS else AttemptStatus.RETRY, code)


EVENTBRIDGE = EventBridge()
