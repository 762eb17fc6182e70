"""Destination filters: conditions compiled once, actions in Segment's order (sample, drop, drop
properties, allow properties), failing closed; in the deliverer, before the adapter."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest

from switchyard.config.compiled import Destination, FunctionConfig
from switchyard.config.workspace import ConfigError, compile_workspace, parse_workspace
from switchyard.delivery.filters import DestinationFilters
from switchyard.delivery.policy import Action
from switchyard.functions.runtime import EventResult
from tests.support.delivery import FakeAdapter, FakeStats, make_deliverer, queued

WORKSPACE = """\
workspace: acme
sources: [{id: web, name: Web, write_key: wk_web_123}]
destinations:
  - id: amp
    type: webhook
    sources: [web]
    settings: {url: "http://h/1"}
    filters:
      - title: No internal traffic
        if: 'context.traits.email != null and match(context.traits.email, "*@example.com")'
        actions: [{type: drop}]
      - title: Sample page views
        if: 'type = "page"'
        actions: [{type: sample, percent: 0.5, path: userId}]
      - title: No PII to analytics
        if: all
        actions: [{type: drop_properties, fields: {properties: [email, phone], context.traits: [email]}}]
      - title: Only what the tool needs
        if: 'type = "identify"'
        actions: [{type: allow_properties, fields: {traits: [plan, company]}}]
      - title: Switched off
        if: all
        enabled: false
        actions: [{type: drop}]
"""


@functools.cache
def destination(text: str = WORKSPACE) -> Destination:
    return compile_workspace(parse_workspace(text)).destinations[0]


def apply(event: dict[str, Any], filters: DestinationFilters | None = None) -> Any:
    return (filters or DestinationFilters()).apply(destination(), event)


def test_a_matching_drop_filter_drops_the_event_by_its_title():
    event = {"type": "track", "event": "Viewed", "context": {"traits": {"email": "ops@example.com"}}}
    filtered = apply(event)
    assert (filtered.event, filtered.dropped_by) == (None, "No internal traffic")


def test_properties_are_dropped_without_changing_the_event_given():
    event = {
        "type": "track",
        "event": "Signed Up",
        "properties": {"plan": "pro", "email": "a@b.io", "phone": "1"},
        "context": {"traits": {"email": "a@b.io", "plan": "pro"}, "ip": "203.0.113.7"},
    }
    filtered = apply(event)
    assert filtered.event == {
        "type": "track",
        "event": "Signed Up",
        "properties": {"plan": "pro"},
        "context": {"traits": {"plan": "pro"}, "ip": "203.0.113.7"},
    }
    assert event["properties"] == {"plan": "pro", "email": "a@b.io", "phone": "1"}, "the original is untouched"


def test_allow_properties_keeps_only_the_listed_keys_after_the_drops():
    event = {"type": "identify", "userId": "u1", "traits": {"plan": "pro", "company": "Acme", "age": 40}}
    assert apply(event).event == {"type": "identify", "userId": "u1", "traits": {"plan": "pro", "company": "Acme"}}


def test_an_event_no_condition_matches_goes_as_it_is():
    first_two = WORKSPACE.split("      - title: No PII")[0]
    event = {"type": "group", "groupId": "g"}
    filtered = DestinationFilters().apply(destination(first_two), event)
    assert filtered.event is event and filtered.dropped_by is None


def test_sampling_by_path_gives_every_event_of_a_user_the_same_verdict_and_keeps_about_the_percent():
    filters = DestinationFilters()
    verdicts = {
        user: {apply({"type": "page", "userId": user, "messageId": str(n)}, filters).event is None for n in range(5)}
        for user in (f"user-{i}" for i in range(2000))
    }
    assert all(len(seen) == 1 for seen in verdicts.values()), "one verdict per userId"
    kept = sum(1 for seen in verdicts.values() if seen == {False})
    assert 900 <= kept <= 1100, f"{kept} of 2000 users kept at 50 %"


def test_sampling_comes_before_the_other_actions():
    event = {"type": "page", "userId": "user-3", "context": {"traits": {"email": "x@example.com"}}}
    filtered = apply(event)
    assert filtered.event is None
    assert filtered.dropped_by in ("Sample page views", "No internal traffic")
    dropped = [apply({**event, "userId": f"user-{i}"}).dropped_by for i in range(50)]
    assert "Sample page views" in dropped, "a sampled-out event is dropped by the sample filter first"


def test_a_condition_that_cannot_be_evaluated_drops_the_event_and_says_so():
    text = WORKSPACE.replace(
        """if: 'type = "identify"'""", """if: 'lowercase(properties.plan) = "pro"'"""
    )  # lowercase() of a number: an evaluation error
    event = {"type": "track", "properties": {"plan": 3}}
    filtered = DestinationFilters().apply(destination(text), event)
    assert (filtered.event, filtered.dropped_by) == (None, "Only what the tool needs.evaluation_failed")


def test_a_malformed_condition_is_refused_by_apply_with_its_line_and_column():
    broken = WORKSPACE.replace("""if: 'type = "page"'""", """if: 'type == "page"'""")
    with pytest.raises(ConfigError, match=r"line 13, destinations\.0\.filters\.1\.if: .*invalid FQL.*column 6"):
        parse_workspace(broken)


def test_at_most_ten_filters_per_destination():
    many = "".join(f"      - {{title: f{i}, if: all, actions: [{{type: drop}}]}}\n" for i in range(11))
    text = WORKSPACE.split("    filters:\n")[0] + "    filters:\n" + many
    with pytest.raises(ConfigError, match=r"filters: List should have at most 10 items"):
        parse_workspace(text)


def test_the_deliverer_settles_dropped_events_as_filtered_per_title_and_sends_only_the_rest():
    adapter, stats = FakeAdapter(), FakeStats()
    deliverer = make_deliverer(destination(), adapter=adapter, stats=stats)
    internal = queued(0, "amp")
    internal.request.event["context"] = {"traits": {"email": "ops@example.com"}}
    kept = queued(1, "amp")
    kept.request.event["properties"] = {"email": "a@b.io", "plan": "pro"}
    outcomes = deliverer.deliver([internal, kept])
    assert outcomes["q0"].decision.action is Action.SKIP and outcomes["q0"].filtered_by == "No internal traffic"
    assert outcomes["q1"].decision.action is Action.DONE
    assert [ids for ids, _ in adapter.calls] == [["m1"]]
    assert kept.request.event["properties"] == {"plan": "pro"}, "the destination gets the filtered event"
    assert ("filtered_at_destination.No internal traffic", "filtered") in stats.failures


def test_sampling_without_a_path_keeps_each_messages_verdict_across_retries_and_replays():
    text = WORKSPACE.replace(
        "actions: [{type: sample, percent: 0.5, path: userId}]", "actions: [{type: sample, percent: 0.5}]"
    )
    pages = [{"type": "page", "userId": "same-user", "messageId": f"m-{n}"} for n in range(1000)]
    first = [DestinationFilters().apply(destination(text), page).event is None for page in pages]
    again = [DestinationFilters().apply(destination(text), page).event is None for page in pages]
    assert first == again, "the same message, the same verdict"
    assert 420 <= first.count(False) <= 580, f"{first.count(False)} of 1000 kept at 50 %"


def test_filters_run_before_the_insert_function_so_it_never_sees_a_dropped_event():
    seen: list[str] = []

    class Functions:
        def run_events(self, function: FunctionConfig, events: list[dict[str, Any]]) -> list[EventResult]:
            seen.extend(event["messageId"] for event in events)
            return [EventResult("ok", event) for event in events]

    enrich = FunctionConfig("enrich", "insert", None, "functions/enrich.py", {}, (), 5)
    with_function = dataclasses.replace(destination(), insert_function="enrich")
    internal, kept = queued(0, "amp"), queued(1, "amp")
    internal.request.event["context"] = {"traits": {"email": "ops@example.com"}}
    deliverer = make_deliverer(with_function, functions=Functions(), function_configs=(enrich,))
    outcomes = deliverer.deliver([internal, kept])
    assert outcomes["q0"].filtered_by == "No internal traffic"
    assert seen == ["m1"]


def test_a_filter_with_nothing_to_remove_leaves_the_event_as_it_is():
    event = {"type": "track", "event": "Viewed", "properties": {"plan": "pro"}, "context": {"traits": {"plan": "pro"}}}
    filtered = apply(event)  # `No PII to analytics` matches every event, and this one has none of its keys
    assert filtered.event is event, "not copied for nothing"


def test_events_without_the_sampling_path_are_sampled_by_message_not_all_alike():
    pages = [{"type": "page", "messageId": f"anon-{n}"} for n in range(1000)]  # no userId
    kept = sum(1 for page in pages if apply(page).event is not None)
    assert 400 <= kept <= 600, f"{kept} of 1000 anonymous pages kept at 50 %"
