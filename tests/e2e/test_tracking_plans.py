"""A tracking plan through the local stack (the `planned` source of conftest.py): violating fields
are omitted and the violations recorded, forwarded as `Violation Generated` to `plan-qa`; an
unplanned event is blocked and forwarded to `plan-quarantine`; unplanned traits are omitted; and
`switchyard violations` shows what happened, with samples."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from switchyard.cli.main import main
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import Receivers, wait_until
from tests.e2e.tool_runs import archived, send

pytestmark = pytest.mark.e2e

WRITE_KEY = "wk_e2e_planned_000"


def of_run(receivers: Receivers, run: str, path: str) -> list[dict[str, Any]]:
    return [
        event
        for received in list(receivers.healthy.requests)
        if received.path == path and run.encode() in received.body
        for event in received.events
    ]


@pytest.fixture(scope="module")
def sent(local_stack: LocalStack, receivers: Receivers) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    user = f"user-{run}"
    messages = {
        "good": {
            "type": "track",
            "event": "Order Completed",
            "userId": user,
            "properties": {"order_id": f"{run}-1", "revenue": 20},
        },
        "bad": {
            "type": "track",
            "event": "Order Completed",
            "userId": user,
            "properties": {"order_id": 2, "revenue": 5, "coupon": "SPRING", "note": "unplanned"},
        },
        "unplanned": {"type": "track", "event": "Debug Thing", "userId": user, "properties": {"run": run}},
        "identify": {"type": "identify", "userId": user, "traits": {"plan": "pro", "shoe_size": 44}},
    }
    for name, message in messages.items():
        message["messageId"] = f"{run}-{name}"
    send(local_stack, WRITE_KEY, *messages.values())
    expected = {"planned": 3, "plan-qa": 2}  # 3 kept; 1 violation event + the quarantined event
    assert wait_until(
        lambda: all(len(of_run(receivers, run, f"/{path}")) >= count for path, count in expected.items()),
        timeout=60,
    ), {path: len(of_run(receivers, run, f"/{path}")) for path in expected}
    return {"run": run, "user": user}


def test_violations_are_omitted_and_recorded_and_unplanned_traits_left_out(receivers: Receivers, sent: dict[str, Any]):
    run = sent["run"]
    delivered = {event["messageId"]: event for event in of_run(receivers, run, "/planned")}
    assert sorted(delivered) == [f"{run}-bad", f"{run}-good", f"{run}-identify"], "the unplanned event is blocked"
    assert "protocols" not in delivered[f"{run}-good"].get("context", {})
    bad = delivered[f"{run}-bad"]
    assert bad["properties"] == {"revenue": 5, "coupon": "SPRING"}, "the violating and the unplanned fields omitted"
    assert bad["context"]["protocols"]["violations"] == [
        {"type": "Type", "field": "properties.order_id", "description": "properties.order_id must be string"}
    ]
    assert delivered[f"{run}-identify"]["traits"] == {"plan": "pro"}


def test_violations_and_blocked_events_are_forwarded_to_their_sources(
    local_stack: LocalStack, receivers: Receivers, sent: dict[str, Any]
):
    run = sent["run"]
    forwarded = of_run(receivers, run, "/plan-qa")
    (violation,) = [event for event in forwarded if event.get("event") == "Violation Generated"]
    assert violation["projectId"] == "plan-qa" and violation["userId"] == "schema-violations"
    assert violation["properties"]["eventMessageID"] == f"{run}-bad"
    assert violation["properties"]["violationField"] == "properties.order_id"
    assert violation["properties"]["trackingPlanName"] == "Planned app plan"
    (quarantined,) = [event for event in forwarded if event.get("event") == "Debug Thing"]
    assert quarantined["projectId"] == "plan-quarantine" and quarantined["messageId"] == f"{run}-unplanned"
    assert quarantined["context"]["protocols"] == {"blocked": "unplanned_event", "sourceId": "planned"}

    def archived_ids(source: str) -> list[str]:
        return sorted(e["messageId"] for e in archived(local_stack, source) if e["messageId"].startswith(run))

    kept = [f"{run}-bad", f"{run}-good", f"{run}-identify"]
    assert wait_until(lambda: archived_ids("planned") == kept, timeout=30), archived_ids("planned")
    assert f"{run}-unplanned" not in archived_ids("planned"), "a blocked event is not archived under its source"
    assert wait_until(lambda: archived_ids("plan-quarantine") == [f"{run}-unplanned"], timeout=30)


def test_switchyard_violations_shows_counts_and_samples(
    local_stack: LocalStack, sent: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    assert main(["violations", "planned", "--since", "1h", "--endpoint-url", local_stack.aws_endpoint]) == 0
    out = capsys.readouterr().out
    assert "Order Completed" in out and "Type" in out
    assert "blocked (unplanned_event)" in out
    assert "properties.order_id must be string" in out
