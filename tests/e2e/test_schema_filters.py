"""Sources' schema filters through the local stack: a blocked event reaches neither the archive nor
a destination, an omitted trait is in neither, and the rest flows as usual."""

from __future__ import annotations

import uuid

import pytest

from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import Receivers, wait_until
from tests.e2e.tool_runs import archived, send

pytestmark = pytest.mark.e2e

WRITE_KEY = "wk_e2e_gated_000"  # the `gated` source: block Debug Ping, "Legacy *", screens; omit ssn


def test_blocked_events_and_omitted_traits_reach_neither_the_archive_nor_destinations(
    local_stack: LocalStack, receivers: Receivers
):
    run = uuid.uuid4().hex[:8]
    user = f"user-{run}"
    messages = [
        {"type": "track", "userId": user, "event": "Debug Ping", "messageId": f"{run}-debug"},
        {"type": "track", "userId": user, "event": "Legacy Checkout", "messageId": f"{run}-legacy"},
        {"type": "screen", "userId": user, "name": "Home", "messageId": f"{run}-screen"},
        {"type": "track", "userId": user, "event": "Order Completed", "messageId": f"{run}-order"},
        {"type": "identify", "userId": user, "traits": {"plan": "pro", "ssn": "078-05-1120"}, "messageId": f"{run}-id"},
    ]
    send(local_stack, WRITE_KEY, *messages)

    def delivered() -> dict[str, dict]:  # type: ignore[type-arg]
        return {
            event["messageId"]: event
            for event in receivers.healthy.delivered_events()
            if str(event.get("messageId", "")).startswith(run)
        }

    assert wait_until(lambda: len(delivered()) == 2, timeout=30)
    kept = delivered()
    assert sorted(kept) == [f"{run}-id", f"{run}-order"]
    assert kept[f"{run}-id"]["traits"] == {"plan": "pro"}

    def archived_of_run() -> dict[str, dict]:  # type: ignore[type-arg]
        events = archived(local_stack, "gated")
        return {e["messageId"]: e for e in events if str(e.get("messageId", "")).startswith(run)}

    in_archive = wait_until(lambda: len(archived_of_run()) == 2 and archived_of_run(), timeout=30)
    assert sorted(in_archive) == [f"{run}-id", f"{run}-order"], "blocked events are not archived"
    assert in_archive[f"{run}-id"]["traits"] == {"plan": "pro"}, "the archive never holds the omitted trait"
    assert "078-05-1120" not in str(archived(local_stack, "gated"))
