"""The real SDKs, pointed at the local stack: every call type lands in the stream as the contract says."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

from switchyard.devstack.stack import LocalStack
from tests.support.streams import StreamReader

pytestmark = pytest.mark.e2e

CALLS = {"identify", "track", "page", "screen", "group", "alias"}


def send_all_calls(client: Any, user_id: str, run: str) -> None:
    client.identify(user_id, {"plan": "pro", "run": run})
    client.track(user_id, "Order Completed", {"revenue": 42.5, "run": run})
    client.page(user_id, "Docs", "Pricing", {"run": run})
    client.screen(user_id, "App", "Home", {"run": run})
    client.group(user_id, f"org-{run}", {"run": run})
    client.alias(f"anon-{run}", user_id)
    client.flush()


def assert_contract(messages: list[dict[str, Any]], user_id: str, source_id: str, library: str) -> None:
    assert {message["type"] for message in messages} == CALLS
    by_type = {message["type"]: message for message in messages}
    for message in messages:
        assert message["userId"] == user_id
        assert message["projectId"] == source_id
        assert message["receivedRegion"] == "us-west-2"
        assert "writeKey" not in message
        assert message["messageId"]
        assert message["receivedAt"].endswith("Z")
        assert message["timestamp"].endswith("Z")
        assert message["originalTimestamp"]
        assert message["sentAt"]
        assert message["context"]["ip"] == "127.0.0.1"
        assert message["context"]["library"]["name"] == library
        assert message["__partition_key"] == f"{source_id}/{message.get('anonymousId') or user_id}"
    assert by_type["track"]["event"] == "Order Completed"
    assert by_type["track"]["properties"]["revenue"] == 42.5
    identify = by_type["identify"]
    # rudder-sdk-python sends identify traits as context.traits (kept as sent).
    assert (identify.get("traits") or identify["context"]["traits"])["plan"] == "pro"
    assert by_type["group"]["groupId"].startswith("org-")
    assert by_type["alias"]["previousId"].startswith("anon-")
    assert by_type["page"]["name"] == "Pricing"
    assert by_type["screen"]["name"] == "Home"


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_segment_analytics_python(local_stack: LocalStack, stream: StreamReader, gzip: bool):
    errors: list[Exception] = []
    run = uuid.uuid4().hex[:8]
    client = SegmentClient(
        "wk_e2e_server_456",
        host=local_stack.api_url,
        gzip=gzip,
        on_error=lambda e, _: errors.append(e),
        max_retries=1,
    )
    send_all_calls(client, f"py-{run}", run)
    client.shutdown()
    messages = stream.wait_for(6)
    assert errors == []
    assert len(messages) == 6
    assert_contract(messages, f"py-{run}", "server", "analytics-python")


def test_rudder_sdk_python_with_basic_auth_and_gzip(local_stack: LocalStack, stream: StreamReader):
    errors: list[Exception] = []
    run = uuid.uuid4().hex[:8]
    client = RudderClient(
        "wk_e2e_server_456",
        host=local_stack.api_url,
        gzip=True,
        on_error=lambda e, _: errors.append(e),
        max_retries=1,
    )
    send_all_calls(client, f"rudder-{run}", run)
    client.shutdown()
    messages = stream.wait_for(6)
    assert errors == []
    assert len(messages) == 6
    assert_contract(messages, f"rudder-{run}", "server", "analytics-python")


def test_segment_analytics_node(local_stack: LocalStack, stream: StreamReader, repo_root: Path):
    run = uuid.uuid4().hex[:8]
    script = Path(__file__).parent / "node" / "send_all_calls.mjs"
    finished = subprocess.run(
        ["node", str(script), local_stack.api_url, "wk_e2e_web_123", run],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=repo_root,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout.strip().splitlines()[-1]) == {"errors": []}
    messages = stream.wait_for(6)
    assert len(messages) == 6
    assert_contract(messages, f"node-{run}", "web", "@segment/analytics-node")


def test_an_unknown_write_key_is_reported_to_the_sdk_not_silently_dropped(
    local_stack: LocalStack, stream: StreamReader
):
    errors: list[Exception] = []
    client = SegmentClient(
        "wk_nobody_knows", host=local_stack.api_url, on_error=lambda e, _: errors.append(e), max_retries=0
    )
    client.track("u1", "Lost")
    client.flush()
    client.shutdown()
    assert [getattr(error, "status", None) for error in errors] == [401]
    assert stream.read_new() == []
