"""A replay request: which slice of the archive goes to which destinations, how fast."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from switchyard.timeutil import format_timestamp, parse_timestamp

REPLAY_LANE = "replay"
MIN_RATE = 1
MAX_RATE = 10_000


class ReplayRequestError(ValueError):
    """A replay that must not start; the message says why."""


@dataclass(frozen=True)
class ReplayDestination:
    id: str
    name: str  # the key `integrations` uses


@dataclass(frozen=True)
class ReplayRequest:
    id: str
    source: str
    destinations: tuple[ReplayDestination, ...]
    start: str  # received time, inclusive, `YYYY-MM-DDTHH:MM:SS.mmmZ`
    end: str  # received time, exclusive
    rate: int
    types: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    requested_at: str = field(default_factory=lambda: format_timestamp(datetime.now(UTC)))

    def to_input(self) -> dict[str, Any]:
        data = asdict(self)
        data["destinations"] = [asdict(destination) for destination in self.destinations]
        data["types"] = list(self.types)
        data["events"] = list(self.events)
        return data

    @classmethod
    def from_input(cls, data: dict[str, Any]) -> ReplayRequest:
        return cls(
            id=data["id"],
            source=data["source"],
            destinations=tuple(ReplayDestination(**destination) for destination in data["destinations"]),
            start=data["start"],
            end=data["end"],
            rate=int(data["rate"]),
            types=tuple(data.get("types") or ()),
            events=tuple(data.get("events") or ()),
            requested_at=data.get("requested_at") or "",
        )

    def start_time(self) -> datetime:
        return parse_timestamp(self.start)  # type: ignore[return-value]

    def end_time(self) -> datetime:
        return parse_timestamp(self.end)  # type: ignore[return-value]

    def matches(self, event: dict[str, Any]) -> bool:
        received = event.get("receivedAt") or ""
        if not (self.start <= received < self.end):
            return False
        if self.types and event.get("type") not in self.types:
            return False
        return not (self.events and event.get("event") not in self.events)


def new_replay_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"rp-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def normalize_time(text: str, option: str) -> str:
    moment = parse_timestamp(text)
    if moment is None:
        raise ReplayRequestError(f"{option} {text!r} is not an ISO-8601 time such as 2026-11-01T00:00:00Z")
    return format_timestamp(moment)
