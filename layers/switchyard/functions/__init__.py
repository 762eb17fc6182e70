"""What a Switchyard function imports: the error classes and, for source functions, the emitters.

    from switchyard.functions import DropEvent, RetryError, track, identify

    def on_request(request, settings):          # a source function
        body = request.json()
        track(user_id=body["customer"], event="Invoice Paid", properties={"amount": body["amount"]})

    def on_track(event, settings):              # an insert function
        if event["event"] == "Test":
            raise DropEvent("tests are not delivered")
        event["properties"]["plan"] = settings["plan_prefix"] + "-plan"
        return event

| raised by your code                  | outcome                  | retried? |
|--------------------------------------|--------------------------|----------|
| EventNotSupported (or no handler)    | unsupported_event_type   | no       |
| InvalidEventPayload, ValidationError | message_rejected         | no       |
| DropEvent (insert functions)         | dropped on purpose       | no       |
| RetryError                           | retry                    | yes      |
| time-out                             | function_timeout         | yes      |
| anything else                        | bad_request              | no       |
"""

from __future__ import annotations

import contextvars
from typing import Any


class FunctionError(Exception):
    """Base of the errors a function raises on purpose."""


class EventNotSupported(FunctionError):
    """This function does not handle this kind of event."""


class InvalidEventPayload(FunctionError):
    """The event lacks what the function needs."""


class ValidationError(FunctionError):
    """The event fails the function's own validation."""


class RetryError(FunctionError):
    """A passing failure (a rate limit, an outage): try again later."""


class DropEvent(FunctionError):
    """Insert functions: do not deliver this event (counted, not an error)."""


# Messages a source function emits during one request.
_emitted: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar("emitted", default=None)

_CAMEL = {
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "group_id": "groupId",
    "previous_id": "previousId",
    "message_id": "messageId",
}


def _emit(call_type: str, fields: dict[str, Any]) -> None:
    collected = _emitted.get()
    if collected is None:
        raise RuntimeError(f"{call_type}() can only be called from a source function's on_request")
    message = {_CAMEL.get(key, key): value for key, value in fields.items() if value is not None}
    message["type"] = call_type
    collected.append(message)


def track(**fields: Any) -> None:
    """Emit a track call: `track(user_id=..., event=..., properties={...})`."""
    _emit("track", fields)


def identify(**fields: Any) -> None:
    _emit("identify", fields)


def page(**fields: Any) -> None:
    _emit("page", fields)


def screen(**fields: Any) -> None:
    _emit("screen", fields)


def group(**fields: Any) -> None:
    _emit("group", fields)


def alias(**fields: Any) -> None:
    _emit("alias", fields)


__all__ = [
    "DropEvent",
    "EventNotSupported",
    "FunctionError",
    "InvalidEventPayload",
    "RetryError",
    "ValidationError",
    "alias",
    "group",
    "identify",
    "page",
    "screen",
    "track",
]
