"""Fan-out rules: connections, the enabled flag, and the integrations object."""

from __future__ import annotations

import pytest

from switchyard.config.workspace import compile_workspace, parse_workspace
from switchyard.router.routing import route

WORKSPACE = compile_workspace(
    parse_workspace("""\
workspace: acme
sources:
  - {id: web, name: Web, write_key: wk_web_123}
  - {id: app, name: App, write_key: wk_app_456}
destinations:
  - {id: hooks, name: Growth Hooks, type: webhook, sources: [web], settings: {url: "http://h/1"}}
  - {id: crm, type: webhook, sources: [web, app], settings: {url: "http://h/2"}}
  - {id: paused, type: webhook, enabled: false, sources: [web], settings: {url: "http://h/3"}}
""")
)


def targets(integrations: object = None, source: str = "web") -> dict[str, dict]:
    message = {"projectId": source, "integrations": integrations}
    return {destination.id: options for destination, options in route(message, WORKSPACE)}


def test_every_enabled_connected_destination_by_default():
    assert targets({}) == {"hooks": {}, "crm": {}}
    assert targets(None) == {"hooks": {}, "crm": {}}


def test_only_destinations_connected_to_the_source():
    assert targets({}, source="app") == {"crm": {}}
    assert targets({}, source="elsewhere") == {}


def test_false_blocks_a_destination_by_name_or_id():
    assert targets({"Growth Hooks": False}) == {"crm": {}}
    assert targets({"crm": False}) == {"hooks": {}}


def test_names_are_case_sensitive():
    assert targets({"growth hooks": False}) == {"hooks": {}, "crm": {}}


def test_all_false_blocks_everything_not_named():
    assert targets({"All": False}) == {}
    assert targets({"All": False, "crm": True}) == {"crm": {}}


@pytest.mark.parametrize("options", [{"mode": "fast"}, {}])
def test_an_object_value_enables_with_options(options: dict):
    assert targets({"All": False, "Growth Hooks": options}) == {"hooks": options}


def test_a_disabled_destination_gets_nothing_even_when_named():
    assert "paused" not in targets({"paused": True})
