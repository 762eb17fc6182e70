"""Consent through the local stack (the `consented` source and `ads-hook` destination of
conftest.py, consent: [Advertising], consent_default: deny): only events whose preferences grant
Advertising reach the destination, live and in a replay; the archive keeps them all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchyard.cli.main import main
from switchyard.devstack.stack import LocalStack
from switchyard.timeutil import format_timestamp
from tests.e2e.conftest import Receivers, wait_until
from tests.e2e.tool_runs import archived, send

pytestmark = pytest.mark.e2e

WRITE_KEY = "wk_e2e_consented_000"


def delivered(receivers: Receivers, run: str, replay_id: str | None = None) -> list[str]:
    return sorted(
        event["messageId"]
        for received in list(receivers.healthy.requests)
        if received.path == "/ads" and run.encode() in received.body
        for event in received.events
        if (event.get("replay") or {}).get("id") == replay_id
    )


@pytest.fixture(scope="module")
def sent(local_stack: LocalStack, receivers: Receivers) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    started = datetime.now(UTC)

    def track(name: str, preferences: dict[str, bool] | None) -> dict[str, Any]:
        context = {"consent": {"categoryPreferences": preferences}} if preferences is not None else {}
        return {
            "type": "track",
            "userId": f"u-{run}",
            "event": "Ad Clicked",
            "messageId": f"{run}-{name}",
            "context": context,
        }

    send(
        local_stack,
        WRITE_KEY,
        track("granted", {"Advertising": True, "Analytics": False}),
        track("refused", {"Advertising": False, "Analytics": True}),
        track("silent", None),  # no preferences: the source's default, deny
    )
    assert wait_until(
        lambda: len([e for e in archived(local_stack, "consented") if e["messageId"].startswith(run)]) == 3
    )
    assert wait_until(lambda: delivered(receivers, run) == [f"{run}-granted"], timeout=30), delivered(receivers, run)
    return {"run": run, "started": started}


def test_only_consented_events_reach_the_destination_and_the_rest_are_counted(
    local_stack: LocalStack, sent: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    assert main(["delivery", "ads-hook", "--since", "1h", "--endpoint-url", local_stack.aws_endpoint]) == 0
    assert "filtered_by_consent" in capsys.readouterr().out


def test_a_replay_respects_consent(
    local_stack: LocalStack, receivers: Receivers, sent: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    run = sent["run"]
    start = sent["started"].replace(minute=0, second=0, microsecond=0) - timedelta(minutes=1)
    window = ["--from", format_timestamp(start), "--to", format_timestamp(datetime.now(UTC) + timedelta(minutes=5))]
    code = main(
        ["replay", "start", "--source", "consented", "--destination", "ads-hook", *window, "--wait"]
        + ["--endpoint-url", local_stack.aws_endpoint]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    replay_id = out.splitlines()[0]
    assert wait_until(lambda: delivered(receivers, run, replay_id) == [f"{run}-granted"], timeout=30)
