"""Destination adapters: mapping + packing (the request bodies included) CPU per event, against the
floor of serializing the same events with orjson.

Events are a mix as a web app sends them (track, page, identify, screen, group, alias), each with
analytics.js's context; settings are each type's required fields with placeholder values. What is
measured is exactly what delivery does before the network: `map` each event, serialize its items
once, pack them within the tool's limits and build each request.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from bench.common import Figure, time_pair
from bench.ingest import browser_event
from switchyard.delivery.attempts import Attempt
from switchyard.destinations.base import CallContext, DestinationSettings, DestinationType
from switchyard.destinations.catalog import TOOLS
from switchyard.destinations.driver import ToolAdapter

TITLE = "Destination adapters (mapping + packing per event)"
EVENTS = 200
TARGET_RATIO = 3.0
NOW = 1_796_000_000.0
# Valid placeholders where a required setting has a format of its own.
PLACEHOLDERS = {
    "measurement_id": "G-BENCH12345",
    "url": "https://hooks.example.com/in",
    "instance": "iad-01",
    "site_id": "3f1c9a7e2b8d4c6f0a15",
    "webhook_url": "https://hooks.slack.com/services/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h",
    "events": ["*"],
    "private_api_key": "pk_bench0123456789abcdef0123456789ab",
    "pixel_id": "123456789012345",
}


# What a type needs for the mixed events to be what it sends rather than filtered out: HubSpot sends
# only the tracks it has a custom event for, and only for contacts with an email in the context.
SETTINGS: dict[str, dict[str, Any]] = {"hubspot": {"events": {"Product Viewed": "pe1234567_product_viewed"}}}
CONTEXT_TRAITS: dict[str, dict[str, Any]] = {"hubspot": {"email": "shopper@example.com"}}


def mixed_events(count: int) -> list[dict[str, Any]]:
    """6 in 10 tracks, 2 pages, then identify, screen, group and alias: received, as delivery sees them."""
    events = []
    for index in range(count):
        event = browser_event(index)
        event["userId"] = f"user-{index % 50}"
        event["receivedAt"] = "2026-11-30T12:00:01.456Z"
        kind = index % 10
        if kind in (6, 7):
            event.update(
                type="page", name="Product", properties={"path": "/p/1", "title": "Shoe", "url": "https://x/p"}
            )
        elif kind == 8:
            event.update(type="identify", traits={"email": f"u{index}@example.com", "plan": "pro", "name": "A B"})
        elif kind == 9:
            variant = (index // 10) % 3
            if variant == 0:
                event.update(type="screen", name="Home", properties={"tab": "feed"})
            elif variant == 1:
                event.update(type="group", groupId="acme", traits={"name": "Acme", "employees": 40})
            else:
                event.update(type="alias", previousId=event["anonymousId"])
        events.append(event)
    return events


def placeholder_settings(kind: DestinationType) -> DestinationSettings:
    """The type's required settings with placeholder values (validated, so defaults apply)."""
    model = kind.settings_model
    values = {
        name: PLACEHOLDERS.get(name, f"bench-{name.replace('_', '-')}-value")
        for name, info in model.model_fields.items()
        if info.is_required()
    }
    return model.model_validate({**values, **SETTINGS.get(kind.name, {})})


def events_for(kind: DestinationType, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    traits = CONTEXT_TRAITS.get(kind.name)
    if traits is None:
        return events
    return [{**event, "context": {**event.get("context", {}), "traits": traits}} for event in events]


def adapter_figure(kind: DestinationType, events: list[dict[str, Any]]) -> Figure:
    adapter = ToolAdapter(kind, "us-west-2")
    settings = placeholder_settings(kind)
    context = CallContext("us-west-2", NOW)

    def map_and_pack() -> None:
        attempts: list[Attempt | None] = [None] * len(events)
        for batch in adapter.map_and_pack(events, settings, attempts):
            kind.call(batch.channel, batch.payloads, settings, context)

    def floor() -> None:
        for event in events:
            orjson.dumps(event)

    adapter_seconds, floor_seconds = time_pair(map_and_pack, floor, timer=time.process_time)
    return Figure(
        f"{kind.name}: map + pack per event (CPU)",
        adapter_seconds / len(events) * 1e6,
        "µs",
        floor=floor_seconds / len(events) * 1e6,
        target=TARGET_RATIO,
    )


def run() -> list[Figure]:
    events = mixed_events(EVENTS)
    return [adapter_figure(kind, events_for(kind, events)) for kind in TOOLS.values()]
