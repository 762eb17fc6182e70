"""What travels on the delivery queue: one event for one destination."""

from __future__ import annotations

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
def _body_head(destination_id: str, lane: str, options: bytes) -> bytes:
    head = orjson.dumps({"destination": destination_id, "lane": lane})
    return head[:-1] + b',"options":' + options + b',"event":'


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
        return _sqs_safe(self._json())

    def _json(self) -> bytes:
        if self.event_json is None:
            return orjson.dumps(
                {"destination": self.destination_id, "event": self.event, "options": self.options, "lane": self.lane}
            )
        return _body_head(self.destination_id, self.lane, orjson.dumps(self.options)) + self.event_json + b"}"

    @classmethod
    def from_body(cls, body: str | bytes) -> DeliveryRequest:
        data = orjson.loads(body)
        return cls(data["destination"], data["event"], data.get("options") or {}, data.get("lane") or LIVE_LANE)
