"""Alerts on the local stack `make run` starts: the workspace file's alerts applied at start (as
CloudWatch alarms on the stack's alert topic), changed by `switchyard apply`, listed with their
state and recipients by `switchyard alerts`, through the emulator's endpoint as an operator would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchyard.cli.main import main
from switchyard.devstack.stack import LocalStack

WORKSPACE = """\
workspace: alerting
sources:
  - {id: web, name: Website, write_key: wk_e2e_alerts_web}
  - {id: app, name: App, write_key: wk_e2e_alerts_app}
destinations:
  - {id: hooks, type: webhook, sources: [web, app], settings: {url: "http://127.0.0.1:9/hook"}}
alerts:
  source_volume:
    - {source: web, change_percent: 50, window_minutes: 60}
  delivery_success: {destination: hooks, below_percent: 95, window_minutes: 15}
  notify: {email: oncall@example.com, slack_webhook: {env: E2E_SLACK_ALERTS}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = tmp_path_factory.mktemp("alerts") / "workspace.yaml"
    config.write_text(WORKSPACE)
    saved = dict(os.environ)
    os.environ["E2E_SLACK_ALERTS"] = "https://hooks.slack.com/services/T0/B0/e2e-secret"
    local = LocalStack(config, port=0, aws_port=0, delivery_workers=1)
    try:
        yield local.start()
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)


def cli(stack: LocalStack, capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    code = main([*arguments, "--endpoint-url", stack.aws_endpoint, "--region", stack.region])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_alerts_of_the_started_workspace_are_listed_with_their_recipients(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
):
    assert stack.applied is not None
    assert ("alerts", "added") in stack.applied.changes
    code, out = cli(stack, capsys, "alerts")
    assert code == 0, out
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["ALERT", "ON", "STATE", "SINCE"]
    assert ["delivery", "success", "hooks"] in [row[:3] for row in rows]
    assert ["source", "volume", "web", "(60", "min)"] in [row[:5] for row in rows]
    assert "  e-mail  oncall@example.com  confirmed" in out.splitlines()
    assert "  slack   webhook set" in out.splitlines()
    assert "e2e-secret" not in out


def test_apply_changes_the_alarms_and_alerts_shows_a_firing_one_first(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    changed = WORKSPACE.replace(
        "    - {source: web, change_percent: 50, window_minutes: 60}\n",
        "    - {source: web, change_percent: 50, window_minutes: 60}\n"
        "    - {source: app, change_percent: 80, window_minutes: 1440}\n",
    ).replace("below_percent: 95", "below_percent: 90")
    path = tmp_path / "workspace.yaml"
    path.write_text(changed)
    code, out = cli(stack, capsys, "apply", str(path))
    assert code == 0, out
    assert "alerts added: source-volume-app-1440m" in out
    assert "alerts changed: delivery-success-hooks" in out
    stack.client("cloudwatch").set_alarm_state(
        AlarmName=f"switchyard-alert-{stack.region}-source-volume-app-1440m",
        StateValue="ALARM",
        StateReason="Threshold Crossed: 2 datapoints [100.0, 100.0] were greater than the threshold (80.0).",
    )
    code, out = cli(stack, capsys, "alerts")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[1].split()[:6] == ["source", "volume", "app", "(1440", "min)", "ALARM"]
    assert "Threshold Crossed: 2 datapoints" in lines[2]
