"""Replay end to end: the synthesized workflow definition run by moto, real handlers, real HTTP."""

from __future__ import annotations

import gzip
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import requests

from switchyard.cli.main import main
from switchyard.devstack.stack import LocalStack
from switchyard.replay import definition
from switchyard.streams import KinesisEventStream
from switchyard.timeutil import format_timestamp
from tests.e2e.conftest import Receivers, ingest_handler, wait_until

pytestmark = pytest.mark.e2e

KEY = "wk_e2e_history_000"
HOURS = 5
PER_HOUR = 400
NAMES = ["Order Completed", "Product Viewed", "Cart Viewed", "Signed In"]


def received_hour(offset: int) -> datetime:
    """The start of the hour `offset` hours before the current one (naive UTC, as ingest uses)."""
    now = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    return now - timedelta(hours=HOURS + 1 - offset)


@pytest.fixture(scope="module")
def history(local_stack: LocalStack) -> dict[str, Any]:
    """2,000 events spread over five received hours (the ingest clock is injected)."""
    run = uuid.uuid4().hex[:8]
    clock = {"now": received_hour(0)}
    handler = ingest_handler(
        local_stack, lambda settings: KinesisEventStream(settings.events_stream_name), now=lambda: clock["now"]
    )
    sent: list[dict[str, Any]] = []
    with local_stack.functions["ingest"].serving(handler):
        for offset in range(HOURS):
            base = received_hour(offset)
            for chunk in range(PER_HOUR // 100):
                clock["now"] = base + timedelta(minutes=chunk * 10 + 1)
                batch = [
                    {
                        "type": "track",
                        "userId": f"h-{i % 13}",
                        "event": NAMES[i % len(NAMES)],
                        "messageId": f"{run}-{offset}-{chunk}-{i}",
                        "properties": {"run": run, "hour": offset, "fault": "500-then-200"},
                    }
                    for i in range(100)
                ]
                response = requests.post(
                    f"{local_stack.api_url}/v1/batch", auth=(KEY, ""), json={"batch": batch}, timeout=10
                )
                assert response.status_code == 200
                sent += [{**message, "offset": offset} for message in batch]
    assert local_stack.resources is not None
    bucket = local_stack.resources.archive_bucket
    s3 = local_stack.client("s3")

    def archived_ids() -> set[str]:
        found = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="source_id=history/"):
            for item in page.get("Contents", []):
                body = gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                found |= {orjson.loads(line)["messageId"] for line in body.splitlines() if line}
        return found

    expected = {message["messageId"] for message in sent}
    assert wait_until(lambda: archived_ids() >= expected, timeout=90, interval=1), "the router archived them all"
    return {"run": run, "sent": sent}


def replayed_events(receivers: Receivers, replay_id: str) -> list[dict[str, Any]]:
    return [e for e in receivers.replayed.delivered_events() if (e.get("replay") or {}).get("id") == replay_id]


def start_replay(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["replay", "start", "--source", "history", *args, "--endpoint-url", stack.aws_endpoint])
    out = capsys.readouterr().out
    return code, out


def test_the_local_workflow_is_the_synthesized_definition(local_stack: LocalStack):
    assert local_stack.resources is not None
    resources = local_stack.resources
    described = local_stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=resources.replay_state_machine_arn
    )
    expected = definition.render(
        {
            definition.PLAN_FUNCTION: resources.function_arn("replay_plan"),
            definition.WORKER_FUNCTION: resources.function_arn("replay_worker"),
            definition.REPORT_FUNCTION: resources.function_arn("replay_report"),
            definition.ARCHIVE_BUCKET: resources.archive_bucket,
        }
    )
    # tests/infra/test_replay.py checks that CDK synthesizes DEFINITION_TEMPLATE unchanged.
    assert described["definition"] == expected


def test_a_sub_range_with_an_event_filter_arrives_exactly_once_marked_and_counted(
    local_stack: LocalStack, receivers: Receivers, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    start, end = received_hour(1), received_hour(3)  # hours 1 and 2 of 0..4
    code, out = start_replay(
        local_stack,
        capsys,
        "--destination",
        "backfill",
        "--from",
        format_timestamp(start),
        "--to",
        format_timestamp(end),
        "--event",
        "Order Completed",
        "--rate",
        "400",
        "--wait",
    )
    assert code == 0, out
    replay_id = out.splitlines()[0]
    expected = {m["messageId"] for m in history["sent"] if m["offset"] in (1, 2) and m["event"] == "Order Completed"}
    assert wait_until(lambda: len(replayed_events(receivers, replay_id)) >= len(expected), timeout=30), out
    time.sleep(1)
    events = replayed_events(receivers, replay_id)
    assert Counter(e["messageId"] for e in events) == Counter(expected), "exactly the matching set, each once"
    assert all(e["integrations"] == {"All": False, "Backfill Warehouse": True} for e in events)
    assert all(e["replay"]["id"] == replay_id for e in events)
    assert "sent          200" in out and "matched       200" in out
    assert f"read          {2 * PER_HOUR}" in out
    assert f"filtered      {2 * PER_HOUR - 200}" in out


def test_the_rate_is_respected(
    local_stack: LocalStack, receivers: Receivers, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    rate = 50
    code, out = start_replay(
        local_stack,
        capsys,
        "--destination",
        "backfill",
        "--from",
        format_timestamp(received_hour(3)),
        "--to",
        format_timestamp(received_hour(5)),
        "--event",
        "Product Viewed",
        "--rate",
        str(rate),
        "--wait",
    )
    assert code == 0, out
    replay_id = out.splitlines()[0]
    assert wait_until(lambda: len(replayed_events(receivers, replay_id)) == 200, timeout=30)
    arrivals = sorted(
        r.at for r in receivers.replayed.accepted for e in r.events if (e.get("replay") or {}).get("id") == replay_id
    )
    # The rate over the run: the least-squares slope of arrivals against their count, so the
    # groups of up to 10 the queue hands over and a late last poll do not skew it.
    measured = 1 / statistics.linear_regression(range(len(arrivals)), arrivals).slope
    assert abs(measured - rate) / rate <= 0.10, f"measured {measured:.1f} events/s for a requested {rate}"


def test_bad_requests_are_refused_before_anything_starts(
    local_stack: LocalStack, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    span = ["--from", format_timestamp(received_hour(1)), "--to", format_timestamp(received_hour(2))]
    cases = [
        (["--destination", "bulk", *span], "not connected to source 'history'"),
        (["--destination", "nowhere", *span], "unknown destination 'nowhere'"),
        (["--destination", "backfill", "--from", span[3], "--to", span[1]], "is not before --to"),
        (["--destination", "backfill", "--from", "2020-01-01T00:00:00Z", "--to", span[3]], "older than the archive"),
    ]
    assert main(["replay", "list", "--endpoint-url", local_stack.aws_endpoint]) == 0
    listed = capsys.readouterr().out
    for arguments, message in cases:
        code = main(["replay", "start", "--source", "history", *arguments, "--endpoint-url", local_stack.aws_endpoint])
        assert code == 2
        assert message in capsys.readouterr().err
    assert main(["replay", "list", "--endpoint-url", local_stack.aws_endpoint]) == 0
    assert capsys.readouterr().out == listed, "nothing was started"


def test_a_failing_destination_during_a_replay_loses_nothing(
    local_stack: LocalStack, receivers: Receivers, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    code, out = start_replay(
        local_stack,
        capsys,
        "--destination",
        "flaky-backfill",
        "--from",
        format_timestamp(received_hour(0)),
        "--to",
        format_timestamp(received_hour(1)),
        "--event",
        "Signed In",
        "--rate",
        "200",
        "--wait",
    )
    assert code == 0, out
    replay_id = out.splitlines()[0]

    def delivered() -> set[str]:
        return {
            e["messageId"]
            for e in receivers.faults.delivered_events()
            if (e.get("replay") or {}).get("id") == replay_id
        }

    expected = {m["messageId"] for m in history["sent"] if m["offset"] == 0 and m["event"] == "Signed In"}
    assert wait_until(lambda: delivered() == expected, timeout=60), "each event retried until delivered"
    first_attempts = [
        r for r in receivers.faults.requests if any((e.get("replay") or {}).get("id") == replay_id for e in r.events)
    ]
    assert len(first_attempts) >= 2 * len(expected), "every event failed once (500) and was retried"


def test_cancel_stops_a_running_replay_and_the_report_says_how_far_it_got(
    local_stack: LocalStack, receivers: Receivers, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    code, out = start_replay(
        local_stack,
        capsys,
        "--destination",
        "backfill",
        "--from",
        format_timestamp(received_hour(0)),
        "--to",
        format_timestamp(received_hour(5)),
        "--rate",
        "20",
    )
    assert code == 0
    replay_id = out.strip()
    assert wait_until(lambda: replayed_events(receivers, replay_id), timeout=30)
    assert main(["replay", "cancel", replay_id, "--endpoint-url", local_stack.aws_endpoint]) == 0
    cancelled = capsys.readouterr().out
    assert "CANCELLED" in cancelled
    time.sleep(3)  # whatever was in flight lands; then nothing more
    settled = len(replayed_events(receivers, replay_id))
    time.sleep(3)
    assert len(replayed_events(receivers, replay_id)) == settled
    assert main(["replay", "status", replay_id, "--endpoint-url", local_stack.aws_endpoint]) == 0
    status = capsys.readouterr().out
    assert "CANCELLED" in status
    sent = int(next(line for line in status.splitlines() if line.strip().startswith("sent")).split()[-1])
    assert 0 < sent < HOURS * PER_HOUR
    assert settled == sent, "the report says exactly how far it got"
