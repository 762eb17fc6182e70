"""`switchyard destinations types|test` and apply's residency warnings, against a real local receiver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from switchyard.cli.main import main
from switchyard.config.apply import apply_workspace
from switchyard.config.credentials import DestinationCredentialStore
from switchyard.config.store import ConfigStore
from switchyard.devstack.receiver import Received, WebhookReceiver
from tests.integration.test_apply import config_table

KEY = "amp-test-key-0123456789"
WORKSPACE = """\
workspace: acme
sources: [{{id: web, name: Web, write_key: wk_web_12345}}]
destinations:
  - id: amp
    type: amplitude
    sources: [web]
    settings: {{api_key: {{env: AMP_KEY}}, endpoint: "{endpoint}"}}
  - id: amp-us
    type: amplitude
    sources: [web]
    settings: {{api_key: {{env: AMP_KEY}}, region: us}}
"""
TRACK = {
    "type": "track",
    "event": "Signed Up",
    "userId": "user-12345",
    "messageId": "m-1",
    "timestamp": "2026-11-30T12:00:00.000Z",
    "properties": {"plan": "pro"},
}


@pytest.fixture
def receiver() -> Any:
    server = WebhookReceiver(0).start()
    yield server
    server.stop()


@pytest.fixture
def workspace(tmp_path: Path, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AMP_KEY", KEY)
    path = tmp_path / "workspace.yaml"
    path.write_text(WORKSPACE.format(endpoint=receiver.url))
    (tmp_path / "event.json").write_bytes(orjson.dumps(TRACK))
    return path


def test_types_lists_each_type_with_its_settings_and_hosts(capsys: pytest.CaptureFixture[str]):
    assert main(["destinations", "types"]) == 0
    out = capsys.readouterr().out
    assert "amplitude — Amplitude" in out
    assert "hosts: api2.amplitude.com (US), api.eu.amplitude.com (EU)" in out
    assert "api_key" in out and "[required, secret]" in out
    assert "function\n" in out
    slack = out[out.index("slack — Slack") :].split("\n\n")[0]
    assert "defaults: rate_limit_per_second 1, concurrency 1" in slack, "a type's own defaults are shown"
    assert "defaults:" not in out[out.index("amplitude — ") : out.index("mixpanel — ")], "the usual ones are not"


def test_test_shows_the_exact_request_with_the_key_masked_and_sends_nothing(
    workspace: Path, receiver: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    code = main(
        ["destinations", "test", "amp", "--config", str(workspace), "--event", str(workspace.parent / "event.json")]
    )
    assert code == 0
    out = capsys.readouterr().out
    shown = orjson.loads(out)
    [request] = shown["requests"]
    assert request["events"] == [0]
    assert request["request"]["url"] == f"{receiver.url}/2/httpapi"
    body = orjson.loads(request["request"]["body"])
    assert body["api_key"] == "<redacted>"
    assert body["events"][0]["insert_id"] == "m-1"
    assert KEY not in out
    assert receiver.requests == []


def test_send_sends_and_shows_the_answer(
    workspace: Path, receiver: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    def amplitude(received: Received) -> tuple[int, dict[str, str], bytes]:
        return 200, {}, b'{"code":200,"events_ingested":1,"payload_size_bytes":300,"server_upload_time":1}'

    receiver.responder = amplitude
    event = str(workspace.parent / "event.json")
    assert main(["destinations", "test", "amp", "--config", str(workspace), "--event", event, "--send"]) == 0
    [attempt] = orjson.loads(capsys.readouterr().out)
    assert attempt["outcome"] == "delivered"
    assert attempt["response"]["status"] == 200
    [received] = receiver.requests
    assert orjson.loads(received.body)["api_key"] == KEY


@mock_aws
def test_apply_warns_when_a_dublin_destination_sends_outside_the_eu(workspace: Path):
    dynamodb = config_table()
    store = ConfigStore("config", dynamodb)
    credentials = DestinationCredentialStore(boto3.client("ssm", region_name="eu-west-1"), "eu-west-1")
    result = apply_workspace(workspace, store, credentials=credentials, region="eu-west-1")
    assert result.warnings == (
        "destination 'amp-us' sends to api2.amplitude.com, outside the EU (`region: us`), "
        "though this stack is in eu-west-1",
    )
    again = apply_workspace(workspace, store, credentials=credentials, region="us-west-2")
    assert again.warnings == ()
