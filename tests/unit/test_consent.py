"""Consent: a destination naming consent categories gets only the events whose
context.consent.categoryPreferences grant all of them; events without preferences follow their
source's consent_default; the deliverer settles the others as filtered, never retried."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import orjson
import pytest

from switchyard.config.compiled import CompiledWorkspace, ConsentDefault, Destination
from switchyard.config.workspace import ConfigError, compile_workspace, parse_workspace
from switchyard.delivery.consent import consented
from switchyard.delivery.policy import Action
from tests.support.delivery import FakeAdapter, FakeStats, make_deliverer, queued

WORKSPACE = """\
workspace: acme
sources:
  - {id: web, name: Web, write_key: wk_web_123}
  - {id: app, name: App, write_key: wk_app_123, consent_default: deny}
destinations:
  - id: ads
    type: webhook
    sources: [web, app]
    consent: [Advertising, Analytics]
    settings: {url: "http://h/1"}
"""


@functools.cache
def workspace() -> CompiledWorkspace:
    return compile_workspace(parse_workspace(WORKSPACE))


def ads() -> Destination:
    found = workspace().destination("ads")
    assert found is not None
    return found


def with_preferences(preferences: Any) -> dict[str, Any]:
    return {"type": "track", "context": {"consent": {"categoryPreferences": preferences}}}


@pytest.mark.parametrize(
    ("preferences", "expected"),
    [
        ({"Advertising": True, "Analytics": True, "Functional": False}, True),
        ({"Advertising": True, "Analytics": False}, False),
        ({"Advertising": True}, False),  # a category not mentioned is not granted
        ({"Advertising": "true", "Analytics": True}, False),  # only `true` grants
        ({"advertising": True, "analytics": True}, False),  # category names are exact
    ],
)
def test_every_category_of_the_destination_must_be_granted(preferences: dict[str, Any], expected: bool):
    assert consented(ads(), with_preferences(preferences), ConsentDefault.ALLOW) is expected


@pytest.mark.parametrize("event", [{"type": "track"}, {"context": {"consent": {}}}, with_preferences(["Advertising"])])
def test_an_event_without_preferences_follows_the_source_default(event: dict[str, Any]):
    assert consented(ads(), event, ConsentDefault.ALLOW) is True
    assert consented(ads(), event, ConsentDefault.DENY) is False


def test_consent_settings_survive_the_config_store_and_bad_values_are_refused():
    stored = orjson.loads(orjson.dumps(workspace().to_document()))
    restored = CompiledWorkspace.from_document(stored)
    assert restored == workspace()
    assert restored.source("app").consent_default is ConsentDefault.DENY  # type: ignore[union-attr]
    assert restored.destination("ads").consent == ("Advertising", "Analytics")  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"line 4, sources\.1\.consent_default"):
        parse_workspace(WORKSPACE.replace("consent_default: deny", "consent_default: maybe"))


def test_the_deliverer_sends_only_consented_events_and_counts_the_rest_as_filtered():
    adapter, stats = FakeAdapter(), FakeStats()
    gated = dataclasses.replace(ads(), type="webhook")
    granted, refused, silent_web, silent_app = (queued(i, "ads") for i in range(4))
    granted.request.event.update(with_preferences({"Advertising": True, "Analytics": True}), projectId="web")
    refused.request.event.update(with_preferences({"Advertising": False}), projectId="web")
    silent_web.request.event["projectId"] = "web"
    silent_app.request.event["projectId"] = "app"
    deliverer = make_deliverer(gated, adapter=adapter, stats=stats, sources=workspace().sources)
    outcomes = deliverer.deliver([granted, refused, silent_web, silent_app])
    assert {key: outcome.decision.action for key, outcome in outcomes.items()} == {
        "q0": Action.DONE,
        "q1": Action.SKIP,
        "q2": Action.DONE,
        "q3": Action.SKIP,
    }
    assert outcomes["q1"].consent_denied and outcomes["q3"].consent_denied
    assert sorted(ids[0] for ids, _ in adapter.calls) == ["m0", "m2"]
    assert stats.failures.count(("filtered_by_consent", "filtered")) == 2
