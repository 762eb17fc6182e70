"""Tracking plans: every violation listed with its field, controls (allow / omit / block,
unplanned events and properties), forwarding to other sources, and the router around them."""

from __future__ import annotations

import base64
import dataclasses
import functools
from pathlib import Path
from typing import Any

import orjson
import pytest

from switchyard.config.compiled import CompiledWorkspace
from switchyard.config.workspace import ConfigError, compile_workspace, load_workspace, parse_workspace
from switchyard.router.plans import (
    UNPLANNED,
    PlanBlock,
    PlanCheck,
    TrackingPlans,
    ViolationType,
    forwarded_blocked,
    violation_events,
)
from switchyard.router.service import KinesisRecord, Router
from tests.support.router import MemoryArchive, MemoryDedupe, MemoryQueue

WORKSPACE = """\
workspace: acme
sources:
  - {id: web, name: Web Shop, write_key: wk_web_123}
  - {id: qa, name: QA, write_key: wk_qa_12345}
  - {id: quarantine, name: Quarantine, write_key: wk_quarantine_1}
destinations:
  - {id: hook, type: webhook, sources: [web], settings: {url: "http://h/1"}}
  - {id: qa-hook, type: webhook, sources: [qa, quarantine], settings: {url: "http://h/2"}}
tracking_plans:
  - id: web-plan
    name: Web Shop plan
    sources: [web]
    common: {type: object, required: [userId]}
    identify:
      type: object
      properties: {traits: {type: object, properties: {plan: {enum: [free, pro]}, company: {type: string}}}}
    events:
      - name: Order Completed
        properties:
          type: object
          required: [order_id, revenue]
          properties:
            order_id: {type: string}
            revenue: {type: number, minimum: 0}
            currency: {type: string, pattern: "^[A-Z]{3}$"}
    controls:
      unplanned_events: allow
      unplanned_properties: allow
      violations: allow
"""

ORDER = {
    "type": "track",
    "event": "Order Completed",
    "userId": "u1",
    "messageId": "m1",
    "projectId": "web",
    "receivedAt": "2026-11-30T10:00:00.000Z",
    "properties": {"order_id": "o1", "revenue": 12.5, "currency": "EUR"},
}
BAD_ORDER = {**ORDER, "properties": {"order_id": 7, "revenue": -1, "currency": "eur", "coupon": "X"}}


@functools.cache
def workspace(controls: str = "") -> CompiledWorkspace:
    text = WORKSPACE
    if controls:
        text = text.replace("      unplanned_events: allow\n", "").replace("      unplanned_properties: allow\n", "")
        text = text.replace("      violations: allow\n", "".join(f"      {line}\n" for line in controls.split(";")))
    return compile_workspace(parse_workspace(text))


def check(message: dict[str, Any], controls: str = "") -> Any:
    plan = TrackingPlans().for_source(workspace(controls), "web")
    assert plan is not None
    return plan.check(message)


def test_a_planned_event_that_conforms_goes_as_it_is():
    assert check(ORDER) is None, "nothing to say: the event goes on unchanged"


def test_every_violation_is_listed_with_its_field_and_recorded_on_the_message():
    checked = check({key: value for key, value in BAD_ORDER.items() if key != "userId"})
    found = {(v.type, v.field) for v in checked.violations}
    assert found == {
        (ViolationType.TYPE, "properties.order_id"),
        (ViolationType.RANGE, "properties.revenue"),
        (ViolationType.PATTERN, "properties.currency"),
        (ViolationType.REQUIRED, "userId"),
    }
    recorded = checked.message["context"]["protocols"]["violations"]
    assert {"type": "Type", "field": "properties.order_id", "description": "properties.order_id must be string"} in (
        recorded
    )
    assert checked.message["properties"] == BAD_ORDER["properties"], "allow: delivered as sent"
    assert "context" not in BAD_ORDER, "the message given is not changed"


def test_a_missing_required_property_is_named():
    checked = check({**ORDER, "properties": {"revenue": 3}})
    assert [(v.type, v.field, v.description) for v in checked.violations] == [
        (ViolationType.REQUIRED, "properties.order_id", "properties.order_id is required")
    ]


def test_omit_removes_the_violating_fields_and_keeps_the_event():
    checked = check(BAD_ORDER, "violations: omit")
    assert checked.message["properties"] == {"coupon": "X"}
    assert sorted(checked.omitted) == ["properties.currency", "properties.order_id", "properties.revenue"]
    assert len(checked.message["context"]["protocols"]["violations"]) == 3


def test_block_keeps_the_event_out_and_says_why():
    checked = check(BAD_ORDER, "violations: block")
    assert checked.message is None and checked.blocked is PlanBlock.VIOLATIONS and len(checked.violations) == 3
    assert check(ORDER, "violations: block") is None


def test_unplanned_events_are_allowed_or_blocked_and_counted_as_unplanned():
    other = {**ORDER, "event": "Wishlist Shared", "properties": {"anything": 1}}
    assert check(other) is None, "allowed: unplanned events are not violations"
    anonymous = {key: value for key, value in other.items() if key != "userId"}  # the common schema wants one
    assert check(anonymous).label == UNPLANNED, "counted as unplanned when they violate"
    blocked = check(other, "unplanned_events: block")
    assert blocked.message is None and blocked.blocked is PlanBlock.UNPLANNED_EVENT
    page = {"type": "page", "name": "Home", "userId": "u1"}
    assert check(page, "unplanned_events: block") is None, "only track events are planned by name"


def test_unplanned_properties_and_traits_are_omitted_when_asked():
    checked = check(BAD_ORDER, "unplanned_properties: omit")
    assert "coupon" not in checked.message["properties"] and checked.omitted == ("properties.coupon",)
    identify = {"type": "identify", "userId": "u1", "traits": {"plan": "pro", "company": "A", "age": 40}}
    omitted = check(identify, "unplanned_properties: omit")
    assert omitted.message["traits"] == {"plan": "pro", "company": "A"} and omitted.violations == ()


def test_identify_traits_are_checked_against_the_identify_schema():
    checked = check({"type": "identify", "userId": "u1", "traits": {"plan": "gold"}})
    assert [(v.type, v.field) for v in checked.violations] == [(ViolationType.ENUM, "traits.plan")]


def test_a_schema_with_references_is_not_taken_apart_and_still_names_the_first_violation():
    schema = {
        "definitions": {"money": {"type": "number", "minimum": 0}},
        "type": "object",
        "properties": {"revenue": {"$ref": "#/definitions/money"}},
    }
    plan = compile_workspace(parse_workspace(WORKSPACE)).tracking_plans[0]
    plan = type(plan)(**{**{f: getattr(plan, f) for f in plan.__slots__}, "common": None})
    events = (type(plan.events[0])("Order Completed", schema),)
    checked = PlanCheck(type(plan)(**{**{f: getattr(plan, f) for f in plan.__slots__}, "events": events})).check(
        {**ORDER, "properties": {"revenue": -5}}
    )
    assert [(v.type, v.field) for v in checked.violations] == [(ViolationType.RANGE, "properties.revenue")]


def test_violation_events_are_shaped_as_segment_forwards_them_and_stable_across_retries():
    checked = check(BAD_ORDER)
    plan = workspace().tracking_plans[0]
    events = violation_events(BAD_ORDER, checked, plan, "Web Shop", "qa")
    assert len(events) == 3
    first = events[0]
    assert (first["type"], first["event"], first["userId"], first["projectId"]) == (
        "track",
        "Violation Generated",
        "schema-violations",
        "qa",
    )
    assert first["properties"]["eventMessageID"] == "m1"
    assert first["properties"]["trackingPlanName"] == "Web Shop plan"
    assert first["properties"]["violationField"] == "properties.order_id"
    again = violation_events(BAD_ORDER, check(BAD_ORDER), plan, "Web Shop", "qa")
    assert [e["messageId"] for e in again] == [e["messageId"] for e in events]
    assert len({e["messageId"] for e in events}) == 3


def test_a_forwarded_blocked_event_keeps_its_id_and_says_where_it_came_from():
    checked = check(BAD_ORDER, "violations: block")
    forwarded = forwarded_blocked(BAD_ORDER, checked, "quarantine")
    assert forwarded["projectId"] == "quarantine" and forwarded["messageId"] == "m1"
    assert forwarded["context"]["protocols"]["sourceId"] == "web"
    assert forwarded["context"]["protocols"]["blocked"] == "violations"


# -- the workspace file ------------------------------------------------------------------------------


def test_the_plan_survives_the_config_store():
    compiled = workspace()
    stored = orjson.loads(orjson.dumps(compiled.to_document()))
    assert CompiledWorkspace.from_document(stored) == compiled
    assert CompiledWorkspace.from_document(stored).tracking_plan("web") == compiled.tracking_plans[0]


def test_a_schema_may_live_in_its_own_file_next_to_the_workspace(tmp_path: Path):
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "common.json").write_text('{"type": "object", "required": ["userId"]}')
    text = WORKSPACE.replace("common: {type: object, required: [userId]}", "common: {file: plans/common.json}")
    (tmp_path / "workspace.yaml").write_text(text)
    plan = compile_workspace(load_workspace(tmp_path / "workspace.yaml")).tracking_plans[0]
    assert plan.common == {"type": "object", "required": ["userId"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("revenue: {type: number, minimum: 0}", "revenue: {type: money}"),
            r"line 2\d, tracking_plans\.0\.events\.0\.properties: .*not a valid",
        ),
        (("common: {type: object, required: [userId]}", "common: {file: nowhere.json}"), "cannot read the schema"),
        (("    sources: [web]\n    common", "    sources: [web, nope]\n    common"), "unknown source"),
        (("      violations: allow\n", "      forward_violations_to: web\n"), "another source than its own"),
        (("      violations: allow\n", "      violations: sometimes\n"), r"controls\.violations"),
    ],
)
def test_a_bad_plan_is_refused_with_what_is_wrong(change: tuple[str, str], message: str):
    old, new = change
    assert old in WORKSPACE
    with pytest.raises(ConfigError, match=message):
        parse_workspace(WORKSPACE.replace(old, new))


def test_a_source_can_be_in_one_plan_only():
    second = "  - {id: second, sources: [web]}\n"
    with pytest.raises(ConfigError, match="source 'web' is in two tracking plans"):
        parse_workspace(WORKSPACE + second)


# -- in the router -----------------------------------------------------------------------------------


def record(sequence: int, message: dict[str, Any], message_id: str = "") -> KinesisRecord:
    event = {**message, "messageId": message_id or f"m{sequence}"}
    return KinesisRecord("shardId-0", str(sequence), base64.b64encode(orjson.dumps(event)).decode())


def test_the_router_blocks_forwards_and_counts_as_the_controls_say():
    compiled = workspace("violations: block;forward_violations_to: qa;forward_blocked_to: quarantine")
    dedupe, archive, queue = MemoryDedupe(), MemoryArchive(), MemoryQueue()
    report = Router(lambda: compiled, dedupe, archive, queue).process([record(1, ORDER), record(2, BAD_ORDER)])
    by_source: dict[str, list[dict[str, Any]]] = {}
    for data in archive.archived:
        message = orjson.loads(data)
        by_source.setdefault(message["projectId"], []).append(message)
    assert [m["messageId"] for m in by_source["web"]] == ["m1"], "the blocked event is not archived under web"
    assert [m["messageId"] for m in by_source["quarantine"]] == ["m2"]
    assert [m["properties"]["violationField"] for m in by_source["qa"]] == [
        "properties.order_id",
        "properties.revenue",
        "properties.currency",
    ]
    assert sorted((r.destination_id, r.event["projectId"]) for r in queue.sent) == [
        ("hook", "web"),
        *[("qa-hook", "qa")] * 3,
        ("qa-hook", "quarantine"),
    ]
    assert report.blocked_by_plan == {("web", PlanBlock.VIOLATIONS): 1}
    assert report.violations[("web", "Order Completed", ViolationType.TYPE)] == 1
    assert ("web", "Order Completed", "blocked: violations") in report.violation_samples


def test_a_retried_batch_archives_what_it_forwarded_under_the_same_names_and_a_resend_is_a_duplicate():
    compiled = workspace("violations: allow;forward_violations_to: qa")
    dedupe, archive, queue = MemoryDedupe(), MemoryArchive(), MemoryQueue()
    router = Router(lambda: compiled, dedupe, archive, queue)
    router.process([record(1, BAD_ORDER)])
    objects = dict(archive.objects)
    assert sorted(len(ids) for ids in objects.values()) == [1, 3], "the event under web, its violations under qa"
    router.process([record(1, BAD_ORDER)])  # the same stream record again (a retried batch)
    assert archive.objects == objects, "rewritten under the same names: nothing archived twice"
    resent = router.process([record(9, BAD_ORDER, message_id="m1")])  # the SDK sent it again
    assert resent.duplicates == 4 and archive.objects == objects


def test_a_failed_claim_of_a_forwarded_event_retries_its_origin_too():
    compiled = workspace("violations: allow;forward_violations_to: qa")
    first = violation_events({**BAD_ORDER, "messageId": "m2"}, check(BAD_ORDER), compiled.tracking_plans[0], "", "qa")
    dedupe = MemoryDedupe(fail={first[1]["messageId"]})
    archive, queue = MemoryArchive(), MemoryQueue()
    report = Router(lambda: compiled, dedupe, archive, queue).process([record(1, ORDER), record(2, BAD_ORDER)])
    assert report.first_failure == "2"
    assert [orjson.loads(data)["messageId"] for data in archive.archived] == ["m1"], "m2 and what it made wait"


def plan_with(schema: dict[str, Any], controls: str = "violations: omit") -> PlanCheck:
    plan = workspace(controls).tracking_plans[0]
    events = (type(plan.events[0])("Order Completed", schema),)
    return PlanCheck(dataclasses.replace(plan, events=events, common=None))


def test_additional_properties_are_named_one_by_one_and_omitted_alone():
    schema = {"type": "object", "properties": {"id": {"type": "string"}}, "additionalProperties": False}
    checked = plan_with(schema).check({**ORDER, "properties": {"id": "1", "extra": 2, "more": "x"}})
    assert {(v.type, v.field) for v in checked.violations} == {
        (ViolationType.ADDITIONAL_PROPERTIES, "properties.extra"),
        (ViolationType.ADDITIONAL_PROPERTIES, "properties.more"),
    }
    assert checked.message["properties"] == {"id": "1"}
    typed = {**schema, "additionalProperties": {"type": "number"}}
    assert [
        v.field for v in plan_with(typed).check({**ORDER, "properties": {"id": "1", "n": 1, "s": "x"}}).violations
    ] == ["properties.s"]


def test_omit_never_removes_the_messages_own_fields_nor_a_whole_container():
    plan = workspace("violations: omit").tracking_plans[0]
    common = {
        "type": "object",
        "properties": {"messageId": {"pattern": "^[0-9]+$"}, "properties": {"minProperties": 9}},
    }
    check = PlanCheck(dataclasses.replace(plan, common=common, events=()))
    checked = check.check(dict(ORDER))
    assert {v.field for v in checked.violations} == {"messageId", "properties"}
    assert checked.message["messageId"] == "m1" and checked.message["properties"] == ORDER["properties"]
    assert checked.omitted == ()


def test_omit_reaches_into_lists_and_keys_with_dots():
    schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}}
        },
    }
    message = {**ORDER, "properties": {"items": [{"sku": "a"}, {"sku": 2, "qty": 1}], "a.b": 1}}
    checked = plan_with(schema, "violations: omit;unplanned_properties: omit").check(message)
    assert checked.message["properties"] == {"items": [{"sku": "a"}, {"qty": 1}]}
    assert sorted(checked.omitted) == ["properties.a.b", "properties.items.1.sku"]
