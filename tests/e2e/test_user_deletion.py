"""User deletion through a local stack of its own: `switchyard users delete --wait` runs the
synthesized workflow in the emulator, and afterwards no archived version holds the user's events
(nor those of the anonymousId the archive ties to them), other users' events in the same objects
are intact and still replayable, the tools' stand-ins got their documented delete calls, a
destination function's `on_delete` ran, and the audit record lists it all.

Its own stack, so the deletion asks exactly this workspace's destinations (the shared e2e stack's
have receivers other tests script)."""

from __future__ import annotations

import gzip
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from switchyard.cli.main import main
from switchyard.devstack.receiver import Received, WebhookReceiver
from switchyard.devstack.stack import LocalStack
from switchyard.devstack.standins import ToolStandIns
from switchyard.privacy.deletion import definition
from tests.e2e.conftest import wait_until
from tests.e2e.tool_runs import send

pytestmark = pytest.mark.e2e

WRITE_KEY = "wk_e2e_deletion_00"
AMPLITUDE_SECRET = "amplitude-secret-e2e"  # noqa: S105 - a test credential, read through {env: ...}

WORKSPACE = """\
workspace: deletion-e2e
sources:
  - {{id: app, name: App, write_key: {write_key}}}
destinations:
  - {{id: hook, type: webhook, sources: [app], settings: {{url: "{tools}/hook"}}}}
  - id: braze
    type: braze
    sources: [app]
    settings: {{api_key: e2e-braze-rest-key, instance: fra-01, endpoint: "{tools}/braze"}}
  - id: customerio
    type: customerio
    sources: [app]
    settings: {{site_id: e2esite00001, api_key: e2e-customerio-key, endpoint: "{tools}/customerio"}}
  - id: amplitude
    type: amplitude
    sources: [app]
    settings: {{api_key: e2e-amplitude-api-key, secret_key: {{env: E2E_AMPLITUDE_SECRET}}, endpoint: "{tools}/amp"}}
  - {{id: warehouse, type: function, function: forget, sources: [app]}}
functions:
  - id: forget
    kind: destination
    file: functions/forget.py
    settings: {{url: "{tools}/forgotten"}}
    timeout_seconds: 2
"""

FORGET = """
import json
import urllib.request


def on_track(event, settings):
    pass


def on_delete(event, settings):
    body = json.dumps({"forget": event["userId"]}).encode()
    request = urllib.request.Request(settings["url"], data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=2).read()
"""


@pytest.fixture(scope="module")
def tools() -> Iterator[WebhookReceiver]:
    standins = ToolStandIns()
    receiver = WebhookReceiver(0, responder=standins)
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tools: WebhookReceiver) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("deletion")
    (folder / "functions").mkdir()
    (folder / "functions" / "forget.py").write_text(FORGET)
    config = folder / "workspace.yaml"
    config.write_text(WORKSPACE.format(write_key=WRITE_KEY, tools=tools.url))
    saved = os.environ.get("E2E_AMPLITUDE_SECRET")
    os.environ["E2E_AMPLITUDE_SECRET"] = AMPLITUDE_SECRET
    local = LocalStack(config, port=0, aws_port=0, delivery_workers=2)
    try:
        yield local.start()
    finally:
        local.stop()
        if saved is None:
            os.environ.pop("E2E_AMPLITUDE_SECRET", None)
        else:
            os.environ["E2E_AMPLITUDE_SECRET"] = saved


def every_version(stack: LocalStack) -> list[dict[str, Any]]:
    """Every event in every version of every archive object (what a deletion must reach)."""
    assert stack.resources is not None
    s3, bucket = stack.client("s3"), stack.resources.archive_bucket
    events = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="source_id="):
        for version in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            events += [orjson.loads(line) for line in gzip.decompress(body).splitlines() if line]
    return events


def cli(stack: LocalStack, capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    code = main([*arguments, "--endpoint-url", stack.aws_endpoint])
    return code, capsys.readouterr().out


def tool_requests(tools: WebhookReceiver, prefix: str) -> list[Received]:
    return [received for received in list(tools.requests) if received.path.startswith(prefix)]


def test_the_local_workflow_is_the_synthesized_definition(stack: LocalStack) -> None:
    assert stack.resources is not None
    resources = stack.resources
    described = stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=resources.deletion_state_machine_arn
    )
    expected = definition.render(
        {
            definition.PLAN_FUNCTION: resources.function_arn("deletion_plan"),
            definition.WORKER_FUNCTION: resources.function_arn("deletion_worker"),
            definition.FINISH_FUNCTION: resources.function_arn("deletion_finish"),
            definition.ARCHIVE_BUCKET: resources.archive_bucket,
        }
    )
    # tests/infra/test_deletion.py checks that CDK synthesizes DEFINITION_TEMPLATE unchanged.
    assert described["definition"] == expected


def test_a_deleted_user_is_gone_from_every_archived_version_and_the_tools_were_asked(
    stack: LocalStack, tools: WebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    run = uuid.uuid4().hex[:8]
    user, cookie, other = f"gone-{run}", f"cookie-{run}", f"kept-{run}"

    def call(name: str, kind: str = "track", **ids: Any) -> dict[str, Any]:
        return {"type": kind, "event": "Clicked", "messageId": f"{run}-{name}", **ids}

    # Before login under the cookie, the login (which ties the cookie to the user), after it, and
    # someone else in between: in the same archive objects.
    send(stack, WRITE_KEY, call("anonymous", anonymousId=cookie), call("other-1", userId=other))
    send(stack, WRITE_KEY, call("login", "identify", userId=user, anonymousId=cookie), call("mine", userId=user))
    send(stack, WRITE_KEY, call("other-2", userId=other, anonymousId=f"elsewhere-{run}"))
    ours = {f"{run}-{name}" for name in ("anonymous", "other-1", "login", "mine", "other-2")}
    assert wait_until(lambda: ours <= {e["messageId"] for e in every_version(stack)}, timeout=30)

    code, out = cli(stack, capsys, "users", "delete", user, "--wait")
    deletion_id = out.splitlines()[0]
    assert code == 0, out
    assert f"deletion {deletion_id}: SUCCEEDED" in out

    left = {e["messageId"] for e in every_version(stack) if e["messageId"].startswith(run)}
    assert left == {f"{run}-other-1", f"{run}-other-2"}, "the tied cookie's anonymous event went too"

    # The tools' documented delete calls, and the destination function's on_delete.
    (braze,) = tool_requests(tools, "/braze/users/delete")
    assert orjson.loads(braze.body) == {"external_ids": [user]}
    (customerio,) = [r for r in tool_requests(tools, "/customerio/api/v2/batch") if b'"delete"' in r.body]
    assert orjson.loads(customerio.body)["batch"] == [
        {"type": "person", "action": "delete", "identifiers": {"id": user}}
    ]
    (amplitude,) = tool_requests(tools, "/amp/api/2/deletions/users")
    assert orjson.loads(amplitude.body)["user_ids"] == [user]
    assert amplitude.headers.get("Authorization", "").startswith("Basic ")
    (forgotten,) = tool_requests(tools, "/forgotten")
    assert orjson.loads(forgotten.body) == {"forget": user}

    # The audit record: who, what was done, what each destination answered.
    code, record = cli(stack, capsys, "users", "deletion", deletion_id)
    assert code == 0
    assert f"userIds       {user}" in record and cookie in record
    answers = record.split("  destinations:\n", 1)[1].splitlines()
    outcomes = {line.split()[0]: line.split()[2] for line in answers if line.startswith("    ")}
    assert outcomes == {
        "hook": "not_supported",
        "braze": "accepted",
        "customerio": "accepted",
        "amplitude": "accepted",
        "warehouse": "accepted",
    }
    assert AMPLITUDE_SECRET not in record
    code, listing = cli(stack, capsys, "users", "deletions")
    assert deletion_id in listing and "SUCCEEDED" in listing

    # Suppressed from now on, the tied cookie too.
    code, suppressed = cli(stack, capsys, "users", "suppressed")
    assert f"userId\t{user}" in suppressed and f"anonymousId\t{cookie}" in suppressed


def test_other_users_events_are_still_replayable_after_a_deletion(
    stack: LocalStack, tools: WebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    run = uuid.uuid4().hex[:8]
    user, other = f"gone-{run}", f"kept-{run}"
    send(
        stack,
        WRITE_KEY,
        {"type": "track", "event": "Paid", "messageId": f"{run}-theirs", "userId": user},
        {"type": "track", "event": "Paid", "messageId": f"{run}-kept", "userId": other},
    )
    assert wait_until(lambda: f"{run}-kept" in {e["messageId"] for e in every_version(stack)}, timeout=30)
    assert cli(stack, capsys, "users", "delete", user, "--wait")[0] == 0
    code, out = cli(
        stack,
        capsys,
        "replay",
        "start",
        "--source",
        "app",
        "--destination",
        "hook",
        "--from",
        f"{datetime.now(UTC) - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
        "--to",
        f"{datetime.now(UTC) + timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ}",
        "--wait",
    )
    assert code == 0, out

    def replayed() -> set[str]:
        return {
            event["messageId"]
            for received in tool_requests(tools, "/hook")
            for event in [orjson.loads(received.body)]
            if event.get("replay") and event["messageId"].startswith(run)
        }

    assert wait_until(lambda: f"{run}-kept" in replayed(), timeout=30)
    assert replayed() == {f"{run}-kept"}
