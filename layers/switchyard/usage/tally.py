"""One batch's usage per source, hour and shard: what the router adds to the usage table.

- API calls: the messages the tracking API accepted from the source, each call of a batch counted
  (as Segment counts them against a plan's throughput), duplicates an SDK sent again and messages
  later blocked by the source's controls included;
- bytes: their size as stored (the JSON on the stream);
- events: those archived and routed, after deduplication, suppressed users, schema filters and the
  tracking plan (forwarded violations count for the source they are forwarded to);
- the people behind the calls, for MTUs (usage/people.py).

Hours are the messages' received hours (UTC), as in the archive, so a retried batch lands in the
same items.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from switchyard.router.records import StreamEvent
from switchyard.usage.people import People

_HOUR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}")


@dataclass(frozen=True)
class UsageKey:
    source_id: str
    hour: str  # YYYY-MM-DDTHH (UTC, received)
    shard_id: str


@dataclass
class HourUsage:
    calls: int = 0
    bytes: int = 0
    events: int = 0
    people: People = field(default_factory=People)


class _Hours:
    """The received hour of a message: `receivedAt`'s first 13 characters, checked once per distinct
    value; a message without `receivedAt` (not from ingest) counts in the hour it is routed."""

    def __init__(self, now: datetime) -> None:
        self._fallback = now.strftime("%Y-%m-%dT%H")
        self._checked: dict[str, str] = {}

    def of(self, message: dict[str, Any]) -> str:
        received = message.get("receivedAt")
        prefix = received[:13] if type(received) is str else ""
        hour = self._checked.get(prefix)
        if hour is None:
            hour = self._checked[prefix] = prefix if _HOUR.fullmatch(prefix) else self._fallback
        return hour


def tally(received: Sequence[StreamEvent], archived: Sequence[StreamEvent], now: datetime) -> dict[UsageKey, HourUsage]:
    """Usage of the settled part of a batch: `received` as decoded from the stream, `archived` what
    of it was archived and routed. (On the router's hot path: keyed by plain tuples while counting.)"""
    hours = _Hours(now)
    found: dict[tuple[str, str, str], HourUsage] = {}
    for event in received:
        if not event.source_id:
            continue
        key = (event.source_id, hours.of(event.message), event.shard_id)
        usage = found.get(key)
        if usage is None:
            usage = found[key] = HourUsage()
        usage.calls += 1
        usage.bytes += len(event.data)
        usage.people.add(event.message)
    for event in archived:
        if not event.source_id:
            continue
        key = (event.source_id, hours.of(event.message), event.shard_id)
        usage = found.get(key)
        if usage is None:  # forwarded by a tracking plan to a source with no calls of its own here
            usage = found[key] = HourUsage()
        usage.events += 1
    return {UsageKey(*key): usage for key, usage in found.items()}
