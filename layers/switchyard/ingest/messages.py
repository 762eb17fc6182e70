"""Validation and enrichment of one message, as the tracking API contract specifies.

This runs once per event on the hottest path of the pipeline, so it is plain dict work: no
model objects, one serialization per message (which doubles as the size check).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from switchyard.constants import (
    KINESIS_MAX_PARTITION_KEY_CHARS,
    MAX_MESSAGE_BYTES,
    MAX_MESSAGE_ID_CHARS,
    MAX_STORED_MESSAGE_BYTES,
)
from switchyard.ingest.numbers import OUT_OF_RANGE_DETAIL, holds_out_of_range_integer, wrote_large_float
from switchyard.timeutil import parse_wall_time

CALL_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})

# Single-message paths, including the browser library's one-letter ones.
SINGLE_CALL_PATHS = {
    **{call: call for call in CALL_TYPES},
    "t": "track",
    "p": "page",
    "i": "identify",
    "g": "group",
    "a": "alias",
    "s": "screen",
}
BATCH_PATHS = frozenset({"batch", "import", "b"})

# Fields whose value must be an object when present, with the reason code a violation gets.
_OBJECT_FIELDS = (
    ("properties", "properties_not_object"),
    ("traits", "traits_not_object"),
    ("context", "context_not_object"),
    ("integrations", "integrations_not_object"),
)


_OUT_OF_RANGE_TIME = "`timestamp`, corrected for clock skew with `sentAt`, is outside years 1 to 9999 (UTC)."


@dataclass(slots=True, frozen=True)
class Discard:
    """A message refused with a stable reason code (counted per source and reason)."""

    reason: str
    detail: str


@dataclass(slots=True)
class AcceptedMessage:
    message_id: str
    partition_key: str
    data: bytes


@dataclass(slots=True, frozen=True)
class RequestContext:
    """What the server knows about the request a message arrived in (times are naive UTC)."""

    source_id: str
    region: str
    received_at: datetime
    ip: str | None
    sent_at: Any = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    # What each message is made of, parsed again with exact integers: only called when a stored
    # message holds a large float (see switchyard.ingest.numbers), at most once per request.
    exact_messages: Callable[[], list[Any]] | None = None
    # receivedAt - sentAt per distinct sentAt text: a batch shares one, so it is parsed once.
    _skews: dict[str, timedelta | None] = field(default_factory=dict)
    _exact: list[list[Any]] = field(default_factory=list)

    def integer_out_of_range(self, index: int) -> bool:
        """Whether message `index` held an integer orjson could only parse as a float."""
        if self.exact_messages is None:  # messages not parsed from JSON text here (a function's)
            return False
        try:
            if not self._exact:
                self._exact.append(self.exact_messages())
            return holds_out_of_range_integer(self._exact[0][index])
        except RecursionError:  # deeper than the stdlib parser goes (orjson allows 1024): cannot tell
            return True

    def skew(self, sent_at: object) -> timedelta | None:
        """How far the client's clock is behind ours, judged by when it says it sent the request."""
        if not isinstance(sent_at, str):
            return None
        try:
            return self._skews[sent_at]
        except KeyError:
            sent = parse_wall_time(sent_at)
            skew = None
            if sent is not None:
                offset = sent.utcoffset()
                # Offset applied to the timedelta, not to `sent`: near years 1 and 9999 that overflows.
                skew = (
                    self.received_at - sent if offset is None else self.received_at - sent.replace(tzinfo=None) + offset
                )
            self._skews[sent_at] = skew
            return skew


def validation_error(message: dict[str, Any], call_type: str) -> Discard | None:
    """The first contract violation of a message whose type is known, or None when it is valid.

    Written out inline rather than as a table of rules: it runs for every event received.
    """
    user_id = message.get("userId")
    anonymous_id = message.get("anonymousId")
    if not ((type(user_id) is str and user_id) or (type(anonymous_id) is str and anonymous_id)):
        return Discard("no_user_anon_id", "A non-empty `userId` or `anonymousId` is required.")
    if call_type == "track":
        event = message.get("event")
        if type(event) is not str:
            if event is None:
                return Discard("event_not_defined", "A track call needs a non-empty `event`.")
            return Discard("event_not_string", "`event` must be a string.")
        if not event:
            return Discard("event_not_defined", "A track call needs a non-empty `event`.")
    elif call_type == "group":
        group_id = message.get("groupId")
        if not ((type(group_id) is str and group_id) or type(group_id) in (int, float)):
            return Discard("group_id_not_defined", "A group call needs a non-empty `groupId`.")
    elif call_type == "alias":
        previous_id = message.get("previousId")
        if not (type(previous_id) is str and previous_id):
            return Discard("previous_id_not_defined", "An alias call needs a non-empty `previousId`.")
        if not (type(user_id) is str and user_id):
            return Discard("no_user_id", "An alias call needs a non-empty `userId`.")
    for name, reason in _OBJECT_FIELDS:
        value = message.get(name)
        if value is not None and type(value) is not dict:
            return Discard(reason, f"`{name}` must be an object.")
    message_id = message.get("messageId")
    if message_id is not None:
        if type(message_id) is not str:
            return Discard("message_id_not_string", "`messageId` must be a string.")
        if len(message_id) > MAX_MESSAGE_ID_CHARS:
            return Discard("message_id_too_long", f"`messageId` is over {MAX_MESSAGE_ID_CHARS} characters.")
    return None


def partition_key(source_id: str, message: dict[str, Any]) -> str:
    """Kinesis partition key: one shard per user, so one user's messages stay in order.

    The anonymous id wins over the user id because a device keeps its anonymous id across
    `identify`: keying on it keeps a visitor's events before and after identification in one
    ordered sequence. Server-side calls carry only `userId`. The source prefix keeps one source's
    ids from colliding with another's; long keys are hashed to fit Kinesis's 256-character limit.
    """
    anonymous_id = message.get("anonymousId")
    user = anonymous_id if type(anonymous_id) is str and anonymous_id else message.get("userId")
    key = f"{source_id}/{user}"
    if len(key) > KINESIS_MAX_PARTITION_KEY_CHARS:
        return f"{source_id}/sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def corrected_timestamp(client_timestamp: object, skew: timedelta | None, received_text: str) -> str | None:
    """`receivedAt - (sentAt - originalTimestamp)`, i.e. the client's timestamp plus its clock skew.

    Without `sentAt` the client's timestamp is taken as it is; without either, `receivedAt`.
    An unreadable client timestamp is kept in `originalTimestamp` but not trusted here. None when
    the result falls outside years 1 to 9999 in UTC: a datetime cannot hold it (the message's
    discard reason).
    """
    original = parse_wall_time(client_timestamp)
    if original is None:
        return received_text
    offset = original.utcoffset()
    if offset is not None:  # one addition of timedeltas, so only the result itself can overflow
        original = original.replace(tzinfo=None)
        skew = -offset if skew is None else skew - offset
    if skew is not None:
        try:
            original += skew
        except OverflowError:
            return None
    return original.isoformat("T", "milliseconds") + "Z"  # format_timestamp, inlined: naive UTC


def process(message: object, call_type: str | None, request: RequestContext, received_text: str):
    """Validate, enrich and serialize one message: an AcceptedMessage or a Discard."""
    return process_all([message], call_type, request, received_text)[0]


def process_all(
    messages: list[Any], call_type: str | None, request: RequestContext, received_text: str
) -> list[AcceptedMessage | Discard]:
    """`process` over a request's messages, in order: the hot loop of the tracking API.

    Enrichment (the contract's "What the server adds") and the partition key are written out
    inline, with the request's values held in locals: for a browser batch that is a measurable
    share of the whole request.
    """
    results: list[AcceptedMessage | Discard] = []
    append = results.append
    source_id, region, ip = request.source_id, request.region, request.ip
    batch_context, batch_integrations, batch_sent_at = request.context, request.integrations, request.sent_at
    skew_of = request.skew
    for index, message in enumerate(messages):
        if type(message) is not dict:
            append(Discard("message_not_object", "Each message must be a JSON object."))
            continue
        kind = call_type
        if kind is None:
            kind = message.get("type")
            if type(kind) is not str or kind not in CALL_TYPES:
                append(Discard("invalid_type", f"`type` must be one of {', '.join(sorted(CALL_TYPES))}."))
                continue
        problem = validation_error(message, kind)
        if problem is not None:
            append(problem)
            continue

        # Enrich: what the server adds.
        get = message.get
        message["type"] = kind
        if "writeKey" in message:
            del message["writeKey"]
        message_id = get("messageId")
        if not message_id:
            message_id = message["messageId"] = str(uuid.uuid4())
        context = get("context")
        if batch_context:
            context = message["context"] = {**batch_context, **context} if context else dict(batch_context)
        integrations = get("integrations")
        if batch_integrations:
            message["integrations"] = (
                {**batch_integrations, **integrations} if integrations else dict(batch_integrations)
            )
        elif integrations is None:
            message["integrations"] = {}
        if ip:
            if context is None:
                message["context"] = {"ip": ip}
            elif "ip" not in context:
                context["ip"] = ip
        sent_at = get("sentAt")
        if sent_at is None and batch_sent_at is not None:
            sent_at = message["sentAt"] = batch_sent_at
        client_timestamp = get("timestamp")
        if client_timestamp is not None:
            message["originalTimestamp"] = client_timestamp
        else:
            client_timestamp = get("originalTimestamp")
        timestamp = corrected_timestamp(client_timestamp, skew_of(sent_at), received_text)
        if timestamp is None:
            append(Discard("timestamp_out_of_range", _OUT_OF_RANGE_TIME))
            continue
        message["receivedAt"] = received_text
        message["timestamp"] = timestamp
        message["projectId"] = source_id
        message["receivedRegion"] = region

        try:
            data = orjson.dumps(message)
        except (orjson.JSONEncodeError, TypeError):
            append(Discard("message_too_deep", "The message is nested too deeply to store."))
            continue
        if len(data) > MAX_STORED_MESSAGE_BYTES:
            append(Discard("message_too_large", f"The message is over the {MAX_MESSAGE_BYTES}-byte limit."))
            continue
        # An integer beyond 64 bits became a float orjson wrote as `1.8e+19` (see ingest.numbers).
        # `0x2B in data` ("+") is a plain memchr, several times cheaper than `b"+" in data`.
        if 0x2B in data and wrote_large_float(data) and request.integer_out_of_range(index):
            append(Discard("integer_out_of_range", OUT_OF_RANGE_DETAIL))
            continue
        anonymous_id = get("anonymousId")
        key = f"{source_id}/{anonymous_id if type(anonymous_id) is str and anonymous_id else get('userId')}"
        if len(key) > KINESIS_MAX_PARTITION_KEY_CHARS:
            key = partition_key(source_id, message)
        append(AcceptedMessage(message_id, key, data))
    return results
