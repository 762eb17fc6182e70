"""Destination filters through the local stack (the `filtered-hook` destination of conftest.py):
drop, sample by userId, drop_properties and allow_properties give the destination exactly the
expected events and fields, live and in a replay, while the archive keeps every event as received."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchyard.cli.main import main
from switchyard.delivery.stats import read_report
from switchyard.delivery.table import DeliveryTable
from switchyard.devstack.stack import LocalStack
from switchyard.timeutil import format_timestamp
from tests.e2e.conftest import Receivers, wait_until
from tests.e2e.tool_runs import archived, send

pytestmark = pytest.mark.e2e

WRITE_KEY = "wk_e2e_filtered_000"
DESTINATION = "filtered-hook"
PAGE_USERS = 40  # two page views each; "Sample page views" keeps 50 % of users, all or none of each


def messages(run: str) -> list[dict[str, Any]]:
    internal = {"traits": {"email": "ops@example.com"}}
    customer = {"traits": {"email": "ana@shop.io", "plan": "pro"}}
    return [
        {"type": "track", "userId": "ops", "event": "Viewed", "context": internal, "messageId": f"{run}-internal"},
        {
            "type": "track",
            "userId": "ana",
            "event": "Signed Up",
            "properties": {"plan": "pro", "email": "ana@shop.io", "phone": "+351 21 000 0000"},
            "context": customer,
            "messageId": f"{run}-signup",
        },
        {
            "type": "identify",
            "userId": "ana",
            "traits": {"plan": "pro", "company": "Shop", "age": 41, "email": "ana@shop.io"},
            "messageId": f"{run}-identify",
        },
        {"type": "group", "userId": "ana", "groupId": "shop", "traits": {"name": "Shop"}, "messageId": f"{run}-group"},
        *(
            {"type": "page", "userId": f"{run}-u{user}", "name": "Home", "messageId": f"{run}-page-{user}-{view}"}
            for user in range(PAGE_USERS)
            for view in range(2)
        ),
    ]


def of_run(receivers: Receivers, run: str, replay_id: str | None = None) -> dict[str, dict[str, Any]]:
    events = [
        event
        for event in receivers.healthy.delivered_events()
        if str(event.get("messageId", "")).startswith(run) and (event.get("replay") or {}).get("id") == replay_id
    ]
    counts = Counter(event["messageId"] for event in events)
    assert max(counts.values(), default=1) == 1, f"delivered more than once: {counts.most_common(3)}"
    return {event["messageId"]: event for event in events}


@pytest.fixture(scope="module")
def delivered(local_stack: LocalStack, receivers: Receivers) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    sent = messages(run)
    started = datetime.now(UTC)
    send(local_stack, WRITE_KEY, *sent)
    table = DeliveryTable(local_stack.resources.delivery_table, local_stack.client("dynamodb"))  # type: ignore[union-attr]

    def settled() -> bool:
        report = read_report(table, DESTINATION, timedelta(hours=1))
        return report.delivered + report.filtered >= len(sent)

    assert wait_until(settled, timeout=60), "every event was delivered or filtered"
    assert wait_until(lambda: len(archived_of(local_stack, run)) == len(sent), timeout=30)
    return {"run": run, "sent": sent, "started": started, "events": of_run(receivers, run)}


def archived_of(stack: LocalStack, run: str) -> list[dict[str, Any]]:
    return [event for event in archived(stack, "filtered") if str(event.get("messageId", "")).startswith(run)]


def assert_filtered_as_configured(events: dict[str, dict[str, Any]], run: str) -> None:
    assert f"{run}-internal" not in events, "No internal traffic: dropped"
    assert events[f"{run}-signup"]["properties"] == {"plan": "pro"}, "No PII to analytics"
    assert events[f"{run}-signup"]["context"]["traits"] == {"plan": "pro"}
    assert events[f"{run}-identify"]["traits"] == {"plan": "pro", "company": "Shop"}, "Only what the tool needs"
    assert events[f"{run}-group"]["traits"] == {"name": "Shop"}, "no filter changes a group call"
    pages = Counter(event["userId"] for event in events.values() if event["type"] == "page")
    assert set(pages.values()) <= {2}, "a sampled user's page views are all kept or all dropped"
    assert 8 <= len(pages) <= 32, f"{len(pages)} of {PAGE_USERS} users' page views kept at 50 %"


def test_the_destination_receives_exactly_the_filtered_events_and_fields(
    local_stack: LocalStack, delivered: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    run = delivered["run"]
    assert_filtered_as_configured(delivered["events"], run)

    in_archive = {event["messageId"]: event for event in archived_of(local_stack, run)}
    assert len(in_archive) == len(delivered["sent"]), "the archive keeps every event, filtered or not"
    assert in_archive[f"{run}-signup"]["properties"]["email"] == "ana@shop.io", "as received"

    assert main(["delivery", DESTINATION, "--since", "1h", "--endpoint-url", local_stack.aws_endpoint]) == 0
    printed = capsys.readouterr().out
    assert "filtered_at_destination.No internal traffic" in printed
    assert "filtered_at_destination.Sample page views" in printed


def test_a_replay_applies_the_same_filters(
    local_stack: LocalStack, receivers: Receivers, delivered: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    run = delivered["run"]
    start = delivered["started"].replace(minute=0, second=0, microsecond=0) - timedelta(minutes=1)
    end = datetime.now(UTC) + timedelta(minutes=5)
    code = main(
        [
            "replay",
            "start",
            "--source",
            "filtered",
            "--destination",
            DESTINATION,
            "--from",
            format_timestamp(start),
            "--to",
            format_timestamp(end),
            "--wait",
            "--endpoint-url",
            local_stack.aws_endpoint,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    replay_id = out.splitlines()[0]
    live = delivered["events"]
    assert wait_until(lambda: len(of_run(receivers, run, replay_id)) >= len(live), timeout=60), out
    replayed = of_run(receivers, run, replay_id)
    assert sorted(replayed) == sorted(live), "the replay delivers what live traffic delivered"
    assert_filtered_as_configured(replayed, run)
