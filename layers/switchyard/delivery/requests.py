"""What travels on the delivery queue: events for one destination, several to a message.

A message is `{"destination", "lane", "options", "events": [...]}`: up to `events_per_message` events
of one destination and lane (the `delivery_events_per_message` stack option), so SQS bills one send
slot, one receive and one delete for all of them. Events the delivery function must retry while
others of their message went through are queued again alone, as a new message that carries how
often they were received (`receives`), when first (`first_received_at`) and, for a wait longer than
SQS's 15-minute delay, when they may be tried again (`not_before`). The one-event form
`{"destination", "lane", "options", "event"}` (what a dead letter stores, and messages queued before
packing) is read as a message of one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

LIVE_LANE = "live"


def _sqs_safe(body: bytes) -> bytes:
    """SQS refuses U+FFFE and U+FFFF, which JSON allows raw in strings (orjson writes them raw;
    it escapes control characters and refuses lone surrogates itself). Escaped, the JSON is the
    same value and the message is accepted."""
    if b"\xef\xbf\xbe" in body or b"\xef\xbf\xbf" in body:
        return body.replace(b"\xef\xbf\xbe", b"\\ufffe").replace(b"\xef\xbf\xbf", b"\\uffff")
    return body


@lru_cache(maxsize=1024)
def _body_head(destination_id: str, lane: str, options: bytes, field: bytes = b"event") -> bytes:
    head = orjson.dumps({"destination": destination_id, "lane": lane})
    return head[:-1] + b',"options":' + options + b',"' + field + b'":'


@dataclass(slots=True)
class DeliveryRequest:
    destination_id: str
    event: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    lane: str = LIVE_LANE
    # The event exactly as stored in the stream, when known: the router splices it into the body
    # instead of serializing the same event again for every destination.
    event_json: bytes | None = field(default=None, repr=False, compare=False)

    def to_body(self) -> bytes:
        """The one-event form (a dead letter's record of what was queued)."""
        return _sqs_safe(self._json())

    def _json(self) -> bytes:
        if self.event_json is None:
            return orjson.dumps(
                {"destination": self.destination_id, "event": self.event, "options": self.options, "lane": self.lane}
            )
        return _body_head(self.destination_id, self.lane, orjson.dumps(self.options)) + self.event_json + b"}"

    @property
    def serialized_event(self) -> bytes:
        return self.event_json if self.event_json is not None else orjson.dumps(self.event)

    @property
    def message_key(self) -> tuple[str, str, bytes]:
        """What the events of one message share."""
        return (self.destination_id, self.lane, orjson.dumps(self.options))

    @classmethod
    def from_body(cls, body: str | bytes) -> DeliveryRequest:
        """A one-event body (dead letters store this form)."""
        return cls.from_data(orjson.loads(body))

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> DeliveryRequest:
        """A one-event body, parsed."""
        return cls(data["destination"], data["event"], data.get("options") or {}, data.get("lane") or LIVE_LANE)


@dataclass(slots=True)
class DeliveryMessage:
    """One queue message: events for one destination and lane, and what their retries carry."""

    requests: list[DeliveryRequest]
    receives: int = 0  # how often its events were received in earlier messages
    first_received_at: float | None = None  # epoch seconds, when they were first received
    not_before: float | None = None  # epoch seconds: not tried again before (a wait over 15 minutes)

    def to_body(self) -> bytes:
        first = self.requests[0]
        destination, lane, options = first.message_key
        events = b",".join(request.serialized_event for request in self.requests)
        carried = {
            name: value
            for name, value in (
                ("receives", self.receives),
                ("first_received_at", self.first_received_at),
                ("not_before", self.not_before),
            )
            if value
        }
        tail = b"]," + orjson.dumps(carried)[1:] if carried else b"]}"
        return _sqs_safe(_body_head(destination, lane, options, b"events") + b"[" + events + tail)

    @classmethod
    def from_body(cls, body: str | bytes) -> DeliveryMessage:
        data = orjson.loads(body)
        if "events" not in data:
            return cls([DeliveryRequest.from_data(data)])
        destination, options, lane = data["destination"], data.get("options") or {}, data.get("lane") or LIVE_LANE
        if not isinstance(data["events"], list) or not data["events"]:
            raise ValueError("a delivery message without events")
        return cls(
            [DeliveryRequest(destination, event, options, lane) for event in data["events"]],
            receives=int(data.get("receives") or 0),
            first_received_at=data.get("first_received_at"),
            not_before=data.get("not_before"),
        )


def pack(requests: Sequence[DeliveryRequest], events_per_message: int, max_bytes: int) -> list[DeliveryMessage]:
    """The requests as messages of up to `events_per_message` events sharing destination, lane and
    options, each under `max_bytes` when serialized; each destination's events keep their order."""
    messages: list[DeliveryMessage] = []
    open_messages: dict[tuple[str, str, bytes], tuple[DeliveryMessage, int]] = {}
    for request in requests:
        key = request.message_key
        serialized = request.serialized_event
        if request.event_json is None:  # serialized once: the message's body splices these bytes
            request = dataclasses.replace(request, event_json=serialized)
        size = len(serialized) + 1
        current = open_messages.get(key)
        if current is not None:
            message, used = current
            if len(message.requests) < events_per_message and used + size <= max_bytes:
                message.requests.append(request)
                open_messages[key] = (message, used + size)
                continue
        message = DeliveryMessage([request])
        messages.append(message)
        open_messages[key] = (message, len(_body_head(*key, b"events")) + 64 + size)
    return messages
