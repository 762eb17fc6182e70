"""FQL: a compiled query's time per event against the floor of a hand-written Python test doing the same.

Each query is compiled once, as a destination filter's is; what is timed is `matches(event)` over a
mix of analytics.js track events (some with an email in `context.traits`, some identify calls), and
beside it the lambda a developer would write for the same test, with the same null handling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.common import Figure, time_pair
from bench.ingest import browser_event
from switchyard.filters.fql import compile_query

TITLE = "FQL evaluation (compiled query per event)"
EVENTS = 200
TARGET_RATIO = 2.0

Test = Callable[[dict[str, Any]], bool]


def _traits(event: dict[str, Any]) -> Any:
    context = event.get("context")
    return context.get("traits") if type(context) is dict else None


def _email_matches(event: dict[str, Any]) -> bool:
    traits = _traits(event)
    email = traits.get("email") if type(traits) is dict else None
    return type(email) is str and email.endswith("@example.com")


def _three_clauses(event: dict[str, Any]) -> bool:
    properties = event.get("properties")
    price = properties.get("price") if type(properties) is dict else None
    return event.get("type") == "track" and (
        event.get("event") == "Order Completed" or (type(price) in (int, float) and price > 100)
    )


def _url_mentions(event: dict[str, Any]) -> bool:
    context = event.get("context")
    page = context.get("page") if type(context) is dict else None
    url = page.get("url") if type(page) is dict else None
    return type(url) is str and "utm_source=google" in url.lower()


# (label, FQL, the hand-written equivalent)
QUERIES: list[tuple[str, str, Test]] = [
    (
        "path compare",
        "context.library.name = 'analytics.js'",
        lambda e: (
            type(c := e.get("context")) is dict
            and type(lib := c.get("library")) is dict
            and lib.get("name") == "analytics.js"
        ),
    ),
    ("match on an email", "match(context.traits.email, '*@example.com')", _email_matches),
    ("in a list", "type in ['identify', 'group', 'alias']", lambda e: e.get("type") in {"identify", "group", "alias"}),
    (
        "and/or of three clauses",
        "type = 'track' and (event = 'Order Completed' or properties.price > 100)",
        _three_clauses,
    ),
    ("nested function", "contains(lowercase(context.page.url), 'utm_source=google')", _url_mentions),
]


def mixed_events(count: int) -> list[dict[str, Any]]:
    events = []
    for index in range(count):
        event = browser_event(index)
        if index % 3 == 0:
            domain = "example.com" if index % 2 else "customer.io"
            event["context"]["traits"] = {"email": f"user{index}@{domain}"}
        if index % 5 == 0:
            event.update(type="identify", traits={"plan": "pro"})
        events.append(event)
    return events


def query_figure(label: str, text: str, hand_written: Test, events: list[dict[str, Any]]) -> Figure:
    matches = compile_query(text).matches
    expected = [hand_written(event) for event in events]
    if [matches(event) for event in events] != expected:
        raise RuntimeError(f"{label}: the query and its hand-written test disagree")

    def compiled() -> None:
        for event in events:
            matches(event)

    def floor() -> None:
        for event in events:
            hand_written(event)

    query_seconds, floor_seconds = time_pair(compiled, floor, timer=time.process_time)
    return Figure(
        f"{label}: per event (CPU)",
        query_seconds / len(events) * 1e9,
        "ns",
        floor=floor_seconds / len(events) * 1e9,
        target=TARGET_RATIO,
    )


def run() -> list[Figure]:
    events = mixed_events(EVENTS)
    return [query_figure(label, text, test, events) for label, text, test in QUERIES]
