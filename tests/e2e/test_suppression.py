"""Suppressed users through the local stack: `switchyard users suppress` (with the anonymousIds the
archive ties to the user) makes ingest drop their events within the config cache time, answered
200; other users' events flow; `unsuppress` lets them in again."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from switchyard.cli.main import main
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import Receivers, wait_until
from tests.e2e.tool_runs import archived, send

pytestmark = pytest.mark.e2e

WRITE_KEY = "wk_e2e_private_000"


def delivered(receivers: Receivers, run: str) -> list[str]:
    return sorted(
        event["messageId"]
        for received in list(receivers.healthy.requests)
        if received.path == "/private" and run.encode() in received.body
        for event in received.events
    )


def users(stack: LocalStack, capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    assert main(["users", *arguments, "--endpoint-url", stack.aws_endpoint]) == 0
    return capsys.readouterr().out


def test_a_suppressed_user_and_their_tied_anonymous_id_are_dropped_at_ingest(
    local_stack: LocalStack, receivers: Receivers, capsys: pytest.CaptureFixture[str]
):
    run = uuid.uuid4().hex[:8]
    user, cookie = f"gone-{run}", f"cookie-{run}"

    def track(name: str, **ids: Any) -> dict[str, Any]:
        return {"type": "track", "event": "Clicked", "messageId": f"{run}-{name}", **ids}

    send(local_stack, WRITE_KEY, {"type": "identify", "userId": user, "anonymousId": cookie, "messageId": f"{run}-0"})
    assert wait_until(lambda: any(e["messageId"] == f"{run}-0" for e in archived(local_stack, "private")), timeout=30)

    out = users(local_stack, capsys, "suppress", user, "--days", "1")
    assert "1 anonymousId(s) tied" in out
    assert f"anonymousId\t{cookie}" in users(local_stack, capsys, "suppressed")
    time.sleep(1.5)  # the local stack's config cache: 1 s

    response = requests.post(
        f"{local_stack.api_url}/v1/track", auth=(WRITE_KEY, ""), json=track("by-user", userId=user), timeout=10
    )
    assert response.status_code == 200, "answered as taken, so the SDK does not retry"
    send(local_stack, WRITE_KEY, track("by-cookie", anonymousId=cookie), track("other", userId=f"here-{run}"))
    assert wait_until(lambda: f"{run}-other" in delivered(receivers, run), timeout=30)
    time.sleep(1)
    assert delivered(receivers, run) == [f"{run}-0", f"{run}-other"]
    assert not [e for e in archived(local_stack, "private") if e["messageId"] in (f"{run}-by-user", f"{run}-by-cookie")]

    users(local_stack, capsys, "unsuppress", user, "--anonymous-id", cookie)
    time.sleep(1.5)
    send(local_stack, WRITE_KEY, track("back", userId=user))
    assert wait_until(lambda: f"{run}-back" in delivered(receivers, run), timeout=30)
