"""Sources' schema filters: what they block and omit, and the router applying them before the
archive (blocked events are neither claimed, archived nor delivered)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from switchyard.config.compiled import CompiledWorkspace, SchemaControls
from switchyard.config.workspace import ConfigError, compile_workspace, parse_workspace
from switchyard.router.schema import SchemaFilter, SchemaReason
from switchyard.router.service import KinesisRecord, Router
from tests.support.router import MemoryArchive, MemoryDedupe, MemoryQueue

BLOCKED, PAGE, SCREEN = SchemaReason.EVENT_BLOCKED, SchemaReason.PAGE_BLOCKED, SchemaReason.SCREEN_BLOCKED

WORKSPACE = """\
workspace: acme
sources:
  - id: web
    name: Web
    write_key: wk_web_123
    schema:
      block_events: [Debug Ping, "Legacy *"]
      block_pages: [Admin*]
      block_screens: true
      omit_traits: [ssn]
      omit_group_traits: [tax_id]
  - id: server
    name: Server
    write_key: wk_server_123
destinations: [{id: hooks, type: webhook, sources: [web, server], settings: {url: "http://h/1"}}]
"""


def schema(**controls: Any) -> SchemaFilter:
    return SchemaFilter(SchemaControls(**controls))


@pytest.mark.parametrize(
    ("name", "blocked"),
    [
        ("Debug Ping", True),
        ("Legacy Checkout", True),
        ("Legacy ", True),
        ("Legacy", False),  # the space is part of the glob
        ("debug ping", False),  # case-sensitive
        ("Debug Ping 2", False),  # whole names
        ("Order Completed", False),
        (None, False),
    ],
)
def test_track_events_are_blocked_by_whole_name_or_glob(name: str | None, blocked: bool):
    filtered = schema(block_events=("Debug Ping", "Legacy *")).apply({"type": "track", "event": name})
    assert (filtered.message is None, filtered.reason) == (blocked, BLOCKED if blocked else None)


def test_glob_metacharacters_other_than_the_star_are_plain_text():
    rule = schema(block_events=("Price (USD)?",))
    assert rule.apply({"type": "track", "event": "Price (USD)?"}).message is None
    assert rule.apply({"type": "track", "event": "Price USD"}).message is not None


def test_pages_and_screens_are_blocked_all_or_by_name():
    rule = schema(block_pages=("Admin*",), block_screens=True)
    assert rule.apply({"type": "page", "name": "Admin Users"}).reason is PAGE
    assert rule.apply({"type": "page", "name": "Pricing"}).message is not None
    assert rule.apply({"type": "page"}).message is not None, "an unnamed page matches no name"
    assert rule.apply({"type": "screen", "name": "Home"}).reason is SCREEN
    assert schema(block_pages=True).apply({"type": "page"}).reason is PAGE


def test_identify_traits_are_omitted_from_traits_and_context_traits_without_touching_the_original():
    original = {
        "type": "identify",
        "traits": {"email": "a@x.io", "ssn": "123"},
        "context": {"ip": "203.0.113.7", "traits": {"ssn": "123", "plan": "pro"}},
    }
    filtered = schema(omit_traits=("ssn",)).apply(original)
    assert filtered.reason is SchemaReason.TRAITS_OMITTED
    assert filtered.message == {
        "type": "identify",
        "traits": {"email": "a@x.io"},
        "context": {"ip": "203.0.113.7", "traits": {"plan": "pro"}},
    }
    assert original["traits"] == {"email": "a@x.io", "ssn": "123"}, "the original is not changed"


def test_group_traits_are_omitted_from_groups_only():
    rule = schema(omit_group_traits=("tax_id",))
    group = rule.apply({"type": "group", "groupId": "g", "traits": {"name": "Acme", "tax_id": "x"}})
    assert (group.message, group.reason) == (
        {"type": "group", "groupId": "g", "traits": {"name": "Acme"}},
        SchemaReason.GROUP_TRAITS_OMITTED,
    )
    identify = {"type": "identify", "traits": {"tax_id": "x"}}
    assert rule.apply(identify).message is identify


def test_an_event_with_nothing_to_omit_is_kept_as_it_is():
    message = {"type": "identify", "traits": {"email": "a@x.io"}}
    filtered = schema(omit_traits=("ssn",)).apply(message)
    assert (filtered.message, filtered.reason) == (message, None)
    assert filtered.message is message, "no copy when nothing changes"


# -- in the workspace file --------------------------------------------------------------------------


def test_schema_controls_are_stored_with_the_source_and_read_back():
    workspace = compile_workspace(parse_workspace(WORKSPACE))
    web = workspace.source("web")
    assert web is not None and web.schema == SchemaControls(
        block_events=("Debug Ping", "Legacy *"),
        block_pages=("Admin*",),
        block_screens=True,
        omit_traits=("ssn",),
        omit_group_traits=("tax_id",),
    )
    stored = orjson.loads(orjson.dumps(workspace.to_document()))
    assert CompiledWorkspace.from_document(stored) == workspace
    assert workspace.source("server").schema is None  # type: ignore[union-attr]


def test_an_unknown_schema_control_is_refused_with_its_line():
    with pytest.raises(ConfigError, match=r"line 7, sources\.0\.schema\.block_everything"):
        parse_workspace(WORKSPACE.replace("      block_events:", "      block_everything: true\n      block_events:"))


# -- in the router -----------------------------------------------------------------------------------


def record(sequence: int, source: str = "web", **message: Any) -> KinesisRecord:
    event = {
        "projectId": source,
        "messageId": f"m{sequence}",
        "userId": "u",
        "receivedAt": "2026-11-30T10:00:00.000Z",
        **message,
    }
    return KinesisRecord("shardId-0", str(sequence), base64.b64encode(orjson.dumps(event)).decode())


def test_the_router_keeps_blocked_events_out_of_the_archive_claims_and_destinations():
    workspace = compile_workspace(parse_workspace(WORKSPACE))
    dedupe, archive, queue = MemoryDedupe(), MemoryArchive(), MemoryQueue()
    router = Router(lambda: workspace, dedupe, archive, queue)
    report = router.process(
        [
            record(1, type="track", event="Debug Ping"),
            record(2, type="track", event="Order Completed"),
            record(3, type="identify", traits={"email": "a@x.io", "ssn": "123"}),
            record(4, type="screen", name="Home"),
            record(5, "server", type="track", event="Debug Ping"),  # another source: its own (no) filters
        ]
    )
    assert sorted(archive.archived_ids()) == ["m2", "m3", "m5"]
    assert sorted(request.event["messageId"] for request in queue.sent) == ["m2", "m3", "m5"]
    assert dedupe.writes == 3, "a blocked event costs no dedupe write"
    assert report.filtered_at_source == {
        ("web", BLOCKED): 1,
        ("web", SchemaReason.TRAITS_OMITTED): 1,
        ("web", SCREEN): 1,
    }
    (identify,) = [orjson.loads(data) for data in archive.archived if b'"identify"' in data]
    assert identify["traits"] == {"email": "a@x.io"}, "the archive never holds an omitted trait"
    (delivered,) = [request for request in queue.sent if request.event["messageId"] == "m3"]
    assert "ssn" not in orjson.loads(delivered.event_json or b"{}")["traits"]
    assert delivered.event["traits"] == {"email": "a@x.io"}
