"""Personal data through the local stack (the `personal` source and `pii-hook` destination of
conftest.py): blocked classes never reach the destination, hashed ones arrive as SHA-256, the
archive keeps the event as received, and `switchyard privacy inventory` lists where each was seen."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from switchyard.cli.main import main
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import Receivers, wait_until
from tests.e2e.tool_runs import archived, send

pytestmark = pytest.mark.e2e

WRITE_KEY = "wk_e2e_personal_000"


@pytest.fixture(scope="module")
def sent(local_stack: LocalStack, receivers: Receivers) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    identify = {
        "type": "identify",
        "userId": f"u-{run}",
        "messageId": f"{run}-identify",
        "traits": {"email": "Ana@Shop.io", "plan": "pro", "card": "4111 1111 1111 1111", "staff_no": "EMP-004211"},
        "context": {"ip": "203.0.113.7"},
    }
    send(local_stack, WRITE_KEY, identify)

    def received() -> list[dict[str, Any]]:
        return [
            event
            for request in list(receivers.healthy.requests)
            if request.path == "/pii"
            for event in request.events
            if event.get("messageId") == f"{run}-identify"
        ]

    events = wait_until(lambda: received(), timeout=30)
    assert events, "the destination got the identify"
    return {"run": run, "event": events[0]}


def test_blocked_classes_are_removed_and_hashed_ones_arrive_as_sha256(local_stack: LocalStack, sent: dict[str, Any]):
    event = sent["event"]
    assert event["traits"] == {"email": hashlib.sha256(b"ana@shop.io").hexdigest(), "plan": "pro"}
    assert "ip" not in event.get("context", {})
    (stored,) = [e for e in archived(local_stack, "personal") if e["messageId"] == f"{sent['run']}-identify"]
    assert stored["traits"]["card"] == "4111 1111 1111 1111", "the archive keeps the event as received"


def test_the_inventory_lists_each_class_and_field(
    local_stack: LocalStack, sent: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    def listed() -> str:
        assert main(["privacy", "inventory", "--source", "personal", "--endpoint-url", local_stack.aws_endpoint]) == 0
        return capsys.readouterr().out

    expected = ["email            traits.email", "credit_card      traits.card", "employee_id      traits.staff_no"]
    out = wait_until(lambda: (text := listed()) and all(row in text for row in expected) and text, timeout=30)
    assert out, listed()
    assert "ip_address       context.ip" in out
