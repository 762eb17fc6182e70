"""`switchyard apply` and `switchyard alerts` against the local stack's resources (moto, in process):
the stack outputs name the alert topic, apply manages the alarms, alerts lists them with their state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from switchyard.cli.main import main
from switchyard.devstack.resources import LocalResources, create_resources

REGION = "us-west-2"
WORKSPACE = """\
workspace: alerts
sources:
  - {id: web, name: Web, write_key: wk_alerts_web_1}
destinations:
  - {id: hook, type: webhook, sources: [web], settings: {url: "https://example.com/hook"}}
"""
ALERTS = """\
alerts:
  source_volume: {source: web, change_percent: 50, window_minutes: 60}
  delivery_success: {destination: hook, below_percent: 95, window_minutes: 15}
  notify: {email: [oncall@example.com], slack_webhook: {env: SLACK_ALERTS_URL}}
"""


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalResources]:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SLACK_ALERTS_URL", "https://hooks.slack.com/services/T0/B0/secret")
    resources = LocalResources(REGION, "123456789012", "https://api.example")
    with mock_aws():
        create_resources(resources, shard_count=1)
        yield resources


def write(folder: Path, text: str) -> Path:
    path = folder / "workspace.yaml"
    path.write_text(text)
    return path


def test_apply_creates_the_alarms_and_alerts_lists_them_with_state_and_recipients(
    stack: LocalResources, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["apply", str(write(tmp_path, WORKSPACE + ALERTS))]) == 0
    applied = capsys.readouterr().out
    assert "alerts added: delivery-success-hook, source-volume-web-60m" in applied
    assert "alert e-mails added: oncall@example.com" in applied
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName="switchyard-alert-us-west-2-delivery-success-hook",
        StateValue="ALARM",
        StateReason="Threshold Crossed: 1 datapoint [62.5] was less than the threshold (95.0).",
    )
    assert main(["alerts"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ALERT", "ON", "STATE", "SINCE"]
    assert lines[1].split()[:5] == ["delivery", "success", "hook", "ALARM", lines[1].split()[4]]
    assert "Threshold Crossed: 1 datapoint [62.5]" in lines[2]
    assert any(line.split()[:5] == ["source", "volume", "web", "(60", "min)"] for line in lines)
    assert "  e-mail  oncall@example.com  confirmed" in lines
    assert "  slack   webhook set" in lines
    assert "hooks.slack.com" not in "\n".join(lines)  # the webhook is a secret


def test_applying_again_is_unchanged_and_removing_the_section_deletes_the_alarms(
    stack: LocalResources, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    main(["apply", str(write(tmp_path, WORKSPACE + ALERTS))])
    capsys.readouterr()
    assert main(["apply", str(write(tmp_path, WORKSPACE + ALERTS))]) == 0
    assert "workspace unchanged" in capsys.readouterr().out
    assert main(["apply", str(write(tmp_path, WORKSPACE))]) == 0
    assert "alerts removed: delivery-success-hook, source-volume-web-60m" in capsys.readouterr().out
    assert main(["alerts"]) == 0
    assert capsys.readouterr().out.startswith("No alerts:")


def test_an_alert_on_an_unknown_destination_changes_nothing(
    stack: LocalResources, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    bad = WORKSPACE + ALERTS.replace("destination: hook", "destination: amplitude")
    assert main(["apply", str(write(tmp_path, bad))]) == 2
    assert "unknown destination 'amplitude'" in capsys.readouterr().err
    assert boto3.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
